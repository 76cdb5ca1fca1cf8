// Running a set of component runners as fibers on the calling thread.
#pragma once

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/mutex.hpp>

#include <chrono>
#include <functional>
#include <span>

#include "local/fiber_parker.hpp"
#include "run/component_runner.hpp"
#include "run/run_state.hpp"

namespace patchbay::detail {

/// Tells the watcher fiber that every runner has finished. Used on the run's thread only.
class FiberRunDone {
 public:
  [[nodiscard]] bool done() const { return done_; }
  /// Waits (as a fiber) until done or `timeout`; returns done().
  bool wait_for(std::chrono::nanoseconds timeout);
  void set();

 private:
  bool done_ = false;
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable signal_;
};

/// The deadlock handler of a run: every live component of the thread parked on channels whose
/// peers are on the same thread fails the run with a message naming who waits for what; while
/// a stop is pending it only wakes them (the stop watcher has not yet).
std::function<bool(FiberParkGroup&)> fail_on_deadlock(RunState& state);

/// Runs every runner's run() in a fiber of its own (guard-paged stacks of `stack_size`), plus
/// `watcher` in one more fiber that must return soon after its FiberRunDone is set. Returns when
/// all have finished. init() must already have been run (ComponentRunner::initialize()).
void run_fibers(std::span<ComponentRunner* const> runners, FiberParkGroup& group,
                std::size_t stack_size, const std::function<void(FiberRunDone&)>& watcher);

}  // namespace patchbay::detail
