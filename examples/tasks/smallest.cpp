// The smallest program with tasks and an actor (docs/TASKS.md and the README show it).
#include <patchbay/tasks.hpp>

#include <cstdio>
#include <memory>

int add(int a, int b) {
  return a + b;
}
PATCHBAY_REMOTE(add);

class Counter {
 public:
  int increment(int by) { return value_ += by; }

 private:
  int value_ = 0;
};
std::unique_ptr<Counter> make_counter() {
  return std::make_unique<Counter>();
}
PATCHBAY_REMOTE(make_counter);
PATCHBAY_REMOTE_METHOD(Counter::increment);

int main() {
  patchbay::Runtime runtime;                          // one worker per usable core
  auto three = runtime.submit(add, 1, 2);             // Future<int>, at once
  auto thirteen = runtime.submit(add, three, 10);     // runs once `three` is ready
  auto counter = runtime.create_actor(make_counter);  // Actor<Counter>
  counter.call(&Counter::increment, thirteen.get());
  const int total = counter.call(&Counter::increment, 1).get();
  std::printf("%d\n", total);
  return total == 14 ? 0 : 1;
}
