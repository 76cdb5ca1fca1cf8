// Serving (docs/SERVING.md): a host thread's request through a model and back.
//
//   serve_round_trip/ENGINE/MODE
//                       one host thread calls Client::call(i).get() through Ingress -> three
//                       stages (each adds 1) -> Egress, one request at a time. ParallelProcess:
//                       the whole model in one worker bound to core 1, the host thread on core 0
//                       (the machine's two cores, one side each); LocalProcess: the run's thread
//                       on core 1. Time = one request and its reply; `p50_ns` and `p99_ns` over
//                       the timed calls; `x_two_atomic` = p50 over the two-atomic ping-pong's
//                       round trip on the same two cores, measured just before the service
//                       starts (the hardware's floor for any cross-core round trip; a raw ring
//                       round trip is 1.0-1.3x of it, channel_bench's ring_round_trip/fixed).
//                       ParallelProcess: `x_raw_rings` = p50 over `raw_rings_p50_ns`, the same
//                       path through bare rings measured just before on the same cores: the host
//                       writes a record to a shared-memory ring, a process on the far core reads
//                       it, passes it through four rings of its own (the model's four
//                       connectors, adding 1 at three of them) and writes it to a second shared
//                       ring, which the host polls; each side spins.
//   serve_pipelined/ENGINE/MODE/in_flight:K
//                       the same service with K requests in flight from the one host thread:
//                       it sends K, then waits for the oldest and sends one more for each reply.
//                       Time = one request; `requests_per_s`.
//   serve_replicas/replicas:N
//                       Ingress -> a stage of 10 us of CPU work per request with `replicas: N`
//                       -> Egress, a ParallelProcess with one worker per core (`adaptive`), 64
//                       requests in flight from one (unpinned) host thread: `requests_per_s`,
//                       and `x_one_replica` against the same with one replica measured just
//                       before (20,000 requests). With fewer cores than copies + 2 the copies
//                       share cores: see `--plan` with PATCHBAY_TOPOLOGY for the placement.
#include <benchmark/benchmark.h>

#include <patchbay/patchbay.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "channel/ring.hpp"
#include "cross_process.hpp"

namespace {

using patchbay::WaitMode;
using patchbay_bench::kFarCore;
using patchbay_bench::kNearCore;
using patchbay_bench::PinnedToCore;

constexpr int kStages = 3;
constexpr int kWarmUp = 2000;
constexpr std::uint64_t kFloorRoundTrips = 20000;

// One stage of the pipeline: adds 1.
class Stage final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<std::int64_t> in{this, "in"};
  patchbay::Output<std::int64_t> out{this, "out"};
  void step() override { out = in.value() + 1; }
};

struct Service {
  std::unique_ptr<patchbay::Process> process;
  patchbay::Client<std::int64_t, std::int64_t> client;
  std::string where;
};

// Starts the service with its worker (or its run's thread) on kFarCore; the caller then pins
// itself to kNearCore.
Service start_service(bool parallel, WaitMode mode) {
  namespace lib = patchbay::library;
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  parts.push_back(std::make_unique<lib::Ingress<std::int64_t>>("requests"));
  std::vector<patchbay::ConnectorSpec> connectors;
  std::string previous = "requests.out";
  for (int i = 0; i < kStages; ++i) {
    const std::string name = "stage" + std::to_string(i);
    parts.push_back(std::make_unique<Stage>(name));
    connectors.emplace_back(previous, name + ".in");
    previous = name + ".out";
  }
  parts.push_back(std::make_unique<lib::Egress<std::int64_t>>("replies"));
  connectors.emplace_back(previous, "replies.in");
  for (auto& c : parts)
    c->set_worker_label("service");
  patchbay::ProcessOptions options;
  options.wait = mode;
  Service service;
  // The worker is planned on the cores this thread may use, and the run's thread of a
  // LocalProcess inherits them.
  const PinnedToCore far(kFarCore);
  if (parallel) {
    auto process =
        std::make_unique<patchbay::ParallelProcess>(std::move(parts), connectors, options);
    for (const auto& w : process->worker_stats())
      service.where += w.name + " on " + w.cpuset;
    service.process = std::move(process);
  } else {
    service.process =
        std::make_unique<patchbay::LocalProcess>(std::move(parts), connectors, options);
    service.where = "run's thread on " + std::to_string(kFarCore);
  }
  service.client = service.process->client<std::int64_t, std::int64_t>("requests", "replies");
  service.process->start();
  return service;
}

