// Tasks and futures (patchbay::Runtime), against the floors measured in the same run.
//
//   task_round_trip/MODE        submit a trivial function to a one-worker runtime and get() it;
//                               the worker on core 1, the host thread on core 0. Reports p50 and
//                               p99 of the single round trips, and (spin) `x_two_atomic`: the
//                               mean against the two-atomic ping-pong between the same cores,
//                               measured just before.
//   task_throughput/workers:N   one host thread submits trivial tasks in windows of 1024 and
//                               gets them; tasks per second. N = 1: the worker on core 1, the
//                               host on core 0; N = 2: one worker per core, so the host shares
//                               core 0 with worker w0 (this machine has two cores).
//   tutorial_dag_compiled/MODE  the tutorial's DAG (task3 of task1 and task2, strings) compiled
//                               (dag.hpp) into a model on one worker on core 1: execute() + get()
//                               from the host on core 0. p50, p99, x_two_atomic as above.
//   tutorial_dag_as_tasks/MODE  the same graph as tasks on a one-worker runtime: submit task1
//                               and task2, submit task3 with their futures, get().
//   actor_call_round_trip/MODE  the same for a method call on an actor.
//   actor_throughput            one host thread's pipelined calls to one actor on core 1.
//   put_object/doubles:N        put() of N doubles against memcpy of the same bytes (x_memcpy).
//   read_in_place/doubles:N     a task on the worker reads a stored vector of N doubles through
//                               std::span: the round trip, 1 element against 8 MiB.
//   runtime_start/fork_server:N a two-worker runtime from construction to its first result,
//                               against `fork_chain_ms`: this process forking a child that forks
//                               two grandchildren, until both have written a byte to a pipe
//                               (the same shape of processes, nothing else) (`x_fork_chain`).
//                               N = 0: forked in place; N = 1: through a ForkServer started when
//                               the benchmark starts (the zygote is the server's child).
//   task_idle_round_trip/MODE   the round trip to a worker that has gone to sleep: the host holds
//                               its core 1 ms before each submission (past the adaptive spin
//                               budget), the task holds the worker's 1 ms; `excess_ns` is the
//                               round trip less the task's work, against `futex_ns`, the same
//                               for a futex ping-pong whose sides each think 1 ms, measured
//                               just before (`x_futex`).
//   matrices_dag/side:N         the tutorial's matrices on two workers: create four N x N, multiply
//                               two pairs, sum the products; against its ideal schedule run in
//                               this process in the same iteration: two threads pinned to the
//                               workers' cores create two each, then multiply one pair each,
//                               then one sums (`x_ideal`).
//   retrieve_lookups            the tutorial's six lookups (each sleeps 10 ms) on two workers,
//                               against ceil(6/2) x the time a 10 ms sleep takes in this thread
//                               (the median of nine, measured first) (`x_ideal`).
//
// This process keeps the memory it frees, as the runtime's workers do (mallopt below), so
// that stages timed here and in the workers pay the same for their allocations.
//
// Ray's single-node figures, for scale (its release microbenchmarks): a synchronous task round
// trip of about 1 ms, an actor call of about 0.5 ms, a few thousand async tasks per second per
// client.
#include <patchbay/dag.hpp>
#include <patchbay/fork_server.hpp>
#include <patchbay/tasks.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cross_process.hpp"
#include "tutorial.hpp"

namespace {

using patchbay_bench::kFarCore;
using patchbay_bench::kNearCore;
using patchbay_bench::PinnedToCore;

std::int64_t add_one(std::int64_t x) {
  return x + 1;
}
PATCHBAY_REMOTE(add_one);

double first_of(std::span<const double> values) {
  return values.empty() ? 0.0 : values[0];
}
PATCHBAY_REMOTE(first_of);

std::int64_t busy_task(std::int64_t ns) {
  return patchbay_bench::busy_for(ns);
}
PATCHBAY_REMOTE(busy_task);

std::string tutorial_task1() {
  return "Result from task1";
}
PATCHBAY_REMOTE(tutorial_task1);
std::string tutorial_task2() {
  return "Result from task2";
}
PATCHBAY_REMOTE(tutorial_task2);
std::string tutorial_task3(std::string_view result1, std::string_view result2) {
  std::string out = "Task3 received: ";
  out += result1;
  out += " and ";
  out += result2;
  return out;
}
PATCHBAY_REMOTE(tutorial_task3);

class Counter {
 public:
  std::int64_t add(std::int64_t by) { return total_ += by; }

