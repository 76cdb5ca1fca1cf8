// Running a ParallelProcess from a test and checking that it left no worker behind.
#pragma once

#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <chrono>
#include <string>

#include "support/command.hpp"

namespace patchbay::test {

struct RunOutcome {
  std::string error;  ///< what run() threw (patchbay::Error), empty when it returned
  std::chrono::nanoseconds took{};
};

/// Runs `process`; then every worker it had must be gone (reaped, not a zombie).
inline RunOutcome run_and_check_cleanup(ParallelProcess& process) {
  const auto pids = process.worker_pids();
  const auto start = std::chrono::steady_clock::now();
  RunOutcome outcome;
  try {
    process.run();
  } catch (const patchbay::Error& e) {
    outcome.error = e.what();
  }
  outcome.took = std::chrono::steady_clock::now() - start;
  CHECK(process.worker_pids().empty());
  for (int pid : pids)
    CHECK_FALSE(process_exists(pid));
  return outcome;
}

}  // namespace patchbay::test
