// Execution semantics, sources: components without inputs step until they close. One rule per
// test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using patchbay::Status;
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

TEST_CASE("sources step until close() and the values of the closing step are not sent",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // Counter writes 5 in its closing (6th) step; only 0..4 may arrive.
  m.add<Counter>("src", 5);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, 5));
  CHECK(stats_of(*process, "src").steps == 6);
  CHECK(stats_of(*process, "src").messages_out == 5);
  CHECK(status_of(*process, "src") == "COMPLETED");
  CHECK(status_of(*process, "sink") == "COMPLETED");
}

TEST_CASE("a source that closes in its first step sends nothing; its consumer never steps",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 0);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink).empty());
  CHECK(stats_of(*process, "src").steps == 1);
  CHECK(stats_of(*process, "sink").steps == 0);
  CHECK(status_of(*process, "sink") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("a source with no outputs connected still runs until it closes", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("lonely", 7);
  m.add<Counter>("src", 2);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(stats_of(*process, "lonely").steps == 8);
  CHECK(stats_of(*process, "src").steps == 3);
  CHECK(stats_of(*process, "lonely").messages_out == 0);
  CHECK(status_of(*process, "lonely") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}
