// run_command()/start_command(): a command a test starts does not outlive the test runner,
// even when the runner is ended without cleaning up (its per-test-case time limit).
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "support/command.hpp"

TEST_CASE("a command started by a test dies with the process that started it", "[tests]") {
  using namespace std::chrono_literals;
  patchbay::test::TempDir dir;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  // A stand-in for the runner: it starts a long command and leaves with _exit, as the
  // watchdog does, without waiting for it.
  const pid_t runner = fork();
  REQUIRE(runner >= 0);
  if (runner == 0) {
    close(fds[0]);
    const int command = patchbay::test::start_command({"/bin/sleep", "30"}, dir.path());
    [[maybe_unused]] const auto written = write(fds[1], &command, sizeof command);
    _exit(0);
  }
  close(fds[1]);
  int command = -1;
  const auto got = read(fds[0], &command, sizeof command);
  close(fds[0]);
  int status = 0;
  waitpid(runner, &status, 0);
  REQUIRE(got == static_cast<ssize_t>(sizeof command));
  REQUIRE(command > 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (patchbay::test::process_running(command) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK_FALSE(patchbay::test::process_running(command));
}
