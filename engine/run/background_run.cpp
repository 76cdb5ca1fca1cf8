// Process::start() and join(): a run on a thread of its own.
#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "local/fiber_scheduling.hpp"

namespace patchbay {

namespace detail {

// The thread of a started run, and what the run threw until join() hands it over.
class BackgroundRun {
 public:
  std::thread thread;
  std::exception_ptr error;
  std::atomic<bool> ended{false};
  std::mutex joining;  // one join() at a time
};

}  // namespace detail

Process::Process() = default;

Process::~Process() = default;

void Process::start() {
  if (background_ || status() != Status::created)
    throw Error("start(): this process was run or started before (a process runs once)");
  auto run = std::make_unique<detail::BackgroundRun>();
  detail::BackgroundRun& r = *run;
  r.thread = std::thread([this, &r] {
    try {
      detail::use_engine_scheduling();  // the run's own thread
      this->run();
    } catch (...) {
      r.error = std::current_exception();
    }
    r.ended.store(true, std::memory_order_release);
  });
  background_ = std::move(run);
  // Until the run has begun: status() then says RUNNING (or how it ended), and a stop() from
  // here on reaches it.
  while (status() == Status::created && !r.ended.load(std::memory_order_acquire))
    std::this_thread::yield();
}

void Process::join() {
  if (!background_) throw Error("join(): this process was not started (start())");
  std::exception_ptr error;
  {
    const std::lock_guard lock(background_->joining);
    if (!background_->thread.joinable()) return;
    background_->thread.join();
    error = std::exchange(background_->error, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

void Process::end_background() noexcept {
  if (!background_) return;
  const std::lock_guard lock(background_->joining);
  if (!background_->thread.joinable()) return;
  stop();
  background_->thread.join();
}

}  // namespace patchbay
