// Parking a component's fiber on its own thread: a context switch, no system call
// (docs/ARCHITECTURE.md, "The message path").
#pragma once

#include <boost/fiber/context.hpp>

#include <cstddef>
#include <functional>
#include <vector>

#include "run/parker.hpp"

namespace patchbay::detail {

class FiberParker;

/// The parkers of one thread's components. Knows how many components are alive and how many
/// are parked: when every live component is parked, nothing can wake any of them, which is a
/// deadlock (reported instead of hanging). Single-threaded: used only on the run's thread.
class FiberParkGroup {
 public:
  /// `on_deadlock` returns whether it was a deadlock (false: it woke everyone for a stop).
  explicit FiberParkGroup(std::function<bool(FiberParkGroup&)> on_deadlock)
      : on_deadlock_(std::move(on_deadlock)) {}

  void add(FiberParker* parker) { parkers_.push_back(parker); }
  void runner_started() {
    ++live_;
    recount();
  }
  /// Call after a finished runner has notified its peers.
  void runner_finished();
  /// Wakes every parked component (a stop or a failure).
  void wake_all();
  /// Wakes the components parked on a channel shared with another worker (it may have changed).
  void wake_remote();
  /// Whether every live component is parked (for the worker's poller: nothing can run here).
  [[nodiscard]] bool all_parked() const { return live_ != 0 && parked_ + parked_remote_ == live_; }
  [[nodiscard]] std::size_t live() const { return live_; }
  /// Whether a component waits for room in a channel read by another worker.
  [[nodiscard]] bool parked_on_remote_output() const { return parked_remote_output_ != 0; }
  /// A worker's wait for its peers in other processes. A component that parks on another
  /// worker when every other component here is parked too calls it right away, on its own
  /// fiber, instead of switching to a watcher fiber that would call it: nothing else here can
  /// run until another worker moves. It returns when something may have changed, having woken
  /// the components parked on other workers (wake_remote()), or on a stop.
  /// `spin_budget`: how many times a component that alone can run here may poll its own rings
  /// before it parks (see Parker::spin_budget()).
  void set_remote_wait(std::function<void()> wait, unsigned spin_budget = 0) {
    remote_wait_ = std::move(wait);
    spin_budget_ = remote_wait_ ? spin_budget : 0;
    recount();
  }
  [[nodiscard]] const std::vector<FiberParker*>& parkers() const { return parkers_; }

 private:
  friend class FiberParker;
  void check_deadlock();
  // Updates spin_now_ after a change of the counts below.
  void recount() { spin_now_ = parked_remote_ == 0 && parked_ + 1 == live_ ? spin_budget_ : 0; }

  std::function<bool(FiberParkGroup&)> on_deadlock_;
  std::function<void()> remote_wait_;
  std::vector<FiberParker*> parkers_;
  std::size_t live_ = 0;
  std::size_t parked_ = 0;                ///< parked on channels whose peers run on this thread
  std::size_t parked_remote_ = 0;         ///< parked on a channel whose peer is another process
  std::size_t parked_remote_output_ = 0;  ///< of those, parked for room to write
  unsigned spin_budget_ = 0;
  /// spin_budget_ while every live component but one is parked on a channel of this thread
  /// (the one running can be woken only by itself), else 0: every parker's spin_budget().
  unsigned spin_now_ = 0;
  bool deadlocked_ = false;
};

/// A Parker for a component whose peers all run on the same thread.
class FiberParker final : public Parker {
 public:
  FiberParker(FiberParkGroup& group, std::string component)
      : group_(group), component_(std::move(component)) {
    group.add(this);
    set_idle_word(&parked_);
    set_spin_word(&group.spin_now_);
  }

  /// spin_budget() is the group's budget while every other live component here is parked on
  /// a channel of this thread (it can be woken only by this one); else 0.
  void park(const WaitReason& reason) override;
  void yield() override;

  [[nodiscard]] bool parked() const { return parked_ != 0; }
  [[nodiscard]] const WaitReason& reason() const { return *reason_; }
  [[nodiscard]] const std::string& component() const { return component_; }

 protected:
  void wake() override;

 private:
  FiberParkGroup& group_;
  std::string component_;
  // Set only once the fiber suspends: a component that waits inline (on its own fiber) is woken
  // without asking Boost.Fiber which fiber runs, a thread-local lookup through the library.
  boost::fibers::context* fiber_ = nullptr;
  boost::fibers::context* self_ = nullptr;  ///< its component's fiber, once it has parked
  const WaitReason* reason_ = &nothing_;
  std::uint32_t parked_ = 0;  ///< 1 while parked; the idle word of notify()
  static constexpr WaitReason nothing_{};
};

}  // namespace patchbay::detail
