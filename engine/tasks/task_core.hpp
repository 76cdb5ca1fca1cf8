// What a Runtime is made of (docs/TASKS.md, "Inside"): the arena, the workers, the operations
// on futures and queues that the host and the workers share, and the host's monitor of its
// workers. One TaskCore per Runtime; a forked worker runs worker_main() on its copy.
#pragma once

#include <patchbay/tasks.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "placement/machine.hpp"
#include "placement/planner.hpp"
#include "tasks/task_arena.hpp"
#include "tasks/zygote.hpp"

namespace patchbay::detail {

/// A registered remote function, actor factory or method.
struct RemoteFunction {
  std::string name;
  std::uint64_t id = 0;
  const void* address = nullptr;    ///< functions and factories
  RemoteInvoker invoker = nullptr;  ///< functions
  ActorFactory create = nullptr;    ///< factories
  ActorDestroy destroy = nullptr;   ///< factories
  MethodInvoker method = nullptr;   ///< methods
  std::size_t index = 0;            ///< position in the table: the row of its counters
};

/// The registered functions, in registration order. Filled at static initialisation (before
/// any fork), so every worker sees the same table.
const std::vector<RemoteFunction>& remote_functions();
/// The function with id `id`, or nullptr.
const RemoteFunction* find_remote(std::uint64_t id);

/// The text of a failure, as stored in a failed future: four fields, NUL-separated.
struct FailureText {
  std::string function, type, message, worker;
  [[nodiscard]] std::string encode() const;
  static FailureText decode(std::span<const std::byte> bytes);
  [[nodiscard]] TaskError to_error() const;
};

/// The prefix of a task's argument bytes: its name (for errors), then the futures it holds.
struct Prefix {
  std::string name;
  std::vector<FutureRef> deps;
};
/// Reads the prefix; `in` is left at the arguments.
Prefix read_prefix(ByteReader& in);

class TaskCore {
 public:
  TaskCore(const RuntimeOptions& options, Runtime* runtime);
  /// In a zygote the fork server forked: the part of a runtime its workers need, rebuilt from
  /// the host's description (describe()) over the host's arena.
  TaskCore(std::string_view description, int arena_fd, Runtime* shell);
  ~TaskCore();
  TaskCore(const TaskCore&) = delete;
  TaskCore& operator=(const TaskCore&) = delete;

  /// Sends one task; waits while the worker's queue is full. False when the worker has ended.
  bool push(std::uint32_t worker, const TaskCell& task, std::span<const std::byte> args);

  /// A ready future holding `bytes` (Runtime::put).
  std::shared_ptr<FutureState> put(std::span<const std::byte> bytes);
  /// A pending future with `size` bytes of result in the store at `where`, for the caller to
  /// fill; put_publish() makes it ready.
  std::shared_ptr<FutureState> put_reserve(std::size_t size, std::byte*& where);
  void put_publish(const FutureState& state);
  /// Sends an actor's creation; returns its id and worker.
  std::pair<std::uint64_t, std::uint32_t> create_actor(
      std::uint64_t factory, const TaskOptions& options, std::span<const std::byte> args,
      const std::vector<std::shared_ptr<FutureState>>& deps);
  /// Sends a call (or, TaskKind::actor_kill, the end) to an actor.
  std::shared_ptr<FutureState> send_to_actor(TaskKind kind, std::uint64_t method,
                                             std::uint64_t actor, std::uint32_t worker,
                                             std::span<const std::byte> args,
                                             const std::vector<std::shared_ptr<FutureState>>& deps);
  std::shared_ptr<FutureState> submit(std::uint64_t function, const TaskOptions& options,
                                      std::span<const std::byte> args,
                                      const std::vector<std::shared_ptr<FutureState>>& deps);
  std::vector<bool> wait_many(const std::vector<const FutureState*>& states, std::size_t count,
                              std::chrono::nanoseconds timeout);

  // ---- host ----
  void shutdown() noexcept;
  [[nodiscard]] std::size_t worker_count() const { return plan_.workers.size(); }
  [[nodiscard]] std::vector<TaskWorkerStats> worker_stats() const;
  [[nodiscard]] std::vector<FunctionStats> function_stats() const;
  [[nodiscard]] std::string plan_text() const;
  [[nodiscard]] Runtime& runtime() const { return *runtime_; }
  /// This runtime's number among the process's runtimes (Actor handles carry it).
  [[nodiscard]] std::uint32_t id() const { return id_; }
  [[nodiscard]] TaskArena& arena() const { return *arena_; }
  /// The worker's loop, in a forked worker; never returns.
  [[noreturn]] void worker_main(std::uint32_t worker) noexcept;

 private:
  struct Child {
    pid_t pid = -1;
    bool ended = false;
    unsigned replacements = 0;
  };

