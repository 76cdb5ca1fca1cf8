// Fiber stacks are kept per thread for the next fiber (local/fiber_stack.hpp): a model run
// again maps no stack, the cache is bounded, sizes do not mix, and the guard page stays.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <boost/fiber/fiber.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "local/fiber_scheduling.hpp"
#include "local/fiber_stack.hpp"

using patchbay::detail::StackCache;

namespace {

// Counts down from `iters`, noting on its first step how many stacks its thread keeps then.
class Noting final : public patchbay::Component {
 public:
  Noting(std::string name, int iters, std::size_t& kept_then)
      : Component(std::move(name)), left_(iters), kept_then_(kept_then) {}
  patchbay::Output<std::int64_t> x{this, "x"};
  void step() override {
    if (first_) kept_then_ = StackCache::local().kept();
    first_ = false;
    if (left_-- == 0) {
      close();
      return;
    }
    x = left_;
  }

 private:
  int left_;
  bool first_ = true;
  std::size_t& kept_then_;
};

class Drain final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<std::int64_t> x{this, "x"};
  void step() override {}
};

// A model of `sources` Noting components, each into a Drain; run on this thread.
void run_model(std::size_t sources, std::size_t& kept_then) {
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  std::vector<patchbay::ConnectorSpec> wires;
  for (std::size_t i = 0; i < sources; ++i) {
    const std::string n = std::to_string(i);
    parts.push_back(std::make_unique<Noting>("s" + n, 3, kept_then));
    parts.push_back(std::make_unique<Drain>("d" + n));
    wires.push_back({"s" + n + ".x", "d" + n + ".x"});
  }
  patchbay::LocalProcess(std::move(parts), std::move(wires)).run();
}

}  // namespace

TEST_CASE("a model run again on a thread takes its fibers' stacks from the thread's cache",
          "[fiber_stack]") {
  // A thread of its own, so that the cache starts empty; with Boost.Fiber's round robin, and
  // with the engine's scheduling, whose dispatcher (which releases the fibers that ended) takes
  // fewer turns.
  const bool engine_scheduling = GENERATE(false, true);
  CAPTURE(engine_scheduling);
  std::size_t kept_after_first = 0;
  std::size_t kept_during_second = 99;
  std::size_t kept_after_second = 0;
  std::thread([&] {
    if (engine_scheduling) patchbay::detail::use_engine_scheduling();
    std::size_t during = 0;
    run_model(3, during);
    CHECK(during == 0);  // nothing kept yet: six stacks mapped
    kept_after_first = StackCache::local().kept();
    run_model(3, kept_during_second);
    kept_after_second = StackCache::local().kept();
  }).join();
  CHECK(kept_after_first >= 6);  // three sources, three drains (and the run's own fibers)
  // While the second run's components run, their six stacks are out of the cache again.
  CHECK(kept_during_second == kept_after_first - 6);
  CHECK(kept_after_second == kept_after_first);
}

TEST_CASE("a thread keeps at most StackCache::kMaxStacks stacks", "[fiber_stack]") {
  std::size_t kept = 0;
  std::thread([&] {
    std::size_t during = 0;
    run_model(StackCache::kMaxStacks, during);  // twice as many fibers as are kept
    kept = StackCache::local().kept();
  }).join();
  CHECK(kept == StackCache::kMaxStacks);
}

TEST_CASE("a kept stack is handed out only for its own size", "[fiber_stack]") {
  std::thread([] {
    StackCache& cache = StackCache::local();
    auto small = cache.allocate(std::size_t{16} << 10);
    const void* small_top = small.sp;
    cache.deallocate(small, std::size_t{16} << 10);
    REQUIRE(cache.kept() == 1);
    auto large = cache.allocate(std::size_t{64} << 10);
    CHECK(large.sp != small_top);
    CHECK(large.size >= (std::size_t{64} << 10));
    CHECK(cache.kept() == 1);
    auto again = cache.allocate(std::size_t{16} << 10);
    CHECK(again.sp == small_top);
    CHECK(cache.kept() == 0);
    cache.deallocate(large, std::size_t{64} << 10);
    cache.deallocate(again, std::size_t{16} << 10);
    CHECK(cache.kept() == 2);
  }).join();
}

TEST_CASE("a kept stack still has its guard page: an overflow faults", "[fiber_stack]") {
  // In a child: the write below the stack must kill it with SIGSEGV.
  for (const bool reused : {false, true}) {
    CAPTURE(reused);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::signal(SIGSEGV, SIG_DFL);  // not the test framework's handler
      StackCache& cache = StackCache::local();
      constexpr std::size_t size = std::size_t{16} << 10;
      auto stack = cache.allocate(size);
      if (reused) {
        cache.deallocate(stack, size);
        stack = cache.allocate(size);
      }
      // The stack's lowest usable byte can be written; the page below it cannot.
      char* lowest = static_cast<char*>(stack.sp) - size;
      *static_cast<volatile char*>(lowest) = 1;
      *static_cast<volatile char*>(lowest - 1) = 1;
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGSEGV);
  }
}

TEST_CASE("a fiber released after its thread's stack cache is gone unmaps its stack itself",
          "[fiber_stack]") {
  // The thread's fiber scheduler is made before its stack cache, so it is destroyed after it;
  // the fiber that ended last is released then (the engine's scheduling gives the dispatcher,
  // which releases ended fibers, no turn between the join and the thread's end). Its stack must
  // not go back into the destroyed cache: before, a double free.
  bool ran = false;
  std::thread([&ran] {
    patchbay::detail::use_engine_scheduling();
    const void* lowest = nullptr;
    boost::fibers::fiber(std::allocator_arg, patchbay::detail::RecordingStack(64 << 10, &lowest),
                         [&ran] { ran = true; })
        .join();
  }).join();
  CHECK(ran);
}