 private:
  std::int64_t total_ = 0;
};
Counter* make_counter() {
  return new Counter;
}
PATCHBAY_REMOTE(make_counter);
PATCHBAY_REMOTE_METHOD(Counter::add);

// A runtime of one worker on core 1, for a host thread on core 0 (pinned while it lives).
struct OneWorker {
  std::optional<patchbay::Runtime> runtime;
  std::optional<PinnedToCore> pinned;
  explicit OneWorker(patchbay::WaitMode mode) {
    patchbay::RuntimeOptions options;
    options.workers = 1;
    options.wait = mode;
    {
      // The runtime plans for the cores this thread may use: core 1 alone, for its worker.
      const PinnedToCore planning(kFarCore);
      runtime.emplace(options);
    }
    pinned.emplace(kNearCore);
  }
  ~OneWorker() {
    runtime.reset();
    pinned.reset();
  }
  OneWorker(const OneWorker&) = delete;
  OneWorker& operator=(const OneWorker&) = delete;
};

constexpr std::uint64_t kFloorRoundTrips = 20000;

patchbay::WaitMode mode_of(std::int64_t m) {
  return m == 0   ? patchbay::WaitMode::spin
         : m == 1 ? patchbay::WaitMode::adaptive
                  : patchbay::WaitMode::block;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// The two-atomic floor for wait mode `mode` (spin only; the others sleep).
patchbay_bench::TwoAtomicFloor floor_for(patchbay::WaitMode mode) {
  return mode == patchbay::WaitMode::spin ? patchbay_bench::two_atomic_floor(kFloorRoundTrips)
                                          : patchbay_bench::TwoAtomicFloor{};
}

// Times `round_trip()` (true when its result was right), reporting p50, p99 and, when `floor`
// was measured, the mean against it.
template <class RoundTrip>
void time_round_trips(benchmark::State& state, const patchbay_bench::TwoAtomicFloor& floor,
                      RoundTrip& round_trip, const std::string& label) {
  for (int k = 0; k < 1000; ++k)
    (void)round_trip();
  std::vector<double> samples;
  samples.reserve(1 << 20);
  bool wrong = false;
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state) {
    const std::int64_t t0 = patchbay_bench::now_ns();
    wrong |= !round_trip();
    if (samples.size() < samples.capacity())
      samples.push_back(static_cast<double>(patchbay_bench::now_ns() - t0));
  }
  const double mean = static_cast<double>(patchbay_bench::now_ns() - start) /
                      static_cast<double>(state.iterations());
  if (wrong) state.SkipWithError("a result was wrong");
  state.counters["p50_ns"] = percentile(samples, 0.5);
  state.counters["p99_ns"] = percentile(samples, 0.99);
  if (floor.ns > 0) {
    state.counters["two_atomic_ns"] = floor.ns;
    state.counters["x_two_atomic"] = mean / floor.ns;
  }
  state.SetLabel(label);
}

// time_round_trips() on a one-worker runtime: `setup(runtime)` runs first (untimed) and returns
// the round trip.
template <class Setup>
void measure_round_trips(benchmark::State& state, const std::string& what, Setup setup) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  const patchbay::WaitMode mode = mode_of(state.range(0));
  const auto floor = floor_for(mode);
  OneWorker one(mode);
  auto round_trip = setup(*one.runtime);
  time_round_trips(
      state, floor, round_trip,
      what + ", the worker on core 1, host on core 0, " + std::string(patchbay::to_string(mode)));
}

