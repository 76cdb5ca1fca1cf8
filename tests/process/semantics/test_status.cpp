// Execution semantics, status: the final statuses of a run and its components. One rule per
// test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using patchbay::Status;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::Pass;
using patchbay::test::run_guarded;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("status: a normal run leaves every component and the process COMPLETED", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 10);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "sink.in");
  auto process = m.build(kind);

  CHECK(process->status() == Status::created);
  for (const auto& s : process->component_stats())
    CHECK(s.status == Status::created);
  run_guarded(*process);
  CHECK(process->status() == Status::completed);
  for (const auto& s : process->component_stats()) {
    INFO(s.name);
    CHECK(s.status == Status::completed);
  }
  CHECK(process->elapsed() > std::chrono::nanoseconds{0});
}

TEST_CASE("status: run() may be called only once", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 3);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  CHECK_THROWS_AS(process->run(), patchbay::Error);
  CHECK(process->status() == Status::completed);
}
