// The fault campaign (tests/fault/fault_campaign.cpp) in its short form, so that every runner of
// the suite runs it: randomly timed signals to workers and supervisors in every wait mode, and a
// short sequence-checked soak. `tools/dev fault` runs the long form.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "support/command.hpp"

#ifndef PATCHBAY_FAULT_CAMPAIGN
#error "PATCHBAY_FAULT_CAMPAIGN must name the fault campaign program (see tests/meson.build)"
#endif

// Under AddressSanitizer every message costs several times more: the short form there took
// 79 s of its 100 on a quiet 2-core machine, so it runs fewer trials and a shorter soak.
#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kTrials = "15";
constexpr const char* kSoakMessages = "300000";
#else
constexpr const char* kTrials = "30";
constexpr const char* kSoakMessages = "1000000";
#endif

TEST_CASE("randomly timed signals to workers and supervisors fail runs cleanly", "[fault]") {
  patchbay::test::TempDir dir;
  const auto result = patchbay::test::run_command(
      {PATCHBAY_FAULT_CAMPAIGN, "--engine-run", PATCHBAY_ENGINE_RUN, "--plugin",
       PATCHBAY_FAULT_PLUGIN, "--trials", kTrials, "--soak-messages", kSoakMessages, "--signals",
       "kill,term,stop", "--step-timeout", "0.5"},
      dir.path(), std::chrono::seconds(100));
  INFO(result.out << result.err);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains(", 0 failed"));
}
