// Futex wait and wake on a 32-bit word in memory shared between processes.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

namespace patchbay::detail {

/// Sleeps while `*word == expected`, at most `timeout`. Returns on a wake, a timeout, a signal
/// or a changed value; callers re-check their condition. Not FUTEX_PRIVATE: the word may be
/// shared with other processes.
inline void futex_wait(std::uint32_t* word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

/// Wakes every waiter on `word`. Async-signal-safe.
inline void futex_wake_all(std::uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

}  // namespace patchbay::detail