bool stop_service(Service& service) {
  service.process->drain();
  try {
    service.process->join();
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// The p50 of `round_trips` requests through the model's path made of bare rings (see the top of
// this file); 0 if the peer failed.
constexpr std::size_t kCapacity = std::size_t{64} * 1024;  // the engine's default

double raw_rings_p50(std::uint64_t round_trips) {
  using patchbay::channel::FixedRing;
  const std::size_t ring_bytes = FixedRing::bytes_required(kCapacity);
  patchbay_bench::SharedMemory memory(2 * ring_bytes);
  FixedRing to_peer = FixedRing::create(memory.bytes(), kCapacity, 8);
  FixedRing from_peer = FixedRing::create(memory.bytes() + ring_bytes, kCapacity, 8);
  std::byte* base = memory.bytes();
  patchbay_bench::Peer peer(kFarCore, [base, ring_bytes] {
    FixedRing in = FixedRing::attach(base);
    FixedRing out = FixedRing::attach(base + ring_bytes);
    std::vector<patchbay::channel::HeapRing<FixedRing>> hops;
    for (int k = 0; k <= kStages; ++k)
      hops.emplace_back(kCapacity, 8);
    std::int64_t value = 0;
    auto copy_in = [&](const std::byte* record) { std::memcpy(&value, record, 8); };
    auto copy_out = [&](std::byte* slot) { std::memcpy(slot, &value, 8); };
    while (true) {
      while (!in.try_read(copy_in)) {
        if (in.closed() && !in.try_read(copy_in)) return;
        patchbay_bench::spin_pause();
      }
      for (int k = 0; k <= kStages; ++k) {
        FixedRing& hop = hops[static_cast<std::size_t>(k)].ring();
        (void)hop.try_write(copy_out);
        (void)hop.try_read(copy_in);
        if (k < kStages) ++value;
      }
      while (!out.try_write(copy_out))
        patchbay_bench::spin_pause();
    }
  });
  const PinnedToCore near(kNearCore);
  std::vector<double> samples;
  samples.reserve(round_trips);
  std::int64_t reply = 0;
  for (std::uint64_t i = 0; i < round_trips + kWarmUp; ++i) {
    const auto request = static_cast<std::int64_t>(i);
    const auto start = std::chrono::steady_clock::now();
    while (!to_peer.try_write([&](std::byte* slot) { std::memcpy(slot, &request, 8); }))
      patchbay_bench::spin_pause();
    while (!from_peer.try_read([&](const std::byte* record) { std::memcpy(&reply, record, 8); }))
      patchbay_bench::spin_pause();
    const auto took = std::chrono::steady_clock::now() - start;
    if (reply != request + kStages) return 0;
    if (i >= static_cast<std::uint64_t>(kWarmUp)) {
      samples.push_back(
          static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
    }
  }
  to_peer.close();
  if (!peer.join()) return 0;
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

void serve_round_trip(benchmark::State& state, bool parallel, WaitMode mode) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  const patchbay_bench::TwoAtomicFloor floor = patchbay_bench::two_atomic_floor(kFloorRoundTrips);
  const double raw_p50 = parallel ? raw_rings_p50(kFloorRoundTrips) : 0;
  Service service = start_service(parallel, mode);
  const PinnedToCore near(kNearCore);
  bool wrong = false;
  std::int64_t i = 0;
  for (int k = 0; k < kWarmUp; ++k, ++i)
    wrong = wrong || service.client.call(i).get() != i + kStages;
  std::vector<double> samples;
  samples.reserve(1 << 20);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t reply = service.client.call(i).get();
    const auto took = std::chrono::steady_clock::now() - start;
    samples.push_back(
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
    wrong = wrong || reply != i + kStages;
    ++i;
  }
  if (!stop_service(service)) state.SkipWithError("the service failed");
  if (wrong) state.SkipWithError("a reply did not answer its request");
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  const double p50 = samples[samples.size() / 2];
  state.counters["p50_ns"] = p50;
  state.counters["p99_ns"] = samples[samples.size() * 99 / 100];
  state.counters["two_atomic_ns"] = floor.ns;
  state.counters["x_two_atomic"] = p50 / floor.ns;
  if (raw_p50 > 0) {
    state.counters["raw_rings_p50_ns"] = raw_p50;
    state.counters["x_raw_rings"] = p50 / raw_p50;
  }
  state.SetLabel(std::to_string(kStages) + " stages; " + service.where + ", host thread on " +
                 std::to_string(kNearCore));
}

// Requests from one thread with up to `in_flight` of them pending: send() sends one, after
// waiting for the oldest when that many are pending; each reply must be its request + `add`.
class Pipeline {
 public:
  Pipeline(patchbay::Client<std::int64_t, std::int64_t>& client, std::size_t in_flight,
           std::int64_t add)
      : client_(client), in_flight_(in_flight), add_(add) {}
  void send() {
    flight_.emplace_back(next_, client_.call(next_));
    ++next_;
    if (flight_.size() == in_flight_) settle_oldest();
  }
  /// Waits for every pending reply; whether every reply was right.
  bool finish() {
    while (!flight_.empty())
      settle_oldest();
    return !wrong_;
  }

 private:
  void settle_oldest() {
    wrong_ = wrong_ || flight_.front().second.get() != flight_.front().first + add_;
    flight_.pop_front();
  }
  patchbay::Client<std::int64_t, std::int64_t>& client_;
  std::size_t in_flight_;
  std::int64_t add_;
  std::deque<std::pair<std::int64_t, patchbay::Reply<std::int64_t>>> flight_;
  std::int64_t next_ = 0;
  bool wrong_ = false;
};

void serve_pipelined(benchmark::State& state, bool parallel, WaitMode mode) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  const auto in_flight = static_cast<std::size_t>(state.range(0));
  Service service = start_service(parallel, mode);
  const PinnedToCore near(kNearCore);
  Pipeline pipeline(service.client, in_flight, kStages);
  for (int k = 0; k < kWarmUp; ++k)
    pipeline.send();
  for (auto _ : state)
    pipeline.send();
  const bool right = pipeline.finish();
  if (!stop_service(service)) state.SkipWithError("the service failed");
  if (!right) state.SkipWithError("a reply did not answer its request");
  state.counters["requests_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(std::to_string(kStages) + " stages; " + service.where + ", host thread on " +
                 std::to_string(kNearCore));
}

// ---- replicas of a hot stage ----

constexpr std::int64_t kHotStageNs = 10'000;

// A CPU-bound stage: 10 us of work per request, then the request + 1.
class HotStage final : public patchbay::Component {
 public:
  explicit HotStage(const patchbay::ComponentArgs& args) : Component(args) {}
  patchbay::Input<std::int64_t> in{this, "in"};
  patchbay::Output<std::int64_t> out{this, "out"};
  void step() override {
    (void)patchbay_bench::busy_for(kHotStageNs);
    out = in.value() + 1;
  }
};

const patchbay::Registry& hot_registry() {
  static const patchbay::Registry* registry = [] {
    auto* made = new patchbay::Registry();
    patchbay::library::register_library(*made);
    made->add("HotStage",
              [](const patchbay::ComponentArgs& a) { return std::make_unique<HotStage>(a); });
    return made;
  }();
  return *registry;
}

// requests -> hot (replicas: N) -> replies on a ParallelProcess, one worker per core, adaptive.
Service start_hot_service(std::int64_t replicas) {
  auto component = [](std::string type, std::string name,
                      std::map<std::string, patchbay::Value> args) {
    patchbay::ComponentSpec c;
    c.type = std::move(type);
    c.name = std::move(name);
    c.args = std::move(args);
    return c;
  };
  patchbay::ProcessSpec spec;
  spec.kind = patchbay::ProcessKind::parallel;
  spec.options.wait = WaitMode::adaptive;
  spec.components.push_back(component("Ingress", "requests", {{"type", "int64"}}));
  spec.components.push_back(component("HotStage", "hot", {}));
  spec.components.back().replicas = static_cast<std::size_t>(replicas);
  spec.components.push_back(component("Egress", "replies", {{"type", "int64"}}));
  spec.connectors = {{"requests.out", "hot.in"}, {"hot.out", "replies.in"}};
  Service service;
  auto process = std::make_unique<patchbay::ParallelProcess>(spec, hot_registry());
  for (const auto& w : process->worker_stats())
    service.where += (service.where.empty() ? "" : ", ") + w.name + " on " + w.cpuset;
  service.process = std::move(process);
  service.client = service.process->client<std::int64_t, std::int64_t>("requests", "replies");
  service.process->start();
  return service;
}

// Requests per second through start_hot_service(replicas), `count` of them, 64 in flight.
double hot_rate(std::int64_t replicas, std::int64_t count) {
  Service service = start_hot_service(replicas);
  Pipeline pipeline(service.client, 64, 1);
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < count; ++i)
    pipeline.send();
  const bool right = pipeline.finish();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return stop_service(service) && right ? static_cast<double>(count) / took.count() : 0.0;
}

void serve_replicas(benchmark::State& state) {
  const std::int64_t replicas = state.range(0);
  const double one = hot_rate(1, 20'000);  // the baseline, in this run
  Service service = start_hot_service(replicas);
  Pipeline pipeline(service.client, 64, 1);
  for (int k = 0; k < kWarmUp; ++k)
    pipeline.send();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state)
    pipeline.send();
  const bool right = pipeline.finish();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (!stop_service(service)) state.SkipWithError("the service failed");
  if (!right || one == 0.0) state.SkipWithError("a reply did not answer its request");
  const double rate = static_cast<double>(state.iterations()) / took.count();
  state.counters["requests_per_s"] = rate;
  state.counters["one_replica_per_s"] = one;
  state.counters["x_one_replica"] = rate / one;
  state.SetLabel("hot stage 10 us; " + service.where);
}

}  // namespace

BENCHMARK_CAPTURE(serve_round_trip, parallel / spin, true, WaitMode::spin)->UseRealTime();
BENCHMARK_CAPTURE(serve_round_trip, parallel / adaptive, true, WaitMode::adaptive)->UseRealTime();
BENCHMARK_CAPTURE(serve_round_trip, local / spin, false, WaitMode::spin)->UseRealTime();
BENCHMARK_CAPTURE(serve_pipelined, parallel / spin, true, WaitMode::spin)
    ->ArgName("in_flight")
    ->Arg(64)
    ->UseRealTime();
BENCHMARK_CAPTURE(serve_pipelined, local / spin, false, WaitMode::spin)
    ->ArgName("in_flight")
    ->Arg(64)
    ->UseRealTime();

BENCHMARK(serve_replicas)
    ->ArgName("replicas")
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
