#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>

#include "support/tsan_exclusions.hpp"
#include "support/watchdog.hpp"

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int status = session.applyCommandLine(argc, argv); status != 0) return status;
#if defined(__SANITIZE_THREAD__)
  // What ThreadSanitizer cannot run is left out here, in one place, and said first.
  const auto exclusions = patchbay::test::tsan_exclusions();
  if (!exclusions.empty()) {
    auto& filters = session.configData().testsOrTags;
    filters = patchbay::test::exclude_from_filters(filters, exclusions);
    std::cout << "ThreadSanitizer build: " << exclusions.size()
              << " test cases left out (tests/support/tsan_exclusions.cpp):\n";
    for (const auto& exclusion : exclusions)
      std::cout << "  " << exclusion.test << ": " << exclusion.reason << "\n";
    std::cout << std::flush;
  }
#endif
  return session.run();
}
