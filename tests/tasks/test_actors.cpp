// Actors (patchbay::Actor): instances that live on one worker, calls run one at a time and in
// the order one caller made them, handles passed to tasks, failures, kill.
#include <patchbay/tasks.hpp>

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/shared_record.hpp"

namespace {

// Shared with the workers when mapped before the runtime forks them: slow_add() calls begun.
patchbay::test::SharedCounter* slow_calls_started = nullptr;

class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  int increment(int by) {
    value_ += by;
    return value_;
  }
  [[nodiscard]] int value() const { return value_; }
  int fail(const std::string& why) { throw std::runtime_error(why); }
  // Slow on purpose: a second call must wait for it (one at a time).
  int slow_add(int by) {
    if (slow_calls_started != nullptr) ++*slow_calls_started;
    const int before = value_;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    value_ = before + by;
    return value_;
  }
  std::int32_t pid() const { return static_cast<std::int32_t>(getpid()); }

 private:
  int value_;
};

std::unique_ptr<Counter> make_counter(int start) {
  return std::make_unique<Counter>(start);
}
PATCHBAY_REMOTE(make_counter);
PATCHBAY_REMOTE_METHOD(Counter::increment);
PATCHBAY_REMOTE_METHOD(Counter::value);
PATCHBAY_REMOTE_METHOD(Counter::fail);
PATCHBAY_REMOTE_METHOD(Counter::slow_add);
PATCHBAY_REMOTE_METHOD(Counter::pid);

Counter* make_broken_counter(int) {
  throw std::invalid_argument("no counter today");
}
PATCHBAY_REMOTE(make_broken_counter);

// An aggregator keeps its own table, as the tutorial's two Aggregator actors do.
class Aggregator {
 public:
  explicit Aggregator(std::string name) : name_(std::move(name)) {}
  void add(const std::string& key, double value) { totals_[key] += value; }
  [[nodiscard]] std::map<std::string, double> totals() const { return totals_; }
  [[nodiscard]] std::string name() const { return name_; }

 private:
  std::string name_;
  std::map<std::string, double> totals_;
};

Aggregator* make_aggregator(std::string name) {
  return new Aggregator(std::move(name));
}
PATCHBAY_REMOTE(make_aggregator);
PATCHBAY_REMOTE_METHOD(Aggregator::add);
PATCHBAY_REMOTE_METHOD(Aggregator::totals);
PATCHBAY_REMOTE_METHOD(Aggregator::name);

// A task that is handed an actor and calls it.
int bump_through(patchbay::Actor<Counter> counter, int by) {
  return counter.call(&Counter::increment, by).get();
}
PATCHBAY_REMOTE(bump_through);

std::int64_t twice(std::int64_t x) {
  return 2 * x;
}
PATCHBAY_REMOTE(twice);

int twice_int(int x) {
  return 2 * x;
}
PATCHBAY_REMOTE(twice_int);

// A method that waits for a task it submits: on one worker only if waiting parks its fiber.
class Doubler {
 public:
  std::int64_t doubled(std::int64_t x) {
    return patchbay::Runtime::current().submit(twice, x).get();
  }
};
Doubler* make_doubler() {
  return new Doubler;
}
PATCHBAY_REMOTE(make_doubler);
PATCHBAY_REMOTE_METHOD(Doubler::doubled);

patchbay::RuntimeOptions options(std::size_t workers) {
  patchbay::RuntimeOptions o;
  o.workers = workers;
  return o;
}

}  // namespace

TEST_CASE("an actor keeps its state and runs one caller's calls in order", "[tasks][actors]") {
  patchbay::Runtime runtime(options(2));
  auto counter = runtime.create_actor(make_counter, 10);
  CHECK(counter.valid());
  std::vector<patchbay::Future<int>> results;
  for (int i = 1; i <= 1000; ++i)
    results.push_back(counter.call(&Counter::increment, 1));
  for (int i = 0; i < 1000; ++i)
    CHECK(results[static_cast<std::size_t>(i)].get() == 11 + i);
  CHECK(counter.call(&Counter::value).get() == 1010);
  // One at a time: two slow calls do not interleave (each reads, sleeps, writes).
  auto a = counter.call(&Counter::slow_add, 5);
  auto b = counter.call(&Counter::slow_add, 7);
  CHECK(a.get() == 1015);
  CHECK(b.get() == 1022);
  // The instance stays on its worker.
  const auto pid = counter.call(&Counter::pid).get();
  for (int i = 0; i < 5; ++i)
    CHECK(counter.call(&Counter::pid).get() == pid);
}

