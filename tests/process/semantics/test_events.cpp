// Execution semantics, events (event.hpp): publish-subscribe between components, handlers and
// step(), StopEvent, and the end of components that only handle events. Run on every engine
// that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/event.hpp>
#include <patchbay/process.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "support/components.hpp"
#include "support/model.hpp"
#include "support/shared_record.hpp"

namespace {

using Catch::Contains;
using patchbay::Event;
using patchbay::EventInput;
using patchbay::EventOutput;
using patchbay::Input;
using patchbay::Output;
using patchbay::test::Model;
using patchbay::test::run_guarded;
using patchbay::test::SharedCounter;
using patchbay::test::SharedRecord;
using patchbay_test::process_kinds;

// A source: `count` steps, each publishing "tick" with its number (0, 1, ...); then, when
// `stop`, publish_stop() in the last step, else close().
class Ticker final : public patchbay::Component {
 public:
  Ticker(std::string name, std::int64_t count, bool stop = false)
      : Component(std::move(name)), count_(count), stop_(stop) {}
  EventOutput<std::int64_t> tick{this, "tick"};
  void step() override {
    if (!stop_ && n_ == count_) {
      close();
      return;
    }
    tick.publish(n_++);
    if (stop_ && n_ == count_) publish_stop();
  }

 private:
  std::int64_t count_;
  bool stop_;
  std::int64_t n_ = 0;
};

// Handles "tick" only (it steps once per event): checks that each publisher's events come in
// order, counts them, and records them.
class TickCounter final : public patchbay::Component {
 public:
  explicit TickCounter(std::string name, bool keep = true)
      : Component(std::move(name)), keep_(keep) {}
  EventInput<std::int64_t> on_tick{this, "tick", &TickCounter::handle};
  SharedCounter handled;
  SharedCounter steps;
  SharedCounter out_of_order;
  SharedRecord values{std::size_t{1} << 20};
  void step() override { ++steps; }
  void handle(const Event<std::int64_t>& e) {
    if (e.type != "tick") throw std::logic_error("wrong type");
    std::int64_t& last = last_[std::string(e.source)];
    if (e.data != last) ++out_of_order;
    last = e.data + 1;
    ++handled;
    if (keep_) values.append(e.data);
  }

 private:
  bool keep_;
  std::map<std::string, std::int64_t> last_;
};

// A field source: x = 0, 1, ... `count` - 1; each step also publishes "tick" with the same
// number, before the value goes out.
class TickingCounter final : public patchbay::Component {
 public:
  TickingCounter(std::string name, std::int64_t count)
      : Component(std::move(name)), count_(count) {}
  Output<std::int64_t> x{this, "x"};
  EventOutput<std::int64_t> tick{this, "tick"};
  void step() override {
    if (n_ == count_) {
      close();
      return;
    }
    tick.publish(n_);
    x = n_++;
  }

 private:
  std::int64_t count_;
  std::int64_t n_ = 0;
};

// Takes x and hears "tick": records, at each step, x and the last tick handled before it.
class Watcher final : public patchbay::Component {
 public:
  using Component::Component;
  Input<std::int64_t> x{this, "x"};
  EventInput<std::int64_t> on_tick{this, "tick",
                                   [this](const Event<std::int64_t>& e) { last_tick_ = e.data; }};
  SharedRecord seen;  // pairs (x, last tick)
  void step() override {
    seen.append(x.value());
    seen.append(last_tick_);
  }

 private:
  std::int64_t last_tick_ = -1;
};

// Handles "ping", publishes "pong" with the next number while it is below `limit`.
class Bouncer final : public patchbay::Component {
 public:
  Bouncer(std::string name, std::string in, std::string out, std::int64_t limit)
      : Component(std::move(name)),
        in_(this, std::move(in), [this](const Event<std::int64_t>& e) { bounce(e.data); }),
        out_(this, std::move(out)),
        limit_(limit) {}
  SharedCounter handled;
  void step() override {}

 private:
  void bounce(std::int64_t n) {
    ++handled;
    if (n < limit_) out_.publish(n + 1);
  }
  EventInput<std::int64_t> in_;
  EventOutput<std::int64_t> out_;
  std::int64_t limit_;
};

// Publishes one "ping" (0) and ends.
class Starter final : public patchbay::Component {
 public:
  using Component::Component;
  EventOutput<std::int64_t> ping{this, "ping"};
  void step() override {
    if (done_) {
      close();
      return;
    }
    done_ = true;
    ping.publish(0);
  }

