// The ring's tests again, built with ThreadSanitizer in a program of their own: the ring is the
// one piece of lock-free code every message crosses, and its two-thread stress tests are where
// a missing acquire or release would show. Every build runs them so, not only the whole suite's
// ThreadSanitizer build (tools/dev test --tsan). Built only when no other sanitizer is on.
#include <catch2/catch.hpp>

#include <chrono>

#include "support/test_program.hpp"

#ifndef PATCHBAY_RING_TSAN_TESTS
#error "PATCHBAY_RING_TSAN_TESTS must name the ring's ThreadSanitizer test program"
#endif

TEST_CASE("the ring's tests pass under ThreadSanitizer", "[ring][tsan]") {
  // Under this suite's own limit per test case (120 s): see test_fork_server_program.cpp.
  const auto result =
      patchbay::test::check_test_program_passes(PATCHBAY_RING_TSAN_TESTS, std::chrono::seconds(90));
  INFO(result.err);
  CHECK_THAT(result.err, !Catch::Contains("ThreadSanitizer"));
}
