// The fiber scheduling of the engine's own threads (local/fiber_scheduling.hpp): round robin
// among the ready fibers, the dispatcher only once every kDispatchEvery picks while fibers are
// ready, and what the dispatcher serves (sleepers, fibers woken from other threads) still
// served. Each test runs its fibers on a thread of its own, whose scheduling it sets.
#include <catch2/catch.hpp>

#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "local/fiber_scheduling.hpp"

using patchbay::detail::EngineScheduling;

namespace {

// Runs `body` on a new thread that schedules its fibers with EngineScheduling.
template <class Body>
void on_engine_thread(std::uint64_t* dispatcher_turns, Body body) {
  std::thread thread([&] {
    boost::fibers::use_scheduling_algorithm<EngineScheduling>(dispatcher_turns);
    body();
  });
  thread.join();
}

}  // namespace

TEST_CASE("engine scheduling: ready fibers take turns in round robin order", "[fiber_scheduling]") {
  std::vector<int> turns;
  on_engine_thread(nullptr, [&] {
    std::vector<boost::fibers::fiber> fibers;
    for (int id = 0; id < 3; ++id) {
      fibers.emplace_back([&turns, id] {
        for (int k = 0; k < 4; ++k) {
          turns.push_back(id);
          boost::this_fiber::yield();
        }
      });
    }
    for (auto& f : fibers)
      f.join();
  });
  const std::vector<int> expected{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
  CHECK(turns == expected);
}

TEST_CASE(
    "engine scheduling: the dispatcher takes a turn once every 32 picks while fibers are "
    "ready",
    "[fiber_scheduling]") {
  // Four fibers yield 1,000 times each: about 4,000 picks. Boost's round robin gives the
  // dispatcher a turn in every round, about 1,000 turns; here about 4,000 / 32.
  std::uint64_t turns = 0;
  on_engine_thread(&turns, [&] {
    std::vector<boost::fibers::fiber> fibers;
    for (int id = 0; id < 4; ++id) {
      fibers.emplace_back([] {
        for (int k = 0; k < 1000; ++k)
          boost::this_fiber::yield();
      });
    }
    for (auto& f : fibers)
      f.join();
  });
  CHECK(turns >= 4000 / EngineScheduling::kDispatchEvery - 2);
  CHECK(turns <= 4000 / EngineScheduling::kDispatchEvery + 16);
}

TEST_CASE(
    "engine scheduling: sleepers and fibers woken from another thread run while others "
    "never stop yielding",
    "[fiber_scheduling]") {
  // Two fibers yield until both the sleeper and the fiber woken from another thread have run:
  // only the dispatcher moves those two to the ready queue, so without its turns they never
  // would (the bound on yields turns a hang into a failure).
  std::atomic<bool> woken_ran{false};
  bool slept = false;
  bool bounded = true;
  on_engine_thread(nullptr, [&] {
    boost::fibers::mutex mutex;
    boost::fibers::condition_variable signal;
    std::atomic<bool> signalled{false};  // written on another thread
    boost::fibers::fiber sleeper([&] {
      boost::this_fiber::sleep_for(std::chrono::milliseconds(2));
      slept = true;
    });
    boost::fibers::fiber woken([&] {
      std::unique_lock lock(mutex);
      signal.wait(lock, [&] { return signalled.load(); });
      woken_ran = true;
    });
    std::thread other([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      {
        std::lock_guard lock(mutex);
        signalled = true;
      }
      signal.notify_all();
    });
    std::vector<boost::fibers::fiber> busy;
    for (int id = 0; id < 2; ++id) {
      busy.emplace_back([&] {
        const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!(slept && woken_ran)) {
          if (std::chrono::steady_clock::now() > limit) {
            bounded = false;
            break;
          }
          boost::this_fiber::yield();
        }
      });
    }
    for (auto& f : busy)
      f.join();
    sleeper.join();
    woken.join();
    other.join();
  });
  CHECK(bounded);
  CHECK(slept);
  CHECK(woken_ran);
}

TEST_CASE(
    "engine scheduling: a thread with no ready fiber sleeps until one is woken from another "
    "thread",
    "[fiber_scheduling]") {
  bool woke = false;
  on_engine_thread(nullptr, [&] {
    boost::fibers::mutex mutex;
    boost::fibers::condition_variable signal;
    std::atomic<bool> signalled{false};  // written on another thread
    std::thread other([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      {
        std::lock_guard lock(mutex);
        signalled = true;
      }
      signal.notify_all();
    });
    {
      std::unique_lock lock(mutex);
      // The thread's only fiber waits: the dispatcher suspends the thread until the notify.
      signal.wait(lock, [&] { return signalled.load(); });
      woke = true;
    }
    other.join();
  });
  CHECK(woke);
}
