// Execution semantics, close propagation: how the end of a source travels down and up a model.
// One rule per test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::Status;
using patchbay::test::Adder;
using patchbay::test::Closer;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::pairs_seen;
using patchbay::test::Pass;
using patchbay::test::range;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay::test::status_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("close propagates along a chain after every earlier value", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 5);
  m.add<Pass<std::int64_t>>("p1");
  m.add<Pass<std::int64_t>>("p2");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "p1.in");
  m.connect("p1.out", "p2.in", 64);
  m.connect("p2.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, 5));
  CHECK(stats_of(*process, "p1").steps == 5);
  CHECK(stats_of(*process, "p2").steps == 5);
  for (const auto& name : {"src", "p1", "p2", "sink"})
    CHECK(status_of(*process, name) == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE(
    "close propagation: a component completes when one of its inputs closes, and its "
    "producers are not blocked forever",
    "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // a_src never closes and fills its tiny channel; b_src closes after 3 values.
  m.add<Counter>("a_src", -1, 0);
  m.add<Counter>("b_src", 3, 100);
  auto& adder = m.add<Adder>("adder");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("a_src.out", "adder.a", 64);
  m.connect("b_src.out", "adder.b");
  m.connect("adder.sum", "sink.in");
  auto process = m.build(kind);
  const auto start = std::chrono::steady_clock::now();
  run_guarded(*process);
  CHECK(std::chrono::steady_clock::now() - start < 2s);

  CHECK(pairs_seen(adder) ==
        std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 100}, {1, 101}, {2, 102}});
  CHECK(received(sink) == std::vector<std::int64_t>{100, 102, 104});
  CHECK(status_of(*process, "adder") == "COMPLETED");
  // Its reader gone, the endless source finishes too.
  CHECK(status_of(*process, "a_src") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("close propagation upstream: once every reader is gone, the producers finish too",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // Nothing here closes by itself except `quitter`: the endless source and the pass-through
  // can only end because their readers went away.
  m.add<Counter>("src", -1);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Closer>("quitter", 3);
  m.connect("src.out", "pass.in", 64);
  m.connect("pass.out", "quitter.in", 64);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(stats_of(*process, "quitter").steps == 3);
  for (const auto& name : {"src", "pass", "quitter"})
    CHECK(status_of(*process, name) == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("close() in a component with inputs: that step's values are not sent, it completes",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);
  m.add<Closer>("c", 3);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "c.in", 64);
  m.connect("c.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == std::vector<std::int64_t>{0, 1});
  CHECK(stats_of(*process, "c").steps == 3);
  for (const auto& name : {"src", "c", "sink"})
    CHECK(status_of(*process, name) == "COMPLETED");
}