 private:
  bool done_ = false;
};

// Throws from its handler at the event numbered `at`.
class ThrowingHandler final : public patchbay::Component {
 public:
  ThrowingHandler(std::string name, std::int64_t at) : Component(std::move(name)), at_(at) {}
  EventInput<std::int64_t> on_tick{this, "tick", [this](const Event<std::int64_t>& e) {
                                     if (e.data == at_) throw std::runtime_error("bad tick");
                                   }};
  void step() override {}

 private:
  std::int64_t at_;
};

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < n; ++i)
    out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("events: every subscriber gets every event once, in publication order", "[events]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  constexpr std::int64_t n = 2000;
  Model m;
  m.add<Ticker>("ticker", n);
  auto& a = m.add<TickCounter>("a");
  auto& b = m.add<TickCounter>("b");
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  for (TickCounter* sub : {&a, &b}) {
    CHECK(sub->handled.load() == n);
    CHECK(sub->out_of_order.load() == 0);
    CHECK(sub->values.read<std::int64_t>() == iota(n));
    // a component whose only inputs are events steps once after each event
    CHECK(sub->steps.load() == n);
    CHECK(patchbay::test::status_of(*process, sub->name()) == "COMPLETED");
  }
  // the wires are built from the declarations: one per publisher and subscriber
  const auto channel = patchbay::test::channel_of(*process, "ticker.tick", "a.tick");
  CHECK(channel.messages == static_cast<std::uint64_t>(n));
}

