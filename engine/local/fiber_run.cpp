#include "local/fiber_run.hpp"

#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>

#include <mutex>
#include <vector>

#include "local/fiber_scheduling.hpp"
#include "local/fiber_stack.hpp"

namespace patchbay::detail {

bool FiberRunDone::wait_for(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!done_) signal_.wait_for(lock, timeout);
  return done_;
}

void FiberRunDone::set() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  signal_.notify_all();
}

std::function<bool(FiberParkGroup&)> fail_on_deadlock(RunState& state) {
  return [&state](FiberParkGroup& group) {
    if (state.stopping()) {
      group.wake_all();
      return false;
    }
    // Components that only handle events and wait for one: none can come now. They end (see
    // RunState::quiet()), and what they close may let the others finish.
    if (!state.quiet()) {
      for (const FiberParker* parker : group.parkers()) {
        if (parker->parked() && parker->reason().kind == WaitReason::Kind::events) {
          state.set_quiet();
          group.wake_all();
          return false;
        }
      }
    }
    std::string waits;
    for (const FiberParker* parker : group.parkers()) {
      if (!parker->parked()) continue;
      const WaitReason& reason = parker->reason();
      waits += waits.empty() ? "'" : "; '";
      waits += parker->component() + "' ";
      waits += reason.kind == WaitReason::Kind::input ? "waits for input '" + *reason.what + "'"
               : reason.kind == WaitReason::Kind::events
                   ? std::string("waits for events")
                   : "waits to send on full '" + *reason.what + "'";
    }
    state.fail({FailureKind::deadlock, "", "",
                "deadlock: every component is waiting (" + waits +
                    "); raise the capacity of a connector on the cycle or give fewer "
                    "initial values"});
    return true;
  };
}

void run_fibers(std::span<ComponentRunner* const> runners, FiberParkGroup& group,
                std::size_t stack_size, const std::function<void(FiberRunDone&)>& watcher) {
  FiberRunDone done;
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(runners.size());
  for (ComponentRunner* runner : runners) {
    group.runner_started();
    fibers.emplace_back(std::allocator_arg, RecordingStack(stack_size, runner->stack_lowest()),
                        [&group, runner] {
                          runner->run();
                          group.runner_finished();
                        });
  }
  boost::fibers::fiber watch([&] { watcher(done); });
  for (auto& fiber : fibers)
    fiber.join();
  done.set();
  watch.join();
  // EngineScheduling gives the dispatcher, which releases the fibers that ended, few turns: one
  // now, so that their stacks go back to the thread's cache for its next run. (Round robin has
  // given it its turns already.)
  if (uses_engine_scheduling()) boost::this_fiber::yield();
}

}  // namespace patchbay::detail
