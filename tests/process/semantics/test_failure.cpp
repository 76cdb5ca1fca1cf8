// Execution semantics, failure: an exception in a component fails the run and stops the others.
// One rule per test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using Catch::Contains;
using patchbay::Status;
using patchbay::test::Adder;
using patchbay::test::BadTeardown;
using patchbay::test::channel_of;
using patchbay::test::check_all_final;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay::test::status_of;
using patchbay::test::Thrower;
using patchbay::test::thrown_message;
using patchbay::test::torn_down_with;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("failure: an exception in step() fails the run naming the component, type and message",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 100);
  m.add<Thrower>("bad", 5);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "bad.in", 64);
  m.connect("bad.out", "sink.in");
  auto process = m.build(kind);

  try {
    run_guarded(*process);
    FAIL("run() returned normally although a component threw");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "bad");
    CHECK_THAT(e.type(), Contains("Thrower"));
    CHECK(thrown_message(kind, e) == "boom at step 5");
    CHECK_THAT(std::string(e.what()), Contains("bad") && Contains("boom at step 5"));
  }
  CHECK(process->status() == Status::failed);
  CHECK(status_of(*process, "bad") == "FAILED");
  for (const auto& name : {"src", "sink"}) {
    INFO(name);
    CHECK_THAT(status_of(*process, name), Catch::Equals("STOPPED") || Catch::Equals("COMPLETED"));
  }
  check_all_final(*process);
  // Only the 4 steps before the failure sent anything.
  CHECK(received(sink).size() <= 4);
  CHECK(stats_of(*process, "bad").messages_out == 4);
}

TEST_CASE("failure wakes a blocked producer and a blocked consumer elsewhere in the model",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // `joiner` waits on input b (fed only by the failing component) while `filler` blocks on a
  // full channel into joiner.a. Neither of them ever closes by itself.
  m.add<Counter>("filler", -1);
  m.add<Adder>("joiner");
  m.add<Counter>("feeder", -1);
  // `bad` takes a while over its failing step, so that `joiner` and `filler` are surely
  // blocked by then, whatever runs them (forked workers start in their own time).
  auto& bad = m.add<Thrower>("bad", 1);
  bad.pause = 100ms;
  m.connect("filler.out", "joiner.a", 64);
  m.connect("bad.out", "joiner.b");
  m.connect("feeder.out", "bad.in", 64);
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  REQUIRE_THROWS_AS(run_guarded(*process), patchbay::ComponentFailure);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(channel_of(*process, "filler.out", "joiner.a").times_full > 0);
  CHECK(channel_of(*process, "bad.out", "joiner.b").times_empty > 0);
  CHECK(status_of(*process, "bad") == "FAILED");
  for (const auto& name : {"filler", "joiner", "feeder"}) {
    INFO(name);
    CHECK_THAT(status_of(*process, name), Catch::Equals("STOPPED") || Catch::Equals("COMPLETED"));
  }
  check_all_final(*process);
  CHECK(process->status() == Status::failed);
}

TEST_CASE("failure: an exception in init() fails the run and stops the others", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);  // never closes: only the failure can end it
  m.add<Thrower>("bad", 0);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "bad.in", 64);
  m.connect("bad.out", "sink.in");
  auto process = m.build(kind);

  try {
    run_guarded(*process);
    FAIL("run() returned normally although init() threw");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "bad");
    CHECK_THAT(e.type(), Contains("Thrower"));
    CHECK(thrown_message(kind, e) == "boom in init");
  }
  CHECK(process->status() == Status::failed);
  CHECK(status_of(*process, "bad") == "FAILED");
  CHECK(stats_of(*process, "bad").steps == 0);
  for (const auto& name : {"src", "sink"}) {
    INFO(name);
    CHECK_THAT(status_of(*process, name), Catch::Equals("STOPPED") || Catch::Equals("COMPLETED"));
  }
  check_all_final(*process);
}

TEST_CASE("failure: an exception in teardown() after COMPLETED fails the run", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 3);
  auto& sink = m.add<BadTeardown>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  try {
    run_guarded(*process);
    FAIL("run() returned normally although teardown() threw");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "sink");
    CHECK(thrown_message(kind, e) == "cannot flush");
  }
  CHECK(torn_down_with(sink) == Status::completed);
  CHECK(status_of(*process, "sink") == "FAILED");
  CHECK(process->status() == Status::failed);
}
