// Test programs that this suite runs, so that every runner of the suite runs their tests too.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>

#include "support/command.hpp"

namespace patchbay::test {

/// Runs the Catch2 program `path` in a fresh directory and checks that all its tests passed
/// within `limit`. Returns what it printed, for further checks.
inline CommandResult check_test_program_passes(const char* path, std::chrono::seconds limit) {
  TempDir dir;
  CommandResult result = run_command({path}, dir.path(), limit);
  INFO(result.out << result.err);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("All tests passed"));
  return result;
}

}  // namespace patchbay::test
