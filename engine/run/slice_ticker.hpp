// Fair stepping: a coarse clock that tells a component's runner it has held its thread for a
// whole time slice, so that it lets the other components of that thread step.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "shm/atomic.hpp"

namespace patchbay::detail {

/// A thread that bumps a word once per `slice` while it lives. The runners of one thread (a
/// LocalProcess's, a worker's) read the word after each step, a load that stays in their cache
/// between ticks: when it has moved twice since a runner last gave way (it parked, or yielded),
/// that runner has held the thread for at least one slice, and yields to the components that
/// are ready. So a component that never waits (its inputs always ready, its outputs always
/// with room), or whose steps are long, no longer runs all its steps before its neighbours
/// run one, and the message path pays no clock read.
/// Started only for a thread that runs two components or more. Not copyable; destroying it
/// stops its thread.
class SliceTicker {
 public:
  static constexpr std::chrono::microseconds default_slice{1000};

  explicit SliceTicker(std::chrono::microseconds slice = default_slice)
      : thread_([this, slice] { tick(slice); }) {}
  ~SliceTicker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  SliceTicker(const SliceTicker&) = delete;
  SliceTicker& operator=(const SliceTicker&) = delete;

  /// The word the runners read (ComponentRunner::set_slice_epoch()).
  [[nodiscard]] const std::uint32_t* epoch() const { return &epoch_; }

 private:
  void tick(std::chrono::microseconds slice) {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, slice, [this] { return stopping_; })) {
      store_relaxed(epoch_, load_relaxed(epoch_) + 1);
    }
  }

  alignas(64) std::uint32_t epoch_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace patchbay::detail
