// The supervisor side and the worker side of a ParallelProcess.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "parallel/launcher.hpp"
#include "placement/machine.hpp"
#include "placement/planner.hpp"
#include "run/run_lifecycle.hpp"
#include "run/run_state.hpp"
#include "run/wiring.hpp"
#include "shm/arena.hpp"

namespace patchbay::detail {

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
};

/// The CUDA_VISIBLE_DEVICES value (with CUDA_DEVICE_ORDER=PCI_BUS_ID) for the named GPUs.
std::string cuda_visible_devices(const Machine& machine, const std::vector<std::string>& gpus);

/// Bytes of the shared arena a model needs: its tables and every ring.
std::uint64_t arena_bytes(const ParallelModel& model);

/// Validates and places a model (throws ModelError, also when its arena would exceed the
/// limit: PATCHBAY_ARENA_LIMIT, else half the machine's memory and at most 16 GiB); forks
/// nothing and allocates no arena.
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
  ParallelRuntime(ParallelModel model, std::unique_ptr<Arena> attached);
  ~ParallelRuntime();
  ParallelRuntime(const ParallelRuntime&) = delete;
  ParallelRuntime& operator=(const ParallelRuntime&) = delete;

  void run();
  void stop() noexcept;
  [[nodiscard]] Status status() const { return lifecycle_.status(); }
  [[nodiscard]] std::vector<ComponentStats> component_stats() const;
  [[nodiscard]] std::vector<ChannelStats> channel_stats() const;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const { return lifecycle_.elapsed(); }
  [[nodiscard]] std::string plan_text() const { return model_.plan.to_string(model_.requests); }
  [[nodiscard]] std::vector<int> worker_pids() const;
  [[nodiscard]] std::vector<WorkerStats> worker_stats() const;
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
  [[noreturn]] void worker_main(std::size_t worker) noexcept;
  int run_worker(std::size_t worker);
  WaitMode wait_mode_of(std::size_t worker) const;
  /// Whether another busy worker runs on this worker's cores (bound by the plan), or, when the
  /// plan binds nothing, whether there are more busy workers than CPUs this process may use.
  bool shares_cores(std::size_t worker) const;
  void wake_workers() noexcept;
  void supervise();
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
  std::unique_ptr<Arena> arena_;
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
  mutable std::mutex progress_mutex_;  ///< supervise() writes progress_, worker_stats() reads
  Progress progress_;
};

}  // namespace patchbay::detail
