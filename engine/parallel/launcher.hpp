// How a ParallelProcess starts its worker processes and learns how they ended: by forking in
// place, or through the fork server. The supervisor is the same for both.
#pragma once

#include <patchbay/process_spec.hpp>

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "placement/planner.hpp"

namespace patchbay::detail {

class Arena;
class Zygote;

/// Starts worker processes and reports their ends. Used by one thread at a time.
class WorkerLauncher {
 public:
  WorkerLauncher() = default;
  WorkerLauncher(const WorkerLauncher&) = delete;
  WorkerLauncher& operator=(const WorkerLauncher&) = delete;
  virtual ~WorkerLauncher() = default;

  /// Starts one process per index in `workers`; returns their pids in the same order. Throws
  /// Error, having killed and reaped whatever it started.
  virtual std::vector<pid_t> start(const std::vector<std::size_t>& workers) = 0;
  /// The wait status of a started worker once its process has ended and been reaped; with
  /// `block`, waits for that. nullopt while it runs.
  virtual std::optional<int> try_reap(std::size_t worker, bool block) = 0;
  /// Sends SIGKILL to every started worker not yet reaped.
  virtual void kill_all() noexcept = 0;
  /// Descriptors that turn readable when a worker may have ended, for poll(); may be empty.
  [[nodiscard]] virtual std::vector<int> wait_fds() const = 0;
  /// Whether restart() may start a worker again while the host runs other threads: true for
  /// the fork server's launcher and a zygote, false for forking in place.
  [[nodiscard]] virtual bool can_restart() const { return false; }
  /// Starts worker `worker` again, once its process has ended and was reaped; returns its pid.
  /// Throws Error.
  virtual pid_t restart(std::size_t worker);
};

/// Forks each worker from the calling process, which must have no other thread. The child
/// runs `entry(worker)`, which must not return.
class ForkLauncher final : public WorkerLauncher {
 public:
  using Entry = std::function<void(std::size_t)>;
  explicit ForkLauncher(Entry entry) : entry_(std::move(entry)) {}
  ~ForkLauncher() override;

  std::vector<pid_t> start(const std::vector<std::size_t>& workers) override;
  std::optional<int> try_reap(std::size_t worker, bool block) override;
  void kill_all() noexcept override;
  [[nodiscard]] std::vector<int> wait_fds() const override;
  /// True once every started worker has been reaped.
  [[nodiscard]] bool all_reaped() const;

 private:
  struct Child {
    pid_t pid = -1;
    int pidfd = -1;  ///< -1 where pidfd_open is unavailable
    bool reaped = false;
    int wait_status = 0;
  };
  Entry entry_;
  std::map<std::size_t, Child> children_;
};

/// Has a zygote (tasks/zygote.hpp), forked once while the host has no other thread, fork each
/// worker, so that a worker can be started again at any time since: a ParallelProcess whose
/// copies of replicated components may need it (docs/SERVING.md, "Replicas"). The workers are
/// the zygote's children; it reports how each ended.
class ZygoteLauncher final : public WorkerLauncher {
 public:
  using Entry = std::function<void(std::size_t)>;
  explicit ZygoteLauncher(Entry entry);
  ~ZygoteLauncher() override;

  std::vector<pid_t> start(const std::vector<std::size_t>& workers) override;
  std::optional<int> try_reap(std::size_t worker, bool block) override;
  void kill_all() noexcept override;
  [[nodiscard]] std::vector<int> wait_fds() const override;
  [[nodiscard]] bool can_restart() const override { return true; }
  pid_t restart(std::size_t worker) override;

 private:
  struct Child {
    pid_t pid = -1;
    std::optional<int> wait_status;
  };
  void take_reports(bool wait);

  std::unique_ptr<Zygote> zygote_;
  std::map<std::size_t, Child> children_;
  bool gone_ = false;
};

/// What a fork server needs to start the workers of one model.
struct LaunchRequest {
  const ProcessSpec* spec = nullptr;
  const Plan* plan = nullptr;
  std::string topology;  ///< resolved: the option, else PATCHBAY_TOPOLOGY, else "" (real)
  const Arena* arena = nullptr;
};

/// True while this process has a fork server (patchbay::ForkServer) to start workers.
/// Thread-safe.
bool fork_server_running() noexcept;

/// A launcher that has the fork server start the workers. Throws Error when no server runs.
std::unique_ptr<WorkerLauncher> make_server_launcher(const LaunchRequest& request);

}  // namespace patchbay::detail
