#include <catch2/catch.hpp>

#include <cstdint>
#include <random>

#include "process/run_clock.hpp"

using patchbay::detail::RunClock;

namespace {

struct Totals {
  std::uint64_t ran = 0;
  std::uint64_t waited = 0;
  std::uint64_t timed_resumes = 0;
};

// Drives a clock through `cycles` waits whose run and wait lengths come from `run_of(i)` and
// `wait_of(i)`; returns what it accounted.
template <class RunOf, class WaitOf>
Totals drive(std::uint64_t cycles, RunOf run_of, WaitOf wait_of, std::uint64_t& now) {
  RunClock clock;
  Totals t;
  clock.start(now);
  for (std::uint64_t i = 0; i < cycles; ++i) {
    now += run_of(i);
    const RunClock::Split parked = clock.stopped(now);
    t.ran += parked.ran;
    t.waited += parked.waited;
    now += wait_of(i);
    if (clock.time_this_resume()) {
      clock.resumed(now);
      ++t.timed_resumes;
    }
  }
  now += run_of(cycles);
  const RunClock::Split last = clock.stopped(now);
  t.ran += last.ran;
  t.waited += last.waited;
  return t;
}

}  // namespace

TEST_CASE("RunClock: run plus wait is exactly the elapsed time", "[run_clock]") {
  std::mt19937_64 random(7);
  std::uniform_int_distribution<std::uint64_t> length(1, 100'000);
  const std::uint64_t start = 1'000'000;
  std::uint64_t now = start;
  auto any_length = [&](std::uint64_t) { return length(random); };
  const Totals t = drive(10'000, any_length, any_length, now);
  CHECK(t.ran + t.waited == now - start);
}

TEST_CASE("RunClock: the first eight resumes are timed, then about one in eight", "[run_clock]") {
  std::uint64_t now = 0;
  const Totals few = drive(
      8, [](std::uint64_t) { return 10; }, [](std::uint64_t) { return 30; }, now);
  CHECK(few.timed_resumes == 8);
  const Totals many = drive(
      80'000, [](std::uint64_t) { return 10; }, [](std::uint64_t) { return 30; }, now);
  CHECK(many.timed_resumes > 8'000);
  CHECK(many.timed_resumes < 12'000);
}

TEST_CASE("RunClock: steady cycles are split exactly", "[run_clock]") {
  std::uint64_t now = 0;
  // 10,000 cycles of 100 ticks running and 300 waiting, then a final run of 100.
  const Totals t = drive(
      10'000, [](std::uint64_t) { return 100; }, [](std::uint64_t) { return 300; }, now);
  CHECK(t.ran == 10'001 * 100);
  CHECK(t.waited == 10'000 * 300);
}

TEST_CASE("RunClock: a pattern with the sampling's period is not aliased", "[run_clock]") {
  // Every eighth cycle runs 10,000 ticks, the others 10; waits are 100. A sampler that timed
  // every eighth resume would see only long or only short runs and be off by a factor of
  // about 100; random sampling lands within a few percent.
  std::uint64_t now = 0;
  auto run_of = [](std::uint64_t i) -> std::uint64_t { return i % 8 == 7 ? 10'000 : 10; };
  const std::uint64_t cycles = 80'000;
  const Totals t = drive(
      cycles, run_of, [](std::uint64_t) { return 100; }, now);
  std::uint64_t true_run = 0;
  for (std::uint64_t i = 0; i <= cycles; ++i)
    true_run += run_of(i);
  const double error =
      (static_cast<double>(t.ran) - static_cast<double>(true_run)) / static_cast<double>(true_run);
  CHECK(error > -0.05);
  CHECK(error < 0.05);
}
