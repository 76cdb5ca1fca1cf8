// Execution semantics, deadlock: a model that can make no progress is reported. One rule per
// test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using Catch::Contains;
using patchbay::Status;
using patchbay::Value;
using patchbay::test::check_all_final;
using patchbay::test::Model;
using patchbay::test::Pass;
using patchbay::test::run_guarded;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("deadlock: a cycle with more initial values than its channels hold is reported",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& a = m.add<Pass<std::int64_t>>("a");
  std::vector<Value> initial(1000, Value(1));
  a.set_initial_values("in", initial);
  m.add<Pass<std::int64_t>>("b");
  m.connect("a.out", "b.in", 64);
  m.connect("b.out", "a.in", 64);
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  try {
    run_guarded(*process);
    FAIL("run() returned normally although the model deadlocks");
  } catch (const patchbay::Error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Contains("deadlock"));
    CHECK_THAT(what, Contains("'a'"));
    CHECK_THAT(what, Contains("'b'"));
  }
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  check_all_final(*process);
  CHECK(process->status() == Status::failed);
}