TEST_CASE("events: a million events between two workers, each subscriber gets each once in order",
          "[events]") {
  constexpr std::int64_t n = 1'000'000;
  Model m;
  m.add<Ticker>("ticker", n).set_worker_label("a");
  auto& a = m.add<TickCounter>("a", false);
  auto& b = m.add<TickCounter>("b", false);
  a.set_worker_label("b");
  b.set_worker_label("b");
  auto process = m.build("parallel");
  run_guarded(*process, std::chrono::milliseconds(120'000));
  REQUIRE(process->status() == patchbay::Status::completed);
  for (TickCounter* sub : {&a, &b}) {
    CHECK(sub->handled.load() == n);
    CHECK(sub->out_of_order.load() == 0);
  }
  CHECK(patchbay::test::channel_of(*process, "ticker.tick", "b.tick").messages ==
        static_cast<std::uint64_t>(n));
}

TEST_CASE("events: two publishers reach one subscriber, each in its own order", "[events]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Ticker>("t1", 500);
  m.add<Ticker>("t2", 700);
  auto& sub = m.add<TickCounter>("sub", false);
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  CHECK(sub.handled.load() == 1200);
  CHECK(sub.out_of_order.load() == 0);
}

TEST_CASE("events: an event published before a value is handled before the step that takes it",
          "[events]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  constexpr std::int64_t n = 300;
  Model m;
  m.add<TickingCounter>("src", n);
  auto& w = m.add<Watcher>("watch");
  m.connect("src.x", "watch.x");
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  const auto seen = w.seen.read<std::int64_t>();
  REQUIRE(seen.size() == static_cast<std::size_t>(2 * n));
  for (std::size_t i = 0; i < seen.size(); i += 2) {
    INFO("step " << i / 2);
    CHECK(seen[i] == static_cast<std::int64_t>(i / 2));
    CHECK(seen[i + 1] >= seen[i]);  // never a step before the handler of its own tick
  }
}

TEST_CASE("events: StopEvent ends a model whose components only publish and handle events",
          "[events]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  constexpr std::int64_t n = 1000;
  Model m;
  m.add<Ticker>("ticker", n, true);
  auto& relay = m.add<Bouncer>("relay", "tick", "tock", n);  // tick k -> tock k + 1
  auto& end = m.add<Bouncer>("end", "tock", "unused", 0);
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  // nothing published before the stop is lost: the subscribers finish what is in flight
  CHECK(relay.handled.load() == n);
  CHECK(end.handled.load() == n);
  patchbay::test::check_all_final(*process);
  for (const auto* name : {"ticker", "relay", "end"})
    CHECK(patchbay::test::status_of(*process, name) == "COMPLETED");
}

TEST_CASE("events: components that handle each other's events end once none can come", "[events]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Starter>("start");
  // ping 0 -> pong 1 -> ping 2 -> ... up to 20: a cycle of events that dies out
  auto& left = m.add<Bouncer>("left", "ping", "pong", 20);
  auto& right = m.add<Bouncer>("right", "pong", "ping", 20);
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(process->status() == patchbay::Status::completed);
  CHECK(left.handled.load() + right.handled.load() == 21);
}

TEST_CASE("events: a handler that throws fails the run like a step that throws", "[events]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Ticker>("ticker", 100);
  m.add<ThrowingHandler>("handler", 42);
  auto process = m.build(kind);
  CHECK_THROWS_WITH(run_guarded(*process), Contains("handler") && Contains("bad tick"));
  CHECK(process->status() == patchbay::Status::failed);
}

TEST_CASE("events: a connector may not reach an event, and both ends must agree on its type",
          "[events]") {
  {
    Model m;
    m.add<Ticker>("ticker", 1);
    m.add<TickCounter>("sub");
    m.connect("ticker.tick", "sub.tick");
    CHECK_THROWS_WITH(m.build("local"), Contains("'ticker.tick' is the event 'tick'") &&
                                            Contains("without connectors"));
  }
  {
    class DoubleTick final : public patchbay::Component {
     public:
      using Component::Component;
      EventInput<double> on_tick{this, "tick", [](const Event<double>&) {}};
      void step() override {}
    };
    Model m;
    m.add<Ticker>("ticker", 1);
    m.add<DoubleTick>("sub");
    CHECK_THROWS_WITH(m.build("local"),
                      Contains("event 'tick'") && Contains("int64") && Contains("double"));
  }
  {
    class Clash final : public patchbay::Component {
     public:
      using Component::Component;
      Input<double> tick{this, "tick"};
      EventInput<double> on_tick{this, "tick", [](const Event<double>&) {}};
      void step() override {}
    };
    CHECK_THROWS_WITH(Clash("c"), Contains("'c'") && Contains("'tick' twice"));
  }
}

namespace {

// Publishes "flood" at every step until the run drains.
class Flood final : public patchbay::Component {
 public:
  using Component::Component;
  EventOutput<std::int64_t> flood{this, "flood"};
  void step() override { flood.publish(n_++); }

 private:
  std::int64_t n_ = 0;
};

// Takes x and hears "flood", slowly (each event takes 100 us); once it has stepped `steps`
// times and handled 200 events, it ends the run with publish_stop().
class SlowListener final : public patchbay::Component {
 public:
  SlowListener(std::string name, std::int64_t steps) : Component(std::move(name)), steps_(steps) {}
  Input<std::int64_t> x{this, "x"};
  EventInput<std::int64_t> on_flood{this, "flood", [this](const Event<std::int64_t>&) {
                                      const auto until = std::chrono::steady_clock::now() +
                                                         std::chrono::microseconds(100);
                                      while (std::chrono::steady_clock::now() < until) {
                                      }
                                      ++handled;
                                    }};
  SharedCounter handled;
  SharedCounter steps;
  void step() override {
    ++steps;
    if (steps.load() >= steps_ && handled.load() >= 200) publish_stop();
  }

 private:
  std::int64_t steps_;
};

}  // namespace

TEST_CASE("events: a publisher that never stops does not keep a slower subscriber from stepping",
          "[events]") {
  // The publisher in a worker of its own that spins, so that it refills the ring as soon as
  // the subscriber takes an event.
  Model m;
  m.options.wait = patchbay::WaitMode::spin;
  m.options.channel_capacity = 2048;  // a few dozen events wait at a time
  m.add<Flood>("flood").set_worker_label("a");
  m.add<patchbay::test::Counter>("count").set_worker_label("b");  // never closes
  auto& listener = m.add<SlowListener>("listener", 20);
  listener.set_worker_label("b");
  m.connect("count.out", "listener.x");
  auto process = m.build("parallel");
  run_guarded(*process, std::chrono::milliseconds(20'000));
  REQUIRE(process->status() == patchbay::Status::completed);
  CHECK(listener.steps.load() >= 20);
  CHECK(listener.handled.load() >= 200);
}
