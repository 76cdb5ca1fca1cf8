// The shared arena of a ParallelProcess: one shared mapping of a memfd, holding the control
// blocks, the counters and every ring. Forked workers inherit the mapping; a fork server's
// workers map the same memfd, passed over a socket. A memfd has no name in /dev/shm, so nothing
// outlives the processes that map it or hold its descriptor, even after kill -9.
// The layout and the words in it: docs/ARCHITECTURE.md, "Processes and their protocol".
#pragma once

#include <patchbay/process_spec.hpp>

#include <boost/interprocess/managed_external_buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "shm/cache_line.hpp"
#include "shm/counters.hpp"

namespace patchbay::detail {

/// Worker life cycle, as the supervisor sees it.
enum class WorkerState : std::uint32_t { forked = 0, ready = 1, running = 2, done = 3, failed = 4 };

/// Sentinel of ArenaHeader::failed_worker.
inline constexpr std::uint32_t no_worker = ~std::uint32_t{0};
/// Sentinel of WorkerControl::failed_component.
inline constexpr std::uint32_t no_component = ~std::uint32_t{0};

/// One worker's block: written by the worker, read by the supervisor (and woken by peers).
struct alignas(cache_line_bytes) WorkerControl {
  // Wake line. A worker that runs or spins watches its rings itself, and its peers only read
  // `attention` after changing a ring it shares with them. Once it has gone idle (attention
  // 1) they also bump `wake_sequence`, and once it sleeps on that word (attention 2) they also
  // FUTEX_WAKE it. A stop or a failure bumps and wakes unconditionally.
  alignas(cache_line_bytes) std::uint32_t wake_sequence;
  std::uint32_t attention;
  // Owner line.
  alignas(cache_line_bytes) std::uint32_t state;  // WorkerState
  std::int32_t pid;
  std::uint32_t idle;           // 1 while every component waits on another worker
  std::uint32_t idle_sequence;  // the wake_sequence it was at when it became idle
  // (idle with wake_sequence still at idle_sequence: nothing reached it since)
  std::int32_t exit_status;  // the status a component passed to exit()
  std::uint64_t heartbeat;   // bumped by the worker's poller
  std::uint64_t steps;
  std::uint64_t busy_ns;
  std::uint64_t wait_ns;
  // Failure report: filled once by the worker before it sets failed_worker. The component is
  // an index into the model, which the supervisor holds itself: it names it from its own copy.
  std::uint32_t failed_component;  // no_component: the failure is not a component's
  char message[1024];              // not necessarily terminated: read it with its size
};
static_assert(std::is_trivially_copyable_v<WorkerControl>);
static_assert(sizeof(WorkerControl) % cache_line_bytes == 0);

/// Wakes a worker whatever it is doing (a stop or a failure): bumps its wake word, then
/// FUTEX_WAKEs it. The bump is seq-cst, which pairs with the worker's store of `attention`,
/// fence and poll: either it sees the new sequence and does not sleep, or it is asleep and
/// the wake reaches it.
void wake_worker(WorkerControl& worker) noexcept;

/// Per component: status and counters, written by its worker. Lines of their own, so that
/// components of different workers never share one.
struct alignas(cache_line_bytes) ComponentSlot {
  std::uint32_t status;  // patchbay::Status
  std::uint32_t worker;
  ComponentCounters counters;
  // Liveness: 2n + 1 while in step n + 1, 2n after n steps; the supervisor times how long it
  // stays. And what the component waits on while WAITING (see waiting_on_input()).
  std::uint64_t step_sequence;
  std::uint32_t waiting_on;
};

/// ComponentSlot::waiting_on: nothing, input field `field`, or channel `channel` of output field
/// `field` (in the order of the wiring).
inline constexpr std::uint32_t waiting_on_nothing = 0;
constexpr std::uint32_t waiting_on_input(std::size_t field) {
  return 1 + static_cast<std::uint32_t>(field & 0x7fffffff);
}
constexpr std::uint32_t waiting_on_output(std::size_t field, std::size_t channel) {
  return 0x80000000u | static_cast<std::uint32_t>((field & 0x7fff) << 16) |
         static_cast<std::uint32_t>(channel & 0xffff);
}

/// Per worker, in a table of its own: what its components exported (Component::
/// export_value()) once they finished, written by the worker at its end. `used` bytes of
/// records follow the header: per component that exported anything, its index (u32), the
/// size of its encoded map (u32) and the map (detail::encode_value()). `truncated` is 1 when
/// they did not all fit.
struct WorkerExports {
  std::uint32_t used;
  std::uint32_t truncated;
};
/// Bytes of one worker's exports slot: the header and limits::max_worker_exports_bytes.
inline constexpr std::size_t worker_exports_slot_bytes =
    (sizeof(WorkerExports) + limits::max_worker_exports_bytes + cache_line_bytes - 1) /
    cache_line_bytes * cache_line_bytes;

/// Per copy of a replicated component (serve/replicas.hpp), in a table of its own: how its
/// split, its merge and the supervisor agree on what a copy whose worker died held, so that
/// the copy can be started again (docs/SERVING.md, "Replicas"). Each line has one writer.
struct alignas(cache_line_bytes) ReplicaSlot {
  // The split's line. `writing` is 1 while the split gives a message to this copy (set with a
  // seq-cst store before it looks at the copy's reader_closed, see ComponentRunner::
  // route_split()); `sent` counts the messages it gave it.
  alignas(cache_line_bytes) std::uint32_t writing;
  std::uint64_t sent;
  // The merge's line: messages of this copy it handed on, or answered with an error because
  // the copy died holding them.
  alignas(cache_line_bytes) std::uint64_t answered;
  // The supervisor's line. `cut`: the copy's worker died and the copy has not been started
  // again; what it held fails with `reason`. `settle`: `sent` is final until the copy is
  // started again (the split gives it nothing more), so the merge answers what is missing.
  // `restarts`: times it was started again.
  alignas(cache_line_bytes) std::uint32_t cut;
  std::uint32_t settle;
  std::uint32_t restarts;
  std::uint32_t reason_size;
  char reason[240];  // why what it held failed: the worker, its pid and how it ended
};
static_assert(std::is_trivially_copyable_v<ReplicaSlot>);
static_assert(sizeof(ReplicaSlot) == 6 * cache_line_bytes);

/// Per connector: where its ring lies and its counters.
struct ChannelSlot {
  std::uint64_t ring_offset;
  ChannelCounters counters;
};

/// What sits at the start of the arena. Any process that maps the arena can write anything
/// here: the supervisor keeps its own copy of the layout and checks every value it reads.
struct alignas(cache_line_bytes) ArenaHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t worker_count;
  std::uint64_t size;
  std::uint64_t workers_offset;
  std::uint64_t components_offset;
  std::uint64_t channels_offset;
  std::uint64_t exports_offset;   // the workers' exports slots (WorkerExports)
  std::uint64_t replicas_offset;  // the copies' slots (ReplicaSlot)
  std::uint32_t replica_count;
  std::uint32_t component_count;
  std::uint32_t channel_count;
  // 1 when workers use membarrier(2) instead of a producer-side fence (see shm/barrier.hpp);
  // set before any worker starts.
  std::uint32_t asymmetric_barriers;
  // Control words, each its own futex. go: 0 until run(), workers wait on it; 2 = exit
  // without running. abort: set by the supervisor or a failing worker, everyone stops.
  alignas(cache_line_bytes) std::uint32_t go;
  alignas(cache_line_bytes) std::uint32_t abort;
  std::uint32_t stop;           // a stop from outside (SIGINT, stop())
  std::uint32_t failed_worker;  // the first worker that reported a failure (~0u: none)
  std::uint32_t drain;          // drain(): sources end at their next step boundary
  // Set by the supervisor when every worker waits and some component waits for events:
  // components that only handle events end (RunState::quiet()).
  std::uint32_t quiet;
};
static_assert(std::is_trivially_copyable_v<ArenaHeader>);

