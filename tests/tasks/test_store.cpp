// The store survives the death of any process that uses it: a worker killed in the middle of
// an allocation must leave neither a lock held forever nor a heap half changed.
#include <patchbay/tasks.hpp>

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include "shm/robust_mutex.hpp"
#include "support/shared_record.hpp"
#include "tasks/task_store.hpp"

namespace {

// Shared with the workers (mapped before the runtime forks them): how many churn tasks began.
patchbay::test::SharedCounter* churns_started = nullptr;

// Stores values from inside a worker as fast as it can: most of its time is spent allocating
// and freeing in the store.
int churn(int rounds) {
  if (churns_started != nullptr) ++*churns_started;
  patchbay::Runtime& runtime = patchbay::Runtime::current();
  // Small values come from the size classes, large ones (24 KB) from the page map.
  const std::vector<double> small(4, 1.0);
  const std::vector<double> large(3000, 1.0);
  double seen = 0;
  for (int i = 0; i < rounds; ++i)
    seen += runtime.put(i % 2 == 0 ? small : large).view()[0];
  return static_cast<int>(seen);
}
PATCHBAY_REMOTE(churn);

// Stores a large value and a sub-task's result, holds both, says so, and waits to be killed.
int hold_and_wait(int) {
  patchbay::Runtime& runtime = patchbay::Runtime::current();
  auto big = runtime.put(std::vector<double>(1 << 17, 1.0));  // 1 MiB
  auto made = runtime.submit(churn, 0);                       // its result
  auto copy = runtime.put(std::string(100000, 'x'));          // a page run
  (void)made.get();
  ++*churns_started;
  std::this_thread::sleep_for(std::chrono::seconds(30));
  return static_cast<int>(big.view().size() + copy.get().size());
}
PATCHBAY_REMOTE(hold_and_wait);

// Anonymous memory shared with the processes forked after it is mapped.
struct SharedMemory {
  std::size_t bytes;
  void* base;
  explicit SharedMemory(std::size_t n)
      : bytes(n),
        base(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    REQUIRE(base != MAP_FAILED);
  }
  ~SharedMemory() { munmap(base, bytes); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
};

// A one-worker runtime whose churn() and hold_and_wait() count into `started` (mapped, and
// churns_started set, before the runtime forks its worker), and the options of a task sent
// once (not retried when its worker is killed).
struct ChurnRuntime {
  patchbay::test::SharedCounter started;
  patchbay::Runtime runtime{(churns_started = &started, one_worker())};
  patchbay::TaskOptions once = no_retries();

  ~ChurnRuntime() { churns_started = nullptr; }
  ChurnRuntime() = default;
  ChurnRuntime(const ChurnRuntime&) = delete;
  ChurnRuntime& operator=(const ChurnRuntime&) = delete;

