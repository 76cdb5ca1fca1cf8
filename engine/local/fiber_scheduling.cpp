#include "local/fiber_scheduling.hpp"

#include <boost/fiber/operations.hpp>

#include <utility>

namespace patchbay::detail {

void EngineScheduling::awakened(boost::fibers::context* ctx) noexcept {
  if (ctx->is_context(boost::fibers::type::dispatcher_context)) {
    dispatcher_ = ctx;  // kept aside: see pick_next()
    return;
  }
  ctx->ready_link(ready_);
}

boost::fibers::context* EngineScheduling::pick_next() noexcept {
  // A fiber that suspends must find one to switch to: while any other fiber runs, the
  // dispatcher waits here for its turn, so this never returns null then. From the dispatcher
  // itself, null means nothing is ready and it calls suspend_until().
  if (dispatcher_ != nullptr && (ready_.empty() || ++since_dispatch_ >= kDispatchEvery)) {
    since_dispatch_ = 0;
    if (dispatcher_turns_ != nullptr) ++*dispatcher_turns_;
    return std::exchange(dispatcher_, nullptr);
  }
  if (ready_.empty()) return nullptr;
  boost::fibers::context* next = &ready_.front();
  ready_.pop_front();
  return next;
}

bool EngineScheduling::has_ready_fibers() const noexcept {
  return !ready_.empty() || dispatcher_ != nullptr;
}

void EngineScheduling::suspend_until(std::chrono::steady_clock::time_point const& until) noexcept {
  std::unique_lock lock(mutex_);
  if (until == std::chrono::steady_clock::time_point::max()) {
    signal_.wait(lock, [this] { return notified_; });
  } else {
    signal_.wait_until(lock, until, [this] { return notified_; });
  }
  notified_ = false;
}

void EngineScheduling::notify() noexcept {
  {
    std::lock_guard lock(mutex_);
    notified_ = true;
  }
  signal_.notify_all();
}

namespace {
thread_local bool engine_scheduling = false;
}  // namespace

void use_engine_scheduling() {
  boost::fibers::use_scheduling_algorithm<EngineScheduling>();
  engine_scheduling = true;
}

bool uses_engine_scheduling() noexcept {
  return engine_scheduling;
}

}  // namespace patchbay::detail
