// The shared memory of a task runtime (docs/TASKS.md, "Inside"): one memfd mapping that the
// host and every worker see, holding
// - the header (shutdown word, the host's completion word, the future table's free list);
// - per worker: its control block and its queue of task cells, into which any process pushes
//   (host threads and tasks submitting sub-tasks) and only the worker pops, and its table of
//   the tasks it is running;
// - the future table: one cache line per future, with its state word (a futex), reference
//   count, who waits, and a small result inline;
// - per worker and registered function: counters;
// - per worker and future: how many holds the worker's process has on it;
// - the records of actors that may be restarted;
// - the store (tasks/task_store.hpp): a heap for arguments and results too large to travel
//   inline, which no process's death can leave unusable.
// Everything in it is addressed by offsets and touched through shm/atomic.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "shm/atomic.hpp"
#include "shm/cache_line.hpp"
#include "tasks/task_store.hpp"

namespace patchbay::detail {

/// FutureSlot::state. `completing`: claimed by the one that fills it, not yet done.
enum class FutureStatus : std::uint32_t {
  free = 0,
  pending = 1,
  ready = 2,
  failed = 3,
  completing = 4
};

/// One future. `state` is the futex host threads sleep on; `generation` tells a stale reference
/// (to a slot since freed and reused) from a live one.
struct alignas(cache_line_bytes) FutureSlot {
  std::uint32_t state;           // FutureStatus
  std::uint32_t generation;      // bumped each time the slot is handed out
  std::uint32_t refs;            // holders: the host's handles (one), tasks that take it, its task
  std::uint32_t host_waiting;    // 1 once a host thread may sleep on `state`
  std::uint64_t worker_waiters;  // bit w % 64: a fiber of worker w waits for it
  std::uint32_t worker;          // the worker its task was sent to
  std::uint32_t result_size;     // bytes of the result (or of the failure's text)
  std::uint64_t result_offset;   // in the store when result_size > kInlineResult, else 0
  std::uint64_t function;        // the task's function id
  std::uint32_t next_free;       // free list: the next free slot + 1, 0 at the end
  std::uint32_t reserved;        // keeps the line's layout
  static constexpr std::size_t kInlineResult = 8;
  std::byte inline_result[kInlineResult];
};
static_assert(sizeof(FutureSlot) == cache_line_bytes);
static_assert(std::is_trivially_copyable_v<FutureSlot>);

/// One task on its way to a worker: a cell of the worker's queue.
struct alignas(cache_line_bytes) TaskCell {
  std::uint64_t sequence;     // the queue's: cell i of lap L reads i + L*capacity when free
  std::uint64_t function;     // id of the registered function
  std::uint32_t result_slot;  // the future it fills
  std::uint32_t result_generation;
  std::uint32_t args_size;    // bytes of arguments
  std::uint32_t kind;         // TaskKind
  std::uint64_t args_offset;  // in the store when args_size > kInlineArgs, else 0
  std::int64_t submitted_ns;  // steady clock, for the time queued
  std::uint64_t actor;        // actor kinds: the actor's id
  std::uint32_t retries;      // times it may still be sent again if its worker dies
  std::uint32_t attempts;     // times it was sent to a worker that died
  static constexpr std::size_t kInlineArgs = 256 - 64;
  std::byte inline_args[kInlineArgs];
};
static_assert(sizeof(TaskCell) == 256);
static_assert(std::is_trivially_copyable_v<TaskCell>);

/// TaskCell::kind. The numbers are Runtime::submit_actor's `kind` too. `actor_lost`: an actor
/// that cannot come back (its arguments: why), sent to a dead worker's replacement.
enum class TaskKind : std::uint32_t {
  call = 1,
  actor_create = 2,
  actor_call = 3,
  actor_kill = 4,
  actor_lost = 5
};

/// ActorRecord::state.
enum class ActorRecordState : std::uint32_t {
  free = 0,
  filling = 1,  // claimed by its creator
  ready = 2,
  busy = 3,  // being restarted, or dropped: wait
};

/// An actor that may be restarted: what the host needs to construct it again when its worker
/// dies. In the arena, so that actors created inside tasks have one too.
struct alignas(cache_line_bytes) ActorRecord {
  std::uint32_t state;  // ActorRecordState
  std::uint32_t worker;
  std::uint64_t actor;
  std::uint32_t restarts_left;
  std::uint32_t started;        // 1 once a worker began its creation (else it is still queued)
  std::uint64_t recipe_offset;  // in the store: the creation's TaskCell header, then its arguments
  std::uint32_t recipe_size;    // bytes of arguments after the header
};

// A worker's queue is Vyukov's bounded queue with each cell's sequence stored relative to the
// cell's place in the ring, so that zeroed memory is an empty queue: cell p (= pos % capacity)
// reads cell_free(pos) when a producer may fill it for position pos, and cell_full(pos) once
// it holds that task.
constexpr std::uint64_t cell_free(std::uint64_t pos, std::uint64_t capacity) {
  return pos - (pos & (capacity - 1));
}
constexpr std::uint64_t cell_full(std::uint64_t pos, std::uint64_t capacity) {
  return cell_free(pos, capacity) + 1;
}

/// Counters kept by one worker; only it writes them.
struct TaskCounters {
  std::uint64_t calls;
  std::uint64_t failures;
  std::uint64_t run_ns;
  std::uint64_t queued_ns;
};

/// One worker's block. The queue's two indices sit on lines of their own (producers share the
/// first, the worker owns the second); the wake line is where producers look whether it sleeps.
struct alignas(cache_line_bytes) TaskWorkerBlock {
  alignas(cache_line_bytes) std::uint64_t enqueue_index;  // producers: claimed by CAS
  alignas(cache_line_bytes) std::uint64_t dequeue_index;  // the worker's
  // Wake line: `sleeping` 1 while the worker may sleep on `wake_sequence`.
  alignas(cache_line_bytes) std::uint32_t wake_sequence;
  std::uint32_t sleeping;
  // Owner line.
  alignas(cache_line_bytes) std::int32_t pid;
  std::uint32_t state;  // 0 starting, 1 running, 2 ended
  TaskCounters counters;
  // Set by the host before it starts a replacement: cells to run before the queue (the
  // restarts of the actors that lived here), `restart_count` TaskCells in the store.
  std::uint64_t restart_list;
  std::uint32_t restart_count;
  // Entries of the running table below this were used at some time; the rest never were
  // (the host looks no further: an untouched page of the table costs a fault to read).
  std::uint32_t running_high;
};
static_assert(std::is_trivially_copyable_v<TaskWorkerBlock>);

struct alignas(cache_line_bytes) TaskArenaHeader {
  std::uint64_t magic;
  std::uint32_t wait_mode;  // patchbay::WaitMode
  std::uint32_t workers;
  std::uint32_t functions;  // counters per worker in the function table
  std::uint64_t queue_capacity;
  std::uint64_t future_slots;
  // Set once by the host: every worker leaves.
  alignas(cache_line_bytes) std::uint32_t shutdown;
  // Bumped (and woken) when a future some host thread waits on completes: what wait() sleeps on.
  alignas(cache_line_bytes) std::uint32_t host_completions;
  // Free list of future slots: (tag << 32) | (slot + 1), 0 when empty; slots never used yet
  // are handed out from next_unused, so that a new arena touches none of them.
  alignas(cache_line_bytes) std::uint64_t free_head;
  std::uint32_t next_unused;
  // Actor ids, unique across the processes of the runtime.
  alignas(cache_line_bytes) std::uint64_t next_actor;
};

/// Inside a worker process: which worker this is, for waits that park a task's fiber.
struct TaskWorkerContext {
  std::uint32_t worker = 0;
  std::size_t fibers_waiting = 0;  ///< task fibers parked in await() right now
};
/// The calling thread's worker context; nullptr on the host.
TaskWorkerContext*& task_worker_context() noexcept;

/// The mapping and the offsets of its tables. Created by the host before it forks; a forked
/// worker inherits the mapping at the same address.
class TaskArena {
 public:
  /// Creates and formats the arena; with `attach_to` (a memfd another process made with the
  /// same sizes), maps that one instead, and owns the descriptor.
  TaskArena(std::size_t workers, std::size_t functions, std::size_t queue_capacity,
            std::size_t future_slots, std::size_t store_bytes, std::size_t actor_records,
            int attach_to = -1);
  ~TaskArena();
  TaskArena(const TaskArena&) = delete;
  TaskArena& operator=(const TaskArena&) = delete;

