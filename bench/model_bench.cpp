// The whole engine, measured against the limits that channel_bench measures.
//
//   engine_round_trip/MODE     ParallelProcess, Ping (worker a) <-> Pong (worker b), one
//                              initial value circulating; the workers are bound by the plan to
//                              the machine's two cores. Time = one round trip, taken inside
//                              the components after 1000 warm-up round trips until Ping's last
//                              step, so forking, start-up and teardown are excluded
//                              (`run_overhead_ms`: run() less Ping's first to last step).
//                              spin and adaptive: before each run the two-atomic ping-pong
//                              does as many round trips on the same two cores with each poll
//                              gap of kFloorPauses, and the fastest is the floor;
//                              `x_two_atomic` is the median over runs of (round trip / that
//                              floor), `two_atomic_ns` the median floor and
//                              `two_atomic_pauses` the median of the gaps that gave it.
//   engine_idle_round_trip/MODE/think_us:1000
//                              the same with each side holding its core 1 ms before it answers,
//                              so the other side has gone idle (past the adaptive spin budget)
//                              when the message comes; `excess_ns` is the round trip without
//                              the two think times: what the two hand-offs cost.
//   local_round_trip           the same cycle in a LocalProcess (two fibers on one thread)
//   local_chain/passes:K       LocalProcess, source -> K pass-throughs -> sink; time = one hop
//                              (one channel traversal and the receiving component's step)
//   parallel_chain/passes:K    the same chain in a ParallelProcess of two workers (the first
//                              half in worker a, the rest in b; one hop crosses workers)
//   local_hop_floor/...        the parts of a hop measured alone: a heap-ring write + read, and
//                              one steady_clock read
//   buffers/ENGINE/MODE/bytes:N source -> sink, 20,000 messages of N bytes through a 1 MiB
//                              channel (in a ParallelProcess the two in two workers); the
//                              source fills each message with one byte value and the sink adds
//                              up its 8-byte words. MODE in_place: BufferOutput and BufferInput
//                              (written and read in the ring); copied: Output and Input of
//                              std::vector<std::byte> (copied in and out). Time = one message
//   fan_out/ENGINE/n:N         one source -> N sinks; time = one message delivered
//   fan_in/ENGINE/n:N          N sources -> one sink's input; time = one message delivered
//   events_out/ENGINE/n:N      one publisher -> N subscribers of its event type (pub-sub, the
//                              wires built from the declarations): fan_out's model with events
//                              in place of fields; time = one event handled
//   tutorial/ENGINE            the tutorial model (Iterator -> Sleep 5 ms, Sleep 10 ms ->
//                              Timestamper -> sink, 200 iterations); `critical_path_ratio` is
//                              the run time over 200 x 10 ms.
//   tutorial_busy/ENGINE       the same with busy-wait steps of 1 ms and 2 ms instead of sleeps
//   startup/first_message/ENGINE/workers:W
//                              from the call to run() to the first message at the end of a
//                              chain across W workers; `construct_ms` is the constructor's time
//   startup/empty_run/ENGINE/workers:W
//                              the whole run() of the same model when the source sends nothing
//   startup_floor/fork_exit_wait/children:W
//                              fork W children that exit at once and reap them: the floor
//   memory/local_chain/components:10000
//                              peak RSS of a LocalProcess chain of 10,000 components, measured
//                              in a forked child; bytes per component (with its channel)
//   memory/local_channels/channels:10000
//                              two components joined by 10,000 channels; bytes per channel
//   memory_floor/...           10,000 bare fibers (the engine's stacks) and 10,000 bare heap
//                              rings, measured the same way
#include <benchmark/benchmark.h>