TEST_CASE("two actors keep tables of their own", "[tasks][actors]") {
  patchbay::Runtime runtime(options(2));
  auto left = runtime.create_actor(make_aggregator, std::string("left"));
  auto right = runtime.create_actor(make_aggregator, std::string("right"));
  for (int i = 0; i < 10; ++i) {
    left.call(&Aggregator::add, std::string("x"), 1.0);
    right.call(&Aggregator::add, std::string("y"), 2.0);
  }
  CHECK(left.call(&Aggregator::totals).get() == std::map<std::string, double>{{"x", 10.0}});
  CHECK(right.call(&Aggregator::totals).get() == std::map<std::string, double>{{"y", 20.0}});
  CHECK(left.call(&Aggregator::name).get() == "left");
  CHECK(left.worker() != right.worker());  // the least loaded worker each time
}

TEST_CASE("actor handles pass to tasks, and methods may wait for tasks", "[tasks][actors]") {
  patchbay::Runtime runtime(options(1));
  auto counter = runtime.create_actor(make_counter, 0);
  CHECK(runtime.submit(bump_through, counter, 5).get() == 5);
  CHECK(runtime.submit(bump_through, counter, 5).get() == 10);
  auto doubler = runtime.create_actor(make_doubler);
  CHECK(doubler.call(&Doubler::doubled, std::int64_t{21}).get() == 42);
  // A future as a method's argument.
  auto ten = runtime.submit(twice, std::int64_t{5});
  CHECK(doubler.call(&Doubler::doubled, ten).get() == 20);
}

TEST_CASE("methods of one signature called in turn from one thread each run as themselves",
          "[tasks][actors]") {
  // A thread remembers the id of the method it called last, for each class and signature.
  patchbay::Runtime runtime(options(1));
  auto counter = runtime.create_actor(make_counter, 0);
  for (int i = 1; i <= 3; ++i) {
    CHECK(counter.call(&Counter::increment, 1).get() == 2 * i - 1);
    CHECK(counter.call(&Counter::slow_add, 1).get() == 2 * i);
  }
}

TEST_CASE("an actor's failures reach its callers", "[tasks][actors]") {
  patchbay::Runtime runtime(options(1));
  auto counter = runtime.create_actor(make_counter, 0);
  CHECK_THROWS_WITH(counter.call(&Counter::fail, std::string("bad row")).get(),
                    Catch::Contains("task 'Counter::fail' failed on worker w0") &&
                        Catch::Contains("std::runtime_error: bad row"));
  CHECK(counter.call(&Counter::increment, 1).get() == 1);  // it carries on

  auto broken = runtime.create_actor(make_broken_counter, 0);
  CHECK_THROWS_WITH(broken.call(&Counter::value).get(),
                    Catch::Contains("actor unavailable") &&
                        Catch::Contains("its factory 'make_broken_counter' failed") &&
                        Catch::Contains("no counter today"));

  counter.kill();
  CHECK_THROWS_WITH(counter.call(&Counter::value).get(), Catch::Contains("it was killed"));

  patchbay::Actor<Counter> invalid;
  CHECK_THROWS_WITH(invalid.call(&Counter::value), Catch::Contains("invalid Actor"));
}

