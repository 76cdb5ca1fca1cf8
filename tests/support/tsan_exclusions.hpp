// What the suite cannot run under ThreadSanitizer: one table, a reason per entry. The suite's
// main() (tests/main.cpp) leaves these test cases out of a ThreadSanitizer build's run, and the
// run prints the table first, so what was not checked is never silent.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace patchbay::test {

/// A test case left out of a run: `test` is a test case's name, or a tag in brackets
/// ("[fork-server]"), as Catch2's command line names them.
struct Exclusion {
  const char* test;
  const char* reason;
};

/// The test cases a ThreadSanitizer build leaves out, each with why.
std::span<const Exclusion> tsan_exclusions();

/// Catch2 test-spec arguments (`filters`, as given on the command line; none selects every
/// visible test case) with each exclusion added to every alternative (a comma starts one), so
/// that no filter selects an excluded test case.
std::vector<std::string> exclude_from_filters(const std::vector<std::string>& filters,
                                              std::span<const Exclusion> exclusions);

}  // namespace patchbay::test
