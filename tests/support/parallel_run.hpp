// Running a ParallelProcess from a test and checking that it left no worker behind; building its
// models with worker labels; its environment.
#pragma once

#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

/// Adds a component built from `args` to `parts`, with the worker label `worker`.
template <class T, class... Args>
T& add(std::vector<std::unique_ptr<Component>>& parts, const std::string& worker, Args&&... args) {
  auto c = std::make_unique<T>(std::forward<Args>(args)...);
  c->set_worker_label(worker);
  T& ref = *c;
  parts.push_back(std::move(c));
  return ref;
}

/// run_and_check_cleanup() with process.stop() called from another thread after `delay`.
inline RunOutcome run_stopped_after(ParallelProcess& process, std::chrono::milliseconds delay) {
  std::thread stopper([&] {
    std::this_thread::sleep_for(delay);
    process.stop();
  });
  const auto outcome = run_and_check_cleanup(process);
  stopper.join();
  return outcome;
}

/// Sets an environment variable for the life of the object (tests run one at a time).
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnvironment() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// Options that plan for a synthetic 4-core machine (nothing is bound), whatever this one is.
inline ProcessOptions split_options() {
  ProcessOptions options;
  options.topology = "pack:1 core:4 pu:1";
  return options;
}

}  // namespace patchbay::test