/// Owns the mapping and its memfd. The creator formats and allocates, before any worker starts;
/// a process that attaches maps the same memory, possibly at another address (everything in it
/// is addressed by offsets), and never allocates. Not thread-safe.
class Arena {
 public:
  static constexpr std::uint64_t magic = 0x616e657261626370;  // "pcbarena"
  static constexpr std::uint32_t version = 5;

  /// Creates a memfd of `bytes` (rounded up to pages), maps it shared and formats the header.
  /// Throws Error when the memory cannot be had.
  /// `replicas`: slots for the copies of replicated components (ReplicaSlot).
  Arena(std::size_t bytes, std::size_t workers, std::size_t components, std::size_t channels,
        std::size_t replicas = 0);
  /// Maps the arena another process created, given its memfd (the descriptor is not kept), and
  /// takes its layout from the header once. Throws Error when it cannot be mapped, is not an
  /// arena of this version, or its layout does not fit in it.
  explicit Arena(int memfd);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  [[nodiscard]] ArenaHeader& header() const { return *static_cast<ArenaHeader*>(base_); }
  /// The memfd behind the mapping (close-on-exec); -1 in a process that attached.
  [[nodiscard]] int memfd() const { return memfd_; }
  // The tables are found through the layout this object took when it formatted or attached,
  // never through the header, which a stray write may have changed since.
  [[nodiscard]] WorkerControl& worker(std::size_t i) const {
    return at<WorkerControl>(workers_offset_)[i];
  }
  [[nodiscard]] ComponentSlot& component(std::size_t i) const {
    return at<ComponentSlot>(components_offset_)[i];
  }
  [[nodiscard]] ChannelSlot& channel(std::size_t i) const {
    return at<ChannelSlot>(channels_offset_)[i];
  }
  /// Worker `i`'s exports slot: a WorkerExports header, then its records.
  [[nodiscard]] std::byte* exports(std::size_t i) const {
    return at<std::byte>(exports_offset_ + i * worker_exports_slot_bytes);
  }
  /// Copy `i`'s slot, in the order ParallelRuntime numbers the copies.
  [[nodiscard]] ReplicaSlot& replica(std::size_t i) const {
    return at<ReplicaSlot>(replicas_offset_)[i];
  }
  [[nodiscard]] std::size_t replica_count() const { return replica_count_; }
  [[nodiscard]] std::size_t worker_count() const { return worker_count_; }
  [[nodiscard]] std::size_t component_count() const { return component_count_; }
  [[nodiscard]] std::size_t channel_count() const { return channel_count_; }
  /// Records where channel `i`'s ring lies (creator only).
  void set_ring_offset(std::size_t i, std::uint64_t offset);
  /// The memory of channel `i`'s ring of `bytes` bytes: where the creator put it, or, in a
  /// process that attached, where the arena says, once checked to lie inside it (throws Error).
  [[nodiscard]] void* ring_memory(std::size_t i, std::size_t bytes) const;
  /// Allocates `bytes` aligned to a cache line from the managed buffer; returns its offset from the
  /// base.
  std::uint64_t allocate(std::size_t bytes);
  template <class T>
  [[nodiscard]] T* at(std::uint64_t offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(base_) + offset);
  }
  [[nodiscard]] std::size_t size() const { return size_; }
  /// Bytes the arena needs for the given counts and total ring bytes.
  static std::size_t bytes_needed(std::size_t workers, std::size_t components, std::size_t channels,
                                  std::size_t ring_bytes, std::size_t replicas = 0);

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
  int memfd_ = -1;
  std::uint64_t workers_offset_ = 0;
  std::uint64_t components_offset_ = 0;
  std::uint64_t channels_offset_ = 0;
  std::uint64_t exports_offset_ = 0;
  std::uint64_t replicas_offset_ = 0;
  std::size_t replica_count_ = 0;
  std::size_t worker_count_ = 0;
  std::size_t component_count_ = 0;
  std::size_t channel_count_ = 0;
  std::vector<std::uint64_t> ring_offsets_;  ///< creator: what it allocated
  std::uint64_t next_ = 0;                   ///< creator: where the next allocation starts
};

}  // namespace patchbay::detail
