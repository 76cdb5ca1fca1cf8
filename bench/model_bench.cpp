// The whole engine, measured against the limits that channel_bench measures.
//
//   engine_round_trip/MODE     ParallelProcess, Ping (worker a) <-> Pong (worker b), one
//                              initial value circulating; the workers are bound by the plan to
//                              the machine's two cores. Time = one round trip, taken inside
//                              the components after 1000 warm-up round trips until Ping's last
//                              step, so forking, start-up and teardown are excluded
//                              (`run_overhead_ms`: run() less Ping's first to last step).
//   engine_idle_round_trip/MODE/think_us:1000
//                              the same with each side holding its core 1 ms before it answers,
//                              so the other side has gone idle (past the adaptive spin budget)
//                              when the message comes; `excess_ns` is the round trip without
//                              the two think times: what the two hand-offs cost.
//   local_round_trip           the same cycle in a LocalProcess (two fibers on one thread)
//   local_chain/K              LocalProcess, source -> K pass-throughs -> sink; time = one hop
//                              (one channel traversal and the receiving component's step)
//   local_hop_floor/...        the parts of a hop measured alone: a heap-ring write + read, and
//                              one steady_clock read
//   tutorial/ENGINE            the tutorial model (Iterator -> Sleep 5 ms, Sleep 10 ms ->
//                              Timestamper -> sink, 200 iterations); `critical_path_ratio` is
//                              the run time over 200 x 10 ms.
#include <benchmark/benchmark.h>

#include <patchbay/patchbay.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "channel/ring.hpp"
#include "cross_process.hpp"

namespace {

using patchbay::Component;
using patchbay::ConnectorSpec;
using patchbay::Input;
using patchbay::Output;
using patchbay::ProcessOptions;
using patchbay::Status;
using patchbay::WaitMode;
using patchbay_bench::busy_for;
using patchbay_bench::now_ns;
using patchbay_bench::SharedMemory;

// What the components of one run report. It lives in a MAP_SHARED mapping made before the
// ParallelProcess forks, so a worker's writes reach the benchmark; each field has one writer,
// and the benchmark reads them only after run() has reaped the workers.
struct alignas(64) RunRecord {
  std::int64_t start_ns = 0;  // Ping's first step, before the warm-up
  std::int64_t first_ns = 0;  // the first timed round trip
  std::int64_t last_ns = 0;
  std::int64_t ping_think_ns = 0;
  alignas(64) std::int64_t pong_think_ns = 0;
};

// How one run of the ping-pong cycle goes: `warm_up` untimed round trips (the other worker may
// still be starting), then `timed` ones; each side holds its core `think_ns` before answering.
struct CycleSettings {
  std::int64_t warm_up = 0;
  std::int64_t timed = 0;
  std::int64_t think_ns = 0;
};

// Receives n on `in`, answers n + 1 on `out`; closes after the last timed round trip.
class Ping final : public Component {
 public:
  Ping(std::string name, RunRecord* record, CycleSettings settings)
      : Component(std::move(name)), record_(record), settings_(settings) {}
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void step() override {
    const std::int64_t n = in.value();
    if (n != expected_++) throw std::runtime_error("ping: value out of order");
    if (n == 0) record_->start_ns = now_ns();
    if (n == settings_.warm_up) record_->first_ns = now_ns();
    if (n == settings_.warm_up + settings_.timed) {
      record_->last_ns = now_ns();
      record_->ping_think_ns = thought_;
      close();
      return;
    }
    if (settings_.think_ns > 0) {
      const std::int64_t took = busy_for(settings_.think_ns);
      if (n >= settings_.warm_up) thought_ += took;
    }
    out = n + 1;
  }

 private:
  RunRecord* record_;
  CycleSettings settings_;
  std::int64_t expected_ = 0;
  std::int64_t thought_ = 0;
};

// Echoes `in` on `out`.
class Pong final : public Component {
 public:
  Pong(std::string name, RunRecord* record, CycleSettings settings)
      : Component(std::move(name)), record_(record), settings_(settings) {}
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (settings_.think_ns > 0) {
      const std::int64_t took = busy_for(settings_.think_ns);
      if (in.value() > settings_.warm_up) thought_ += took;  // Ping sent n + 1 in round trip n
    }
    out = in.value();
  }
  void teardown(Status) override { record_->pong_think_ns = thought_; }