  /// Throws Error "patchbay: CALL after the runtime was shut down" once it is.
  void throw_if_shut_down(const char* call) const;
  std::uint32_t choose_worker(const TaskOptions& options) const;
  /// Sends one cell of `kind` to `worker`: the common part of tasks and actors.
  std::shared_ptr<FutureState> send(TaskKind kind, std::uint64_t function, std::uint64_t actor,
                                    std::uint32_t worker, unsigned retries, const std::string& name,
                                    std::span<const std::byte> args,
                                    const std::vector<std::shared_ptr<FutureState>>& deps);
  void start_workers();
  /// What a zygote forked by the fork server needs to rebuild this runtime's workers.
  [[nodiscard]] std::string describe() const;

 public:
  /// serve_task_zygote()'s part that builds a Runtime (a friend's): never returns.
  [[noreturn]] static void serve_zygote(int socket, int arena_fd) noexcept;

 private:
  void monitor() noexcept;
  // ---- actors that restart (records in the arena) ----
  /// Claims a free record for `actor`, filling; throws Error when none is free.
  std::uint32_t claim_actor_record(std::uint64_t actor, std::uint32_t worker, unsigned restarts);
  /// Keeps the creation (its cell's header and argument bytes, and holds on its futures) in the
  /// store for restarts, and makes the record ready.
  void write_recipe(std::uint32_t record, const TaskCell& cell, std::span<const std::byte> bytes,
                    const std::vector<std::shared_ptr<FutureState>>& deps);
  /// The ready record of `actor`, made busy (for its caller to drop); nullopt when it has none.
  std::optional<std::uint32_t> take_actor_record(std::uint64_t actor) noexcept;
  /// Frees a busy record and its recipe.
  void drop_actor_record(std::uint32_t record) noexcept;
  /// After `worker` died: fails what its last restart list left unfinished, then lists for
  /// its replacement the creations of its actors that may restart, and tombstones for those
  /// that may not.
  void prepare_restarts(std::uint32_t worker, const std::string& why) noexcept;
  /// Fails what `worker`'s restart list left unfinished and frees the list.
  void clear_restart_list(std::uint32_t worker) noexcept;
  /// After `worker` ended, having read its queue up to `dequeued`: empties its running table
  /// (before a replacement starts) and returns the tasks it was running; frees the queue cells
  /// it had taken and not yet freed.
  std::vector<TaskCell> take_running(std::uint32_t worker, std::uint64_t dequeued) noexcept;
  /// After `worker` ended as `why` says: the tasks it was running (take_running()) are sent
  /// again elsewhere while they have retries (`retry`), else failed; with `drain`, the tasks
  /// still queued for it fail too (no replacement will run them).
  void recover(std::uint32_t worker, const std::string& why, bool retry, bool drain,
               std::vector<TaskCell>& running) noexcept;
  /// Fails one task of `worker`'s queue (`cell`, at `pos`) and drops its holds.
  void fail_cell(std::uint32_t worker, TaskCell& cell, const std::string& why) noexcept;
  /// A worker ended: recover its tasks and start its replacement.
  void on_worker_end(std::uint32_t worker, pid_t pid, int wait_status) noexcept;
  std::string describe_end(std::uint32_t worker, pid_t pid, int wait_status) const;
  [[nodiscard]] std::string worker_name(std::uint32_t worker) const;

  RuntimeOptions options_;
  Runtime* runtime_;
  std::uint32_t id_ = 0;
  Machine machine_;
  Plan plan_;
  std::string topology_;  // what the machine was loaded from ("" = this machine)
  std::shared_ptr<TaskArena> arena_;
  std::vector<Child> children_;
  std::unique_ptr<Zygote> zygote_;
  mutable std::atomic<std::uint32_t> next_worker_{0};
  std::atomic<bool> shut_down_{false};
  std::vector<std::atomic<bool>> alive_;  // per worker, as the monitor last saw
  int monitor_wake_fd_ = -1;              // eventfd: tells the monitor to leave
  std::thread monitor_;
  mutable std::mutex children_mutex_;
};

/// A host's or a task's hold on one future. Keeps the arena mapped, so a Future may outlive
/// its Runtime (its get() then reports the shutdown).
struct FutureState {
  std::shared_ptr<TaskArena> arena;
  FutureRef ref;
  // Inside a worker, each hold is counted in the arena too, for the host to drop if the
  // worker dies holding it. The count goes down before the hold does: a death in between
  // loses one hold (the slot stays), never drops one twice.
  FutureState(std::shared_ptr<TaskArena> a, FutureRef r) : arena(std::move(a)), ref(r) {
    arena->note_hold(ref.slot);
  }
  FutureState(const FutureState&) = delete;
  FutureState& operator=(const FutureState&) = delete;
  ~FutureState() {
    arena->drop_hold(ref.slot);
    arena->release(ref.slot);
  }
};

}  // namespace patchbay::detail
