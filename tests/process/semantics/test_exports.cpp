// Execution semantics, exports: what a component exports (Component::export_value()) is read
// from the host after the run, whichever engine ran it. Run on every engine that
// process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "support/components.hpp"
#include "support/model.hpp"

namespace {

using Catch::Contains;
using patchbay::Input;
using patchbay::Output;
using patchbay::Value;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::run_guarded;
using patchbay_test::process_kinds;

// Sums what it takes; exports the sum after each step and a summary at its end. Throws at
// the value `fail_at` (none when negative); exports `padding` bytes of text when asked.
class Summer final : public patchbay::Component {
 public:
  Summer(std::string name, std::int64_t fail_at = -1, std::size_t padding = 0)
      : Component(std::move(name)), fail_at_(fail_at), padding_(padding) {}
  Input<std::int64_t> x{this, "x"};
  void step() override {
    if (x.value() == fail_at_) throw std::runtime_error("no more");
    sum_ += x.value();
    export_value("sum", sum_);
  }
  void teardown(patchbay::Status status) override {
    export_value("summary", Value::Map{{"status", std::string(patchbay::to_string(status))},
                                       {"seen", Value::List{sum_, "values"}}});
    if (padding_ != 0) export_value("padding", std::string(padding_, 'p'));
  }

 private:
  std::int64_t fail_at_;
  std::size_t padding_;
  std::int64_t sum_ = 0;
};

}  // namespace

TEST_CASE("exports: what components export is read from the host after the run",
          "[semantics][exports]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("counter", 10);
  m.add<Summer>("summer");
  m.connect("counter.out", "summer.x");
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  const auto exports = process->exports();
  REQUIRE(exports.size() == 1);  // the counter exported nothing
  const Value::Map& summer = exports.at("summer");
  CHECK(summer.at("sum") == Value(45));  // the last value given wins
  CHECK(summer.at("summary") ==
        Value(Value::Map{{"status", "COMPLETED"}, {"seen", Value::List{45, "values"}}}));
}

TEST_CASE("exports: a failed run keeps what was exported", "[semantics][exports]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("counter", 10);
  m.add<Summer>("summer", 4);
  m.connect("counter.out", "summer.x");
  auto process = m.build(kind);
  CHECK_THROWS_WITH(run_guarded(*process), Contains("no more"));
  const auto exports = process->exports();
  REQUIRE(exports.count("summer") == 1);
  CHECK(exports.at("summer").at("sum") == Value(6));  // 0 + 1 + 2 + 3
  CHECK(exports.at("summer").at("summary").at("status") == Value("FAILED"));
}

TEST_CASE("exports: more than a worker may export is an error naming the limit",
          "[semantics][exports]") {
  Model m;
  m.add<Counter>("counter", 1);
  m.add<Summer>("summer", -1, patchbay::limits::max_worker_exports_bytes);
  m.connect("counter.out", "summer.x");
  auto process = m.build("parallel-split");
  run_guarded(*process);
  CHECK_THROWS_WITH(process->exports(),
                    Contains("worker 'summer'") && Contains("max_worker_exports_bytes"));
  // in one process nothing needs to fit anywhere
  Model local;
  local.add<Counter>("counter", 1);
  local.add<Summer>("summer", -1, patchbay::limits::max_worker_exports_bytes);
  local.connect("counter.out", "summer.x");
  auto one = local.build("local");
  run_guarded(*one);
  CHECK(one->exports().at("summer").at("padding").as_string().size() ==
        patchbay::limits::max_worker_exports_bytes);
}