 private:
  RunRecord* record_;
  CycleSettings settings_;
  std::int64_t thought_ = 0;
};

struct CycleModel {
  std::vector<std::unique_ptr<Component>> components;
  std::vector<ConnectorSpec> connectors{{"ping.out", "pong.in"}, {"pong.out", "ping.in"}};
};

CycleModel cycle(RunRecord* record, CycleSettings settings) {
  CycleModel model;
  auto ping = std::make_unique<Ping>("ping", record, settings);
  ping->set_initial_values("in", {patchbay::Value(0)});
  ping->set_worker_label("a");
  auto pong = std::make_unique<Pong>("pong", record, settings);
  pong->set_worker_label("b");
  model.components.push_back(std::move(ping));
  model.components.push_back(std::move(pong));
  return model;
}

// Which cores the plan gave the workers, for the label: "a on 0, b on 1".
std::string worker_cores(const patchbay::ParallelProcess& process) {
  std::string text;
  for (const auto& s : process.worker_stats()) {
    // Appends, not "literal" + string: GCC 12 at -O3 warns falsely on that (-Wrestrict).
    text.append(text.empty() ? "" : ", ").append(s.name).append(" on ").append(s.cpuset);
  }
  return text;
}

// One ParallelProcess run per batch of `settings.timed` iterations; time = round trip.
void engine_round_trip(benchmark::State& state, WaitMode mode, CycleSettings settings) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  SharedMemory memory(sizeof(RunRecord));
  std::int64_t runs = 0;
  std::int64_t measured_ns = 0;
  std::int64_t thought_ns = 0;
  std::int64_t overhead_ns = 0;
  std::string cores;
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(settings.timed)) {
    RunRecord* record = memory.construct<RunRecord>();
    CycleModel model = cycle(record, settings);
    ProcessOptions options;
    options.wait = mode;
    options.workers = 2;
    try {
      patchbay::ParallelProcess process(std::move(model.components), model.connectors, options);
      if (cores.empty()) cores = worker_cores(process);
      process.run();
      const std::int64_t took = record->last_ns - record->first_ns;
      if (record->first_ns == 0 || record->last_ns == 0) throw std::runtime_error("no timing");
      state.SetIterationTime(static_cast<double>(took) * 1e-9);
      measured_ns += took;
      thought_ns += record->ping_think_ns + record->pong_think_ns;
      // Start-up and teardown: run() less everything from Ping's first step to its last.
      overhead_ns += process.elapsed().count() - (record->last_ns - record->start_ns);
      ++runs;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  }
  if (runs == 0) return;
  if (settings.think_ns > 0) {
    state.counters["excess_ns"] = benchmark::Counter(static_cast<double>(measured_ns - thought_ns),
                                                     benchmark::Counter::kAvgIterations);
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.counters["run_overhead_ms"] =
      static_cast<double>(overhead_ns) / static_cast<double>(runs) * 1e-6;
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string("round trip, ParallelProcess, wait ")
                     .append(patchbay::to_string(mode))
                     .append(", workers pinned by the plan: ")
                     .append(cores));
}

void local_round_trip(benchmark::State& state, CycleSettings settings) {
  SharedMemory memory(sizeof(RunRecord));
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(settings.timed)) {
    RunRecord* record = memory.construct<RunRecord>();
    CycleModel model = cycle(record, settings);
    patchbay::LocalProcess process(std::move(model.components), model.connectors);
    process.run();
    state.SetIterationTime(static_cast<double>(record->last_ns - record->first_ns) * 1e-9);
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("round trip, LocalProcess, one thread");
}

// ---- LocalProcess chain ----

struct alignas(64) ChainRecord {
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
};

