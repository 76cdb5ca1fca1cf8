// The supervisor side and the worker side of a ParallelProcess.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "placement/machine.hpp"
#include "placement/planner.hpp"
#include "process/wiring.hpp"
#include "shm/arena.hpp"

namespace patchbay::detail {

/// Validated model + placement: everything needed before forking. Built by the supervisor;
/// the workers inherit it with the fork.
struct ParallelModel {
  std::vector<std::unique_ptr<Component>> components;
  std::vector<ConnectorSpec> connectors;
  ProcessOptions options;
  Wiring wiring;
  Machine machine;
  std::vector<PlacementRequest> requests;
  Plan plan;
};

/// The CUDA_VISIBLE_DEVICES value (with CUDA_DEVICE_ORDER=PCI_BUS_ID) for the named GPUs.
std::string cuda_visible_devices(const Machine& machine, const std::vector<std::string>& gpus);

/// Validates and places a model (throws ModelError); forks nothing.
ParallelModel prepare_parallel_model(std::vector<std::unique_ptr<Component>> components,
                                     std::vector<ConnectorSpec> connectors, ProcessOptions options,
                                     const std::vector<SourceLocation>& locations);

class ParallelRuntime {
 public:
  explicit ParallelRuntime(ParallelModel model);
  ~ParallelRuntime();
  ParallelRuntime(const ParallelRuntime&) = delete;
  ParallelRuntime& operator=(const ParallelRuntime&) = delete;

  void run();
  void stop() noexcept;
  [[nodiscard]] Status status() const { return status_.load(std::memory_order_acquire); }
  [[nodiscard]] std::vector<ComponentStats> component_stats() const;
  [[nodiscard]] std::vector<ChannelStats> channel_stats() const;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const;
  [[nodiscard]] std::string plan_text() const { return model_.plan.to_string(model_.requests); }
  [[nodiscard]] std::vector<int> worker_pids() const;
  [[nodiscard]] std::vector<WorkerStats> worker_stats() const;

 private:
  struct Child {
    pid_t pid = -1;
    int pidfd = -1;
    bool reaped = false;
    int wait_status = 0;
  };

  void start_workers();
  [[noreturn]] void worker_main(std::size_t worker) noexcept;
  int run_worker(std::size_t worker);
  WaitMode wait_mode_of(std::size_t worker) const;
  void wake_workers() noexcept;
  void supervise();
  void abort_workers() noexcept;
  bool reap(Child& child, bool block);
  void reap_all_after_grace();
  std::string describe_worker(std::size_t worker) const;
  std::string crash_message(std::size_t worker, int wait_status, std::string& component,
                            std::string& type) const;
  bool deadlocked(std::vector<std::uint32_t>& last_sequences) const;

  ParallelModel model_;
  std::unique_ptr<Arena> arena_;
  std::vector<Child> children_;  ///< per planned worker; pid -1 when it has no components
  pid_t supervisor_pid_ = 0;
  std::atomic<Status> status_{Status::created};
  std::atomic<std::int64_t> started_ns_{0};
  std::atomic<std::int64_t> finished_ns_{0};
};

}  // namespace patchbay::detail
