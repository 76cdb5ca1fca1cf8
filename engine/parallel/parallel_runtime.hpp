// The supervisor side and the worker side of a ParallelProcess.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "parallel/launcher.hpp"
#include "parallel/protocol.hpp"
#include "placement/machine.hpp"
#include "placement/planner.hpp"
#include "run/run_lifecycle.hpp"
#include "run/run_state.hpp"
#include "run/wiring.hpp"
#include "serve/host_port.hpp"
#include "shm/arena.hpp"

namespace patchbay::channel {
struct RingHeader;
}

namespace patchbay::detail {

/// A copy of a replicated component (serve/replicas.hpp) as the supervisor sees it: the wires
/// it shares with its split and its merge, and whether it can be started again when its worker
/// dies (docs/SERVING.md, "Replicas").
struct ReplicaCopy {
  std::size_t component = 0;
  std::size_t split = 0;
  std::size_t merge = 0;
  std::vector<std::size_t> in_wires;   ///< from the split
  std::vector<std::size_t> out_wires;  ///< to the merge
  /// It has a merge and every wire to it carries errors (it is on a request's way): what it
  /// held when it died can be answered with errors.
  bool restartable = false;
};

/// The copies of the model's replicated components, in the order of their slots in the arena
/// (ReplicaSlot): by split, then in the split's order.
std::vector<ReplicaCopy> find_copies(std::span<const std::unique_ptr<Component>> components,
                                     const Wiring& wiring);

/// Validated model + placement: everything needed before forking. Built by the supervisor;
/// the workers inherit it with the fork, or a fork server's launcher rebuilds it.
struct ParallelModel {
  std::vector<std::unique_ptr<Component>> components;
  std::vector<ConnectorSpec> connectors;
  ProcessOptions options;
  Wiring wiring;
  std::string topology;  ///< what `machine` was loaded from (resolved; "" = the real machine)
  Machine machine;
  std::vector<PlacementRequest> requests;
  Plan plan;
  std::vector<ReplicaCopy> copies;  ///< find_copies()
};

/// Bytes of the shared arena a model needs: its tables and every ring.
std::uint64_t arena_bytes(const ParallelModel& model);

/// Validates and places a model (throws ModelError, also when its arena would exceed the
/// limit: PATCHBAY_ARENA_LIMIT, else half the machine's memory and at most 16 GiB); forks
/// nothing and allocates no arena.
/// The wait mode of worker `worker`: the process's, or the most eager of its connectors'.
WaitMode wait_mode_of(const ParallelModel& model, std::size_t worker);

/// Whether another busy worker runs on worker `worker`'s cores (bound by the plan), or, when
/// the plan binds nothing, whether there are more busy workers than CPUs this process may use.
bool shares_cores(const ParallelModel& model, std::size_t worker);

ParallelModel prepare_parallel_model(std::vector<std::unique_ptr<Component>> components,
                                     std::vector<ConnectorSpec> connectors, ProcessOptions options,
                                     const std::vector<SourceLocation>& locations);

class ParallelRuntime {
 public:
  /// The supervisor's runtime: formats an arena and starts the workers, through the fork
  /// server when `spec` (the model `model` was built from, with the global registry) is given
  /// and a server runs, else by forking here.
  explicit ParallelRuntime(ParallelModel model, const ProcessSpec* spec = nullptr);
  /// A fork server launcher's runtime: workers over an arena the supervisor formatted.
  ParallelRuntime(ParallelModel model, std::shared_ptr<Arena> attached);
  ~ParallelRuntime();
  ParallelRuntime(const ParallelRuntime&) = delete;
  ParallelRuntime& operator=(const ParallelRuntime&) = delete;

  void run();
  void stop() noexcept;
  /// Process::drain(): sets the arena's drain word.
  void drain() noexcept;
  [[nodiscard]] Status status() const { return lifecycle_.status(); }
  [[nodiscard]] std::vector<ComponentStats> component_stats() const;
  [[nodiscard]] std::vector<ChannelStats> channel_stats() const;
  /// Process::exports(): what the workers wrote in their exports slots, checked.
  [[nodiscard]] std::map<std::string, Value::Map> exports() const;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const { return lifecycle_.elapsed(); }
  [[nodiscard]] std::string plan_text() const { return model_.plan.to_string(model_.requests); }
  [[nodiscard]] std::vector<int> worker_pids() const;
  [[nodiscard]] std::vector<WorkerStats> worker_stats() const;
  [[nodiscard]] std::shared_ptr<HostPort> host_port(std::string_view component) const {
    return host_ports_.find(component);
  }
  /// A launcher whose children become this runtime's workers (worker_main), after running
  /// `in_child` when given; the runtime must outlive it.
  std::unique_ptr<ForkLauncher> make_fork_launcher(std::function<void()> in_child = {});

 private:
  struct Child {
    pid_t pid = -1;
    bool reaped = false;
    int wait_status = 0;
  };