class Source final : public Component {
 public:
  Source(std::string name, ChainRecord* record, std::int64_t count)
      : Component(std::move(name)), record_(record), count_(count) {}
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (next_ == 0) record_->first_ns = now_ns();
    if (next_ == count_) {
      close();
      return;
    }
    out = next_++;
  }

 private:
  ChainRecord* record_;
  std::int64_t count_;
  std::int64_t next_ = 0;
};

class Pass final : public Component {
 public:
  using Component::Component;
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void step() override { out = in.value(); }
};

class Sink final : public Component {
 public:
  Sink(std::string name, ChainRecord* record, std::int64_t count)
      : Component(std::move(name)), record_(record), count_(count) {}
  Input<std::int64_t> in{this, "in"};
  void step() override {
    if (in.value() != next_++) throw std::runtime_error("sink: value out of order");
    if (next_ == count_) record_->last_ns = now_ns();
  }

 private:
  ChainRecord* record_;
  std::int64_t count_;
  std::int64_t next_ = 0;
};

// Time = one hop: a message crossing one channel into the next component and its step.
void local_chain(benchmark::State& state) {
  const std::int64_t passes = state.range(0);
  const std::int64_t hops_per_message = passes + 1;
  const std::int64_t messages = std::int64_t{2'000'000} / hops_per_message;
  ChainRecord record;
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(messages * hops_per_message)) {
    std::vector<std::unique_ptr<Component>> components;
    std::vector<ConnectorSpec> connectors;
    components.push_back(std::make_unique<Source>("source", &record, messages));
    std::string previous = "source";
    for (std::int64_t i = 0; i < passes; ++i) {
      const std::string name = std::string("pass").append(std::to_string(i));
      components.push_back(std::make_unique<Pass>(name));
      connectors.emplace_back(previous + ".out", name + ".in");
      previous = name;
    }
    components.push_back(std::make_unique<Sink>("sink", &record, messages));
    connectors.emplace_back(previous + ".out", "sink.in");
    record = {};
    patchbay::LocalProcess process(std::move(components), connectors);
    process.run();
    state.SetIterationTime(static_cast<double>(record.last_ns - record.first_ns) * 1e-9);
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("one hop, LocalProcess, int64 messages, 64 KiB channels");
}

