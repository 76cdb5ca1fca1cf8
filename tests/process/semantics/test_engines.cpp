// Execution semantics, the engines under test (support/process_factory.hpp). One rule per test
// case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using Catch::Contains;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::Pass;

}  // namespace

TEST_CASE("test engines: parallel-split runs every component in a worker of its own",
          "[semantics]") {
  // A chain and a fan-out: the default planner would keep the chain in one worker.
  Model m;
  m.add<Counter>("src", 3);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Collector<std::int64_t>>("s1");
  m.add<Collector<std::int64_t>>("s2");
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "s1.in");
  m.connect("pass.out", "s2.in");
  auto process = m.build("parallel-split");
  const std::string plan = patchbay_test::plan_of(*process);
  INFO("plan:\n" << plan);
  for (const std::string name : {"src", "pass", "s1", "s2"})
    CHECK_THAT(plan, Contains("worker " + name + ": ") && Contains("; " + name + "\n"));
  std::size_t workers = 0;
  for (std::size_t at = plan.find("\nworker "); at != std::string::npos;
       at = plan.find("\nworker ", at + 1))
    ++workers;
  CHECK(workers == 4);
  CHECK_THAT(plan, Contains("8 cores"));
}
