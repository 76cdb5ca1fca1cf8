// Signal state of a process forked from the host (the fork server, a worker).
#pragma once

#include <signal.h>

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

}  // namespace patchbay::detail
