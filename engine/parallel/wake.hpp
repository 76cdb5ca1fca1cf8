// How a worker waits for the workers it shares rings with, and how they wake it: the
// cross-process wake protocol (docs/ARCHITECTURE.md, "Processes and their protocol").
//
// A worker that runs or spins watches the rings it shares itself (RemoteWatch), so a message
// costs its producer no shared write. When every component of the worker waits and nothing has
// moved for a while, it goes idle: its peers, after changing a ring it shares with them, bump its
// wake word (RemoteWaker), which is also what lets the supervisor tell a deadlock from a pause;
// asleep, they also FUTEX_WAKE it. WorkerControl (shm/arena.hpp) holds the words.
#pragma once

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "channel/ring.hpp"
#include "local/fiber_parker.hpp"
#include "run/parker.hpp"
#include "run/run_state.hpp"
#include "shm/arena.hpp"
#include "shm/atomic.hpp"
#include "shm/barrier.hpp"
#include "shm/counters.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"

namespace patchbay::detail {

// Polls for another worker's progress this many times before going idle (adaptive: asleep).
constexpr unsigned adaptive_spins = 4096;
// A worker that shares a core with another busy worker polls this many times, yielding the core
// between polls, before it goes idle (and asleep, whatever its mode): the worker it waits for
// may be the one that needs the core.
constexpr unsigned shared_core_polls = 64;
// WorkerControl::attention.
constexpr std::uint32_t attention_running = 0;
constexpr std::uint32_t attention_idle = 1;
constexpr std::uint32_t attention_sleeping = 2;
// Upper bound of one sleep, so a worker re-checks the stop and abort words even if a wake is lost.
constexpr auto longest_sleep = std::chrono::milliseconds(20);

/// Stands for a component in another worker: notify() tells that worker a shared ring moved.
class RemoteWaker final : public Parker {
 public:
  /// `fence`: false when this process is registered for heavy barriers and the peer issues one
  /// before it polls its rings for the last time ahead of going idle (see shm/barrier.hpp).
  RemoteWaker(WorkerControl& peer, bool fence) : peer_(peer), fence_(fence) {
    // Without a fence, notify() itself reads `attention` and skips the call while it is 0.
    static_assert(attention_running == 0);
    if (!fence_) set_idle_word(&peer_.attention);
  }
  void park(const WaitReason&) override {}  // never: a remote component parks in its own worker

 protected:
  void wake() override {
    // Dekker with RemoteWaiter::wait(): our ring update, barrier, read of `attention` against
    // its store of `attention`, barrier, read of the rings. Either it sees the update or we see
    // its attention. The barrier on this side is a fence, or the peer's heavy barrier, which
    // runs one on this CPU when the peer goes idle. While the peer runs or spins this costs a
    // read of a line that rarely changes; no shared write.
    if (fence_) std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint32_t attention = load_relaxed(peer_.attention);
    if (attention == attention_running) return;
    fetch_add_seq_cst(peer_.wake_sequence, 1);
    if (attention == attention_sleeping) futex_wake_all(&peer_.wake_sequence);
  }

 private:
  WorkerControl& peer_;
  bool fence_;
};

/// A ring this worker shares with another, as its waiter sees it.
struct RemoteWatch {
  channel::AnyRing ring;
  bool input = false;  ///< this worker consumes it
  std::uint64_t last_index = 0;
  std::uint64_t last_word = 0;

