#include <catch2/catch.hpp>

#include <cstdint>
#include <random>

#include "run/run_clock.hpp"

using patchbay::detail::RunClock;

namespace {

struct Outcome {
  RunClock::Totals totals;
  std::uint64_t clock_reads = 0;
};

// Drives a clock through `cycles` waits whose run and wait lengths come from `run_of(i)` and
// `wait_of(i)`, reading the clock only when it asks; returns its final totals.
template <class RunOf, class WaitOf>
Outcome drive(std::uint64_t cycles, RunOf run_of, WaitOf wait_of, std::uint64_t& now) {
  RunClock clock;
  Outcome out;
  clock.start(now);
  for (std::uint64_t i = 0; i < cycles; ++i) {
    now += run_of(i);
    if (clock.time_this_park()) {
      clock.parked(now);
      ++out.clock_reads;
    }
    now += wait_of(i);
    if (clock.time_this_resume()) {
      clock.resumed(now);
      ++out.clock_reads;
    }
  }
  now += run_of(cycles);
  out.totals = clock.finished(now);
  return out;
}

}  // namespace

TEST_CASE("RunClock: run plus wait is exactly the elapsed time", "[run_clock]") {
  std::mt19937_64 random(7);
  std::uniform_int_distribution<std::uint64_t> length(1, 100'000);
  const std::uint64_t start = 1'000'000;
  std::uint64_t now = start;
  auto any_length = [&](std::uint64_t) { return length(random); };
  const Outcome out = drive(10'000, any_length, any_length, now);
  CHECK(out.totals.ran + out.totals.waited == now - start);
}

TEST_CASE("RunClock: a component that never waits ran all along", "[run_clock]") {
  std::uint64_t now = 5;
  const Outcome out = drive(
      0, [](std::uint64_t) { return 1'000; }, [](std::uint64_t) { return 0; }, now);
  CHECK(out.totals.ran == 1'000);
  CHECK(out.totals.waited == 0);
}

TEST_CASE("RunClock: the first eight cycles are timed, then about one in eight", "[run_clock]") {
  std::uint64_t now = 0;
  const Outcome few = drive(
      8, [](std::uint64_t) { return 10; }, [](std::uint64_t) { return 30; }, now);
  CHECK(few.clock_reads == 16);  // a park and a resume each
  const Outcome many = drive(
      80'000, [](std::uint64_t) { return 10; }, [](std::uint64_t) { return 30; }, now);
  // A sampled cycle reads at its park, its resume and the next park: about 3 reads per 8.
  CHECK(many.clock_reads > 80'000 * 2 / 8);
  CHECK(many.clock_reads < 80'000 * 4 / 8);
}

TEST_CASE("RunClock: steady cycles are split exactly", "[run_clock]") {
  std::uint64_t now = 0;
  // 10,000 cycles of 100 ticks running and 300 waiting, then a final run of 100.
  const Outcome out = drive(
      10'000, [](std::uint64_t) { return 100; }, [](std::uint64_t) { return 300; }, now);
  const double run = static_cast<double>(out.totals.ran);
  CHECK(run == Approx(10'001.0 * 100).epsilon(0.001));
  CHECK(out.totals.ran + out.totals.waited == 10'001 * 100 + 10'000 * 300);
}

TEST_CASE("RunClock: a pattern with the sampling's period is not aliased", "[run_clock]") {
  // Every eighth cycle runs 10,000 ticks, the others 10; waits are 100. A sampler that timed
  // every eighth cycle would see only long or only short runs and be off by a factor of about
  // 10; random sampling lands within a few percent.
  std::uint64_t now = 0;
  auto run_of = [](std::uint64_t i) -> std::uint64_t { return i % 8 == 7 ? 10'000 : 10; };
  const std::uint64_t cycles = 80'000;
  const Outcome out = drive(
      cycles, run_of, [](std::uint64_t) { return 100; }, now);
  std::uint64_t true_run = 0;
  for (std::uint64_t i = 0; i <= cycles; ++i)
    true_run += run_of(i);
  const double error = (static_cast<double>(out.totals.ran) - static_cast<double>(true_run)) /
                       static_cast<double>(true_run);
  CHECK(error > -0.05);
  CHECK(error < 0.05);
}

TEST_CASE("RunClock: the totals between clock reads are those of the last read", "[run_clock]") {
  RunClock clock;
  clock.start(100);
  CHECK(clock.totals().ran == 0);
  REQUIRE(clock.time_this_park());  // the first eight cycles are timed
  clock.parked(400);                // ran 300
  const RunClock::Totals at_park = clock.totals();
  CHECK(at_park.ran == 300);
  CHECK(at_park.waited == 0);
  REQUIRE(clock.time_this_resume());
  clock.resumed(1000);  // waited 600
  CHECK(clock.totals().ran + clock.totals().waited == 900);
  CHECK(clock.totals().waited == 600);
  const RunClock::Totals end = clock.finished(1100);
  CHECK(end.ran + end.waited == 1000);
  CHECK(clock.totals().ran == end.ran);
}
