// What the host, the fork server and its launchers say to each other (docs/ARCHITECTURE.md,
// "Processes and their protocol"). The host asks the server over a SOCK_SEQPACKET control
// socket (one byte, plus descriptors); each model then has a SOCK_STREAM session with its
// launcher, in frames: kind, length, payload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace patchbay::detail {

/// Control-socket requests.
inline constexpr char control_launch = 'L';  ///< descriptors: session socket, arena memfd
inline constexpr char control_quit = 'Q';
/// descriptors: the zygote's socket (its description waiting there), the task arena's memfd
inline constexpr char control_task_zygote = 'T';

/// Session frames.
enum class FrameKind : std::uint32_t {
  launch = 1,   ///< host -> launcher: model, plan, topology, directory, environment, workers
  kill = 2,     ///< host -> launcher: SIGKILL every worker not yet reaped
  started = 3,  ///< launcher -> host: the workers' pids, in the order asked
  failed = 4,   ///< launcher -> host: why it could not start them
  exited = 5,   ///< launcher -> host: a worker and its wait status
  restart = 6,  ///< host -> launcher: start this worker again (answered by started or failed)
};

/// Writes one frame; false when the peer is gone. Never raises SIGPIPE.
bool send_frame(int fd, FrameKind kind, std::string_view payload) noexcept;

/// Collects frames from a stream socket. Used by one thread at a time.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}
  /// Reads what has arrived, waiting up to `timeout_ms` (-1: until something arrives) for it.
  /// Returns false once the peer has closed its end (or the socket failed).
  bool fill(int timeout_ms);
  /// The next complete frame, if one has arrived.
  std::optional<std::pair<FrameKind, std::string>> next();

 private:
  int fd_;
  std::string buffer_;
};

/// The host's end of the control socket of its fork server; -1 when none runs. Thread-safe.
int fork_server_socket() noexcept;

/// Sends `what` with descriptors over a SOCK_SEQPACKET socket; false when that fails.
bool send_with_fds(int socket, char what, const std::vector<int>& fds) noexcept;
/// Receives one such message: the byte (0 when the peer closed) and, close-on-exec, the fds.
char receive_with_fds(int socket, std::vector<int>& fds);

}  // namespace patchbay::detail