  [[nodiscard]] TaskArenaHeader& header() const { return *static_cast<TaskArenaHeader*>(base_); }
  [[nodiscard]] TaskWorkerBlock& worker(std::size_t w) const {
    return at<TaskWorkerBlock>(workers_offset_)[w];
  }
  [[nodiscard]] TaskCell& cell(std::size_t w, std::uint64_t index) const {
    return at<TaskCell>(cells_offset_)[w * queue_capacity_ + (index & (queue_capacity_ - 1))];
  }
  [[nodiscard]] FutureSlot& slot(std::uint32_t s) const { return at<FutureSlot>(slots_offset_)[s]; }
  /// Entry `i` of worker `w`'s table of running tasks: a task's cell, copied there when the
  /// worker takes it (its queue cell is free at once), until it has run. `sequence` holds its
  /// queue position + 1, 0 when the entry is empty. Only the worker writes its table; the host
  /// reads it after the worker's death.
  [[nodiscard]] TaskCell& running(std::size_t w, std::size_t i) const {
    return at<TaskCell>(running_offset_)[w * queue_capacity_ + i];
  }
  [[nodiscard]] TaskCounters& function_counters(std::size_t w, std::size_t f) const {
    return at<TaskCounters>(counters_offset_)[w * functions_ + f];
  }
  [[nodiscard]] ActorRecord& actor_record(std::size_t i) const {
    return at<ActorRecord>(actors_offset_)[i];
  }
  [[nodiscard]] std::size_t actor_records() const { return actor_records_; }
  [[nodiscard]] std::size_t workers() const { return workers_; }
  /// The memfd, open until close_fd() (to send to a fork server); -1 after.
  [[nodiscard]] int fd() const { return memfd_; }
  void close_fd() noexcept;
  [[nodiscard]] std::size_t functions() const { return functions_; }
  [[nodiscard]] std::uint64_t queue_capacity() const { return queue_capacity_; }
  [[nodiscard]] std::uint32_t future_slots() const { return future_slots_; }