  static patchbay::RuntimeOptions one_worker() {
    patchbay::RuntimeOptions o;
    o.workers = 1;
    return o;
  }
  static patchbay::TaskOptions no_retries() {
    patchbay::TaskOptions o;
    o.retries = 0;
    return o;
  }
};

}  // namespace

TEST_CASE("a shared lock whose holder died is taken by the next locker", "[tasks][store]") {
  SharedMemory memory(sizeof(patchbay::detail::RobustMutex));
  auto* lock = ::new (memory.base) patchbay::detail::RobustMutex();
  CHECK(!lock->lock());  // nobody held it
  lock->unlock();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    (void)lock->lock();
    _exit(0);  // dies holding it
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(lock->lock());  // taken from the dead holder, who may have left things half done
  CHECK(lock->recoveries() == 1);
  lock->unlock();
  CHECK(!lock->lock());  // usable as ever
  lock->unlock();
  CHECK(lock->recoveries() == 1);
  lock->~RobustMutex();
}

namespace {

// Fills the store with blocks of `bytes`, each marked with its number, checks that no block
// overwrote another, and frees them; returns how many fit.
std::size_t fill_and_check(patchbay::detail::TaskStore& store, void* base, std::size_t bytes) {
  std::vector<std::uint64_t> blocks;
  while (const auto offset = store.allocate(bytes)) {
    std::memset(static_cast<char*>(base) + *offset, static_cast<int>(blocks.size() % 251), bytes);
    blocks.push_back(*offset);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto* p = static_cast<const unsigned char*>(base) + blocks[i];
    if (p[0] != i % 251 || p[bytes - 1] != i % 251) FAIL("block " << i << " was overwritten");
  }
  for (const std::uint64_t offset : blocks)
    store.deallocate(offset);
  return blocks.size();
}

}  // namespace

TEST_CASE("the store hands out blocks of every size and takes them all back", "[tasks][store]") {
  SharedMemory memory(std::size_t{4} << 20);
  auto store = patchbay::detail::TaskStore::format(memory.base, 0, memory.bytes);
  const std::size_t all = store.free();
  CHECK(all == store.size());
  CHECK(store.size() > (std::size_t{4} << 20) - 4 * 4096);
  // Page runs, which join again once freed: then the whole store is one run.
  const std::size_t large = fill_and_check(store, memory.base, 100000);
  const std::size_t pages_each = (100000 + 16 + 4095) / 4096;
  CHECK(large == all / 4096 / pages_each);
  CHECK(store.free() == all);
  CHECK(fill_and_check(store, memory.base, all - 16) == 1);
  // Each size class, and both sides of each bound.
  for (const std::size_t bytes : {1, 32, 33, 1000, 4096, 16384, 16385}) {
    INFO("bytes " << bytes);
    const std::size_t n = fill_and_check(store, memory.base, bytes);
    CHECK(n >= all / 2 / std::max<std::size_t>(bytes, 32));
    CHECK(store.free() == all);  // a slab's blocks count as free once given back
  }
  // The classes gave their slabs back, all but one each.
  CHECK(fill_and_check(store, memory.base, 100000) + 10 >= large);
  CHECK(!store.allocate(all + 1));
  CHECK(!store.allocate(std::size_t{1} << 40));
  CHECK(store.allocate(0));
  CHECK(store.recoveries() == 0);
}

namespace {

std::size_t die_after = 0;
void die_after_words(std::size_t written) noexcept {
  if (written == die_after) _exit(0);
}

}  // namespace

TEST_CASE("a process that dies while it writes a change leaves the change to be finished",
          "[tasks][store]") {
  SharedMemory memory(std::size_t{4} << 20);
  constexpr std::int64_t small = 128;  // the block of a 100-byte value
  constexpr std::int64_t large = 25 * 4096;
  constexpr std::size_t per_slab = 16 * 4096 / small;
  // What the parent sets up, what the child does (and dies in), and how free() moves.
  struct Case {
    const char* name;
    std::function<std::vector<std::uint64_t>(patchbay::detail::TaskStore&)> setup;
    std::function<void(patchbay::detail::TaskStore&, const std::vector<std::uint64_t>&)> change;
    std::int64_t moves;
  };
  auto allocate_small = [](patchbay::detail::TaskStore& store, const std::vector<std::uint64_t>&) {
    (void)store.allocate(100);
  };
  auto free_first = [](patchbay::detail::TaskStore& store, const std::vector<std::uint64_t>& held) {
    store.deallocate(held.front());
  };
  const std::vector<Case> cases = {
      {"a new slab", [](auto&) { return std::vector<std::uint64_t>{}; }, allocate_small, -small},
      {"a slab's block",
       [](auto& store) { return std::vector<std::uint64_t>{*store.allocate(100)}; }, allocate_small,
       -small},
      {"a block given back",
       [](auto& store) {
         return std::vector<std::uint64_t>{*store.allocate(100), *store.allocate(100)};
       },
       free_first, small},
      {"a slab given back",
       [](auto& store) {
         // Two slabs on the class's list; the child frees the second's only block.
         std::vector<std::uint64_t> held;
         for (std::size_t i = 0; i < per_slab + 1; ++i)
           held.push_back(*store.allocate(100));
         store.deallocate(held[0]);
         return std::vector<std::uint64_t>{held.back()};
       },
       free_first, small},
      {"a page run", [](auto&) { return std::vector<std::uint64_t>{}; },
       [](auto& store, const auto&) { (void)store.allocate(100000); }, -large},
      {"a page run given back",
       [](auto& store) { return std::vector<std::uint64_t>{*store.allocate(100000)}; }, free_first,
       large},
  };
  for (const Case& c : cases) {
    for (std::size_t words = 1; words <= 12; ++words) {
      INFO(c.name << ", dying after " << words << " words");
      std::memset(memory.base, 0, memory.bytes);
      auto store = patchbay::detail::TaskStore::format(memory.base, 0, memory.bytes);
      const auto held = c.setup(store);
      const auto before = static_cast<std::int64_t>(store.free());
      const pid_t child = fork();
      REQUIRE(child >= 0);
      if (child == 0) {
        die_after = words;
        patchbay::detail::task_store_fault_hook = &die_after_words;
        c.change(store, held);
        _exit(1);  // the change wrote fewer words: it ended whole
      }
      int status = 0;
      REQUIRE(waitpid(child, &status, 0) == child);
      const bool died = WEXITSTATUS(status) == 0;
      CHECK(store.audit() == "");  // takes the lock: repairs first when the child died in it
      CHECK(store.recoveries() == (died ? 1u : 0u));
      CHECK(static_cast<std::int64_t>(store.free()) == before + c.moves);
      CHECK(fill_and_check(store, memory.base, 1000) > 0);
      CHECK(store.audit() == "");
    }
  }
}

TEST_CASE("processes killed while they allocate leave the store whole", "[tasks][store]") {
  SharedMemory memory(std::size_t{64} << 20);
  auto store = patchbay::detail::TaskStore::format(memory.base, 0, memory.bytes);
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Page runs mostly: their lock is where a death can leave something half done.
      std::mt19937 mine(static_cast<unsigned>(round));
      while (true) {
        const std::size_t bytes = 16384 + mine() % (64 * 1024);
        if (const auto offset = store.allocate(bytes)) store.deallocate(*offset);
        if (const auto offset = store.allocate(mine() % 2000)) store.deallocate(*offset);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100 + random() % 900));
    REQUIRE(kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
  }
  // Each child died holding at most two blocks; the rest of the store is as good as new.
  CHECK(store.free() + 200 * 2 * 81920 >= store.size());
  CHECK(store.audit() == "");
  const std::size_t free_before = store.free();
  CHECK(fill_and_check(store, memory.base, 20000) > 0);
  CHECK(fill_and_check(store, memory.base, 100) > 0);
  CHECK(store.free() == free_before);
  // How many deaths fell inside the lock depends on the machine (none, under ThreadSanitizer):
  // the test above makes a death land in each step of each change.
  INFO("recoveries " << store.recoveries());
}

