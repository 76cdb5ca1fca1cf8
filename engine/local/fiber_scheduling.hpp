// How the threads the engine owns schedule their fibers.
//
// Boost.Fiber's round robin keeps the scheduler's own dispatcher fiber in the ready queue, so it
// takes a turn in every round: a context switch, a clock read (for sleeping fibers), a spinlock
// (for fibers woken from other threads) and a sweep of ended fibers. With a handful of
// components passing a message along, that turn costs as much as a component's. Here the
// dispatcher runs when no other fiber is ready, and otherwise once every kDispatchEvery picks,
// so that sleepers, fibers woken from other threads and ended fibers are still served within a
// few microseconds. The other fibers keep round robin's order.
#pragma once

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/scheduler.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace patchbay::detail {

class EngineScheduling final : public boost::fibers::algo::algorithm {
 public:
  /// At most this many fibers run between two turns of the dispatcher while fibers are ready.
  static constexpr unsigned kDispatchEvery = 32;

  /// `dispatcher_turns`, if given, counts the dispatcher's turns (for tests).
  explicit EngineScheduling(std::uint64_t* dispatcher_turns = nullptr)
      : dispatcher_turns_(dispatcher_turns) {}
  EngineScheduling(const EngineScheduling&) = delete;
  EngineScheduling& operator=(const EngineScheduling&) = delete;

  void awakened(boost::fibers::context* ctx) noexcept override;
  boost::fibers::context* pick_next() noexcept override;
  [[nodiscard]] bool has_ready_fibers() const noexcept override;
  void suspend_until(std::chrono::steady_clock::time_point const& until) noexcept override;
  void notify() noexcept override;

 private:
  boost::fibers::scheduler::ready_queue_type ready_;
  boost::fibers::context* dispatcher_ = nullptr;  // when it waits for its turn
  unsigned since_dispatch_ = 0;
  std::uint64_t* dispatcher_turns_;
  // The thread's sleep while no fiber is ready, until notify() (a fiber woken from another
  // thread) or a sleeper's deadline.
  std::mutex mutex_;
  std::condition_variable signal_;
  bool notified_ = false;
};

/// Makes the calling thread schedule its fibers with EngineScheduling. Only for a thread the
/// engine owns (a worker process's, a run's own thread), before it starts a fiber: a host's
/// thread keeps the algorithm it has.
void use_engine_scheduling();
/// Whether the calling thread called use_engine_scheduling().
[[nodiscard]] bool uses_engine_scheduling() noexcept;

}  // namespace patchbay::detail