// What a hop cannot go below: the channel alone (8-byte records written into a heap ring in
// batches, then read and copied out, as a chain's fibers do), and one steady_clock read (the
// engine reads the clock around every step for its counters).
void local_hop_floor_ring(benchmark::State& state) {
  constexpr std::int64_t kBatch = 1024;  // fits the 64 KiB channel: 16 bytes per record
  patchbay::channel::HeapRing heap(std::size_t{64} * 1024);
  patchbay::channel::Ring& ring = heap.ring();
  std::int64_t value = 0;
  std::int64_t sum = 0;
  while (state.KeepRunningBatch(kBatch)) {
    for (std::int64_t i = 0; i < kBatch; ++i) {
      ++value;
      if (!ring.try_write(std::as_bytes(std::span(&value, 1)))) state.SkipWithError("ring full");
    }
    for (std::int64_t i = 0; i < kBatch; ++i) {
      const auto record = ring.try_read();
      std::int64_t out = 0;
      if (record) std::memcpy(&out, record->data(), sizeof out);
      ring.release();
      sum += out;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("one record written and read, one thread, batches of 1024, 64 KiB heap ring");
}

void local_hop_floor_clock(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
  state.SetLabel("one std::chrono::steady_clock::now()");
}

// ---- the tutorial model ----

class Discard final : public Component {
 public:
  using Component::Component;
  Input<std::string> timestamp{this, "timestamp"};
  void step() override {}
};

constexpr std::int64_t kTutorialIterations = 200;
constexpr double kSlowSeconds = 0.005;
constexpr double kVerySlowSeconds = 0.010;

void tutorial(benchmark::State& state, patchbay::ProcessKind kind) {
  namespace lib = patchbay::library;
  double total_seconds = 0;
  std::int64_t runs = 0;
  std::string plan;
  for (auto _ : state) {
    std::vector<std::unique_ptr<Component>> components;
    components.push_back(std::make_unique<lib::Iterator>("input", kTutorialIterations));
    components.push_back(std::make_unique<lib::Sleep>("slow-sleep", kSlowSeconds));
    components.push_back(std::make_unique<lib::Sleep>("very-slow-sleep", kVerySlowSeconds));
    components.push_back(std::make_unique<lib::Timestamper>("timestamper"));
    components.push_back(std::make_unique<Discard>("sink"));
    const std::vector<ConnectorSpec> connectors{{"input.x", "slow-sleep.x"},
                                                {"input.x", "very-slow-sleep.x"},
                                                {"slow-sleep.y", "timestamper.x"},
                                                {"very-slow-sleep.y", "timestamper.y"},
                                                {"timestamper.timestamp", "sink.timestamp"}};
    try {
      std::unique_ptr<patchbay::Process> process;
      if (kind == patchbay::ProcessKind::local) {
        process = std::make_unique<patchbay::LocalProcess>(std::move(components), connectors);
      } else {
        auto parallel =
            std::make_unique<patchbay::ParallelProcess>(std::move(components), connectors);
        if (plan.empty()) {
          for (const auto& s : parallel->worker_stats()) {
            plan.append(plan.empty() ? "" : "; ").append(s.name).append(" on ").append(s.cpuset);
            for (std::size_t i = 0; i < s.components.size(); ++i)
              plan.append(i == 0 ? ": " : ", ").append(s.components[i]);
          }
        }
        process = std::move(parallel);
      }
      process->run();
      for (const auto& s : process->component_stats()) {
        if (s.name == "sink" && s.steps != static_cast<std::uint64_t>(kTutorialIterations))
          throw std::runtime_error(std::string("sink saw ").append(std::to_string(s.steps)));
      }
      const double seconds = std::chrono::duration<double>(process->elapsed()).count();
      state.SetIterationTime(seconds);
      total_seconds += seconds;
      ++runs;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (runs == 0) return;
  const double critical_path = static_cast<double>(kTutorialIterations) * kVerySlowSeconds;
  state.counters["critical_path_ratio"] = total_seconds / static_cast<double>(runs) / critical_path;
  state.SetLabel(kind == patchbay::ProcessKind::local
                     ? std::string("whole run, LocalProcess")
                     : std::string("whole run, ParallelProcess, default plan: ").append(plan));
}

}  // namespace

int main(int argc, char** argv) {
  for (const WaitMode mode : {WaitMode::spin, WaitMode::adaptive, WaitMode::block}) {
    const std::string name = std::string("engine_round_trip/").append(patchbay::to_string(mode));
    const CycleSettings settings{1'000, mode == WaitMode::block ? 2'000 : 20'000, 0};
    benchmark::RegisterBenchmark(name.c_str(), engine_round_trip, mode, settings)->UseManualTime();
  }
  for (const WaitMode mode : {WaitMode::spin, WaitMode::adaptive, WaitMode::block}) {
    const std::string name = std::string("engine_idle_round_trip/")
                                 .append(patchbay::to_string(mode))
                                 .append("/think_us:1000");
    const CycleSettings settings{2, 100, 1'000'000};
    benchmark::RegisterBenchmark(name.c_str(), engine_round_trip, mode, settings)->UseManualTime();
  }
  benchmark::RegisterBenchmark("local_round_trip", local_round_trip,
                               CycleSettings{1'000, 200'000, 0})
      ->UseManualTime();
  benchmark::RegisterBenchmark("local_chain", local_chain)
      ->ArgName("passes")
      ->Arg(1)
      ->Arg(4)
      ->Arg(16)
      ->Arg(64)
      ->UseManualTime();
  benchmark::RegisterBenchmark("local_hop_floor/ring_write_read", local_hop_floor_ring);
  benchmark::RegisterBenchmark("local_hop_floor/steady_clock_now", local_hop_floor_clock);
  benchmark::RegisterBenchmark("tutorial/local", tutorial, patchbay::ProcessKind::local)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("tutorial/parallel", tutorial, patchbay::ProcessKind::parallel)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
