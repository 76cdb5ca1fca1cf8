// Execution semantics, fair stepping: components that share a thread take turns, so a
// component that never waits (its inputs always ready, its outputs always with room) does not
// run all its steps before its neighbours run one. Run on every engine that process_kinds()
// names.
#include <catch2/catch.hpp>

#include <patchbay/process.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include "support/model.hpp"
#include "support/shared_record.hpp"

namespace {

using patchbay::Input;
using patchbay::Output;
using patchbay::test::Model;
using patchbay::test::run_guarded;
using patchbay::test::SharedRecord;
using patchbay_test::process_kinds;

// A source whose steps hold the thread for `hold` (as the library's Sleep does): 0, 1, ...
// Notes its own step numbers in `order`, as (1, n).
class SlowSource final : public patchbay::Component {
 public:
  SlowSource(std::string name, std::int64_t count, std::chrono::milliseconds hold,
             SharedRecord& order)
      : Component(std::move(name)), count_(count), hold_(hold), order_(order) {}
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (n_ == count_) {
      close();
      return;
    }
    std::this_thread::sleep_for(hold_);
    order_.append(std::pair<std::int64_t, std::int64_t>{1, n_});
    out = n_++;
  }

 private:
  std::int64_t count_;
  std::chrono::milliseconds hold_;
  SharedRecord& order_;
  std::int64_t n_ = 0;
};

// Notes each value it takes in `order`, as (2, value).
class Noter final : public patchbay::Component {
 public:
  Noter(std::string name, SharedRecord& order) : Component(std::move(name)), order_(order) {}
  Input<std::int64_t> in{this, "in"};
  void step() override { order_.append(std::pair<std::int64_t, std::int64_t>{2, in.value()}); }

 private:
  SharedRecord& order_;
};

}  // namespace

TEST_CASE("fair stepping: a component that never waits lets its thread's others step",
          "[semantics][fairness]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  constexpr std::int64_t n = 8;
  SharedRecord order;
  Model m;
  m.add<SlowSource>("source", n, std::chrono::milliseconds(5), order);
  m.add<Noter>("noter", order);
  m.connect("source.out", "noter.in");  // room for every value: the source never waits
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  const auto seen = order.read<std::pair<std::int64_t, std::int64_t>>();
  REQUIRE(seen.size() == static_cast<std::size_t>(2 * n));
  // Where each event happened in the run's order: the noter takes value k before the source
  // has finished step k + 2 (a step of 5 ms is longer than a slice), on one thread as on two.
  std::vector<std::size_t> produced(n);
  std::vector<std::size_t> taken(n);
  for (std::size_t i = 0; i < seen.size(); ++i)
    (seen[i].first == 1 ? produced : taken)[static_cast<std::size_t>(seen[i].second)] = i;
  for (std::int64_t k = 0; k + 2 < n; ++k) {
    INFO("value " << k);
    CHECK(taken[static_cast<std::size_t>(k)] < produced[static_cast<std::size_t>(k + 2)]);
  }
}