  // ---- futures: any process, any thread ----

  /// A slot for a task of `function` sent to `worker`, pending, with `refs` holders. Throws
  /// Error when every slot is in use.
  std::uint32_t allocate_slot(std::uint64_t function, std::uint32_t worker, std::uint32_t refs);
  void add_ref(std::uint32_t s) noexcept;
  /// Drops one holder; the last frees the result's memory and the slot.
  void release(std::uint32_t s) noexcept;
  /// Inside a worker: counts (note) or uncounts (drop) one hold of this process on slot `s`,
  /// so that the host can drop what a worker held when it dies. Nothing on the host.
  void note_hold(std::uint32_t s) noexcept;
  void drop_hold(std::uint32_t s) noexcept;
  /// After worker `w` died: drops every hold it had counted. Before its replacement starts.
  void release_holds(std::uint32_t w) noexcept;
  /// Fills a pending future (ready with `bytes`, or failed with a FailureText) and wakes who
  /// waits; false when it was no longer pending (someone failed it first). A result the
  /// store cannot hold fails the future, saying so.
  bool complete(std::uint32_t s, FutureStatus status, std::span<const std::byte> bytes) noexcept;
  [[nodiscard]] FutureStatus status(std::uint32_t s) const;
  /// The bytes of a completed future (valid while a holder keeps it).
  [[nodiscard]] std::span<const std::byte> result_bytes(std::uint32_t s) const;
  /// Waits until the future is complete: spinning and sleeping on the host as the wait mode
  /// says, parking the task's fiber inside a worker. False after `timeout`.
  bool await(std::uint32_t s, std::chrono::nanoseconds timeout);
  /// Waits until the host's completion word moves from `seen` (or `timeout`).
  void await_host_completion(std::uint32_t seen, std::chrono::nanoseconds timeout);
  /// Tells worker `w` that something it may wait for changed.
  void wake_worker(std::uint32_t w) noexcept;

  /// Store: `bytes` from the shared heap, as an offset from the arena's base; nullopt when it
  /// has not that much in one piece. Any process, any thread.
  [[nodiscard]] std::optional<std::uint64_t> allocate(std::size_t bytes);
  void deallocate(std::uint64_t offset) noexcept;
  [[nodiscard]] std::size_t store_size() const;
  [[nodiscard]] std::size_t store_free() const;
  [[nodiscard]] std::uint32_t store_repairs() const { return store_.recoveries(); }

  template <class T>
  [[nodiscard]] T* at(std::uint64_t offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(base_) + offset);
  }

 private:
  void* base_ = nullptr;
  int memfd_ = -1;
  std::size_t size_ = 0;
  std::size_t workers_ = 0;
  std::size_t functions_ = 0;
  std::uint64_t queue_capacity_ = 0;
  std::uint32_t future_slots_ = 0;
  std::uint64_t workers_offset_ = 0;
  std::uint64_t cells_offset_ = 0;
  std::uint64_t running_offset_ = 0;
  std::uint64_t slots_offset_ = 0;
  std::uint64_t counters_offset_ = 0;
  std::uint64_t holds_offset_ = 0;  // per worker and future slot: the worker's holds
  std::uint64_t actors_offset_ = 0;
  std::size_t actor_records_ = 0;
  std::uint64_t store_offset_ = 0;
  TaskStore store_;  // a view of the store, valid in every process (offsets)
};

}  // namespace patchbay::detail