#include <patchbay/patchbay.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>
#include <boost/fiber/all.hpp>

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
  // Spinning modes answer at once: each run is paired with the two-atomic ping-pong measured
  // just before it on the same cores, and the median of the pairs' ratios is reported.
  const bool paired = settings.think_ns == 0 && mode != WaitMode::block;
  std::vector<double> ratios;
  std::vector<double> floors;
  std::vector<double> floor_pauses;
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(settings.timed)) {
    const patchbay_bench::TwoAtomicFloor floor =
        paired ? patchbay_bench::two_atomic_floor(static_cast<std::uint64_t>(settings.timed))
               : patchbay_bench::TwoAtomicFloor{};
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
      if (paired) {
        floors.push_back(floor.ns);
        floor_pauses.push_back(floor.pauses);
        ratios.push_back(static_cast<double>(took) / static_cast<double>(settings.timed) /
                         floor.ns);
      }
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
  if (paired) {
    state.counters["x_two_atomic"] = patchbay_bench::median(ratios);
    state.counters["two_atomic_ns"] = patchbay_bench::median(floors);
    state.counters["two_atomic_pauses"] = patchbay_bench::median(floor_pauses);
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

// Sends 0, 1, ... count - 1, then closes; notes the time of its first step in `*first_ns`.
class Source final : public Component {
 public:
  Source(std::string name, std::int64_t* first_ns, std::int64_t count)
      : Component(std::move(name)), first_ns_(first_ns), count_(count) {}
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (next_ == 0) *first_ns_ = now_ns();
    if (next_ == count_) {
      close();
      return;
    }
    out = next_++;
  }

 private:
  std::int64_t* first_ns_;
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

// Expects `count` messages (in order, unless several sources merge into it) and notes the
// time of the first and of the last in `*first_ns` and `*last_ns`.
class Sink final : public Component {
 public:
  enum class Order : std::uint8_t { checked, merged };
  Sink(std::string name, std::int64_t* last_ns, std::int64_t count, Order order = Order::checked,
       std::int64_t* first_ns = nullptr)
      : Component(std::move(name)),
        last_ns_(last_ns),
        first_ns_(first_ns),
        count_(count),
        order_(order) {}
  Input<std::int64_t> in{this, "in"};
  void step() override {
    if (seen_ == 0 && first_ns_ != nullptr) *first_ns_ = now_ns();
    if (order_ == Order::checked && in.value() != seen_)
      throw std::runtime_error("sink: value out of order");
    if (++seen_ == count_) *last_ns_ = now_ns();
  }

 private:
  std::int64_t* last_ns_;
  std::int64_t* first_ns_;
  std::int64_t count_;
  Order order_;
  std::int64_t seen_ = 0;
};

// fan_out's source and sink as an event's publisher and subscriber (event.hpp).
class EventSource final : public Component {
 public:
  EventSource(std::string name, std::int64_t* first_ns, std::int64_t count)
      : Component(std::move(name)), first_ns_(first_ns), count_(count) {}
  patchbay::EventOutput<std::int64_t> out{this, "tick"};
  void step() override {
    if (next_ == 0) *first_ns_ = now_ns();
    if (next_ == count_) {
      close();
      return;
    }
    out.publish(next_++);
  }

 private:
  std::int64_t* first_ns_;
  std::int64_t count_;
  std::int64_t next_ = 0;
};

class EventSink final : public Component {
 public:
  EventSink(std::string name, std::int64_t* last_ns, std::int64_t count)
      : Component(std::move(name)), last_ns_(last_ns), count_(count) {}
  patchbay::EventInput<std::int64_t> in{this, "tick", &EventSink::handle};
  void handle(const patchbay::Event<std::int64_t>& event) {
    if (event.data != seen_) throw std::runtime_error("subscriber: event out of order");
    if (++seen_ == count_) *last_ns_ = now_ns();
  }
  void step() override {}

 private:
  std::int64_t* last_ns_;
  std::int64_t count_;
  std::int64_t seen_ = 0;
};

// ---- buffers: written and read in place, or copied ----

// Fills `count` messages of `bytes` bytes, each with the byte value of its number.
template <bool InPlace>
class BufferSource final : public Component {
 public:
  BufferSource(std::string name, std::int64_t* first_ns, std::int64_t count, std::size_t bytes)
      : Component(std::move(name)), first_ns_(first_ns), count_(count), bytes_(bytes) {}
  std::conditional_t<InPlace, patchbay::BufferOutput<std::byte>, Output<std::vector<std::byte>>>
      out{this, "out"};
  void step() override {
    if (next_ == 0) *first_ns_ = now_ns();
    if (next_ == count_) {
      close();
      return;
    }
    std::byte* to = nullptr;
    if constexpr (InPlace) {
      to = out.loan(bytes_).data();
    } else {
      out.value().resize(bytes_);
      to = out.value().data();
    }
    std::memset(to, static_cast<int>(next_ & 0xff), bytes_);
    ++next_;
  }

 private:
  std::int64_t* first_ns_;
  std::int64_t count_;
  std::size_t bytes_;
  std::int64_t next_ = 0;
};

// Adds up each message's 8-byte words and checks the sum; notes the time of the last.
template <bool InPlace>
class BufferSink final : public Component {
 public:
  BufferSink(std::string name, std::int64_t* last_ns, std::int64_t count)
      : Component(std::move(name)), last_ns_(last_ns), count_(count) {}
  std::conditional_t<InPlace, patchbay::BufferInput<std::byte>, Input<std::vector<std::byte>>> in{
      this, "in"};
  void step() override {
    std::span<const std::byte> message;
    if constexpr (InPlace) {
      message = in.view();
    } else {
      message = in.value();
    }
    std::uint64_t sum = 0;
    std::uint64_t word = 0;
    for (std::size_t at = 0; at + 8 <= message.size(); at += 8) {
      std::memcpy(&word, message.data() + at, 8);
      sum += word;
    }
    const auto value = static_cast<std::uint64_t>(seen_ & 0xff);
    if (sum != (message.size() / 8) * (value * 0x0101010101010101ULL))
      throw std::runtime_error("buffer sink: message differs");
    if (++seen_ == count_) *last_ns_ = now_ns();
  }

 private:
  std::int64_t* last_ns_;
  std::int64_t count_;
  std::int64_t seen_ = 0;
};

// Builds the engine `kind` asks for; a ParallelProcess forks its workers here.
std::unique_ptr<patchbay::Process> make_process(patchbay::ProcessKind kind,
                                                std::vector<std::unique_ptr<Component>> components,
                                                const std::vector<ConnectorSpec>& connectors,
                                                const ProcessOptions& options = {}) {
  if (kind == patchbay::ProcessKind::local)
    return std::make_unique<patchbay::LocalProcess>(std::move(components), connectors, options);
  return std::make_unique<patchbay::ParallelProcess>(std::move(components), connectors, options);
}

const char* engine_name(patchbay::ProcessKind kind) {
  return kind == patchbay::ProcessKind::local ? "LocalProcess" : "ParallelProcess";
}

bool skip_parallel_without_two_cores(benchmark::State& state, patchbay::ProcessKind kind) {
  if (kind == patchbay::ProcessKind::local || patchbay_bench::has_two_cores()) return false;
  state.SkipWithError("needs cores 0 and 1");
  return true;
}

// Runs the model and sets the iteration time from its first to its last message as `record`
// noted them; false (the benchmark skipped with the reason) when it failed.
bool run_timed(benchmark::State& state, patchbay::ProcessKind kind,
               std::vector<std::unique_ptr<Component>> components,
               const std::vector<ConnectorSpec>& connectors, const ChainRecord& record) {
  try {
    const auto process = make_process(kind, std::move(components), connectors);
    process->run();
    if (record.first_ns == 0 || record.last_ns == 0) throw std::runtime_error("no timing");
    state.SetIterationTime(static_cast<double>(record.last_ns - record.first_ns) * 1e-9);
    return true;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

// Time = one hop: a message crossing one channel into the next component and its step.
// source -> K pass-throughs -> sink. In a ParallelProcess the source and the first half of the
// passes run in worker a, the rest in worker b (wait mode adaptive, the default): one hop of
// the K + 1 crosses workers, the others stay between fibers of one worker, and the two halves
// work at the same time, so a hop can cost less than in a LocalProcess.
void chain(benchmark::State& state, patchbay::ProcessKind kind, std::int64_t total_hops) {
  if (skip_parallel_without_two_cores(state, kind)) return;
  const std::int64_t passes = state.range(0);
  const std::int64_t hops_per_message = passes + 1;
  const std::int64_t messages = total_hops / hops_per_message;
  SharedMemory memory(sizeof(ChainRecord));  // written by the workers of a ParallelProcess
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(messages * hops_per_message)) {
    ChainRecord* record = memory.construct<ChainRecord>();
    std::vector<std::unique_ptr<Component>> components;
    std::vector<ConnectorSpec> connectors;
    components.push_back(std::make_unique<Source>("source", &record->first_ns, messages));
    components.back()->set_worker_label("a");
    std::string previous = "source";
    for (std::int64_t i = 0; i < passes; ++i) {
      const std::string name = std::string("pass").append(std::to_string(i));
      components.push_back(std::make_unique<Pass>(name));
      components.back()->set_worker_label(i < passes / 2 ? "a" : "b");
      connectors.emplace_back(previous + ".out", name + ".in");
      previous = name;
    }
    components.push_back(std::make_unique<Sink>("sink", &record->last_ns, messages));
    components.back()->set_worker_label("b");
    connectors.emplace_back(previous + ".out", "sink.in");
    if (!run_timed(state, kind, std::move(components), connectors, *record)) break;
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(kind == patchbay::ProcessKind::local
                     ? "one hop, LocalProcess, int64 messages, 64 KiB channels"
                     : "one hop, ParallelProcess, two workers (one hop crosses them), wait "
                       "adaptive, int64 messages, 64 KiB channels");
}

template <bool InPlace>
void buffers(benchmark::State& state, patchbay::ProcessKind kind) {
  if (skip_parallel_without_two_cores(state, kind)) return;
  const auto bytes = static_cast<std::size_t>(state.range(0));
  constexpr std::int64_t kMessages = 20'000;
  SharedMemory memory(sizeof(ChainRecord));  // written by the workers of a ParallelProcess
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(kMessages)) {
    ChainRecord* record = memory.construct<ChainRecord>();
    std::vector<std::unique_ptr<Component>> components;
    components.push_back(
        std::make_unique<BufferSource<InPlace>>("source", &record->first_ns, kMessages, bytes));
    components.back()->set_worker_label("a");
    components.push_back(
        std::make_unique<BufferSink<InPlace>>("sink", &record->last_ns, kMessages));
    components.back()->set_worker_label("b");
    std::vector<ConnectorSpec> connectors;
    connectors.emplace_back("source.out", "sink.in");
    connectors.back().capacity = std::size_t{1} << 20;
    if (!run_timed(state, kind, std::move(components), connectors, *record)) break;
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.SetLabel(std::string(engine_name(kind)) +
                 (InPlace ? ", BufferOutput -> BufferInput, in place"
                          : ", vector<byte> ports, copied in and out") +
                 (kind == patchbay::ProcessKind::local ? "" : ", two workers"));
}

// Time = one message through source -> pass -> pass -> sink, every message crossing workers.
// workers:2 puts two components in each of two workers, one per core; workers:4 gives each
// component a worker of its own, so two workers share each of the two cores. The issue is how
// a worker that waits behaves when the worker it waits for needs the same core: spinning there
// burns the time slice its producer needs. Compare each mode's workers:4 with its workers:2.
void oversubscribed_chain(benchmark::State& state, WaitMode mode, std::int64_t messages) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  const std::int64_t workers = state.range(0);
  SharedMemory memory(sizeof(ChainRecord));
  std::string cores;
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(messages)) {
    ChainRecord* record = memory.construct<ChainRecord>();
    std::vector<std::unique_ptr<Component>> components;
    components.push_back(std::make_unique<Source>("source", &record->first_ns, messages));
    components.push_back(std::make_unique<Pass>("pass0"));
    components.push_back(std::make_unique<Pass>("pass1"));
    components.push_back(std::make_unique<Sink>("sink", &record->last_ns, messages));
    const char* labels2[] = {"a", "a", "b", "b"};
    const char* labels4[] = {"a", "b", "c", "d"};
    for (std::size_t i = 0; i < components.size(); ++i)
      components[i]->set_worker_label(workers == 2 ? labels2[i] : labels4[i]);
    const std::vector<ConnectorSpec> connectors = {
        {"source.out", "pass0.in"}, {"pass0.out", "pass1.in"}, {"pass1.out", "sink.in"}};
    ProcessOptions options;
    options.wait = mode;
    try {
      patchbay::ParallelProcess process(std::move(components), connectors, options);
      if (cores.empty()) cores = worker_cores(process);
      process.run();
      if (record->first_ns == 0 || record->last_ns == 0) throw std::runtime_error("no timing");
      state.SetIterationTime(static_cast<double>(record->last_ns - record->first_ns) * 1e-9);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string("one message through a 4-stage chain, wait ")
                     .append(patchbay::to_string(mode))
                     .append(", workers: ")
                     .append(cores));
}

// ---- fan-out and fan-in ----

// Slots for the times the components of one run note, one cache line each (the writers may be
// in different workers).
struct alignas(64) TimeSlot {
  std::int64_t ns = 0;
};
constexpr std::size_t kMaxFan = 64;
struct FanRecord {
  TimeSlot first[kMaxFan];
  TimeSlot last[kMaxFan];
};

// Time = one message delivered. fan_out: source -> N sinks (every sink receives every message);
// fan_in: N sources -> one sink's input (merged). In a ParallelProcess the sources run in
// worker a and the sinks in worker b: every channel crosses workers.
void fan(benchmark::State& state, patchbay::ProcessKind kind, bool out, std::int64_t total,
         bool events) {
  if (skip_parallel_without_two_cores(state, kind)) return;
  const auto n = static_cast<std::size_t>(state.range(0));
  if (n > kMaxFan) {
    state.SkipWithError("fan too wide");
    return;
  }
  const std::int64_t per_source = total / static_cast<std::int64_t>(n);  // each source sends
  const std::int64_t delivered = per_source * static_cast<std::int64_t>(n);
  SharedMemory memory(sizeof(FanRecord));
  const patchbay_bench::PreemptionCount preemptions;
  while (state.KeepRunningBatch(delivered)) {
    FanRecord* record = memory.construct<FanRecord>();
    std::vector<std::unique_ptr<Component>> components;
    std::vector<ConnectorSpec> connectors;
    const std::size_t sources = out ? 1 : n;
    const std::size_t sinks = out ? n : 1;
    for (std::size_t i = 0; i < sources; ++i) {
      const std::string name = std::string("source").append(std::to_string(i));
      if (events) {
        components.push_back(std::make_unique<EventSource>(name, &record->first[i].ns, per_source));
      } else {
        components.push_back(std::make_unique<Source>(name, &record->first[i].ns, per_source));
      }
      components.back()->set_worker_label("a");
    }
    for (std::size_t i = 0; i < sinks; ++i) {
      const std::string name = std::string("sink").append(std::to_string(i));
      if (events) {
        components.push_back(std::make_unique<EventSink>(name, &record->last[i].ns, per_source));
      } else {
        components.push_back(
            std::make_unique<Sink>(name, &record->last[i].ns, out ? per_source : delivered,
                                   out ? Sink::Order::checked : Sink::Order::merged));
      }
      components.back()->set_worker_label("b");
    }
    for (std::size_t i = 0; i < n && !events; ++i) {
      const std::string source = std::string("source").append(std::to_string(out ? 0 : i));
      const std::string sink = std::string("sink").append(std::to_string(out ? i : 0));
      connectors.emplace_back(source + ".out", sink + ".in");
    }
    try {
      const auto process = make_process(kind, std::move(components), connectors);
      process->run();
      std::int64_t first = 0;
      std::int64_t last = 0;
      for (std::size_t i = 0; i < sources; ++i)
        first = (i == 0 || record->first[i].ns < first) ? record->first[i].ns : first;
      for (std::size_t i = 0; i < sinks; ++i)
        last = record->last[i].ns > last ? record->last[i].ns : last;
      for (std::size_t i = 0; i < sinks; ++i) {
        if (record->last[i].ns == 0) throw std::runtime_error("a sink missed messages");
      }
      state.SetIterationTime(static_cast<double>(last - first) * 1e-9);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  std::string label = events ? "one event handled, 1 -> N subscribers, "
                      : out  ? "one message delivered, 1 -> N, "
                             : "one message delivered, N -> 1, ";
  label.append(engine_name(kind));
  if (kind == patchbay::ProcessKind::parallel)
    label.append(out ? ", source in worker a, sinks in b" : ", sources in worker a, sink in b");
  state.SetLabel(label);
}

// What a hop cannot go below: the channel alone (8-byte records written into a heap ring in
// batches, then read and copied out, as a chain's fibers do), and one steady_clock read (the
// engine reads the clock around every step for its counters).
void local_hop_floor_ring(benchmark::State& state) {
  constexpr std::int64_t kBatch = 1024;  // fits the 64 KiB channel: 16 bytes per record
  patchbay::channel::HeapRing<patchbay::channel::VariableRing> heap(std::size_t{64} * 1024);
  patchbay::channel::VariableRing& ring = heap.ring();
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
      ring.pop();
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

// The library's Sleep with a busy wait instead of a sleep: x -> y after holding the core.
class Busy final : public Component {
 public:
  Busy(std::string name, double seconds)
      : Component(std::move(name)), duration_ns_(static_cast<std::int64_t>(seconds * 1e9)) {}
  Input<patchbay::Value> x{this, "x"};
  Output<patchbay::Value> y{this, "y"};
  void step() override {
    busy_for(duration_ns_);
    y = x.value();
  }

 private:
  std::int64_t duration_ns_;
};

constexpr std::int64_t kTutorialIterations = 200;

// How the tutorial's two slow branches wait: the library's Sleep (5 ms and 10 ms), or Busy,
// which holds its core (1 ms and 2 ms: the run is as CPU-bound as it can get).
struct TutorialSteps {
  bool busy = false;
  double slow_seconds = 0;
  double very_slow_seconds = 0;
};
constexpr TutorialSteps kSleepSteps{false, 0.005, 0.010};
constexpr TutorialSteps kBusySteps{true, 0.001, 0.002};

// Iterator -> (slow, very slow) -> Timestamper -> sink. Time = the whole run();
// `critical_path_ratio` = run time / (iterations x the very slow step).
void tutorial(benchmark::State& state, patchbay::ProcessKind kind, TutorialSteps steps) {
  namespace lib = patchbay::library;
  double total_seconds = 0;
  const patchbay_bench::PreemptionCount preemptions;
  std::int64_t runs = 0;
  std::string plan;
  const auto branch = [&steps](const char* name, double seconds) -> std::unique_ptr<Component> {
    if (steps.busy) return std::make_unique<Busy>(name, seconds);
    return std::make_unique<lib::Sleep>(name, seconds);
  };
  for (auto _ : state) {
    std::vector<std::unique_ptr<Component>> components;
    components.push_back(std::make_unique<lib::Iterator>("input", kTutorialIterations));
    components.push_back(branch("slow-sleep", steps.slow_seconds));
    components.push_back(branch("very-slow-sleep", steps.very_slow_seconds));
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
  const double critical_path = static_cast<double>(kTutorialIterations) * steps.very_slow_seconds;
  const double serial =
      static_cast<double>(kTutorialIterations) * (steps.slow_seconds + steps.very_slow_seconds);
  const double mean = total_seconds / static_cast<double>(runs);
  state.counters["preemptions"] = preemptions.so_far();
  state.counters["critical_path_ms"] = critical_path * 1e3;
  state.counters["critical_path_ratio"] = mean / critical_path;
  state.counters["serial_ratio"] = mean / serial;  // against both branches one after the other
  std::string label = kind == patchbay::ProcessKind::local
                          ? std::string("whole run, LocalProcess")
                          : std::string("whole run, ParallelProcess, default plan: ").append(plan);
  state.SetLabel(label.append(steps.busy ? ", busy-wait steps" : ", sleep steps"));
}

// ---- start-up ----

struct alignas(64) StartRecord {
  std::int64_t delivered_ns = 0;  // the sink's first step
};

// source -> pass x (W - 2) -> sink, component i in worker "w<i>" (W = 1: both in w0); the
// source sends `messages` values (0: it closes at once, an empty model).
struct StartModel {
  std::vector<std::unique_ptr<Component>> components;
  std::vector<ConnectorSpec> connectors;
};

StartModel start_model(std::int64_t workers, std::int64_t messages, StartRecord* record,
                       std::int64_t* unused_ns) {
  StartModel model;
  const std::int64_t count = workers < 2 ? 2 : workers;
  const auto label = [workers](std::int64_t i) {
    return std::string("w").append(std::to_string(workers < 2 ? 0 : i));
  };
  model.components.push_back(std::make_unique<Source>("c0", unused_ns, messages));
  model.components.back()->set_worker_label(label(0));
  for (std::int64_t i = 1; i < count; ++i) {
    const std::string name = std::string("c").append(std::to_string(i));
    if (i + 1 < count) {
      model.components.push_back(std::make_unique<Pass>(name));
    } else {
      model.components.push_back(std::make_unique<Sink>(
          name, unused_ns, messages, Sink::Order::checked, &record->delivered_ns));
    }
    model.components.back()->set_worker_label(label(i));
    model.connectors.emplace_back(std::string("c").append(std::to_string(i - 1)).append(".out"),
                                  name + ".in");
  }
  return model;
}

// Time = from the call to run() to the first message's arrival at the end of the chain
// (first_message), or the whole run() of an empty model (empty_run). `construct_ms`: the
// constructor before it (validation, plan, arena, fork).
void startup(benchmark::State& state, patchbay::ProcessKind kind, bool first_message) {
  if (skip_parallel_without_two_cores(state, kind)) return;
  const std::int64_t workers = state.range(0);
  SharedMemory memory(2 * sizeof(StartRecord));
  std::int64_t construct_ns = 0;
  const patchbay_bench::PreemptionCount preemptions;
  std::int64_t runs = 0;
  for (auto _ : state) {
    StartRecord* record = memory.construct<StartRecord>();
    auto* unused_ns = memory.construct<std::int64_t>(sizeof(StartRecord));
    StartModel model = start_model(workers, first_message ? 1 : 0, record, unused_ns);
    ProcessOptions options;
    options.workers = static_cast<std::size_t>(workers);
    try {
      const std::int64_t constructing = now_ns();
      const auto process =
          make_process(kind, std::move(model.components), model.connectors, options);
      const std::int64_t start = now_ns();
      construct_ns += start - constructing;
      process->run();
      const std::int64_t end =
          first_message ? record->delivered_ns : start + process->elapsed().count();
      if (end == 0) throw std::runtime_error("the message did not arrive");
      state.SetIterationTime(static_cast<double>(end - start) * 1e-9);
      ++runs;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (runs == 0) return;
  state.counters["preemptions"] = preemptions.so_far();
  state.counters["construct_ms"] =
      static_cast<double>(construct_ns) / static_cast<double>(runs) * 1e-6;
  std::string label =
      first_message ? "run() to the first message delivered, " : "whole run() of an empty model, ";
  label.append(engine_name(kind));
  if (kind == patchbay::ProcessKind::parallel)
    label.append(", workers: ").append(std::to_string(workers)).append(", a chain across them");
  state.SetLabel(label);
}

// The floor of a start-up: fork W children that exit at once, and reap them.
void startup_floor_fork(benchmark::State& state) {
  const std::int64_t children = state.range(0);
  for (auto _ : state) {
    std::fflush(nullptr);
    std::vector<pid_t> pids;
    for (std::int64_t i = 0; i < children; ++i) {
      const pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid < 0) {
        state.SkipWithError("fork failed");
        break;
      }
      pids.push_back(pid);
    }
    for (const pid_t pid : pids)
      waitpid(pid, nullptr, 0);
  }
  state.SetLabel("fork W children that exit at once, then reap them");
}

// ---- memory ----

// Read from /proc/self/status: resident now (VmRSS) and at its peak (VmHWM), in bytes.
std::int64_t status_kib(const char* field) {
  std::FILE* file = std::fopen("/proc/self/status", "r");
  if (file == nullptr) return -1;
  char line[256];
  std::int64_t kib = -1;
  const std::size_t length = std::strlen(field);
  while (std::fgets(line, sizeof line, file) != nullptr) {
    if (std::strncmp(line, field, length) == 0 && line[length] == ':') {
      kib = std::strtoll(line + length + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(file);
  return kib;
}

// Starts the peak over from now (writing 5 to clear_refs resets VmHWM to VmRSS).
bool reset_peak_rss() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "w");
  if (file == nullptr) return false;
  const bool ok = std::fputs("5", file) >= 0;
  return std::fclose(file) == 0 && ok;
}

struct alignas(64) MemoryRecord {
  std::int64_t before_kib = 0;  // resident before the model was built
  std::int64_t built_kib = 0;   // after the components (and the process) were constructed
  std::int64_t peak_kib = 0;    // peak while building and running
  std::int64_t ok = 0;
};

// Runs `body` in a forked child (so that this process's own heap and the benchmark framework's
// do not count) and reports the child's resident memory: before `body`, after its `built()`
// call, and at its peak. Time = the child's whole life.
template <class Body>
MemoryRecord measure_in_child(benchmark::State& state, Body body) {
  SharedMemory memory(sizeof(MemoryRecord));
  MemoryRecord* record = memory.construct<MemoryRecord>();
  std::fflush(nullptr);
  const std::int64_t start = now_ns();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int code = 1;
    try {
      if (!reset_peak_rss()) throw std::runtime_error("cannot reset the peak");
      record->before_kib = status_kib("VmRSS");
      body([record] { record->built_kib = status_kib("VmRSS"); });
      record->peak_kib = status_kib("VmHWM");
      record->ok = 1;
      code = 0;
    } catch (...) {
    }
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  state.SetIterationTime(static_cast<double>(now_ns() - start) * 1e-9);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || record->ok == 0)
    throw std::runtime_error("the measuring child failed");
  return *record;
}

// A sink with `width` inputs, all fed by one source's output: `width` channels, two components.
class WideSink final : public Component {
 public:
  WideSink(std::string name, std::int64_t width) : Component(std::move(name)) {
    for (std::int64_t i = 0; i < width; ++i)
      inputs_.push_back(
          std::make_unique<Input<std::int64_t>>(this, std::string("in").append(std::to_string(i))));
  }
  void step() override {}

 private:
  std::vector<std::unique_ptr<Input<std::int64_t>>> inputs_;
};

constexpr std::int64_t kMemoryMessages = 10;

void report_memory(benchmark::State& state, const MemoryRecord& m, const char* per,
                   std::int64_t count) {
  const double kib = 1024.0;
  state.counters["rss_before_mb"] = static_cast<double>(m.before_kib) * kib / 1e6;
  state.counters["peak_rss_mb"] = static_cast<double>(m.peak_kib) * kib / 1e6;
  state.counters[std::string("built_bytes_per_").append(per)] =
      static_cast<double>(m.built_kib - m.before_kib) * kib / static_cast<double>(count);
  state.counters[std::string("peak_bytes_per_").append(per)] =
      static_cast<double>(m.peak_kib - m.before_kib) * kib / static_cast<double>(count);
}

// A LocalProcess chain of N components (source -> N - 2 passes -> sink, N - 1 channels) that
// carries 10 messages; per component = with its input channel and its fiber.
void memory_chain(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    try {
      const MemoryRecord m = measure_in_child(state, [n](auto built) {
        std::int64_t first_ns = 0;
        std::int64_t last_ns = 0;
        std::vector<std::unique_ptr<Component>> components;
        std::vector<ConnectorSpec> connectors;
        components.push_back(std::make_unique<Source>("c0", &first_ns, kMemoryMessages));
        for (std::int64_t i = 1; i < n; ++i) {
          const std::string name = std::string("c").append(std::to_string(i));
          if (i + 1 < n) {
            components.push_back(std::make_unique<Pass>(name));
          } else {
            components.push_back(std::make_unique<Sink>(name, &last_ns, kMemoryMessages));
          }
          connectors.emplace_back(std::string("c").append(std::to_string(i - 1)).append(".out"),
                                  name + ".in");
        }
        patchbay::LocalProcess process(std::move(components), connectors);
        built();
        process.run();
        if (last_ns == 0) throw std::runtime_error("the sink missed messages");
      });
      report_memory(state, m, "component", n);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.SetLabel("peak RSS of a LocalProcess chain (10 messages), measured in a forked child");
}

// A LocalProcess of two components and N channels (one source output to N inputs of one sink)
// that carries 10 messages; per channel.
void memory_channels(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    try {
      const MemoryRecord m = measure_in_child(state, [n](auto built) {
        std::int64_t first_ns = 0;
        std::vector<std::unique_ptr<Component>> components;
        std::vector<ConnectorSpec> connectors;
        components.push_back(std::make_unique<Source>("source", &first_ns, kMemoryMessages));
        components.push_back(std::make_unique<WideSink>("sink", n));
        for (std::int64_t i = 0; i < n; ++i)
          connectors.emplace_back("source.out", std::string("sink.in").append(std::to_string(i)));
        patchbay::LocalProcess process(std::move(components), connectors);
        built();
        process.run();
        for (const auto& s : process.component_stats()) {
          if (s.name == "sink" && s.steps != static_cast<std::uint64_t>(kMemoryMessages))
            throw std::runtime_error("the sink missed messages");
        }
      });
      report_memory(state, m, "channel", n);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.SetLabel(
      "peak RSS of a LocalProcess with 2 components and N channels (10 messages), "
      "measured in a forked child");
}

// What a component and a channel cannot go below: N Boost.Fiber fibers on guard-paged 256 KiB
// stacks (the engine's default) that each yield once, and N 64 KiB heap rings that each carry
// 10 eight-byte records.
void memory_floor_fibers(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    try {
      const MemoryRecord m = measure_in_child(state, [n](auto built) {
        std::vector<boost::fibers::fiber> fibers;
        fibers.reserve(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) {
          fibers.emplace_back(std::allocator_arg,
                              boost::fibers::protected_fixedsize_stack(std::size_t{256} * 1024),
                              [] { boost::this_fiber::yield(); });
        }
        built();
        for (auto& f : fibers)
          f.join();
      });
      report_memory(state, m, "fiber", n);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.SetLabel("N fibers, 256 KiB guard-paged stacks, each yields once; forked child");
}

void memory_floor_rings(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    try {
      const MemoryRecord m = measure_in_child(state, [n](auto built) {
        std::vector<patchbay::channel::HeapRing<patchbay::channel::VariableRing>> rings;
        rings.reserve(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
          rings.emplace_back(std::size_t{64} * 1024);
        built();
        std::int64_t sum = 0;
        for (auto& heap : rings) {
          for (std::int64_t v = 0; v < kMemoryMessages; ++v) {
            if (!heap.ring().try_write(std::as_bytes(std::span(&v, 1))))
              throw std::runtime_error("ring full");
          }
          for (std::int64_t v = 0; v < kMemoryMessages; ++v) {
            if (heap.ring().try_read()) sum += 1;
            heap.ring().pop();
          }
        }
        if (sum != n * kMemoryMessages) throw std::runtime_error("records lost");
      });
      report_memory(state, m, "ring", n);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.SetLabel("N 64 KiB heap rings, 10 records through each; forked child");
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
  using patchbay::ProcessKind;
  const auto chain_lengths = [](benchmark::internal::Benchmark* b) {
    b->ArgName("passes")->Arg(1)->Arg(4)->Arg(16)->Arg(64)->UseManualTime();
  };
  benchmark::RegisterBenchmark("local_chain", chain, ProcessKind::local, 2'000'000)
      ->Apply(chain_lengths);
  benchmark::RegisterBenchmark("parallel_chain", chain, ProcessKind::parallel, 400'000)
      ->Apply(chain_lengths);
  for (const ProcessKind kind : {ProcessKind::local, ProcessKind::parallel}) {
    const std::string engine = kind == ProcessKind::local ? "local" : "parallel";
    for (const bool in_place : {true, false}) {
      const std::string name = "buffers/" + engine + (in_place ? "/in_place" : "/copied");
      benchmark::RegisterBenchmark(name.c_str(), in_place ? buffers<true> : buffers<false>, kind)
          ->ArgName("bytes")
          ->Arg(64 * 1024)
          ->UseManualTime();
    }
  }
  for (const WaitMode mode : {WaitMode::spin, WaitMode::adaptive, WaitMode::block}) {
    const std::string name = std::string("oversubscribed_chain/").append(patchbay::to_string(mode));
    benchmark::RegisterBenchmark(name.c_str(), oversubscribed_chain, mode, 200'000)
        ->ArgName("workers")
        ->Arg(2)
        ->Arg(4)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("local_hop_floor/ring_write_read", local_hop_floor_ring);
  benchmark::RegisterBenchmark("local_hop_floor/steady_clock_now", local_hop_floor_clock);
  for (const bool out : {true, false}) {
    for (const ProcessKind kind : {ProcessKind::local, ProcessKind::parallel}) {
      const std::string name = std::string(out ? "fan_out/" : "fan_in/")
                                   .append(kind == ProcessKind::local ? "local" : "parallel");
      const std::int64_t total = kind == ProcessKind::local ? 1'000'000 : 200'000;
      benchmark::RegisterBenchmark(name.c_str(), fan, kind, out, total, false)
          ->ArgName("n")
          ->Arg(2)
          ->Arg(4)
          ->Arg(8)
          ->Arg(32)
          ->UseManualTime();
    }
  }
  for (const ProcessKind kind : {ProcessKind::local, ProcessKind::parallel}) {
    const std::string name =
        std::string("events_out/").append(kind == ProcessKind::local ? "local" : "parallel");
    const std::int64_t total = kind == ProcessKind::local ? 1'000'000 : 200'000;
    benchmark::RegisterBenchmark(name.c_str(), fan, kind, true, total, true)
        ->ArgName("n")
        ->Arg(2)
        ->Arg(4)
        ->Arg(8)
        ->UseManualTime();
  }
  for (const bool busy : {false, true}) {
    for (const ProcessKind kind : {ProcessKind::local, ProcessKind::parallel}) {
      const std::string name = std::string(busy ? "tutorial_busy/" : "tutorial/")
                                   .append(kind == ProcessKind::local ? "local" : "parallel");
      benchmark::RegisterBenchmark(name.c_str(), tutorial, kind, busy ? kBusySteps : kSleepSteps)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const bool first_message : {true, false}) {
    const std::string what = first_message ? "first_message" : "empty_run";
    benchmark::RegisterBenchmark(("startup/" + what + "/local").c_str(), startup,
                                 ProcessKind::local, first_message)
        ->ArgName("workers")
        ->Arg(1)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("startup/" + what + "/parallel").c_str(), startup,
                                 ProcessKind::parallel, first_message)
        ->ArgName("workers")
        ->Arg(1)
        ->Arg(2)
        ->Arg(8)
        // The constructor (untimed) costs ten times the run: without a cap, reaching the
        // minimum time would take minutes.
        ->Iterations(10)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("startup_floor/fork_exit_wait", startup_floor_fork)
      ->ArgName("children")
      ->Arg(1)
      ->Arg(2)
      ->Arg(8)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  constexpr std::int64_t kMany = 10'000;
  const auto once = [](benchmark::internal::Benchmark* b) {
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  benchmark::RegisterBenchmark("memory/local_chain", memory_chain)
      ->ArgName("components")
      ->Arg(kMany)
      ->Apply(once);
  benchmark::RegisterBenchmark("memory/local_channels", memory_channels)
      ->ArgName("channels")
      ->Arg(kMany)
      ->Apply(once);
  benchmark::RegisterBenchmark("memory_floor/fibers", memory_floor_fibers)
      ->ArgName("fibers")
      ->Arg(kMany)
      ->Apply(once);
  benchmark::RegisterBenchmark("memory_floor/heap_rings", memory_floor_rings)
      ->ArgName("rings")
      ->Arg(kMany)
      ->Apply(once);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
