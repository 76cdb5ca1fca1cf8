#include "local/fiber_parker.hpp"

#include <boost/fiber/operations.hpp>
#include <boost/fiber/scheduler.hpp>

#include <cassert>
#include <utility>

namespace patchbay::detail {

void FiberParkGroup::runner_finished() {
  --live_;
  recount();
  check_deadlock();
}

void FiberParkGroup::wake_all() {
  for (FiberParker* parker : parkers_)
    parker->notify();
}

void FiberParkGroup::wake_remote() {
  for (FiberParker* parker : parkers_) {
    if (parker->parked() && parker->reason().remote) parker->notify();
  }
}

void FiberParkGroup::check_deadlock() {
  if (live_ == 0 || parked_ != live_ || deadlocked_) return;
  deadlocked_ = on_deadlock_(*this);
}

void FiberParker::park(const WaitReason& reason) {
  reason_ = &reason;
  parked_ = 1;
  if (reason.remote) {
    // Another process can wake it: never a deadlock that this thread can see.
    ++group_.parked_remote_;
    if (reason.kind == WaitReason::Kind::output) ++group_.parked_remote_output_;
    group_.recount();
    if (group_.remote_wait_ && group_.all_parked()) {
      group_.remote_wait_();
      // Woken (by wake_remote() or a stop) while still on this fiber: carry on.
      if (parked_ == 0) return;
    }
  } else {
    ++group_.parked_;
    group_.recount();
    group_.check_deadlock();
  }
  // The deadlock handler wakes everyone, this fiber included: then there is nothing to wait for.
  if (parked_ == 0) return;
  // A component parks only on its own fiber, so the thread-local lookup is done once.
  if (self_ == nullptr) self_ = boost::fibers::context::active();
  fiber_ = self_;
  fiber_->suspend();
}

void FiberParker::yield() {
  boost::this_fiber::yield();
}

void FiberParker::wake() {
  if (parked_ == 0) return;
  parked_ = 0;
  --(reason_->remote ? group_.parked_remote_ : group_.parked_);
  if (reason_->remote && reason_->kind == WaitReason::Kind::output) --group_.parked_remote_output_;
  group_.recount();
  // Null: it has not suspended (it waits inline, or it is being woken from its own park()).
  // Set: it has suspended, so another fiber of this thread wakes it, into this thread's
  // scheduler (no thread-local lookup of the running fiber).
  boost::fibers::context* fiber = std::exchange(fiber_, nullptr);
  if (fiber != nullptr) {
    assert(fiber != boost::fibers::context::active());
    fiber->get_scheduler()->schedule(fiber);
  }
}

}  // namespace patchbay::detail
