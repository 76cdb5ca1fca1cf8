// The table of what a ThreadSanitizer build leaves out (support/tsan_exclusions.hpp), checked in
// every build: each entry names a test case or tag of this suite and gives a reason, and the
// filters main() builds from a table select what was asked for less what the table names.
// Catch2's test-spec parser, to select test cases as its command line does.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "support/tsan_exclusions.hpp"

namespace {

using patchbay::test::exclude_from_filters;
using patchbay::test::Exclusion;

// The test cases that Catch2 runs given these test-spec arguments (as its filterTests() does:
// no filter selects every visible test case).
std::vector<std::string> selected(const std::vector<std::string>& filters) {
  Catch::TestSpecParser parser(Catch::ITagAliasRegistry::get());
  for (const std::string& filter : filters)
    parser.parse(filter);
  const Catch::TestSpec spec = parser.testSpec();
  std::vector<std::string> names;
  for (const Catch::TestCase& test : Catch::getRegistryHub().getTestCaseRegistry().getAllTests()) {
    if (spec.hasFilters() ? spec.matches(test) : !test.isHidden()) names.push_back(test.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> without(std::vector<std::string> names, const std::string& name) {
  names.erase(std::remove(names.begin(), names.end(), name), names.end());
  return names;
}

const std::string this_test = "exclusions leave a test case out of every alternative, \"quoted\"";
const std::string table_test = "every ThreadSanitizer exclusion names a test case and a reason";

}  // namespace

TEST_CASE("exclusions leave a test case out of every alternative, \"quoted\"",
          "[tests][tsan-exclusions]") {
  const std::vector<Exclusion> by_name{{this_test.c_str(), "a reason"}};
  const std::vector<Exclusion> by_tag{{"[watchdog-probe]", "a reason"}};

  SECTION("no filter: every visible test case but the excluded") {
    CHECK(selected(exclude_from_filters({}, by_name)) == without(selected({}), this_test));
    CHECK(selected(exclude_from_filters({}, by_tag)) == selected({}));
  }
  SECTION("a filter: what it selects but the excluded") {
    CHECK(selected(exclude_from_filters({"[tsan-exclusions]"}, by_name)) ==
          std::vector{table_test});
    CHECK(selected(exclude_from_filters({"[watchdog-probe]"}, by_tag)).empty());
    CHECK(selected(exclude_from_filters({table_test}, by_name)) == std::vector{table_test});
    CHECK(selected(exclude_from_filters({"*every*"}, by_name)) ==
          without(selected({"*every*"}), this_test));
  }
  SECTION("alternatives, several arguments, names with commas and quotes") {
    CHECK(selected(exclude_from_filters({"\"" + table_test + "\",[watchdog-probe]"}, by_tag)) ==
          std::vector{table_test});
    CHECK(selected(exclude_from_filters({"[tsan-exclusions],[tests]"}, by_name)) ==
          without(selected({"[tsan-exclusions],[tests]"}), this_test));
    CHECK(selected(exclude_from_filters({"*alternative*"}, by_name)).empty());
    CHECK(selected(exclude_from_filters({"[tsan-exclusions]", "*every*"}, by_name)) ==
          std::vector{table_test});
  }
  SECTION("no exclusions: the filters as given") {
    CHECK(exclude_from_filters({"[tsan]", "a,b"}, {}) == std::vector<std::string>{"[tsan]", "a,b"});
  }
}

TEST_CASE("every ThreadSanitizer exclusion names a test case and a reason",
          "[tests][tsan-exclusions]") {
  const std::vector<std::string> all = selected({});
  for (const Exclusion& exclusion : patchbay::test::tsan_exclusions()) {
    INFO(exclusion.test);
    CHECK(std::string(exclusion.reason).size() > 20);
    // It leaves something out: a name or tag that no longer exists would leave out nothing.
    CHECK(selected(exclude_from_filters({}, std::vector{exclusion})).size() < all.size());
  }
}
