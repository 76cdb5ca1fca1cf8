#include "shm/robust_mutex.hpp"

#include <patchbay/error.hpp>

#include <cerrno>
#include <cstring>
#include <string>

#include "shm/atomic.hpp"

namespace patchbay::detail {

namespace {

[[noreturn]] void fail(const char* what, int error) {
  throw Error(std::string("patchbay: a shared lock cannot ") + what + ": " + std::strerror(error));
}

}  // namespace

RobustMutex::RobustMutex() {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  int error = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  if (error == 0) error = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  if (error == 0) error = pthread_mutex_init(&mutex_, &attributes);
  pthread_mutexattr_destroy(&attributes);
  if (error != 0) fail("be set up", error);
}

RobustMutex::~RobustMutex() {
  pthread_mutex_destroy(&mutex_);
}

bool RobustMutex::lock() {
  const int result = pthread_mutex_lock(&mutex_);
  if (result == 0) return false;
  if (result == EOWNERDEAD) {
    // Its holder died with it: the lock is ours and usable again once marked consistent.
    pthread_mutex_consistent(&mutex_);
    store_relaxed(recoveries_, recoveries_ + 1);
    return true;
  }
  fail("be taken", result);
}

void RobustMutex::unlock() noexcept {
  pthread_mutex_unlock(&mutex_);
}

std::uint32_t RobustMutex::recoveries() const noexcept {
  return load_relaxed(recoveries_);
}

}  // namespace patchbay::detail
