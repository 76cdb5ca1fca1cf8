// A lock that several processes share and that survives the death of its holder.
//
// Workers of a task runtime can be killed at any moment (SIGKILL, a crash). With an ordinary
// process-shared mutex, one killed while it held the lock would leave it held, and every later
// locker in every process would wait forever. A robust mutex (pthread's PTHREAD_MUTEX_ROBUST)
// is handed to the next locker with EOWNERDEAD when its holder dies: lock() then marks it
// consistent and says so, and the caller repairs what the lock protects, which the dead
// holder may have left half changed (tasks/task_store.hpp keeps a journal for that).
#pragma once

#include <pthread.h>

#include <cstdint>

namespace patchbay::detail {

class RobustMutex {
 public:
  /// A process-shared robust mutex, constructed in the shared memory it guards.
  RobustMutex();
  ~RobustMutex();
  RobustMutex(const RobustMutex&) = delete;
  RobustMutex& operator=(const RobustMutex&) = delete;

  /// Takes the lock; true when it was taken from a holder that died, whose changes the
  /// caller must now repair. Throws patchbay::Error when the lock cannot be used.
  [[nodiscard]] bool lock();
  void unlock() noexcept;
  /// How many times a locker took the lock from a holder that had died.
  [[nodiscard]] std::uint32_t recoveries() const noexcept;

 private:
  pthread_mutex_t mutex_;
  std::uint32_t recoveries_ = 0;  // written under the lock
};

}  // namespace patchbay::detail
