#include "tasks/zygote.hpp"

#include <patchbay/error.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "fork/fork_protocol.hpp"
#include "parallel/child_signals.hpp"

namespace patchbay::detail {

namespace {

enum class Op : std::uint32_t { start = 1, started = 2, ended = 3, stop = 4, stopped = 5 };

struct Message {
  Op op = Op::start;
  std::uint32_t worker = 0;
  std::int32_t pid = -1;
  std::int32_t status = 0;
  std::uint32_t grace_ms = 0;
};

bool send_message(int socket, const Message& m) {
  while (true) {
    if (send(socket, &m, sizeof m, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof m)) return true;
    if (errno != EINTR) return false;
  }
}

}  // namespace

Zygote::Zygote(std::function<void(std::uint32_t)> entry) : entry_(std::move(entry)) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0)
    throw Error(std::string("cannot start the task runtime's zygote: ") + std::strerror(errno));
  std::fflush(nullptr);
  const SignalsBlocked blocked;  // until the child has reset its handlers
  pid_ = fork();
  if (pid_ < 0) {
    const int error = errno;
    close(sockets[0]);
    close(sockets[1]);
    throw Error(std::string("cannot fork the task runtime's zygote: ") + std::strerror(error));
  }
  if (pid_ == 0) {
    close(sockets[0]);
    run(sockets[1]);
  }
  close(sockets[1]);
  socket_ = sockets[0];
}

Zygote::~Zygote() {
  (void)stop(std::chrono::milliseconds(0));
}

Zygote::Zygote(int server, int arena_fd, std::string_view description) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0)
    throw Error(std::string("cannot start the task runtime's zygote: ") + std::strerror(errno));
  // The description first, then the request: the server's child reads it from its socket.
  const bool sent = send(sockets[0], description.data(), description.size(), MSG_NOSIGNAL) ==
                        static_cast<ssize_t>(description.size()) &&
                    send_with_fds(server, control_task_zygote, {sockets[1], arena_fd});
  const int error = errno;
  close(sockets[1]);
  if (!sent) {
    close(sockets[0]);
    throw Error(std::string("cannot ask the fork server for the task runtime's zygote: ") +
                std::strerror(error));
  }
  socket_ = sockets[0];  // pid_ stays -1: the zygote is the server's child, not ours
}

void Zygote::run(int socket) noexcept {
  const pid_t host = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != host) _exit(1);
  reset_signals_in_child();
  close_inherited_descriptors({socket});
  serve(socket, entry_);
}

void Zygote::serve(int socket, const std::function<void(std::uint32_t)>& entry) noexcept {
  // SIGCHLD through a descriptor, polled beside the host's socket. (A fork server ignores it;
  // its child must not, or the kernel would reap the workers before we hear how they ended.)
  signal(SIGCHLD, SIG_DFL);
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  sigprocmask(SIG_BLOCK, &child, nullptr);
  const int children_fd = signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK);
  std::map<pid_t, std::uint32_t> workers;
  const pid_t me = getpid();
  auto reap = [&](bool block) {
    while (!workers.empty()) {
      int status = 0;
      const pid_t done = waitpid(-1, &status, block ? 0 : WNOHANG);
      if (done <= 0) {
        if (done < 0 && errno == EINTR) continue;
        return;
      }
      const auto found = workers.find(done);
      if (found == workers.end()) continue;
      (void)send_message(socket, {Op::ended, found->second, done, status, 0});
      workers.erase(found);
    }
  };
  while (true) {
    pollfd fds[2] = {{socket, POLLIN, 0}, {children_fd, POLLIN, 0}};
    if (poll(fds, children_fd >= 0 ? 2 : 1, children_fd >= 0 ? -1 : 10) < 0 && errno != EINTR)
      break;
    if (children_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (read(children_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      }
    }
    reap(false);
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    Message m;
    const ssize_t got = recv(socket, &m, sizeof m, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got != static_cast<ssize_t>(sizeof m)) break;  // the host has gone
    if (m.op == Op::start) {
      const pid_t pid = fork();
      if (pid == 0) {
        if (children_fd >= 0) close(children_fd);
        if (getppid() != me) _exit(1);
        entry(m.worker);
        _exit(1);  // the entry never returns
      }
      if (pid > 0) workers.emplace(pid, m.worker);
      (void)send_message(socket, {Op::started, m.worker, pid, 0, 0});
    } else if (m.op == Op::stop) {
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(m.grace_ms);
      while (!workers.empty() && std::chrono::steady_clock::now() < deadline) {
        reap(false);
        if (!workers.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      for (const auto& [pid, worker] : workers)
        kill(pid, SIGKILL);
      reap(true);
      (void)send_message(socket, {Op::stopped, 0, 0, 0, 0});
      _exit(0);
    }
  }
  for (const auto& [pid, worker] : workers)
    kill(pid, SIGKILL);
  reap(true);
  _exit(0);
}

bool Zygote::receive(bool wait, bool& gone) {
  Message m;
  const ssize_t got = recv(socket_, &m, sizeof m, wait ? 0 : MSG_DONTWAIT);
  if (got < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) gone = true;
    return false;
  }
  if (got != static_cast<ssize_t>(sizeof m)) {
    gone = true;
    return false;
  }
  if (m.op == Op::ended) ended_.push_back({m.worker, m.pid, m.status});
  if (m.op == Op::started) started_ = {m.worker, m.pid};
  if (m.op == Op::stopped) gone = true;
  return true;
}

pid_t Zygote::start(std::uint32_t worker) {
  if (socket_ < 0 || !send_message(socket_, {Op::start, worker, 0, 0, 0})) return -1;
  started_.reset();
  bool gone = false;
  while (!started_ && !gone)
    (void)receive(true, gone);
  return started_ ? started_->second : -1;
}

std::vector<Zygote::Ended> Zygote::take_ended(bool wait, bool& gone) {
  gone = false;
  if (socket_ >= 0) {
    if (wait && ended_.empty()) (void)receive(true, gone);
    while (!gone && receive(false, gone)) {
    }
  } else {
    gone = true;
  }
  return std::exchange(ended_, {});
}

std::vector<Zygote::Ended> Zygote::stop(std::chrono::milliseconds grace) noexcept {
  std::vector<Ended> out;
  if (socket_ < 0) return out;
  try {
    if (send_message(socket_, {Op::stop, 0, 0, 0, static_cast<std::uint32_t>(grace.count())})) {
      bool gone = false;
      while (!gone) {
        if (!receive(true, gone) && !gone) break;
      }
    }
    out = std::exchange(ended_, {});
  } catch (...) {
  }
  close(socket_);
  socket_ = -1;
  int status = 0;
  while (pid_ > 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

}  // namespace patchbay::detail