void task_round_trip(benchmark::State& state) {
  measure_round_trips(state, "submit + get", [](patchbay::Runtime& runtime) {
    return [&runtime, i = std::int64_t{0}]() mutable {
      ++i;
      return runtime.submit(add_one, i).get() == i + 1;
    };
  });
}
BENCHMARK(task_round_trip)->Arg(0)->Arg(1)->Arg(2)->ArgName("mode")->UseRealTime();

// The tutorial's three tasks, the third taking the first two's results: as a compiled DAG (one
// execute() and its get()), and as tasks on a runtime (three submissions and a get()).
const std::string kTutorialResult = "Task3 received: Result from task1 and Result from task2";

void tutorial_dag_compiled(benchmark::State& state) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  const patchbay::WaitMode mode = mode_of(state.range(0));
  const auto floor = floor_for(mode);
  patchbay::DagOptions options;
  options.process.workers = 1;
  options.process.wait = mode;
  std::optional<patchbay::CompiledDag<std::string>> dag;
  {
    // Planned on the cores this thread may use: core 1 alone, for the model's one worker.
    const PinnedToCore planning(kFarCore);
    auto r1 = patchbay::bind(tutorial_task1);
    auto r2 = patchbay::bind(tutorial_task2);
    dag.emplace(patchbay::compile(patchbay::bind(tutorial_task3, r1, r2), options));
  }
  {
    const PinnedToCore near(kNearCore);
    auto round_trip = [&] { return dag->execute().get() == kTutorialResult; };
    time_round_trips(state, floor, round_trip,
                     "execute + get, the DAG's worker on core 1, host on core 0, " +
                         std::string(patchbay::to_string(mode)));
  }
  dag->close();
}
BENCHMARK(tutorial_dag_compiled)->Arg(0)->Arg(1)->ArgName("mode")->UseRealTime();

void tutorial_dag_as_tasks(benchmark::State& state) {
  measure_round_trips(state, "3 submits + get", [](patchbay::Runtime& runtime) {
    return [&runtime] {
      auto r1 = runtime.submit(tutorial_task1);
      auto r2 = runtime.submit(tutorial_task2);
      return runtime.submit(tutorial_task3, r1, r2).get() == kTutorialResult;
    };
  });
}
BENCHMARK(tutorial_dag_as_tasks)->Arg(0)->Arg(1)->ArgName("mode")->UseRealTime();

void actor_call_round_trip(benchmark::State& state) {
  measure_round_trips(state, "actor call + get", [](patchbay::Runtime& runtime) {
    return [counter = runtime.create_actor(make_counter), expected = std::int64_t{0}]() mutable {
      return counter.call(&Counter::add, 1).get() == ++expected;
    };
  });
}
BENCHMARK(actor_call_round_trip)->Arg(0)->Arg(1)->ArgName("mode")->UseRealTime();

// Pipelined calls: `send(n)` starts call n (n counts from 1) and returns its future, whose
// value must be `n + offset`; windows of 1024 are sent, then awaited.
template <class Send>
void measure_windows(benchmark::State& state, std::int64_t offset, Send send) {
  constexpr std::int64_t kWindow = 1024;
  std::vector<decltype(send(std::int64_t{1}))> window;
  window.reserve(kWindow);
  std::int64_t n = 0;
  bool wrong = false;
  for (auto _ : state) {
    for (std::int64_t k = 1; k <= kWindow; ++k)
      window.push_back(send(n + k));
    for (std::int64_t k = 1; k <= kWindow; ++k)
      wrong |= window[static_cast<std::size_t>(k - 1)].get() != n + k + offset;
    window.clear();
    n += kWindow;
  }
  if (wrong) state.SkipWithError("a result was wrong or out of order");
  state.SetItemsProcessed(state.iterations() * kWindow);
}

void actor_throughput(benchmark::State& state) {
  OneWorker one(patchbay::WaitMode::adaptive);
  auto counter = one.runtime->create_actor(make_counter);
  // The counter's total after call n is n.
  measure_windows(state, 0, [&](std::int64_t) { return counter.call(&Counter::add, 1); });
  state.SetLabel("one host thread on core 0, the actor on core 1, windows of 1024");
}
BENCHMARK(actor_throughput)->UseRealTime()->Unit(benchmark::kMicrosecond);

