// Execution semantics, the barrier: a component steps once per set of new input values. One
// rule per test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::test::Adder;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::pairs_seen;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("barrier: a component with two inputs steps once per pair of new values, in order",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // a_src is the faster producer: all of its values are ready long before b_src's.
  m.add<Counter>("a_src", 10, 0);
  auto& b_src = m.add<Counter>("b_src", 10, 100);
  b_src.pause = 500us;
  auto& adder = m.add<Adder>("adder");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("a_src.out", "adder.a");
  m.connect("b_src.out", "adder.b", 64);
  m.connect("adder.sum", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  std::vector<std::pair<std::int64_t, std::int64_t>> expected;
  for (std::int64_t i = 0; i < 10; ++i)
    expected.emplace_back(i, 100 + i);
  CHECK(pairs_seen(adder) == expected);
  CHECK(stats_of(*process, "adder").steps == 10);
  CHECK(received(sink) ==
        std::vector<std::int64_t>{100, 102, 104, 106, 108, 110, 112, 114, 116, 118});
}

TEST_CASE("barrier: values waiting on one input do not make a component step again",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // `a` has 50 values queued; `b` delivers only 3: the adder may step only 3 times.
  m.add<Counter>("a_src", 50, 0);
  m.add<Counter>("b_src", 3, 100);
  auto& adder = m.add<Adder>("adder");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("a_src.out", "adder.a");
  m.connect("b_src.out", "adder.b");
  m.connect("adder.sum", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(pairs_seen(adder) ==
        std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 100}, {1, 101}, {2, 102}});
  CHECK(stats_of(*process, "adder").steps == 3);
  CHECK(received(sink) == std::vector<std::int64_t>{100, 102, 104});
}
