// ParallelProcess: forked workers pinned to cores, fibers inside, shared-memory rings between.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>

#include <memory>
#include <string>
#include <vector>

namespace patchbay {

class Registry;

namespace detail {
class ParallelRuntime;
}

/// Counters of one worker process, as a snapshot.
struct WorkerStats {
  std::string name;    ///< "w0", or the label its components share
  int pid = 0;         ///< 0 before it started
  std::string cpuset;  ///< PU list, e.g. "2-3"
  int numa_node = -1;
  std::vector<std::string> gpus;
  std::vector<std::string> components;
  std::uint64_t steps = 0;                   ///< steps of its components
  std::chrono::nanoseconds time_busy{0};     ///< its components' time_in_step, summed
  std::chrono::nanoseconds time_waiting{0};  ///< time it slept waiting for other workers
  /// What it is doing, as the supervisor last saw: "in step 12 of 'x' for 0.20 s", "'x'
  /// waiting on 'a.out -> x.in' for 1.00 s", "ended", ...; with " (its process is stopped)"
  /// when it is stopped by a signal.
  std::string activity;
  /// The component in a step or waiting, if any.
  std::string component;
  /// Time since its last sign of progress: a step begun or ended, a status change, a wake.
  std::chrono::nanoseconds since_progress{0};
};

/// Runs a model across cores. The constructor validates the model, plans placement (hwloc;
/// ProcessOptions::workers, topology, wait, custom_resources), maps one shared arena (a memfd)
/// and starts the workers, which wait there; run() releases them and supervises. Each worker is
/// bound to its cores (on the real machine), runs its components as fibers, and talks to other
/// workers through lock-free rings in the arena.
///
///     auto spec = patchbay::load_model("model.yaml");
///     patchbay::ParallelProcess process(spec);   // workers start here
///     process.run();
///
/// Forking rule: workers are forked from a process with no other thread. When a ForkServer runs
/// (started at the top of main()), a process built from a ProcessSpec with the global registry
/// has the server fork them, so the host may run any threads. Otherwise (no server, component
/// instances, another registry) the constructor forks in place: construct it before the
/// program starts other threads (a fork copies only the calling thread; a lock another thread
/// holds stays held in the child).
/// Component constructors run in the calling process; init(), step() and teardown() run in
/// the workers. A worker that fails (exception, signal, exit) fails the run promptly: every
/// other worker is woken, given `grace` to unwind, then killed, and all are reaped.
/// Destroying the object without run() ends and reaps the workers.
/// Thread-safety as Process says (run() once, from one thread; stop(), status(), the stats and
/// elapsed() from any thread), and for plan(), worker_stats() and worker_pids() as each says.
class ParallelProcess final : public Process {
 public:
  /// Runs `components` (owned from here on) wired by `connectors`; always forks in place.
  ParallelProcess(std::vector<std::unique_ptr<Component>> components,
                  std::vector<ConnectorSpec> connectors, ProcessOptions options = {});
  /// Instantiates the spec's components from Registry::global(); a running ForkServer forks
  /// the workers, else they are forked in place.
  explicit ParallelProcess(const ProcessSpec& spec);
  /// Instantiates the spec's components from `registry`; forks in place unless it is
  /// Registry::global() and a ForkServer runs.
  ParallelProcess(const ProcessSpec& spec, const Registry& registry);
  ~ParallelProcess() override;

  void run() override;
  void stop() noexcept override;
  void drain() noexcept override;
  [[nodiscard]] Status status() const override;
  [[nodiscard]] std::vector<ComponentStats> component_stats() const override;
  [[nodiscard]] std::vector<ChannelStats> channel_stats() const override;
  [[nodiscard]] std::map<std::string, Value::Map> exports() const override;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const override;
  [[nodiscard]] std::shared_ptr<detail::HostPort> host_port(
      std::string_view component) const override;

  /// The placement plan as text: component, worker, cpuset, NUMA node, GPU. Fixed at
  /// construction; safe from any thread.
  [[nodiscard]] std::string plan() const;
  /// Per-worker counters; readable from any thread during and after run().
  [[nodiscard]] std::vector<WorkerStats> worker_stats() const;
  /// Process ids of the workers (for diagnostics); empty once they are reaped. Not thread-safe
  /// with run(), which reaps them: call it from run()'s thread, before or after run().
  [[nodiscard]] std::vector<int> worker_pids() const;

 private:
  std::unique_ptr<detail::ParallelRuntime> runtime_;
};

/// Validates a model and prints where each component would run, without forking anything.
/// Throws ModelError for an invalid model or one that cannot be placed. Thread-safe when the
/// components' constructors are (see validate()).
std::string plan_placement_text(const ProcessSpec& spec);

}  // namespace patchbay
