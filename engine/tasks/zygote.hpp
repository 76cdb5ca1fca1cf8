// The process that forks a task runtime's workers (docs/TASKS.md, "Inside"). The runtime forks
// it once, from its constructor, while the host has no other thread; it stays single-threaded,
// so it may fork a worker at any time since: the first ones, and a replacement for one that
// died, while the host runs any number of threads. It reaps its workers and reports how each
// ended. It dies with the host (PR_SET_PDEATHSIG), and its workers die with it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace patchbay::detail {

/// In a child of the fork server: receives a task runtime's description on `socket` and its
/// arena (`arena_fd`), rebuilds what its workers need, and serves as its zygote
/// (tasks/served_zygote.cpp). Never returns.
[[noreturn]] void serve_task_zygote(int socket, int arena_fd, pid_t server) noexcept;

class Zygote {
 public:
  /// Forks the zygote here. `entry(worker)` runs in each worker it forks and never returns.
  /// Throws Error when the zygote cannot be started.
  explicit Zygote(std::function<void(std::uint32_t)> entry);
  /// Has the fork server (its control socket `server`) fork the zygote instead, for a host
  /// that already runs threads: the server's child receives `arena_fd` and `description` and
  /// becomes the zygote (serve_zygote()). Throws Error when the request cannot be sent.
  Zygote(int server, int arena_fd, std::string_view description);
  ~Zygote();
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  /// Has worker `worker` forked; its pid, or -1 when the fork failed or the zygote is gone.
  pid_t start(std::uint32_t worker);

  struct Ended {
    std::uint32_t worker = 0;
    pid_t pid = -1;
    int wait_status = 0;
  };
  /// Readable (poll) when the zygote has reported a worker's end, or itself ended.
  [[nodiscard]] int fd() const { return socket_; }
  /// The ends reported so far, not yet taken; `wait`: waits for at least one (or the zygote's
  /// own end). Sets `gone` when the zygote itself has ended.
  std::vector<Ended> take_ended(bool wait, bool& gone);

  /// Gives the workers `grace` to leave, kills the rest, reaps them all, then ends the zygote
  /// and reaps it. Returns how each worker ended that had not been reported. Idempotent.
  std::vector<Ended> stop(std::chrono::milliseconds grace) noexcept;

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// The zygote's loop on `socket` (the host's peer): forks a worker running `entry` on each
  /// start, reaps and reports them, until stop or the host's end. Never returns.
  [[noreturn]] static void serve(int socket,
                                 const std::function<void(std::uint32_t)>& entry) noexcept;

 private:
  [[noreturn]] void run(int socket) noexcept;
  bool receive(bool wait, bool& gone);

  std::function<void(std::uint32_t)> entry_;
  pid_t pid_ = -1;
  int socket_ = -1;
  std::vector<Ended> ended_;                                // reported, not yet taken
  std::optional<std::pair<std::uint32_t, pid_t>> started_;  // the reply to start()
};

}  // namespace patchbay::detail
