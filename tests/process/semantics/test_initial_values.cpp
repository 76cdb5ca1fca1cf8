// Execution semantics, initial values: delivered before the first message; they make cycles
// runnable. One rule per test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "support/model.hpp"

namespace {

using patchbay::Status;
using patchbay::test::Adder;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::LoopCounter;
using patchbay::test::Model;
using patchbay::test::pairs_seen;
using patchbay::test::Pass;
using patchbay::test::range;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::seen_by;
using patchbay::test::stats_of;
using patchbay::test::status_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("initial values are delivered before the first message", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("single input") {
    Model m;
    m.add<Counter>("src", 3);
    auto& sink = m.add<Collector<std::int64_t>>("sink");
    sink.set_initial_values("in", {-1, -2});
    m.connect("src.out", "sink.in");
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == std::vector<std::int64_t>{-1, -2, 0, 1, 2});
  }
  SECTION("even when no message ever follows") {
    Model m;
    m.add<Counter>("src", 0);
    auto& sink = m.add<Collector<std::int64_t>>("sink");
    sink.set_initial_values("in", {5, 6});
    m.connect("src.out", "sink.in");
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == std::vector<std::int64_t>{5, 6});
    CHECK(status_of(*process, "sink") == "COMPLETED");
  }
  SECTION("one input of a barrier") {
    Model m;
    m.add<Counter>("a_src", 3, 0);
    m.add<Counter>("b_src", 3, 100);
    auto& adder = m.add<Adder>("adder");
    adder.set_initial_values("a", {1000});
    m.add<Collector<std::int64_t>>("sink");
    m.connect("a_src.out", "adder.a");
    m.connect("b_src.out", "adder.b");
    m.connect("adder.sum", "sink.in");
    auto process = m.build(kind);
    run_guarded(*process);
    // b closes after its 3 values, so a's last value is dropped.
    CHECK(pairs_seen(adder) ==
          std::vector<std::pair<std::int64_t, std::int64_t>>{{1000, 100}, {0, 101}, {1, 102}});
  }
}

TEST_CASE("initial values make a cycle runnable: a counting loop", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& counter = m.add<LoopCounter>("counter", 10);
  counter.set_initial_values("in", {0});
  m.add<Pass<std::int64_t>>("echo");
  m.connect("counter.out", "echo.in");
  m.connect("echo.out", "counter.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(seen_by(counter) == range(0, 11));
  CHECK(stats_of(*process, "echo").steps == 10);
  CHECK(status_of(*process, "counter") == "COMPLETED");
  CHECK(status_of(*process, "echo") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}
