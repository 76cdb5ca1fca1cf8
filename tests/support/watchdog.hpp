// A time limit per test case, so that a test that hangs fails the run with its name instead of
// stalling it. Include once, after <catch2/catch.hpp>, in the file that defines Catch2's main.
//
// Each test case (and each pass through one of its sections) gets PATCHBAY_TEST_CASE_TIMEOUT
// seconds (default 120). When they run out, the process writes the test case's name to stderr
// and exits with code 124; forked workers follow their supervisor (PR_SET_PDEATHSIG). A pending
// alarm does not survive fork(), so children are not affected. At the end of the run, each
// failed test case is named once more on a line "failed test case: NAME (FILE:LINE)".
#pragma once

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace patchbay::test {

class Watchdog : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testRunStarting(Catch::TestRunInfo const& info) override {
    if (const char* text = std::getenv("PATCHBAY_TEST_CASE_TIMEOUT"))
      seconds_ = static_cast<unsigned>(std::strtoul(text, nullptr, 10));
    struct sigaction action {};
    action.sa_handler = &Watchdog::expired;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, nullptr);
    TestEventListenerBase::testRunStarting(info);
  }

  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    // The message is built here, where allocating is allowed; the handler only writes it.
    const std::string text = "\nwatchdog: test case \"" + info.name + "\" (" + info.lineInfo.file +
                             ":" + std::to_string(info.lineInfo.line) + ") ran past " +
                             std::to_string(seconds_) +
                             " s (PATCHBAY_TEST_CASE_TIMEOUT); stopping the run\n";
    message_length_ = std::min(text.size(), sizeof(message_));
    std::memcpy(message_, text.data(), message_length_);
    alarm(seconds_);
    TestEventListenerBase::testCaseStarting(info);
  }

  void sectionStarting(Catch::SectionInfo const& info) override {
    alarm(seconds_);
    TestEventListenerBase::sectionStarting(info);
  }

  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    alarm(0);
    if (!stats.totals.testCases.allOk())
      failed_.push_back("failed test case: \"" + stats.testInfo.name + "\" (" +
                        stats.testInfo.lineInfo.file + ":" +
                        std::to_string(stats.testInfo.lineInfo.line) + ")");
    TestEventListenerBase::testCaseEnded(stats);
  }

  // The failed test cases again, one line each, so that the end of a long log names them
  // (tools/dev test and .ci/run repeat these lines last).
  void testRunEnded(Catch::TestRunStats const& stats) override {
    for (const auto& line : failed_) std::fprintf(stderr, "%s\n", line.c_str());
    TestEventListenerBase::testRunEnded(stats);
  }

 private:
  static void expired(int) {
    [[maybe_unused]] const auto written = write(STDERR_FILENO, message_, message_length_);
    _exit(124);
  }

  std::vector<std::string> failed_;
  static inline unsigned seconds_ = 120;
  static inline char message_[1024];
  static inline std::size_t message_length_ = 0;
};

CATCH_REGISTER_LISTENER(Watchdog)

}  // namespace patchbay::test
