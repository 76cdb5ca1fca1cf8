// Signal state of a process forked from the host (the fork server, a worker).
#pragma once

#include <pthread.h>
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

}  // namespace patchbay::detail
