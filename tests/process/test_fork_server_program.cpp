// The fork server's tests live in a program of their own, which starts the server at the top
// of main() before anything starts a thread; this suite runs it, so every runner of the suite
// runs them.
#include <catch2/catch.hpp>

#include <chrono>

#include "support/test_program.hpp"

#ifndef PATCHBAY_FORK_SERVER_TESTS
#error "PATCHBAY_FORK_SERVER_TESTS must name the fork server's test program (see tests/meson.build)"
#endif

TEST_CASE("the fork server's tests pass in their own program", "[fork_server]") {
  // Well under this suite's own limit per test case (120 s), so that a hang there is reported
  // by that program's watchdog, naming its test case.
  patchbay::test::check_test_program_passes(PATCHBAY_FORK_SERVER_TESTS, std::chrono::seconds(90));
}
