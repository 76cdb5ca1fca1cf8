// Execution semantics, fan-in: several outputs feeding one input. One rule per test case, run
// on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "support/model.hpp"

namespace {

using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::range;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay::test::status_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("fan-in: each message is its own value and the input closes after all its sources",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // The long source sits behind a tiny channel, so its values keep arriving long after the
  // short source has closed: the merged input must stay open for them.
  m.add<Counter>("long_src", 20, 0);
  m.add<Counter>("short_src", 3, 100);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("long_src.out", "sink.in", 64);
  m.connect("short_src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  const auto& values = received(sink);
  CHECK(values.size() == 23);
  std::vector<std::int64_t> from_long;
  std::vector<std::int64_t> from_short;
  for (auto v : values)
    (v < 100 ? from_long : from_short).push_back(v);
  CHECK(from_long == range(0, 20));
  CHECK(from_short == range(100, 3));
  CHECK(stats_of(*process, "sink").steps == 23);
  CHECK(status_of(*process, "sink") == "COMPLETED");
}
