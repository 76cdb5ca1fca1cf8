// The supervisor's side of the fork server: one session per model, over which the launcher the
// server forked starts the workers and reports how each one ended.
#include <patchbay/error.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include "fork/fork_protocol.hpp"
#include "fork/spec_codec.hpp"
#include "parallel/launcher.hpp"
#include "shm/arena.hpp"

extern char** environ;

namespace patchbay::detail {

namespace {

// How long a launcher may take to load plugins, build the components and fork the workers.
constexpr auto start_timeout = std::chrono::seconds(60);

std::string working_directory() {
  std::string path(4096, '\0');
  while (getcwd(path.data(), path.size()) == nullptr) {
    if (errno != ERANGE) return ".";
    path.resize(path.size() * 2);
  }
  path.resize(std::strlen(path.c_str()));
  return path;
}

class ServerLauncher final : public WorkerLauncher {
 public:
  ServerLauncher(std::string launch, int arena_memfd)
      : launch_(std::move(launch)), arena_memfd_(arena_memfd) {}
  ~ServerLauncher() override {
    // The launcher reads the end of the session as "kill what is left".
    if (session_ >= 0) close(session_);
  }

  std::vector<pid_t> start(const std::vector<std::size_t>& workers) override {
    const int control = fork_server_socket();
    if (control < 0) throw Error("cannot start the workers: the fork server has stopped");
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
      throw Error(std::string("cannot reach the fork server: ") + std::strerror(errno));
    session_ = pair[0];
    reader_ = FrameReader(session_);
    const bool asked = send_with_fds(control, control_launch, {pair[1], arena_memfd_});
    close(pair[1]);
    ByteWriter out;
    out.text(launch_);
    out.u64(workers.size());
    for (std::size_t w : workers)
      out.u64(w);
    if (!asked || !send_frame(session_, FrameKind::launch, out.bytes())) {
      throw Error(
          "cannot reach the fork server (it has exited?); start it with "
          "patchbay::ForkServer at the top of main()");
    }
    const auto deadline = std::chrono::steady_clock::now() + start_timeout;
    bool open = true;
    while (true) {
      if (auto frame = reader_.next()) {
        if (frame->first == FrameKind::failed) throw Error(frame->second);
        if (frame->first != FrameKind::started) continue;
        ByteReader in(frame->second);
        std::vector<pid_t> pids;
        for (std::size_t w : workers) {
          pids.push_back(static_cast<pid_t>(in.i64()));
          status_[w] = std::nullopt;
        }
        return pids;
      }
      // Frames that arrived just before the end are read above first.
      if (!open) throw Error("the fork server ended before it started the workers (killed?)");
      if (std::chrono::steady_clock::now() > deadline) {
        throw Error("the fork server did not start the workers within " +
                    std::to_string(start_timeout.count()) + " s");
      }
      open = reader_.fill(100);
    }
  }

  std::optional<int> try_reap(std::size_t worker, bool block) override {
    auto found = status_.find(worker);
    if (found == status_.end()) return std::nullopt;
    while (!found->second && !closed_) {
      pump(block ? -1 : 0);
      if (!block) break;
    }
    return found->second;
  }

  void kill_all() noexcept override {
    if (kill_sent_ || closed_) return;
    kill_sent_ = send_frame(session_, FrameKind::kill, {});
  }

  [[nodiscard]] std::vector<int> wait_fds() const override {
    if (closed_) return {};
    return {session_};
  }

  [[nodiscard]] bool can_restart() const override { return true; }

  pid_t restart(std::size_t worker) override {
    ByteWriter out;
    out.u64(worker);
    if (closed_ || !send_frame(session_, FrameKind::restart, out.bytes()))
      throw Error("the fork server's launcher has ended");
    const auto deadline = std::chrono::steady_clock::now() + start_timeout;
    while (true) {
      while (auto frame = reader_.next()) {
        if (frame->first == FrameKind::failed) throw Error(frame->second);
        if (frame->first == FrameKind::exited) {
          note_exit(frame->second);
        } else if (frame->first == FrameKind::started) {
          ByteReader in(frame->second);
          const auto pid = static_cast<pid_t>(in.i64());
          status_[worker] = std::nullopt;
          return pid;
        }
      }
      if (closed_) throw Error("the fork server's launcher ended before it started the worker");
      if (std::chrono::steady_clock::now() > deadline)
        throw Error("the fork server did not start the worker again in time");
      if (!reader_.fill(100)) closed_ = true;
    }
  }

 private:
  void note_exit(const std::string& payload) {
    ByteReader in(payload);
    const std::size_t worker = in.u64();
    const int status = static_cast<int>(in.i64());
    if (auto found = status_.find(worker); found != status_.end()) found->second = status;
  }

  // Reads the launcher's reports; a launcher gone without a word means its workers died with it.
  void pump(int timeout_ms) {
    const bool open = reader_.fill(timeout_ms);
    while (auto frame = reader_.next()) {
      if (frame->first == FrameKind::exited) note_exit(frame->second);
    }
    if (!open) {
      closed_ = true;
      for (auto& [worker, status] : status_) {
        if (!status) status = SIGKILL;  // a wait status: killed by SIGKILL
      }
    }
  }

  std::string launch_;
  int arena_memfd_;
  int session_ = -1;
  FrameReader reader_{-1};
  std::map<std::size_t, std::optional<int>> status_;
  bool closed_ = false;
  bool kill_sent_ = false;
};

}  // namespace

std::unique_ptr<WorkerLauncher> make_server_launcher(const LaunchRequest& request) {
  ByteWriter out;
  out.text(encode_spec(*request.spec));
  out.text(encode_plan(*request.plan));
  out.text(request.topology);
  out.text(working_directory());
  std::vector<std::string> environment;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
    environment.emplace_back(*entry);
  out.u64(environment.size());
  for (const auto& e : environment)
    out.text(e);
  return std::make_unique<ServerLauncher>(out.bytes(), request.arena->memfd());
}

}  // namespace patchbay::detail
