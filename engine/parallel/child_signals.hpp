// Signal state and descriptors of a process forked from the host (the fork server, a
// launcher, a worker).
#pragma once

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <initializer_list>
#include <utility>

namespace patchbay::detail {

/// A process forked from the host starts from default signal handling: the host's handlers (a
/// test framework's, a crash reporter's) make sense in the host only, and would report the
/// child's death as the host's. Ctrl-C reaches the whole process group, and the supervisor
/// turns it into an orderly stop, so the child ignores SIGINT; it ignores SIGPIPE too.
inline void reset_signals_in_child() noexcept {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
}

/// Blocks every signal in the calling thread for its lifetime. Held around fork(): a signal
/// sent to a new child before reset_signals_in_child() (which unblocks) would otherwise run the
/// host's handler in the child, which takes it for the host's own; blocked, it stays pending
/// and takes its default action once the child has reset its handlers.
class SignalsBlocked {
 public:
  SignalsBlocked() noexcept {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

 private:
  sigset_t saved_{};
};

/// Closes every descriptor but 0, 1, 2 and `keep`: a child of the host must not hold the
/// host's files, sockets and pipes open (a pipe's reader would never see its end) nor hand them
/// to component code. close_range(2) where the kernel has it, else each entry of
/// /proc/self/fd. For a single-threaded process just forked.
inline void close_inherited_descriptors(std::initializer_list<int> keep) noexcept {
  std::array<int, 8> kept{0, 1, 2};
  std::size_t n = 3;
  for (int fd : keep) {
    if (fd > 2 && n < kept.size()) kept[n++] = fd;
  }
  for (std::size_t i = 1; i < n; ++i) {  // a few entries: insertion sort
    for (std::size_t j = i; j > 0 && kept[j - 1] > kept[j]; --j)
      std::swap(kept[j - 1], kept[j]);
  }
  bool ranges_closed = true;
  for (std::size_t i = 0; i < n && ranges_closed; ++i) {
    const unsigned from = static_cast<unsigned>(kept[i]) + 1;
    const unsigned to = i + 1 < n ? static_cast<unsigned>(kept[i + 1]) - 1 : UINT_MAX;
    if (from <= to) ranges_closed = close_range(from, to, 0) == 0;
  }
  if (ranges_closed) return;
  // Older kernels: collect first, then close, so that the directory's own descriptor and the
  // entries it lists do not change under the loop.
  std::array<int, 1024> open_fds{};
  for (std::size_t count = open_fds.size(); count == open_fds.size();) {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return;
    count = 0;
    while (const dirent* entry = readdir(dir)) {
      const int fd = atoi(entry->d_name);
      if (entry->d_name[0] == '.' || fd == dirfd(dir)) continue;
      if (std::find(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(n), fd) !=
          kept.begin() + static_cast<std::ptrdiff_t>(n))
        continue;
      if (count < open_fds.size()) open_fds[count++] = fd;
    }
    closedir(dir);
    for (std::size_t i = 0; i < count; ++i)
      close(open_fds[i]);
  }
}

}  // namespace patchbay::detail
