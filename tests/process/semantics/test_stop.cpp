// Execution semantics, stop(): ending a run from another thread. One rule per test case, run on
// every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::Status;
using patchbay::Value;
using patchbay::test::channel_of;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::init_called;
using patchbay::test::LongStep;
using patchbay::test::Model;
using patchbay::test::Pass;
using patchbay::test::run_guarded;
using patchbay::test::saw_stop;
using patchbay::test::stats_of;
using patchbay::test::status_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("stop() from another thread ends a run that would never end, without an error",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Collector<std::int64_t>>("sink", false);
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "sink.in", 64);
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  Status while_running = Status::created;
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    while_running = process->status();
    process->stop();
  });
  CHECK_NOTHROW(run_guarded(*process));
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(while_running == Status::running);
  CHECK(process->status() == Status::stopped);
  for (const auto& name : {"src", "pass", "sink"})
    CHECK(status_of(*process, name) == "STOPPED");
  CHECK(stats_of(*process, "sink").steps > 0);
}

// When stop() arrives, running components unwind at once while parked ones wait for the stop
// watcher; the moment in between, with every live component parked, is not a deadlock.
TEST_CASE("stop() wakes components parked on full channels", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // a <-> b park for good on full channels; src -> sink keeps the rest of the model busy, so
  // this is not a deadlock of the whole process and only stop() can end it.
  auto& a = m.add<Pass<std::int64_t>>("a");
  a.set_initial_values("in", std::vector<Value>(100, Value(7)));
  m.add<Pass<std::int64_t>>("b");
  m.add<Counter>("src", -1);
  m.add<Collector<std::int64_t>>("sink", false);
  m.connect("a.out", "b.in", 64);
  m.connect("b.out", "a.in", 64);
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);

  // Stats are live: stop once both directions of the cycle have been full, however slowly
  // this machine gets there (a fixed delay was too short under load).
  std::thread stopper([&] {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < give_up &&
           (channel_of(*process, "a.out", "b.in").times_full == 0 ||
            channel_of(*process, "b.out", "a.in").times_full == 0)) {
      std::this_thread::sleep_for(5ms);
    }
    process->stop();
  });
  CHECK_NOTHROW(run_guarded(*process));
  stopper.join();
  CHECK(channel_of(*process, "a.out", "b.in").times_full > 0);
  CHECK(channel_of(*process, "b.out", "a.in").times_full > 0);
  CHECK(process->status() == Status::stopped);
  for (const auto& name : {"a", "b", "src", "sink"})
    CHECK(status_of(*process, name) == "STOPPED");
}

TEST_CASE("stop(): a long step that polls stop_requested() sees the stop", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& slow = m.add<LongStep>("slow", 400ms);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("slow.out", "sink.in");
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    process->stop();
  });
  CHECK_NOTHROW(run_guarded(*process));
  stopper.join();
  CHECK(saw_stop(slow));
  CHECK(std::chrono::steady_clock::now() - start < 300ms);
  CHECK(process->status() == Status::stopped);
  CHECK(status_of(*process, "slow") == "STOPPED");
}

TEST_CASE("stop() before run() makes run() return at once with STOPPED", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& src = m.add<Counter>("src", -1);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);

  process->stop();
  const auto start = std::chrono::steady_clock::now();
  CHECK_NOTHROW(run_guarded(*process));
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(process->status() == Status::stopped);
  CHECK(status_of(*process, "src") == "STOPPED");
  CHECK(status_of(*process, "sink") == "STOPPED");
  CHECK(stats_of(*process, "src").steps == 0);
  CHECK_FALSE(init_called(src));
}
