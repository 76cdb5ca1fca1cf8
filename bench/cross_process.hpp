// What the cross-process benchmarks share: memory mapped before fork, core pinning, a forked
// peer, futex calls and a spin-wait hint. Benchmark code only: none of it is engine API.
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace patchbay_bench {

/// The cores the two sides of a cross-process benchmark are pinned to.
inline constexpr int kNearCore = 0;  // the benchmark's own process (the timed side)
inline constexpr int kFarCore = 1;   // the forked peer

/// One anonymous MAP_SHARED mapping: a child forked after it was made sees the same bytes at
/// the same address. Page-aligned, so any 64-byte alignment inside it holds.
class SharedMemory {
 public:
  explicit SharedMemory(std::size_t bytes) : bytes_(bytes) {
    data_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::runtime_error("mmap of shared memory failed");
  }
  ~SharedMemory() { munmap(data_, bytes_); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  [[nodiscard]] std::byte* bytes() const { return static_cast<std::byte*>(data_); }
  /// Constructs a T at `offset` (a multiple of alignof(T)).
  template <class T, class... Args>
  T* construct(std::size_t offset = 0, Args&&... args) {
    return ::new (bytes() + offset) T(std::forward<Args>(args)...);
  }

 private:
  std::size_t bytes_;
  void* data_;
};

/// Whether this process may run on both benchmark cores.
inline bool has_two_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
  return CPU_ISSET(kNearCore, &set) && CPU_ISSET(kFarCore, &set);
}

/// Pins the calling thread to `core`; throws if the kernel refuses.
inline void pin_to_core(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    throw std::runtime_error(
        std::string("sched_setaffinity failed for core ").append(std::to_string(core)));
}

/// Pins the calling thread to `core` for its lifetime, then restores the previous affinity
/// (a ParallelProcess planned later must see every core again).
class PinnedToCore {
 public:
  explicit PinnedToCore(int core) {
    CPU_ZERO(&saved_);
    sched_getaffinity(0, sizeof saved_, &saved_);
    pin_to_core(core);
  }
  ~PinnedToCore() { sched_setaffinity(0, sizeof saved_, &saved_); }
  PinnedToCore(const PinnedToCore&) = delete;
  PinnedToCore& operator=(const PinnedToCore&) = delete;

 private:
  cpu_set_t saved_;
};

/// A forked child pinned to `core` that runs `body()` and exits: 0 when it returned, 1 when it
/// threw. It never returns into the benchmark framework (it leaves with _exit).
class Peer {
 public:
  template <class Body>
  Peer(int core, Body&& body) {
    std::fflush(nullptr);  // buffered output would otherwise be written twice
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int code = 0;
      try {
        pin_to_core(core);
        body();
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
  }
  /// Kills a peer that was not joined (the benchmark failed half-way).
  ~Peer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  /// Waits for the peer to exit; true when it exited with 0.
  bool join() {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, 0);
    pid_ = -1;
    return done > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  pid_t pid_ = -1;
};

/// A thread pinned to `core` that runs `body()`: the in-process counterpart of Peer, for the
/// benchmarks between two threads. join() is true when `body()` returned without throwing.
class PeerThread {
 public:
  template <class Body>
  PeerThread(int core, Body&& body)
      : thread_([this, core, body = std::forward<Body>(body)]() mutable {
          try {
            pin_to_core(core);
            body();
            ok_ = true;
          } catch (...) {
            ok_ = false;
          }
        }) {}
  ~PeerThread() {
    if (thread_.joinable()) thread_.join();
  }
  PeerThread(const PeerThread&) = delete;
  PeerThread& operator=(const PeerThread&) = delete;

  bool join() {
    thread_.join();
    return ok_;
  }

 private:
  bool ok_ = false;  // written by the thread, read after join()
  std::thread thread_;
};

/// Tells the core a spin-wait is under way (as the engine's spin loop does). Not named
/// cpu_relax: Boost.Fiber defines a macro of that name.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Sleeps while `*word == expected`. Not FUTEX_PRIVATE: the word is shared across processes.
inline void futex_wait(std::uint32_t* word, std::uint32_t expected) {
  syscall(SYS_futex, word, FUTEX_WAIT, expected, nullptr, nullptr, 0);
}

/// Wakes the (at most one) sleeper on `word`.
inline void futex_wake(std::uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

/// Counts the times the kernel took a core away from this process or one of its reaped children
/// (involuntary context switches). A pinned spinning benchmark should see none: a non-zero count
/// means something else ran on its cores and the timing is suspect.
class PreemptionCount {
 public:
  PreemptionCount() : start_(total()) {}
  /// Preemptions since construction; call after the children of interest were reaped.
  [[nodiscard]] double so_far() const { return static_cast<double>(total() - start_); }

 private:
  static long total() {
    rusage self{};
    rusage children{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return self.ru_nivcsw + children.ru_nivcsw;
  }
  long start_;
};

// ---- two-atomic ping-pong: the floor of any spinning channel between two cores ----

/// Each flag on its own pair of cache lines: one line moves per message, which is the whole
/// cost. A pair, because the CPUs' adjacent-line prefetchers would otherwise pull the other
/// side's flag along with one's own.
struct alignas(128) PingPongFlag {
  std::atomic<std::uint64_t> value{0};
};
struct PingPongFlags {
  PingPongFlag ping;  // written by the timed side
  PingPongFlag pong;  // written by the peer
};
static_assert(sizeof(PingPongFlags) == 256);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);  // address-free across processes

/// The value of `ping` that ends answer_pings().
inline constexpr std::uint64_t kPingPongStop = ~std::uint64_t{0};

/// `pauses` pause instructions: the gap between two polls of a spin loop. On some machines
/// polling a line as fast as possible slows its hand-over to the writer (the reader's loads
/// keep pulling the line back), so the gap that gives the fastest round trip is found by
/// measuring (see two_atomic_floor()).
inline void pause_for(unsigned pauses) {
  for (unsigned k = 0; k < pauses; ++k)
    spin_pause();
}

/// The peer's side: echoes every new value of `ping` on `pong` until kPingPongStop, with
/// `pauses` pause instructions between two polls.
inline void answer_pings(PingPongFlags& flags, unsigned pauses) {
  std::uint64_t seen = 0;
  while (true) {
    std::uint64_t v;
    // Acquire/release pairs with the other side's store: nothing else is published, but the
    // orders are those a real channel needs, so the baseline pays what a channel must.
    while ((v = flags.ping.value.load(std::memory_order_acquire)) == seen)
      pause_for(pauses);
    if (v == kPingPongStop) return;
    seen = v;
    flags.pong.value.store(v, std::memory_order_release);
  }
}

/// The timed side's round trip number `i` (1, 2, ...).
inline void ping(PingPongFlags& flags, std::uint64_t i, unsigned pauses) {
  flags.ping.value.store(i, std::memory_order_release);
  while (flags.pong.value.load(std::memory_order_acquire) != i)
    pause_for(pauses);
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Holds the core for `duration_ns` (work standing for a computation) and returns the time it
/// really took, so that callers can subtract it exactly.
inline std::int64_t busy_for(std::int64_t duration_ns) {
  const std::int64_t start = now_ns();
  std::int64_t now = start;
  while (now - start < duration_ns)
    now = now_ns();
  return now - start;
}

/// The median of `values` (not empty); reorders them.
inline double median(std::vector<double>& values) {
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

/// The poll gaps (pause instructions between two polls) the floor is measured with.
inline constexpr unsigned kFloorPauses[] = {0, 1, 2, 4};

/// The two-atomic ping-pong's fastest round trip and the poll gap that gave it.
struct TwoAtomicFloor {
  double ns = 0;
  unsigned pauses = 0;
};

/// Nanoseconds per round trip of the two-atomic ping-pong between a peer on kFarCore (a forked
/// process, or a thread with PeerKind = PeerThread) and this thread pinned to kNearCore, over
/// `round_trips` after 1000 untimed ones, with `pauses` pause instructions between two polls
/// on both sides.
template <class PeerKind = Peer>
double two_atomic_round_trip_ns(std::uint64_t round_trips, unsigned pauses) {
  SharedMemory memory(sizeof(PingPongFlags));
  PingPongFlags* flags = memory.construct<PingPongFlags>();
  const PinnedToCore pinned(kNearCore);
  PeerKind peer(kFarCore, [flags, pauses] { answer_pings(*flags, pauses); });
  constexpr std::uint64_t warm_up = 1000;
  for (std::uint64_t i = 1; i <= warm_up; ++i)
    ping(*flags, i, pauses);
  const std::int64_t start = now_ns();
  for (std::uint64_t i = warm_up + 1; i <= warm_up + round_trips; ++i)
    ping(*flags, i, pauses);
  const std::int64_t took = now_ns() - start;
  flags->ping.value.store(kPingPongStop, std::memory_order_release);
  if (!peer.join()) throw std::runtime_error("two-atomic ping-pong peer failed");
  return static_cast<double>(took) / static_cast<double>(round_trips);
}

/// The floor for benchmarks that report a ratio against it, measured moments before their own
/// run on the same cores (the only comparison that holds on a machine whose cross-core latency
/// changes from one second to the next): the fastest of the two-atomic ping-pongs with each
/// poll gap of kFloorPauses, `round_trips` each. The best gap differs between machines and
/// core placements, and a floor measured with one fixed gap can be slower than a channel that
/// happens to poll at a better one.
template <class PeerKind = Peer>
TwoAtomicFloor two_atomic_floor(std::uint64_t round_trips) {
  TwoAtomicFloor best;
  for (const unsigned pauses : kFloorPauses) {
    const double ns = two_atomic_round_trip_ns<PeerKind>(round_trips, pauses);
    if (best.ns == 0 || ns < best.ns) best = {ns, pauses};
  }
  return best;
}

/// Two futex words on cache lines of their own, in shared memory, and the peer's total think
/// time (read after join()).
struct FutexPingWords {
  struct alignas(64) Word {
    std::uint32_t value = 0;
  };
  Word ping;  // written by the timed side
  Word pong;  // written by the peer
  alignas(64) std::int64_t peer_think_ns = 0;
};
inline std::atomic_ref<std::uint32_t> futex_word(FutexPingWords::Word& w) {
  return std::atomic_ref<std::uint32_t>(w.value);
}
inline constexpr std::uint32_t kFutexPingStop = ~std::uint32_t{0};

/// The peer's side of a futex ping-pong: sleeps in FUTEX_WAIT until a new ping, is busy for
/// `think_ns` (counted in peer_think_ns once past `warm_up` pings), answers with the same
/// number on pong; returns at kFutexPingStop.
inline void answer_futex_pings(FutexPingWords& words, std::int64_t think_ns,
                               std::uint32_t warm_up) {
  std::uint32_t seen = 0;
  std::int64_t thought = 0;
  while (true) {
    std::uint32_t v;
    // Acquire pairs with the timed side's release store of ping.
    while ((v = futex_word(words.ping).load(std::memory_order_acquire)) == seen)
      futex_wait(&words.ping.value, seen);
    if (v == kFutexPingStop) break;
    seen = v;
    if (think_ns > 0) {
      const std::int64_t took = busy_for(think_ns);
      if (v > warm_up) thought += took;  // only the timed round trips count
    }
    futex_word(words.pong).store(v, std::memory_order_release);
    futex_wake(&words.pong.value);
  }
  words.peer_think_ns = thought;
}

/// The timed side's round trip number `i` (from 1): ping, then sleep until the pong.
inline void futex_round_trip(FutexPingWords& words, std::uint32_t i) {
  futex_word(words.ping).store(i, std::memory_order_release);
  futex_wake(&words.ping.value);
  std::uint32_t v;
  while ((v = futex_word(words.pong).load(std::memory_order_acquire)) != i)
    futex_wait(&words.pong.value, v);
}

/// Ends the peer of answer_futex_pings().
inline void stop_futex_pings(FutexPingWords& words) {
  futex_word(words.ping).store(kFutexPingStop, std::memory_order_release);
  futex_wake(&words.ping.value);
}

/// Nanoseconds per round trip, beyond the two sides' own work, of a futex ping-pong between a
/// peer on kFarCore and this thread pinned to kNearCore, where each side is busy `think_ns`
/// before it answers, so that the other has gone to sleep in FUTEX_WAIT: what two hand-offs to
/// a sleeping side cost, the floor for anything that wakes an idle peer. Over `round_trips`
/// after two untimed ones.
inline double futex_hand_off_ns(std::int64_t think_ns, std::uint32_t round_trips) {
  SharedMemory memory(sizeof(FutexPingWords));
  FutexPingWords* words = memory.construct<FutexPingWords>();
  const PinnedToCore pinned(kNearCore);
  constexpr std::uint32_t warm_up = 2;
  Peer peer(kFarCore, [words, think_ns] { answer_futex_pings(*words, think_ns, warm_up); });
  std::int64_t took = 0;
  for (std::uint32_t i = 1; i <= warm_up + round_trips; ++i) {
    (void)busy_for(think_ns);  // the peer goes to sleep meanwhile
    const std::int64_t start = now_ns();
    futex_round_trip(*words, i);
    if (i > warm_up) took += now_ns() - start;
  }
  stop_futex_pings(*words);
  if (!peer.join()) throw std::runtime_error("futex ping-pong peer failed");
  return static_cast<double>(took - words->peer_think_ns) / static_cast<double>(round_trips);
}

}  // namespace patchbay_bench
