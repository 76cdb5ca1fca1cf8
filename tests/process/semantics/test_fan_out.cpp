// Execution semantics, fan-out: one output feeding several inputs. One rule per test case, run
// on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using patchbay::Status;
using patchbay::test::check_all_final;
using patchbay::test::Closer;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::range;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("fan-out: every target of one output receives every value in order", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 50);
  auto& s1 = m.add<Collector<std::int64_t>>("s1");
  auto& s2 = m.add<Collector<std::int64_t>>("s2");
  auto& s3 = m.add<Collector<std::int64_t>>("s3");
  m.connect("src.out", "s1.in");
  m.connect("src.out", "s2.in", 64);  // a small channel on one branch must not disturb order
  m.connect("src.out", "s3.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(s1) == range(0, 50));
  CHECK(received(s2) == range(0, 50));
  CHECK(received(s3) == range(0, 50));
  CHECK(stats_of(*process, "src").messages_out == 150);
}

TEST_CASE("fan-out: a target that finishes early does not cut off the other targets",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 30);
  m.add<Closer>("quitter", 3);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "quitter.in", 64);
  m.connect("src.out", "sink.in", 64);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, 30));
  CHECK(stats_of(*process, "quitter").steps == 3);
  check_all_final(*process);
  CHECK(process->status() == Status::completed);
}
