// Actors (patchbay::Actor): instances that live on one worker, calls run one at a time and in
// the order one caller made them, handles passed to tasks, failures, kill.
#include <patchbay/tasks.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

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