TEST_CASE("workers killed while they allocate leave the store usable", "[tasks][store]") {
  ChurnRuntime churning;
  auto& [started, runtime, once] = churning;
  const std::vector<double> value(64, 2.0);
  for (int round = 0; round < 40; ++round) {
    INFO("round " << round);
    auto running = runtime.submit(once, churn, 1 << 30);
    // Kill it once it is churning (a replacement may still be starting).
    while (started.load() != round + 1)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    std::this_thread::sleep_for(std::chrono::microseconds(500 + 700 * (round % 5)));
    std::int32_t victim = 0;
    for (const auto& w : runtime.worker_stats())
      victim = w.pid;
    REQUIRE(victim > 0);
    REQUIRE(kill(victim, SIGKILL) == 0);
    CHECK_THROWS_WITH(running.get(), Catch::Contains("killed by signal 9"));
    // Were the lock left held, this would wait forever (the test's watchdog ends it).
    CHECK(runtime.put(value).view()[63] == 2.0);
  }
  // The replacement allocates too.
  CHECK(runtime.submit(churn, 1000).get() == 1000);
}

TEST_CASE("what a killed worker held is given back", "[tasks][store]") {
  ChurnRuntime churning;
  auto& [started, runtime, once] = churning;
  const auto before = runtime.store_usage();
  auto running = runtime.submit(once, hold_and_wait, 0);
  // churn(0) counts one, hold_and_wait one more once it holds everything.
  while (started.load() < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(runtime.store_usage().free < before.free - (std::size_t{1} << 20));
  std::int32_t victim = runtime.worker_stats().at(0).pid;
  REQUIRE(kill(victim, SIGKILL) == 0);
  CHECK_THROWS_WITH(running.get(), Catch::Contains("killed by signal 9"));
  running = {};  // its failure's text is in the store too
  // The monitor drops the dead task's own hold on that text just after it fails the future:
  // whichever of the two goes last frees it.
  for (int i = 0; i < 2000 && runtime.store_usage().free != before.free; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(runtime.store_usage().free == before.free);
}