void task_throughput(benchmark::State& state) {
  patchbay::RuntimeOptions options;
  options.workers = static_cast<std::size_t>(state.range(0));
  options.wait = patchbay::WaitMode::adaptive;
  // One worker: as task_round_trip, alone on core 1 with the host on core 0.
  std::optional<OneWorker> one;
  std::optional<patchbay::Runtime> two;
  if (options.workers == 1) {
    one.emplace(options.wait);
  } else {
    two.emplace(options);
  }
  patchbay::Runtime& runtime = one ? *one->runtime : *two;
  measure_windows(state, 1, [&](std::int64_t n) { return runtime.submit(add_one, n); });
  state.SetLabel(options.workers == 1
                     ? "one host thread on core 0, one worker on core 1, windows of 1024"
                     : "one host thread, two workers (w0 shares core 0 with it), windows of 1024");
}
BENCHMARK(task_throughput)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("workers")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// put() of a vector of doubles (8 MiB by default), against memcpy of the same bytes into a
// buffer that is already mapped, timed just before.
void put_object(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  patchbay::RuntimeOptions options;
  options.workers = 1;
  patchbay::Runtime runtime(options);
  const std::vector<double> value(count, 1.5);
  std::vector<double> target(count);
  const std::int64_t copies = 20;
  const std::int64_t copy_start = patchbay_bench::now_ns();
  for (std::int64_t k = 0; k < copies; ++k) {
    std::memcpy(target.data(), value.data(), count * sizeof(double));
    benchmark::ClobberMemory();
  }
  const double memcpy_ns =
      static_cast<double>(patchbay_bench::now_ns() - copy_start) / static_cast<double>(copies);
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state) {
    auto stored = runtime.put(value);
    benchmark::DoNotOptimize(stored);
  }
  const double put_ns = static_cast<double>(patchbay_bench::now_ns() - start) /
                        static_cast<double>(state.iterations());
  state.counters["memcpy_ns"] = memcpy_ns;
  state.counters["x_memcpy"] = put_ns / memcpy_ns;
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(count * sizeof(double)));
  state.SetLabel("put() of a std::vector<double>, against memcpy of its bytes");
}
BENCHMARK(put_object)
    ->Arg(std::int64_t{1} << 20)
    ->ArgName("doubles")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// A task on another worker reads a stored vector in place: the round trip should not grow with
// the vector (1 element, then 8 MiB).
void read_in_place(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  OneWorker one(patchbay::WaitMode::spin);
  auto stored = one.runtime->put(std::vector<double>(count, 2.5));
  bool wrong = false;
  for (auto _ : state)
    wrong |= one.runtime->submit(first_of, stored).get() != 2.5;
  if (wrong) state.SkipWithError("a result was wrong");
  state.SetLabel("a task takes a stored vector as std::span<const double>, spin");
}
BENCHMARK(read_in_place)->Arg(1)->Arg(std::int64_t{1} << 20)->ArgName("doubles")->UseRealTime();

