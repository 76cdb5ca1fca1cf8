// The fork server: starts ParallelProcess and task runtime workers for a host that runs
// threads of its own.
#pragma once

namespace patchbay {

/// A single-threaded process, forked at the top of main() before the host starts any thread,
/// that forks ParallelProcess workers on the host's behalf. A fork copies only the calling
/// thread, and a lock another thread held (one of yours, or a library's) stays locked in the
/// child forever; forked from the server, which has no other thread, workers start clean
/// however many threads the host runs by then.
///
/// While a server runs, a ParallelProcess built from a ProcessSpec (make_process(),
/// load_model()) with the global registry sends the model, its placement plan and the shared
/// arena (a memfd) to the server; the server rebuilds the components from the registry (and the
/// model's plugins) and forks the workers, which report to the ParallelProcess as if it had
/// forked them. A ParallelProcess built from component instances, or with another registry,
/// still forks in place: construct it before your threads start. A task runtime
/// (patchbay::Runtime) has the server fork the process that forks its workers, which then
/// rebuilds the runtime from its options and arena; its remote functions must be registered at
/// static initialisation (PATCHBAY_REMOTE at namespace scope does that).
///
///     int main() {
///       patchbay::ForkServer fork_server;  // first thing, before any thread
///       std::thread service(...);          // threads from here on are fine
///       auto process = patchbay::make_process(patchbay::load_model("model.yaml"));
///       process->run();
///     }
///
/// The server dies with the host (even on kill -9), and its workers with it. It sees the
/// components registered at static initialisation, before main(); the working directory and
/// environment of the host are sent along with each model.
/// Thread-safety: construct and destroy it on the main thread while no other thread runs a
/// ParallelProcess; at most one per process. pid() and running() are thread-safe.
class ForkServer {
 public:
  /// Forks the server. Throws patchbay::Error when the process already runs other threads
  /// (call it earlier), when a server is already running, or when the fork fails.
  ForkServer();
  /// Stops the server and reaps it. Workers of a ParallelProcess still alive are killed.
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  /// The server's process id.
  [[nodiscard]] int pid() const noexcept { return pid_; }
  /// Whether this process has a fork server running.
  [[nodiscard]] static bool running() noexcept;

 private:
  int pid_ = -1;
  int control_ = -1;
};

}  // namespace patchbay
