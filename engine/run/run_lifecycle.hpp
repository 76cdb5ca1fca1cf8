// One run's life cycle, the same for both engines: run() once, its start and end on the steady
// clock, and its final status, from which the failure is thrown.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/status.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "run/run_state.hpp"
#include "shm/counters.hpp"

namespace patchbay::detail {

/// Throws `failure` as the exception run() promises: ComponentFailure when it names a
/// component, else Error.
[[noreturn]] inline void throw_failure(const Failure& failure) {
  if (failure.component.empty()) throw Error(failure.message);
  throw ComponentFailure(failure.component, failure.type, failure.message);
}

/// The run's thread calls begin(), ended() and settle() in that order; status() and elapsed()
/// are safe from any thread at any time.
class RunLifecycle {
 public:
  /// `engine`: the class named in the error of a second run(), e.g. "LocalProcess".
  explicit RunLifecycle(const char* engine) noexcept : engine_(engine) {}

  /// Marks the run started and returns when, in steady_now_ns() units. Throws Error when the
  /// process ran before: run() may be called only once.
  std::int64_t begin() {
    Status expected = Status::created;
    if (!status_.compare_exchange_strong(expected, Status::running)) {
      throw Error(std::string(engine_) + "::run() may be called only once");
    }
    const std::int64_t now = steady_now_ns();
    started_ns_.store(now, std::memory_order_relaxed);
    return now;
  }

  /// Marks the moment the last component finished: elapsed() stops there.
  void ended() noexcept { finished_ns_.store(steady_now_ns(), std::memory_order_relaxed); }

  /// The final status: failed when there is a failure (which is then thrown), stopped when a
  /// component was stopped, else completed.
  void settle(const std::optional<Failure>& failure, bool any_stopped) {
    status_.store(failure       ? Status::failed
                  : any_stopped ? Status::stopped
                                : Status::completed,
                  std::memory_order_release);
    if (failure) throw_failure(*failure);
  }

  [[nodiscard]] Status status() const noexcept { return status_.load(std::memory_order_acquire); }

  /// Zero before run(); the time so far while it runs; its duration once it ended.
  [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept {
    const std::int64_t start = started_ns_.load(std::memory_order_relaxed);
    if (start == 0) return std::chrono::nanoseconds{0};
    std::int64_t end = finished_ns_.load(std::memory_order_relaxed);
    if (end == 0) end = steady_now_ns();
    return std::chrono::nanoseconds{end - start};
  }

 private:
  const char* engine_;
  std::atomic<Status> status_{Status::created};
  std::atomic<std::int64_t> started_ns_{0};
  std::atomic<std::int64_t> finished_ns_{0};
};

}  // namespace patchbay::detail
