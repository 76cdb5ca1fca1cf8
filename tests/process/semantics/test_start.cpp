// Execution semantics, start() and join(): a run on a thread of its own while the caller goes
// on. One rule per test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::Status;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::join_error;
using patchbay::test::Model;
using patchbay::test::Pass;
using patchbay::test::stats_of;
using patchbay::test::Thrower;
using patchbay_test::process_kinds;

// Waits (at most 20 s) until component `name` has taken `steps` steps; its count is published
// every 64 steps and when it waits.
bool wait_for_steps(const patchbay::Process& process, const std::string& name,
                    std::uint64_t steps) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < give_up) {
    for (const auto& s : process.component_stats()) {
      if (s.name == name && s.steps >= steps) return true;
    }
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// An endless source feeding a sink: only stop() (or drain()) ends it.
std::unique_ptr<patchbay::Process> endless(const std::string& kind) {
  Model m;
  m.add<Counter>("src", -1);
  m.add<Collector<std::int64_t>>("sink", false);
  m.connect("src.out", "sink.in", 64);
  return m.build(kind);
}

}  // namespace

TEST_CASE("start() returns while the model runs, and join() waits for its end", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& src = m.add<Counter>("src", 200);
  src.pause = 1ms;  // about 0.2 s in all: start() must return long before
  m.add<Pass<std::int64_t>>("pass");
  auto& sink = m.add<Collector<std::int64_t>>("sink", false);
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "sink.in");
  auto process = m.build(kind);

  process->start();
  // Begun, and not ended: the caller runs beside it.
  const Status after_start = process->status();
  const std::uint64_t received_then = patchbay::test::received_count(sink);
  const std::string error = join_error(*process);
  CHECK(error.empty());
  CHECK(after_start == Status::running);
  CHECK(received_then < 200);
  CHECK(process->status() == Status::completed);
  CHECK(patchbay::test::received_count(sink) == 200);
  CHECK(stats_of(*process, "sink").steps == 200);
  // Once seen, the end is not thrown again, and join() returns at once.
  CHECK_NOTHROW(process->join());
}

TEST_CASE("stop() ends a started run, which join() then sees stopped", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = endless(kind);

  process->start();
  // Stats are live meanwhile.
  const bool stepped = wait_for_steps(*process, "sink", 1000);
  process->stop();
  const std::string error = join_error(*process);
  CHECK(stepped);
  CHECK(error.empty());
  CHECK(process->status() == Status::stopped);
}

TEST_CASE("join() throws the failure a started run ended with", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);
  m.add<Thrower>("thrower", 5);
  m.add<Collector<std::int64_t>>("sink", false);
  m.connect("src.out", "thrower.in");
  m.connect("thrower.out", "sink.in");
  auto process = m.build(kind);

  process->start();
  const std::string error = join_error(*process);
  CHECK_THAT(error, Catch::StartsWith("ComponentFailure") && Catch::Contains("boom at step 5"));
  CHECK(process->status() == Status::failed);
  CHECK_NOTHROW(process->join());  // thrown once
}

TEST_CASE("destroying a started process stops its run and waits for it", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = endless(kind);
  process->start();
  const bool stepped = wait_for_steps(*process, "sink", 100);
  const auto start = std::chrono::steady_clock::now();
  process.reset();  // a parallel kind checks here that every worker was reaped
  CHECK(stepped);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("a process runs once: start() and run() after either are errors", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  const auto two_values = [] {
    Model m;
    m.add<Counter>("src", 2);
    m.add<Collector<std::int64_t>>("sink", false);
    m.connect("src.out", "sink.in");
    return m;
  };
  {
    auto process = two_values().build(kind);
    CHECK_THROWS_WITH(process->join(), Catch::Contains("not started"));
    process->start();
    std::string second_start, second_run;
    try {
      process->start();
    } catch (const patchbay::Error& e) {
      second_start = e.what();
    }
    try {
      process->run();
    } catch (const patchbay::Error& e) {
      second_run = e.what();
    }
    const std::string error = join_error(*process);
    CHECK(error.empty());
    CHECK_THAT(second_start, Catch::Contains("runs once"));
    CHECK_THAT(second_run, Catch::Contains("only once"));
    CHECK(process->status() == Status::completed);
  }
  {
    auto process = two_values().build(kind);
    process->run();
    CHECK_THROWS_WITH(process->start(), Catch::Contains("runs once"));
  }
}

TEST_CASE("drain() ends a started run gracefully: sources end, nothing sent is dropped",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);  // never ends by itself
  m.add<Pass<std::int64_t>>("pass");
  auto& sink = m.add<Collector<std::int64_t>>("sink", false);
  sink.pause = std::chrono::microseconds(20);  // so that messages are in flight at the drain
  m.connect("src.out", "pass.in", 64);
  m.connect("pass.out", "sink.in", 64);
  auto process = m.build(kind);

  process->start();
  const bool stepped = wait_for_steps(*process, "sink", 500);
  process->drain();
  const std::string error = join_error(*process);
  CHECK(stepped);
  CHECK(error.empty());
  CHECK(process->status() == Status::completed);
  for (const auto& name : {"src", "pass", "sink"})
    CHECK(patchbay::test::status_of(*process, name) == "COMPLETED");
  // Every value the source sent went through to the sink.
  const std::uint64_t sent = stats_of(*process, "src").messages_out;
  CHECK(sent >= 500);
  CHECK(stats_of(*process, "pass").messages_in == sent);
  CHECK(stats_of(*process, "sink").messages_in == sent);
  CHECK(patchbay::test::received_count(sink) == sent);
}

TEST_CASE("drain() before run() lets the run end at its sources' first step boundary",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);
  auto& sink = m.add<Collector<std::int64_t>>("sink", false);
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  process->drain();
  patchbay::test::run_guarded(*process);
  CHECK(process->status() == Status::completed);
  CHECK(patchbay::test::received_count(sink) == 0);
}
