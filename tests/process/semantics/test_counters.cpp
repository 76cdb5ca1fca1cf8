// Execution semantics, counters: component_stats() and channel_stats(). One rule per test case,
// run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using Catch::Contains;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::received_count;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("counters: component_stats and channel_stats count what was sent", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 100);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(received_count(sink) == 100);

  const auto src = stats_of(*process, "src");
  CHECK(src.steps == 101);  // the closing step is a step too
  CHECK(src.messages_in == 0);
  CHECK(src.messages_out == 100);
  CHECK(src.bytes_out == 800);
  CHECK_THAT(src.type, Contains("Counter"));

  const auto dst = stats_of(*process, "sink");
  CHECK(dst.steps == 100);
  CHECK(dst.messages_in == 100);
  CHECK(dst.bytes_in == 800);
  CHECK(dst.messages_out == 0);
  CHECK(dst.bytes_out == 0);

  const auto channels = process->channel_stats();
  REQUIRE(channels.size() == 1);
  CHECK(channels[0].source == "src.out");
  CHECK(channels[0].target == "sink.in");
  CHECK(channels[0].messages == 100);
  CHECK(channels[0].bytes == 800);
  CHECK(channels[0].capacity == patchbay::ProcessOptions{}.channel_capacity);
}
