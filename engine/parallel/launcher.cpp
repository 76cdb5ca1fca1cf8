#include "parallel/launcher.hpp"

#include <patchbay/error.hpp>

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "parallel/child_signals.hpp"
#include "tasks/zygote.hpp"

namespace patchbay::detail {

ForkLauncher::~ForkLauncher() {
  for (auto& [worker, child] : children_) {
    if (child.pidfd >= 0) close(child.pidfd);
  }
}

std::vector<pid_t> ForkLauncher::start(const std::vector<std::size_t>& workers) {
  // Whatever the caller buffered must not be written twice, once by each process.
  std::fflush(nullptr);
  std::vector<pid_t> pids;
  const SignalsBlocked blocked;  // until the child has reset its handlers
  for (std::size_t w : workers) {
    const pid_t pid = fork();
    if (pid < 0) {
      const int error = errno;
      kill_all();
      for (auto& [index, child] : children_)
        (void)try_reap(index, true);
      throw Error(std::string("cannot fork a worker: ") + std::strerror(error));
    }
    if (pid == 0) {
      entry_(w);
      _exit(1);  // the entry never returns
    }
    Child& child = children_[w];
    if (child.pidfd >= 0) close(child.pidfd);  // started again: the old one was reaped
    child = Child{};
    child.pid = pid;
    child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    pids.push_back(pid);
  }
  return pids;
}

std::optional<int> ForkLauncher::try_reap(std::size_t worker, bool block) {
  auto found = children_.find(worker);
  if (found == children_.end()) return std::nullopt;
  Child& child = found->second;
  while (!child.reaped) {
    int status = 0;
    const pid_t done = waitpid(child.pid, &status, block ? 0 : WNOHANG);
    if (done == child.pid) {
      child.reaped = true;
      child.wait_status = status;
    } else if (!(done < 0 && errno == EINTR) || !block) {
      return std::nullopt;
    }
  }
  return child.wait_status;
}

void ForkLauncher::kill_all() noexcept {
  for (auto& [worker, child] : children_) {
    // Not reaped yet, so the pid is still this child's (a zombie at worst): no reuse race.
    if (!child.reaped) kill(child.pid, SIGKILL);
  }
}

std::vector<int> ForkLauncher::wait_fds() const {
  std::vector<int> fds;
  for (const auto& [worker, child] : children_) {
    if (!child.reaped && child.pidfd >= 0) fds.push_back(child.pidfd);
  }
  return fds;
}

pid_t WorkerLauncher::restart(std::size_t worker) {
  throw Error("worker " + std::to_string(worker) +
              " cannot be started again: its launcher forks in place");
}

ZygoteLauncher::ZygoteLauncher(Entry entry)
    : zygote_(std::make_unique<Zygote>(
          [entry = std::move(entry)](std::uint32_t worker) { entry(worker); })) {}

ZygoteLauncher::~ZygoteLauncher() {
  (void)zygote_->stop(std::chrono::milliseconds(0));
}

std::vector<pid_t> ZygoteLauncher::start(const std::vector<std::size_t>& workers) {
  std::vector<pid_t> pids;
  for (std::size_t w : workers) {
    const pid_t pid = zygote_->start(static_cast<std::uint32_t>(w));
    if (pid < 0) {
      kill_all();
      throw Error("cannot fork a worker: the zygote that forks them " +
                  std::string(gone_ ? "has ended" : "could not"));
    }
    children_[w] = Child{pid, std::nullopt};
    pids.push_back(pid);
  }
  return pids;
}

pid_t ZygoteLauncher::restart(std::size_t worker) {
  return start({worker}).front();
}

void ZygoteLauncher::take_reports(bool wait) {
  bool gone = false;
  for (const Zygote::Ended& ended : zygote_->take_ended(wait, gone)) {
    auto found = children_.find(ended.worker);
    if (found != children_.end() && found->second.pid == ended.pid)
      found->second.wait_status = ended.wait_status;
  }
  if (gone) {
    // The zygote's workers die with it (PR_SET_PDEATHSIG).
    gone_ = true;
    for (auto& [worker, child] : children_) {
      if (!child.wait_status) child.wait_status = SIGKILL;  // a wait status: killed by SIGKILL
    }
  }
}

std::optional<int> ZygoteLauncher::try_reap(std::size_t worker, bool block) {
  auto found = children_.find(worker);
  if (found == children_.end()) return std::nullopt;
  if (!found->second.wait_status && !gone_) take_reports(false);
  while (block && !found->second.wait_status && !gone_)
    take_reports(true);
  return found->second.wait_status;
}

void ZygoteLauncher::kill_all() noexcept {
  for (auto& [worker, child] : children_) {
    // Not reported ended: still running, or reaped by the zygote a moment ago (its report on
    // the way), which leaves the pid free for reuse only in that moment.
    if (!child.wait_status) kill(child.pid, SIGKILL);
  }
}

std::vector<int> ZygoteLauncher::wait_fds() const {
  if (gone_) return {};
  return {zygote_->fd()};
}

bool ForkLauncher::all_reaped() const {
  for (const auto& [worker, child] : children_) {
    if (!child.reaped) return false;
  }
  return true;
}

}  // namespace patchbay::detail
