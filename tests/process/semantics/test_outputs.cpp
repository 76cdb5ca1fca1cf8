// Execution semantics, outputs: what an output sends in a step that did not write it. One rule
// per test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "support/model.hpp"

namespace {

using patchbay::Value;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::SparseWriter;
using patchbay::test::stats_of;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("outputs send every step: the value written, else the last one written, else the default",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 5);
  m.add<SparseWriter>("w");
  auto& ints = m.add<Collector<std::int64_t>>("ints");
  auto& values = m.add<Collector<Value>>("values");
  auto& strings = m.add<Collector<std::string>>("strings");
  m.connect("src.out", "w.in");
  m.connect("w.i", "ints.in");
  m.connect("w.v", "values.in");
  m.connect("w.s", "strings.in");
  auto process = m.build(kind);
  run_guarded(*process);

  // Inputs 0..4; written at 1 and 3 only.
  CHECK(received(ints) == std::vector<std::int64_t>{0, 10, 10, 30, 30});
  CHECK(received(values) == std::vector<Value>{Value{}, "ten", "ten", 3.5, 3.5});
  CHECK(received(values).front().is_null());
  CHECK(received(strings) == std::vector<std::string>{"", "one", "one", "three", "three"});
  CHECK(stats_of(*process, "w").messages_out == 15);
}