namespace {

// Waits until worker `name` has been replaced `times` times in all.
void wait_for_replacement(patchbay::Runtime& runtime, const std::string& name, unsigned times) {
  for (int i = 0; i < 5000; ++i) {
    for (const auto& w : runtime.worker_stats())
      if (w.name == name && w.replacements >= times && w.alive) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  FAIL("worker " << name << " was not replaced");
}

std::string worker_of(patchbay::Runtime& runtime, std::int32_t pid) {
  for (const auto& w : runtime.worker_stats())
    if (w.pid == pid) return w.name;
  return "";
}

}  // namespace

TEST_CASE("an actor is constructed again when its worker dies, while it has restarts",
          "[tasks][actors]") {
  patchbay::Runtime runtime(options(2));
  patchbay::TaskOptions restartable;
  restartable.max_restarts = 1;
  // Its factory's argument is a future: a restart takes it again.
  auto start = runtime.submit(twice_int, 5);
  auto counter = runtime.create_actor(restartable, make_counter, start);
  CHECK(counter.call(&Counter::increment, 1).get() == 11);
  const std::int32_t first = counter.call(&Counter::pid).get();
  const std::string name = worker_of(runtime, first);
  REQUIRE(!name.empty());

  REQUIRE(kill(first, SIGKILL) == 0);
  wait_for_replacement(runtime, name, 1);
  // A fresh instance, from the factory's arguments, on the replacement.
  const std::int32_t second = counter.call(&Counter::pid).get();
  CHECK(second != first);
  CHECK(worker_of(runtime, second) == name);
  CHECK(counter.call(&Counter::value).get() == 10);
  CHECK(counter.call(&Counter::increment, 2).get() == 12);

  // Calls queued while it restarts run on the new instance, in order.
  REQUIRE(kill(second, SIGKILL) == 0);
  wait_for_replacement(runtime, name, 2);
  // Its one restart is spent: it says how it went.
  CHECK_THROWS_WITH(
      counter.call(&Counter::value).get(),
      Catch::Contains("actor unavailable") && Catch::Contains("it died with its worker") &&
          Catch::Contains("killed by signal 9") && Catch::Contains("no restarts left"));
  // The runtime serves on.
  auto fresh = runtime.create_actor(restartable, make_counter, 1);
  CHECK(fresh.call(&Counter::increment, 1).get() == 2);
}

TEST_CASE("calls queued for a restarting actor run on its new instance, in order",
          "[tasks][actors]") {
  patchbay::test::SharedCounter started;  // mapped before the runtime forks its workers
  slow_calls_started = &started;
  patchbay::Runtime runtime(options(1));
  const auto before = runtime.store_usage();
  patchbay::TaskOptions restartable;
  restartable.max_restarts = 3;
  // A long argument: the creation keeps it in the store for the restarts.
  auto keeper = runtime.create_actor(restartable, make_aggregator, std::string(1000, 'a'));
  auto counter = runtime.create_actor(restartable, make_counter, 0);
  auto mortal = runtime.create_actor(make_counter, 100);  // no restarts
  const std::int32_t first = counter.call(&Counter::pid).get();
  // One slow call runs, more wait behind it; the worker dies under the slow one.
  auto running = counter.call(&Counter::slow_add, 1000);
  std::vector<patchbay::Future<int>> queued;
  for (int i = 1; i <= 10; ++i)
    queued.push_back(counter.call(&Counter::increment, 1));
  while (started.load() == 0)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  REQUIRE(kill(first, SIGKILL) == 0);
  CHECK_THROWS_WITH(running.get(), Catch::Contains("killed by signal 9") &&
                                       Catch::Contains("the call to its actor is lost"));
  for (int i = 0; i < 10; ++i)
    CHECK(queued[static_cast<std::size_t>(i)].get() == i + 1);
  CHECK(keeper.call(&Aggregator::name).get() == std::string(1000, 'a'));
  CHECK_THROWS_WITH(
      mortal.call(&Counter::value).get(),
      Catch::Contains("actor unavailable") && Catch::Contains("TaskOptions::max_restarts"));
  // Killed, it stays dead whatever its restarts.
  counter.kill();
  CHECK_THROWS_WITH(counter.call(&Counter::value).get(), Catch::Contains("it was killed"));
  const std::int32_t second =
      runtime.submit(twice, std::int64_t{1}).get() == 2 ? runtime.worker_stats().at(0).pid : 0;
  REQUIRE(kill(second, SIGKILL) == 0);
  wait_for_replacement(runtime, "w0", 2);
  CHECK_THROWS_WITH(counter.call(&Counter::value).get(),
                    Catch::Contains("TaskOptions::max_restarts"));
  CHECK(keeper.call(&Aggregator::name).get() == std::string(1000, 'a'));
  // Killed, its kept creation goes; what the dead workers held went with them.
  keeper.kill();
  running = {};
  queued.clear();
  CHECK(runtime.submit(twice, std::int64_t{1}).get() == 2);
  CHECK(runtime.store_usage().free == before.free);
  slow_calls_started = nullptr;
}

TEST_CASE("restartable actors are bounded, and one that could not be created takes no place",
          "[tasks][actors]") {
  patchbay::RuntimeOptions o = options(1);
  o.store_bytes = std::size_t{1} << 20;
  o.max_restartable_actors = 1;
  patchbay::Runtime runtime(o);
  patchbay::TaskOptions restartable;
  restartable.max_restarts = 1;
  CHECK_THROWS_WITH(
      runtime.create_actor(restartable, make_aggregator, std::string(std::size_t{2} << 20, 'a')),
      Catch::Contains("do not fit the store"));
  auto first = runtime.create_actor(restartable, make_counter, 1);
  CHECK(first.call(&Counter::increment, 1).get() == 2);
  CHECK_THROWS_WITH(runtime.create_actor(restartable, make_counter, 1),
                    Catch::Contains("every one of the runtime's 1 restartable actors exists") &&
                        Catch::Contains("max_restartable_actors"));
  first.kill();  // its record is free again
  auto second = runtime.create_actor(restartable, make_counter, 5);
  CHECK(second.call(&Counter::increment, 1).get() == 6);
}
