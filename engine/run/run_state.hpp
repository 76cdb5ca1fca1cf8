// The state one run shares among its components: the stop request and the first failure.
#pragma once

#include <patchbay/status.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "shm/atomic.hpp"

namespace patchbay::detail {

/// What ended a run early.
enum class FailureKind : std::uint8_t {
  component,     ///< a component's init() or step() threw
  engine,        ///< the engine itself (a system call failed, an engine error in a worker)
  deadlock,      ///< every component waits on another and nothing can move
  crash,         ///< a worker died without a report: a signal, or a component called exit()
  step_timeout,  ///< a step, or a worker's start-up, ran longer than its step_timeout
  unresponsive,  ///< stopped, but a worker did not leave within the grace period
  corrupted,     ///< a value read from the shared arena is out of range
};

/// Why a run ended early.
struct Failure {
  FailureKind kind = FailureKind::engine;
  std::string component;  ///< empty for a failure that is not one component's (a deadlock)
  std::string type;
  std::string message;
};

/// Shared by the runners of one process. stop() and stopping() are thread-safe.
class RunState {
 public:
  /// A stop from outside: components become STOPPED.
  void stop() noexcept { stop_requested_.store(true, std::memory_order_release); }
  /// A drain from outside: sources end (COMPLETED) at their next step boundary, and the rest
  /// complete once their inputs close.
  void drain() noexcept { drain_requested_.store(true, std::memory_order_release); }
  [[nodiscard]] bool drain_requested() const noexcept {
    return drain_requested_.load(std::memory_order_acquire) ||
           (external_drain_ != nullptr && load_acquire(*external_drain_) != 0);
  }
  /// A drain from a component (Component::publish_stop(), Plugboard's StopEvent): as drain(),
  /// for every worker of the run. Sources look between steps, so nobody needs waking.
  void drain_from_component() noexcept {
    drain_requested_.store(true, std::memory_order_release);
    if (external_drain_ != nullptr) store_release(*external_drain_, 1);
  }
  /// Every component of the run waits, and some wait for events: none can come any more, so
  /// components that only handle events end (the engine's deadlock check says so, before it
  /// would call it a deadlock).
  [[nodiscard]] bool quiet() const noexcept {
    return quiet_.load(std::memory_order_acquire) ||
           (external_quiet_ != nullptr && load_acquire(*external_quiet_) != 0);
  }
  void set_quiet() noexcept { quiet_.store(true, std::memory_order_release); }
  /// Records the first failure and stops every other component.
  void fail(Failure failure) {
    {
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = std::move(failure);
    }
    failed_.store(true, std::memory_order_release);
    if (wake_all_) wake_all_();
  }
  /// What fail() calls to wake every parked component (set by the engine before the run; it
  /// runs on the failing component's thread).
  void set_wake_all(std::function<void()> wake_all) { wake_all_ = std::move(wake_all); }
  /// Whether runners should unwind (stop requested or a failure).
  [[nodiscard]] bool stopping() const noexcept {
    // Acquire pairs with the release in stop()/fail(): a runner that sees the flag also sees
    // the failure recorded before it.
    return stop_requested() || failed_.load(std::memory_order_acquire) ||
           (external_abort_ != nullptr && load_acquire(*external_abort_) != 0);
  }
  [[nodiscard]] bool stop_requested() const noexcept {
    return stop_requested_.load(std::memory_order_acquire) ||
           (external_stop_ != nullptr && load_acquire(*external_stop_) != 0);
  }
  /// Words in shared memory that another process sets to stop this run (a worker's view of the
  /// supervisor's stop and of a failure in another worker).
  void watch_external(std::uint32_t* stop, std::uint32_t* abort, std::uint32_t* drain,
                      std::uint32_t* quiet = nullptr) {
    external_stop_ = stop;
    external_abort_ = abort;
    external_drain_ = drain;
    external_quiet_ = quiet;
  }
  [[nodiscard]] std::optional<Failure> failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> drain_requested_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> quiet_{false};
  mutable std::mutex mutex_;
  std::optional<Failure> failure_;
  std::function<void()> wake_all_;
  std::uint32_t* external_stop_ = nullptr;
  std::uint32_t* external_abort_ = nullptr;
  std::uint32_t* external_drain_ = nullptr;
  std::uint32_t* external_quiet_ = nullptr;
};

}  // namespace patchbay::detail
