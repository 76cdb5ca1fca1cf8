// The words a supervisor and its workers exchange besides the arena's tables: how a worker
// exits, and what `go` tells it (docs/ARCHITECTURE.md, "Processes and their protocol").
#pragma once

#include <sys/wait.h>

#include <cstdint>

namespace patchbay::detail {

/// A worker process's exit code, which the supervisor reads back from wait().
enum class WorkerExit : int {
  /// Its components finished (completed or stopped), or it was told to leave before running.
  done = 0,
  /// It could not start or run: its supervisor went away, or an exception escaped the engine.
  error = 1,
  /// A component failed (or the engine did, in this worker): the report is in its
  /// WorkerControl, and ArenaHeader::failed_worker names the first worker that wrote one.
  reported_failure = 3,
  /// A component called exit(): the status it passed is in WorkerControl::exit_status (-1 when
  /// the worker could not tell).
  component_exit = 4,
};

/// Whether `wait_status` (from waitpid) is worker exit `code`.
inline bool exited_with(int wait_status, WorkerExit code) {
  return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == static_cast<int>(code);
}

/// ArenaHeader::go: what workers, started and ready, wait to be told.
enum class Go : std::uint32_t {
  wait = 0,   ///< the arena is being formatted or run() has not been called
  run = 1,    ///< run(): every component may start
  leave = 2,  ///< the process is destroyed without running: exit at once
};

}  // namespace patchbay::detail