// The same process shape without patchbay: this process forks a child, which forks two
// grandchildren that each write one byte to a pipe; seconds until both bytes are read. The
// floor for any runtime whose workers are forked by a process it forks first.
double fork_chain_seconds() {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 0;
  const std::int64_t start = patchbay_bench::now_ns();
  const pid_t middle = fork();
  if (middle == 0) {
    for (int k = 0; k < 2; ++k) {
      if (fork() == 0) {
        const char byte = 1;
        (void)!write(pipe_fds[1], &byte, 1);
        _exit(0);
      }
    }
    while (wait(nullptr) > 0) {
    }
    _exit(0);
  }
  char bytes[2];
  std::size_t got = 0;
  while (got < 2) {
    const ssize_t n = read(pipe_fds[0], bytes + got, 2 - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  const std::int64_t took = patchbay_bench::now_ns() - start;
  waitpid(middle, nullptr, 0);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  return static_cast<double>(took) * 1e-9;
}

void runtime_start(benchmark::State& state) {
  const bool served = state.range(0) == 1;
  // Started before anything else here, as a service would at the top of main().
  std::optional<patchbay::ForkServer> server;
  if (served) server.emplace();
  patchbay::RuntimeOptions options;
  options.workers = 2;
  std::vector<double> chains;
  for (int k = 0; k < 5; ++k)
    chains.push_back(fork_chain_seconds());
  const double chain = patchbay_bench::median(chains);
  double total = 0;
  for (auto _ : state) {
    const std::int64_t start = patchbay_bench::now_ns();
    patchbay::Runtime runtime(options);
    const bool right = runtime.submit(add_one, 1).get() == 2;
    const double took = static_cast<double>(patchbay_bench::now_ns() - start) * 1e-9;
    state.SetIterationTime(took);
    total += took;
    if (!right) state.SkipWithError("a result was wrong");
  }
  state.counters["fork_chain_ms"] = chain * 1e3;
  state.counters["x_fork_chain"] = total / static_cast<double>(state.iterations()) / chain;
  state.SetLabel(std::string("two workers") +
                 (served ? " through a fork server" : " forked in place") +
                 ", construction to first result (shutdown not timed), against a child forking "
                 "two grandchildren that answer through a pipe");
}
BENCHMARK(runtime_start)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("fork_server")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void task_idle_round_trip(benchmark::State& state) {
  if (!patchbay_bench::has_two_cores()) {
    state.SkipWithError("needs cores 0 and 1");
    return;
  }
  constexpr std::int64_t kThinkNs = 1'000'000;
  const patchbay::WaitMode mode = mode_of(state.range(0));
  const double futex_ns = patchbay_bench::futex_hand_off_ns(kThinkNs, 100);
  OneWorker one(mode);
  for (int k = 0; k < 2; ++k)
    (void)one.runtime->submit(busy_task, kThinkNs).get();
  double excess = 0;
  for (auto _ : state) {
    (void)patchbay_bench::busy_for(kThinkNs);  // the worker goes to sleep meanwhile
    const std::int64_t start = patchbay_bench::now_ns();
    const std::int64_t worked = one.runtime->submit(busy_task, kThinkNs).get();
    const std::int64_t took = patchbay_bench::now_ns() - start;
    excess += static_cast<double>(took - worked);
    state.SetIterationTime(static_cast<double>(took) * 1e-9);
  }
  excess /= static_cast<double>(state.iterations());
  state.counters["excess_ns"] = excess;
  state.counters["futex_ns"] = futex_ns;
  state.counters["x_futex"] = excess / futex_ns;
  state.SetLabel(
      "submit + get to a sleeping worker, each side busy 1 ms first; worker on core 1, "
      "host on core 0, " +
      std::string(patchbay::to_string(mode)));
}
BENCHMARK(task_idle_round_trip)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("mode")
    ->Iterations(200)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

double seconds_of(const std::function<void()>& work) {
  const std::int64_t start = patchbay_bench::now_ns();
  work();
  return static_cast<double>(patchbay_bench::now_ns() - start) * 1e-9;
}

// Runs `work(0)` on a thread pinned to core 0 and `work(1)` on one pinned to core 1.
void on_two_cores(const std::function<void(int)>& work) {
  std::thread other([&] {
    patchbay_bench::pin_to_core(kFarCore);
    work(1);
  });
  {
    const PinnedToCore pinned(kNearCore);
    work(0);
  }
  other.join();
}

void matrices_dag(benchmark::State& state) {
  using tutorial::Matrix;
  const auto side = static_cast<std::uint64_t>(state.range(0));
  patchbay::RuntimeOptions options;
  options.workers = 2;
  options.store_bytes = std::size_t{1} << 30;
  patchbay::Runtime runtime(options);
  double ideal = 0;
  double actual = 0;
  bool wrong = false;
  for (auto _ : state) {
    // The ideal schedule, in this process: each stage on two threads pinned to the workers'
    // two cores, as two workers would run it at best (on this machine two multiplications at
    // once run slower than one alone, so stages timed alone would not be a schedule).
    Matrix m[4];
    Matrix products[2];
    double checked = 0;
    const double create = seconds_of([&] {
      on_two_cores([&](int t) {
        m[t] = tutorial::create_matrix(side, 1 + static_cast<std::uint64_t>(t));
        m[t + 2] = tutorial::create_matrix(side, 1 + static_cast<std::uint64_t>(t));
      });
    });
    const double multiply = seconds_of([&] {
      on_two_cores(
          [&](int t) { products[t] = tutorial::multiply_matrices(m[2 * t], m[2 * t + 1]); });
    });
    const double sum = seconds_of(
        [&] { checked = tutorial::total(tutorial::sum_matrices(products[0], products[1])); });
    const double best = create + multiply + sum;
    // The DAG on the runtime, as the tutorial builds it; the sum is read where it lies.
    double result = 0;
    const double took = seconds_of([&] {
      auto m1 = runtime.submit(tutorial::create_matrix, side, std::uint64_t{1});
      auto m2 = runtime.submit(tutorial::create_matrix, side, std::uint64_t{2});
      auto m3 = runtime.submit(tutorial::create_matrix, side, std::uint64_t{1});
      auto m4 = runtime.submit(tutorial::create_matrix, side, std::uint64_t{2});
      auto m12 = runtime.submit(tutorial::multiply_matrices, m1, m2);
      auto m34 = runtime.submit(tutorial::multiply_matrices, m3, m4);
      result = tutorial::total(runtime.submit(tutorial::sum_matrices, m12, m34).view());
    });
    wrong |= std::abs(result - checked) > 1e-6 * std::abs(checked);
    state.SetIterationTime(took);
    ideal += best;
    actual += took;
  }
  if (wrong) state.SkipWithError("the sum differs from this thread's");
  state.counters["ideal_ms"] = ideal * 1e3 / static_cast<double>(state.iterations());
  state.counters["x_ideal"] = actual / ideal;
  state.SetLabel("two workers; ideal = the same stages on two pinned threads of this process");
}
BENCHMARK(matrices_dag)
    ->Arg(1000)
    ->ArgName("side")
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void retrieve_lookups(benchmark::State& state) {
  constexpr int kSleepMs = 10;
  patchbay::RuntimeOptions options;
  options.workers = 2;
  patchbay::Runtime runtime(options);
  const auto items = static_cast<int>(tutorial::database.size());
  // A lookup's real length: its sleep as this machine gives it (timer slack, wake-up).
  std::vector<double> sleeps;
  for (int k = 0; k < 9; ++k) {
    sleeps.push_back(
        seconds_of([&] { std::this_thread::sleep_for(std::chrono::milliseconds(kSleepMs)); }));
  }
  const double ideal = std::ceil(items / 2.0) * patchbay_bench::median(sleeps);
  double actual = 0;
  bool wrong = false;
  std::vector<patchbay::Future<std::pair<int, std::string>>> lookups;
  for (auto _ : state) {
    const double took = seconds_of([&] {
      for (int item = 0; item < items; ++item)
        lookups.push_back(runtime.submit(tutorial::retrieve, item, kSleepMs));
      for (int item = 0; item < items; ++item)
        wrong |= lookups[static_cast<std::size_t>(item)].get().first != item;
    });
    lookups.clear();
    state.SetIterationTime(took);
    actual += took;
  }
  if (wrong) state.SkipWithError("a lookup came back wrong");
  state.counters["ideal_ms"] = ideal * 1e3;
  state.counters["x_ideal"] = actual / static_cast<double>(state.iterations()) / ideal;
  state.SetLabel("six lookups of 10 ms on two workers; ideal = ceil(6/2) x one lookup's sleep");
}
BENCHMARK(retrieve_lookups)->Iterations(20)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