  /// Whether the other side moved since the last look. Input: the header word at this side's
  /// read position (on a line the consumer reads anyway) turned non-zero, or the producer
  /// closed; a read position moved by this side's own reads is no news. Output: the consumer's
  /// read index or reader_closed changed.
  bool moved() {
    std::uint64_t index = 0;
    std::uint64_t word = 0;
    bool news = false;
    if (input) {
      const channel::RingBase& base = channel::base_of(ring);
      index = load_relaxed(base.header().read_index);  // ours
      word = std::visit([](const auto& r) { return r.front_word(); }, ring) |
             (base.closed() ? std::uint64_t{1} << 63 : 0);
      news = word != 0 && (word != last_word || index != last_index);
    } else {
      // Acquire pairs with the consumer's release of its index.
      const channel::RingBase& base = channel::base_of(ring);
      index = load_acquire(base.header().read_index);
      word = base.reader_closed() ? 1 : 0;
      news = index != last_index || word != last_word;
    }
    last_index = index;
    last_word = word;
    return news;
  }
};

/// How a worker waits for the workers it shares rings with. Spinning, it polls the rings
/// themselves, so a message costs the producer no shared write; idle (every component waiting
/// and nothing seen for a while) it tells its peers to bump its wake word, which is what lets
/// the supervisor tell a deadlock from a pause; asleep it also has them FUTEX_WAKE it.
class RemoteWaiter {
 public:
  /// `heavy_barrier`: its producers skip their fence, so it issues a heavy barrier before it
  /// goes idle (see shm/barrier.hpp).
  /// `shared_core`: another busy worker runs on this worker's cores.
  RemoteWaiter(WorkerControl& me, FiberParkGroup& group, RunState& state, WaitMode mode,
               bool shared_core, bool heavy_barrier, std::vector<RemoteWatch> inputs,
               std::vector<RemoteWatch> outputs)
      : me_(me),
        group_(group),
        state_(state),
        mode_(mode),
        shared_core_(shared_core),
        heavy_barrier_(heavy_barrier),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)) {
    // Before any component runs: a ring that moves after a component parks but before it
    // waits must count as news.
    changed(inputs_);
    changed(outputs_);
    seen_sequence_ = load_acquire(me_.wake_sequence);
  }

  /// Waits until another worker moved something this worker shares with it, or a stop; then
  /// wakes the components parked on other workers. Returns at once if there is news already
  /// or a component here can run.
  void wait() {
    if (stopping() || poll() || !group_.all_parked()) return;
    // Poll quietly first: a reply usually comes within microseconds. On a shared core, spinning
    // would hold the core its producer may need: yield it between polls, and then sleep.
    const unsigned quiet = shared_core_               ? shared_core_polls
                           : mode_ == WaitMode::block ? 0
                                                      : adaptive_spins;
    for (unsigned i = 0; i < quiet; ++i) {
      if (shared_core_) {
        (void)sched_yield();
      } else {
        spin_pause();
      }
      if (stopping() || poll()) return;
    }
    count(me_.heartbeat);
    const bool sleep = mode_ != WaitMode::spin || shared_core_;
    store_relaxed(me_.attention, sleep ? attention_sleeping : attention_idle);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // see RemoteWaker::notify()
    if (heavy_barrier_) {
      if (const int error = heavy_barrier(); error != 0) {
        state_.fail({FailureKind::engine, "", "",
                     std::string("membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) failed: ") +
                         std::strerror(error)});
      }
    }
    if (!stopping() && !poll()) {
      store_relaxed(me_.idle_sequence, seen_sequence_);
      store_release(me_.idle, 1);
      unsigned spins = 0;
      do {
        if (sleep) {
          const std::int64_t from = steady_now_ns();
          futex_wait(&me_.wake_sequence, seen_sequence_, longest_sleep);
          count(me_.wait_ns, static_cast<std::uint64_t>(steady_now_ns() - from));
          count(me_.heartbeat);
        } else {
          spin_pause();
          // Idle and spinning: a sign of life now and then, as sleeping gives one per wake.
          if (++spins % 4096 == 0) count(me_.heartbeat);
        }
      } while (!stopping() && !poll());
      store_release(me_.idle, 0);
    }
    store_relaxed(me_.attention, attention_running);
  }

 private:
  // Whether any watched ring moved since the last look; remembers what it saw.
  static bool changed(std::vector<RemoteWatch>& watches) {
    bool any = false;
    for (RemoteWatch& w : watches)
      any = w.moved() || any;
    return any;
  }

  // Outputs count only while a component waits for room in one: otherwise the consumer's
  // every read would wake a producer that waits for its reply.
  bool poll() {
    const std::uint32_t sequence = load_acquire(me_.wake_sequence);
    bool news = changed(inputs_) || sequence != seen_sequence_;
    if (group_.parked_on_remote_output()) news = changed(outputs_) || news;
    if (!news) return false;
    seen_sequence_ = sequence;
    if (!woke_for_quiet_ && state_.quiet()) {
      // Components waiting for events end, whichever channel they wait on.
      woke_for_quiet_ = true;
      group_.wake_all();
    }
    group_.wake_remote();
    return true;
  }

  // Whether the run is stopping; the first time, wakes every component so that it unwinds.
  bool stopping() {
    if (!state_.stopping()) return false;
    if (!woke_for_stop_) {
      woke_for_stop_ = true;
      group_.wake_all();
    }
    return true;
  }

  WorkerControl& me_;
  FiberParkGroup& group_;
  RunState& state_;
  WaitMode mode_;
  bool shared_core_;
  bool heavy_barrier_;
  std::vector<RemoteWatch> inputs_;
  std::vector<RemoteWatch> outputs_;
  std::uint32_t seen_sequence_ = 0;
  bool woke_for_stop_ = false;
  bool woke_for_quiet_ = false;
};

}  // namespace patchbay::detail
