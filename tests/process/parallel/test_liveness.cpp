// ParallelProcess, liveness: step_timeout, a stopped worker, and stop() on a run hung in a step.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <thread>

#include "parallel/parallel_runtime.hpp"
#include "placement/machine.hpp"
#include "shm/arena.hpp"
#include "support/command.hpp"
#include "support/components.hpp"
#include "support/parallel_run.hpp"
#include "support/shared_record.hpp"

using namespace std::chrono_literals;
using patchbay::Component;
using patchbay::ParallelProcess;
using patchbay::ProcessOptions;
using patchbay::Status;
using patchbay::test::add;
using patchbay::test::Counter;
using patchbay::test::Fault;
using patchbay::test::Faulty;
using patchbay::test::run_and_check_cleanup;
using patchbay::test::SequenceCheck;
using patchbay::test::SlowSink;
using patchbay::test::split_options;

TEST_CASE("a step longer than step_timeout fails the run naming the component and its worker",
          "[parallel][liveness]") {
  const bool per_component = GENERATE(false, true);
  CAPTURE(per_component);
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "source", "count", -1);
  add<Faulty>(parts, "middle", "faulty", Fault::hang, 10);
  ProcessOptions options = split_options();
  if (per_component) {
    options.step_timeouts["faulty"] = 0.2;
  } else {
    options.step_timeout = 0.2;
  }
  ParallelProcess process(std::move(parts), {{"count.out", "faulty.in"}}, options);
  std::optional<patchbay::ComponentFailure> failure;
  const auto start = std::chrono::steady_clock::now();
  try {
    process.run();
  } catch (const patchbay::ComponentFailure& e) {
    failure = e;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(failure);
  CHECK(failure->component() == "faulty");
  CHECK_THAT(failure->message(), Catch::StartsWith("step 11 has run for ") &&
                                     Catch::Contains("longer than its step_timeout of 0.20 s") &&
                                     Catch::Contains("(in worker middle (pid "));
  CHECK(process.status() == Status::failed);
  CHECK(process.worker_pids().empty());
  CHECK(took < 5s);  // a hang guard: 0.2 s, then the grace period, then the kill
}

TEST_CASE("a worker stopped by SIGSTOP fails a run with step_timeout, named",
          "[parallel][liveness]") {
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "source", "count", -1);
  add<SlowSink>(parts, "sink", "sink");
  ProcessOptions options = split_options();
  options.step_timeout = 0.3;
  ParallelProcess process(std::move(parts), {{"count.out", "sink.in", 256}}, options);
  const auto pids = process.worker_pids();
  REQUIRE(pids.size() == 2);
  std::atomic<std::int64_t> stopped_at{0};
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stopped_at = std::chrono::steady_clock::now().time_since_epoch().count();
    kill(pids.back(), SIGSTOP);
  });
  const auto outcome = run_and_check_cleanup(process);
  stopper.join();
  const auto took = std::chrono::nanoseconds(
      std::chrono::steady_clock::now().time_since_epoch().count() - stopped_at.load());
  INFO(outcome.error);
  // In a step (SlowSink sleeps in its steps) or between two: either way its worker is named.
  CHECK_THAT(outcome.error, Catch::Contains("worker sink (pid " + std::to_string(pids.back())) &&
                                Catch::Contains("longer than its step_timeout of 0.30 s") &&
                                Catch::Contains("stopped"));
  CHECK(process.status() == Status::failed);
  CHECK(took < 5s);  // a hang guard: 0.3 s, the grace period and the kill
}

TEST_CASE("without step_timeout, stop() ends a run hung in a step and says where",
          "[parallel][liveness]") {
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "source", "count", -1);
  add<Faulty>(parts, "middle", "faulty", Fault::hang, 10);
  ParallelProcess process(std::move(parts), {{"count.out", "faulty.in", 256}}, split_options());
  std::optional<patchbay::WorkerStats> seen;
  std::thread stopper([&] {
    // worker_stats() shows what the stuck worker is doing, while it is stuck.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!seen && std::chrono::steady_clock::now() < deadline) {
      for (const auto& w : process.worker_stats()) {
        if (w.name == "middle" && w.since_progress > 200ms) seen = w;
      }
      std::this_thread::sleep_for(10ms);
    }
    process.stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto outcome = run_and_check_cleanup(process);
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  REQUIRE(seen);
  CHECK_THAT(seen->activity, Catch::StartsWith("in step 11 of 'faulty' for "));
  CHECK(seen->component == "faulty");
  CHECK_THAT(outcome.error,
             Catch::StartsWith("stopped, but these workers did not stop within 0.50 s and were "
                               "killed: worker middle (pid ") &&
                 Catch::Contains("): in step 11 of 'faulty' for "));
  CHECK(took < 10s);  // a hang guard
  const auto workers = process.worker_stats();
  for (const auto& w : workers)
    CHECK(w.activity == "ended");
}

TEST_CASE("step_timeout is checked", "[parallel][liveness]") {
  auto build = [](const ProcessOptions& options) {
    std::vector<std::unique_ptr<Component>> parts;
    add<Counter>(parts, "source", "count", 10);
    add<SequenceCheck>(parts, "sink", "check", 10);
    ParallelProcess process(std::move(parts), {{"count.out", "check.in"}}, options);
  };
  ProcessOptions options = split_options();
  options.step_timeout = -1;
  CHECK_THROWS_WITH(build(options),
                    "step_timeout must be a number of seconds from 0 (no limit) to 1e6, not -1");
  options.step_timeout = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(build(options), patchbay::ModelError);
  options.step_timeout = 2e6;
  CHECK_THROWS_AS(build(options), patchbay::ModelError);
  options.step_timeout = 0;
  options.step_timeouts["nobody"] = 1;
  CHECK_THROWS_WITH(build(options), "step_timeout for 'nobody': no component of that name");
}

TEST_CASE("step_timeout from a model: per process and per component", "[parallel][liveness]") {
  patchbay::test::TempDir dir;
  const std::string head =
      "process:\n  type: parallel\n  args:\n    topology: \"pack:1 core:4 pu:1\"\n";
  const std::string body =
      "    components:\n"
      "    - {type: Iterator, args: {name: input, iters: 1000000}}\n"
      "    - {type: Sleep, args: {name: slow, sleep_seconds: 30, worker: sleeper, "
      "step_timeout: 0.2}}\n"
      "    connectors:\n    - {source: input.x, target: slow.x}\n";
  patchbay::test::write_file(dir / "model.yaml", head + "    step_timeout: 60\n" + body);
  const auto spec = patchbay::load_model((dir / "model.yaml").string());
  CHECK(spec.options.step_timeout == 60);
  REQUIRE(spec.components[1].step_timeout);
  CHECK(*spec.components[1].step_timeout == 0.2);
  ParallelProcess process(spec);
  const auto outcome = run_and_check_cleanup(process);
  CHECK_THAT(outcome.error, Catch::Contains("'slow'") &&
                                Catch::Contains("longer than its step_timeout of 0.20 s") &&
                                Catch::Contains("worker sleeper"));
  CHECK(outcome.took < 10s);  // a hang guard: not the 30 s of the step
  patchbay::test::write_file(dir / "bad.yaml", head + "    step_timeout: -1\n" + body);
  CHECK_THROWS_WITH(patchbay::load_model((dir / "bad.yaml").string()),
                    Catch::Contains("bad.yaml:5") &&
                        Catch::Contains("'step_timeout' must be a number of seconds from 0"));
}