  void start_workers(const ProcessSpec* spec);
  /// The host's ports on the host rings of the arena (supervisor only).
  void make_host_ports();
  /// A forked worker's life (engine/parallel/worker.cpp): binds, waits for `go`, runs its
  /// components, exits with a WorkerExit code. Never returns.
  [[noreturn]] void worker_main(std::size_t worker) noexcept;
  Go wait_for_go() const;
  void wake_workers() noexcept;

  // The supervisor's loop, run() to the end: each round reaps the workers that exited, then
  // checks for a reported failure, a step over its timeout, a stop not heeded and a deadlock,
  // then waits for a worker to exit or the next round.
  struct Supervision {
    std::optional<Failure> failure;
    /// After an abort: when the workers still alive are killed.
    std::optional<std::chrono::steady_clock::time_point> kill_deadline;
    /// The workers' wake words when all were last seen idle (deadlocked()).
    std::vector<std::uint32_t> idle_sequences;
    /// After a stop: when workers that have not left are killed and reported; 0 once done.
    std::optional<std::int64_t> stop_deadline;
    /// Workers of copies that died, to be started again once what they held is settled.
    std::vector<std::size_t> restarting;
  };
  void supervise();
  /// Tells every worker to abort and gives them the grace period, once.
  void begin_abort(Supervision& round) noexcept;
  /// Reaps the workers that exited and handles how; whether any is still alive.
  bool reap_exited(Supervision& round);
  void on_crash(Supervision& round, std::size_t worker, int wait_status);
  // Replicas (docs/SERVING.md, "Replicas"): a worker that runs only copies of replicated
  // components is started again when it dies. cut_copies() fails what its copies held and
  // has their splits give them nothing more; restart_settled() starts the worker again once
  // every split and merge has let go of them.
  bool cut_copies(Supervision& round, std::size_t worker, int wait_status);
  void restart_settled(Supervision& round, bool others_alive);
  bool settled(std::size_t worker) const;
  void restart(std::size_t worker);
  [[nodiscard]] std::vector<std::size_t> copies_of(std::size_t worker) const;
  /// The control block of connector `wire`'s ring in the arena.
  [[nodiscard]] channel::RingHeader& ring_header(std::size_t wire) const;
  void check_step_timeouts(Supervision& round, std::int64_t now);
  void check_stop(Supervision& round, std::int64_t now);
  void check_deadlock(Supervision& round);
  void wait_for_workers();
  /// The final status from the failure seen (or the one a worker reported) and the
  /// components' own; throws the failure.
  void settle(std::optional<Failure> failure);
  void abort_workers() noexcept;
  bool reap(std::size_t worker, bool block);
  void reap_all_after_grace();
  std::string describe_worker(std::size_t worker) const;
  std::string crash_message(std::size_t worker, int wait_status, std::string& component,
                            std::string& type) const;
  bool deadlocked(std::vector<std::uint32_t>& last_sequences) const;
  /// Component `component`'s status as its worker wrote it; nullopt when the word holds none.
  std::optional<Status> status_of(std::size_t component) const;
  /// The failure that worker `reporter` wrote into its block, checked against the model.
  Failure reported_failure(std::uint32_t reporter) const;
  // Liveness: the supervisor notes when each component's step word, status or each worker's
  // heartbeat last changed, by its own clock.
  void observe_progress(std::int64_t now);
  /// `stuck`: the worker that timed out (it cannot unwind: it is killed at once).
  std::optional<Failure> timed_out(std::int64_t now, std::size_t& stuck) const;
  std::string activity(std::size_t worker, std::int64_t now, std::string* component) const;
  std::string stuck_report(std::int64_t now) const;

  ParallelModel model_;
  std::shared_ptr<Arena> arena_;  ///< shared with the host ports, which may outlive the runtime
  HostPorts host_ports_;
  std::unique_ptr<WorkerLauncher> launcher_;
  std::vector<Child> children_;  ///< per planned worker; pid -1 when it has no components
  pid_t supervisor_pid_ = 0;
  RunLifecycle lifecycle_{"ParallelProcess"};
  std::atomic<bool> stop_requested_{false};
  std::vector<double> step_timeouts_;  ///< per component, in seconds; 0: none
  struct Progress {
    std::vector<std::uint64_t> step_sequence;   ///< per component, as last read
    std::vector<std::uint32_t> status;          ///< per component, as last read
    std::vector<std::int64_t> component_since;  ///< per component: when either last changed
    std::vector<std::uint64_t> heartbeat;       ///< per worker, as last read
    std::vector<std::int64_t> worker_since;     ///< per worker: its last sign of progress
  };
  /// supervise() writes progress_ and children_ under it; worker_stats() and worker_pids()
  /// read them under it from other threads.
  mutable std::mutex progress_mutex_;
  Progress progress_;
};

}  // namespace patchbay::detail
