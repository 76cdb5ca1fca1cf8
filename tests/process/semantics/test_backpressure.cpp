// Execution semantics, backpressure: a full channel holds its producer back. One rule per test
// case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::test::channel_of;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::Model;
using patchbay::test::range;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::step_times;
using patchbay_test::process_kinds;

}  // namespace

TEST_CASE("backpressure: a full channel holds a fast producer back and loses nothing",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  constexpr std::int64_t n = 200;
  Model m;
  auto& src = m.add<Counter>("src", n);
  src.timed = true;
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  sink.timed = true;
  sink.pause = 20us;
  m.connect("src.out", "sink.in", 64);  // room for 4 int64 records
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, n));
  const auto channel = channel_of(*process, "src.out", "sink.in");
  CHECK(channel.capacity == 64);
  CHECK(channel.messages == static_cast<std::uint64_t>(n));
  CHECK(channel.times_full > 0);

  // Bounded memory: the producer can start step k only once the consumer has started step
  // k - ahead, whatever the engine (the ring holds 4 records; one more may be in each side's
  // hands). An unbounded queue would let the producer finish before the consumer's first step.
  constexpr std::size_t ahead = 8;
  const auto& produced = step_times(src);
  const auto& consumed = step_times(sink);
  REQUIRE(produced.size() == static_cast<std::size_t>(n) + 1);
  REQUIRE(consumed.size() == static_cast<std::size_t>(n));
  std::size_t violations = 0;
  for (std::size_t k = ahead; k < produced.size(); ++k) {
    if (produced[k] < consumed[k - ahead]) ++violations;
  }
  CHECK(violations == 0);
}
