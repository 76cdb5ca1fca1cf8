// The per-test-case time limit of tests/support/watchdog.hpp: this suite runs itself on a test
// case that never ends, with a limit of one second, and checks that the run ends with that
// test case's name instead of hanging.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/command.hpp"

// Hidden ("[.]"): it runs only when asked for by name, as below.
TEST_CASE("a test case that never ends", "[.][watchdog-probe]") {
  while (true)
    std::this_thread::sleep_for(std::chrono::seconds(1));
}

TEST_CASE("a test case past its time limit ends the run with its name and code 124", "[tests]") {
  using namespace std::chrono_literals;
  patchbay::test::TempDir dir;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const auto start = std::chrono::steady_clock::now();
  const auto result = patchbay::test::run_command(
      {"/usr/bin/env", "PATCHBAY_TEST_CASE_TIMEOUT=1", self, "a test case that never ends"},
      dir.path(), 30s);
  INFO(result.out << result.err);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code == 124);
  CHECK_THAT(result.err, Catch::Contains("test case \"a test case that never ends\"") &&
                             Catch::Contains("test_watchdog.cpp") &&
                             Catch::Contains("ran past 1 s"));
  CHECK(std::chrono::steady_clock::now() - start < 20s);
}
