// The execution semantics, one rule per test case, run on every engine that process_kinds()
// names.
#include <patchbay/component.hpp>
#include <patchbay/error.hpp>
#include <patchbay/port.hpp>
#include <patchbay/process.hpp>
#include <patchbay/status.hpp>
#include <patchbay/value.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using Catch::Contains;
using patchbay::Status;
using patchbay::Value;
using patchbay_test::process_kinds;
using namespace patchbay::test;

// A trivially copyable record, copied through the ring as it is.
struct Point {
  std::int32_t id = 0;
  double x = 0;
  std::array<char, 6> tag{};
  bool operator==(const Point&) const = default;
};

}  // namespace

// ---- barrier ----

TEST_CASE("barrier: a component with two inputs steps once per pair of new values, in order",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // a_src is the faster producer: all of its values are ready long before b_src's.
  m.add<Counter>("a_src", 10, 0);
  auto& b_src = m.add<Counter>("b_src", 10, 100);
  b_src.pause = 500us;
  auto& adder = m.add<Adder>("adder");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("a_src.out", "adder.a");
  m.connect("b_src.out", "adder.b", 64);
  m.connect("adder.sum", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  std::vector<std::pair<std::int64_t, std::int64_t>> expected;
  for (std::int64_t i = 0; i < 10; ++i)
    expected.emplace_back(i, 100 + i);
  CHECK(pairs_seen(adder) == expected);
  CHECK(stats_of(*process, "adder").steps == 10);
  CHECK(received(sink) ==
        std::vector<std::int64_t>{100, 102, 104, 106, 108, 110, 112, 114, 116, 118});
}

TEST_CASE("barrier: values waiting on one input do not make a component step again",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // `a` has 50 values queued; `b` delivers only 3: the adder may step only 3 times.
  m.add<Counter>("a_src", 50, 0);
  m.add<Counter>("b_src", 3, 100);
  auto& adder = m.add<Adder>("adder");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("a_src.out", "adder.a");
  m.connect("b_src.out", "adder.b");
  m.connect("adder.sum", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(pairs_seen(adder) ==
        std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 100}, {1, 101}, {2, 102}});
  CHECK(stats_of(*process, "adder").steps == 3);
  CHECK(received(sink) == std::vector<std::int64_t>{100, 102, 104});
}

// ---- outputs ----

TEST_CASE("outputs send every step: the value written, else the last one written, else the default",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 5);
  m.add<SparseWriter>("w");
  auto& ints = m.add<Collector<std::int64_t>>("ints");
  auto& values = m.add<Collector<Value>>("values");
  auto& strings = m.add<Collector<std::string>>("strings");
  m.connect("src.out", "w.in");
  m.connect("w.i", "ints.in");
  m.connect("w.v", "values.in");
  m.connect("w.s", "strings.in");
  auto process = m.build(kind);
  run_guarded(*process);

  // Inputs 0..4; written at 1 and 3 only.
  CHECK(received(ints) == std::vector<std::int64_t>{0, 10, 10, 30, 30});
  CHECK(received(values) == std::vector<Value>{Value{}, "ten", "ten", 3.5, 3.5});
  CHECK(received(values).front().is_null());
  CHECK(received(strings) == std::vector<std::string>{"", "one", "one", "three", "three"});
  CHECK(stats_of(*process, "w").messages_out == 15);
}

// ---- sources ----

TEST_CASE("sources step until close() and the values of the closing step are not sent",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // Counter writes 5 in its closing (6th) step; only 0..4 may arrive.
  m.add<Counter>("src", 5);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, 5));
  CHECK(stats_of(*process, "src").steps == 6);
  CHECK(stats_of(*process, "src").messages_out == 5);
  CHECK(status_of(*process, "src") == "COMPLETED");
  CHECK(status_of(*process, "sink") == "COMPLETED");
}

TEST_CASE("a source that closes in its first step sends nothing; its consumer never steps",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 0);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink).empty());
  CHECK(stats_of(*process, "src").steps == 1);
  CHECK(stats_of(*process, "sink").steps == 0);
  CHECK(status_of(*process, "sink") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("a source with no outputs connected still runs until it closes", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("lonely", 7);
  m.add<Counter>("src", 2);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(stats_of(*process, "lonely").steps == 8);
  CHECK(stats_of(*process, "src").steps == 3);
  CHECK(stats_of(*process, "lonely").messages_out == 0);
  CHECK(status_of(*process, "lonely") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

// ---- fan-out ----

TEST_CASE("fan-out: every target of one output receives every value in order", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 50);
  auto& s1 = m.add<Collector<std::int64_t>>("s1");
  auto& s2 = m.add<Collector<std::int64_t>>("s2");
  auto& s3 = m.add<Collector<std::int64_t>>("s3");
  m.connect("src.out", "s1.in");
  m.connect("src.out", "s2.in", 64);  // a small channel on one branch must not disturb order
  m.connect("src.out", "s3.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(s1) == range(0, 50));
  CHECK(received(s2) == range(0, 50));
  CHECK(received(s3) == range(0, 50));
  CHECK(stats_of(*process, "src").messages_out == 150);
}

TEST_CASE("fan-out: a target that finishes early does not cut off the other targets",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 30);
  m.add<Closer>("quitter", 3);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "quitter.in", 64);
  m.connect("src.out", "sink.in", 64);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, 30));
  CHECK(stats_of(*process, "quitter").steps == 3);
  check_all_final(*process);
  CHECK(process->status() == Status::completed);
}

// ---- fan-in ----

TEST_CASE("fan-in: each message is its own value and the input closes after all its sources",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // The long source sits behind a tiny channel, so its values keep arriving long after the
  // short source has closed: the merged input must stay open for them.
  m.add<Counter>("long_src", 20, 0);
  m.add<Counter>("short_src", 3, 100);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("long_src.out", "sink.in", 64);
  m.connect("short_src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  const auto& values = received(sink);
  CHECK(values.size() == 23);
  std::vector<std::int64_t> from_long;
  std::vector<std::int64_t> from_short;
  for (auto v : values)
    (v < 100 ? from_long : from_short).push_back(v);
  CHECK(from_long == range(0, 20));
  CHECK(from_short == range(100, 3));
  CHECK(stats_of(*process, "sink").steps == 23);
  CHECK(status_of(*process, "sink") == "COMPLETED");
}

// ---- close propagation ----

TEST_CASE("close propagates along a chain after every earlier value", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 5);
  m.add<Pass<std::int64_t>>("p1");
  m.add<Pass<std::int64_t>>("p2");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "p1.in");
  m.connect("p1.out", "p2.in", 64);
  m.connect("p2.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, 5));
  CHECK(stats_of(*process, "p1").steps == 5);
  CHECK(stats_of(*process, "p2").steps == 5);
  for (const auto& name : {"src", "p1", "p2", "sink"})
    CHECK(status_of(*process, name) == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE(
    "close propagation: a component completes when one of its inputs closes, and its "
    "producers are not blocked forever",
    "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // a_src never closes and fills its tiny channel; b_src closes after 3 values.
  m.add<Counter>("a_src", -1, 0);
  m.add<Counter>("b_src", 3, 100);
  auto& adder = m.add<Adder>("adder");
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("a_src.out", "adder.a", 64);
  m.connect("b_src.out", "adder.b");
  m.connect("adder.sum", "sink.in");
  auto process = m.build(kind);
  const auto start = std::chrono::steady_clock::now();
  run_guarded(*process);
  CHECK(std::chrono::steady_clock::now() - start < 2s);

  CHECK(pairs_seen(adder) ==
        std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 100}, {1, 101}, {2, 102}});
  CHECK(received(sink) == std::vector<std::int64_t>{100, 102, 104});
  CHECK(status_of(*process, "adder") == "COMPLETED");
  // Its reader gone, the endless source finishes too.
  CHECK(status_of(*process, "a_src") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("close propagation upstream: once every reader is gone, the producers finish too",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // Nothing here closes by itself except `quitter`: the endless source and the pass-through
  // can only end because their readers went away.
  m.add<Counter>("src", -1);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Closer>("quitter", 3);
  m.connect("src.out", "pass.in", 64);
  m.connect("pass.out", "quitter.in", 64);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(stats_of(*process, "quitter").steps == 3);
  for (const auto& name : {"src", "pass", "quitter"})
    CHECK(status_of(*process, name) == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("close() in a component with inputs: that step's values are not sent, it completes",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);
  m.add<Closer>("c", 3);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "c.in", 64);
  m.connect("c.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == std::vector<std::int64_t>{0, 1});
  CHECK(stats_of(*process, "c").steps == 3);
  for (const auto& name : {"src", "c", "sink"})
    CHECK(status_of(*process, name) == "COMPLETED");
}

// ---- initial values ----

TEST_CASE("initial values are delivered before the first message", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("single input") {
    Model m;
    m.add<Counter>("src", 3);
    auto& sink = m.add<Collector<std::int64_t>>("sink");
    sink.set_initial_values("in", {-1, -2});
    m.connect("src.out", "sink.in");
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == std::vector<std::int64_t>{-1, -2, 0, 1, 2});
  }
  SECTION("even when no message ever follows") {
    Model m;
    m.add<Counter>("src", 0);
    auto& sink = m.add<Collector<std::int64_t>>("sink");
    sink.set_initial_values("in", {5, 6});
    m.connect("src.out", "sink.in");
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == std::vector<std::int64_t>{5, 6});
    CHECK(status_of(*process, "sink") == "COMPLETED");
  }
  SECTION("one input of a barrier") {
    Model m;
    m.add<Counter>("a_src", 3, 0);
    m.add<Counter>("b_src", 3, 100);
    auto& adder = m.add<Adder>("adder");
    adder.set_initial_values("a", {1000});
    m.add<Collector<std::int64_t>>("sink");
    m.connect("a_src.out", "adder.a");
    m.connect("b_src.out", "adder.b");
    m.connect("adder.sum", "sink.in");
    auto process = m.build(kind);
    run_guarded(*process);
    // b closes after its 3 values, so a's last value is dropped.
    CHECK(pairs_seen(adder) ==
          std::vector<std::pair<std::int64_t, std::int64_t>>{{1000, 100}, {0, 101}, {1, 102}});
  }
}

TEST_CASE("initial values make a cycle runnable: a counting loop", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& counter = m.add<LoopCounter>("counter", 10);
  counter.set_initial_values("in", {0});
  m.add<Pass<std::int64_t>>("echo");
  m.connect("counter.out", "echo.in");
  m.connect("echo.out", "counter.in");
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(seen_by(counter) == range(0, 11));
  CHECK(stats_of(*process, "echo").steps == 10);
  CHECK(status_of(*process, "counter") == "COMPLETED");
  CHECK(status_of(*process, "echo") == "COMPLETED");
  CHECK(process->status() == Status::completed);
}

// ---- backpressure ----

TEST_CASE("backpressure: a full channel holds a fast producer back and loses nothing",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  constexpr std::int64_t n = 200;
  Model m;
  auto& src = m.add<Counter>("src", n);
  src.timed = true;
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  sink.timed = true;
  sink.pause = 20us;
  m.connect("src.out", "sink.in", 64);  // room for 4 int64 records
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(received(sink) == range(0, n));
  const auto channel = channel_of(*process, "src.out", "sink.in");
  CHECK(channel.capacity == 64);
  CHECK(channel.messages == static_cast<std::uint64_t>(n));
  CHECK(channel.times_full > 0);

  // Bounded memory: the producer can start step k only once the consumer has started step
  // k - ahead, whatever the engine (the ring holds 4 records; one more may be in each side's
  // hands). An unbounded queue would let the producer finish before the consumer's first step.
  constexpr std::size_t ahead = 8;
  const auto& produced = step_times(src);
  const auto& consumed = step_times(sink);
  REQUIRE(produced.size() == static_cast<std::size_t>(n) + 1);
  REQUIRE(consumed.size() == static_cast<std::size_t>(n));
  std::size_t violations = 0;
  for (std::size_t k = ahead; k < produced.size(); ++k) {
    if (produced[k] < consumed[k - ahead]) ++violations;
  }
  CHECK(violations == 0);
}

// ---- failure ----

TEST_CASE("failure: an exception in step() fails the run naming the component, type and message",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 100);
  m.add<Thrower>("bad", 5);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "bad.in", 64);
  m.connect("bad.out", "sink.in");
  auto process = m.build(kind);

  try {
    run_guarded(*process);
    FAIL("run() returned normally although a component threw");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "bad");
    CHECK_THAT(e.type(), Contains("Thrower"));
    CHECK(thrown_message(kind, e) == "boom at step 5");
    CHECK_THAT(std::string(e.what()), Contains("bad") && Contains("boom at step 5"));
  }
  CHECK(process->status() == Status::failed);
  CHECK(status_of(*process, "bad") == "FAILED");
  for (const auto& name : {"src", "sink"}) {
    INFO(name);
    CHECK_THAT(status_of(*process, name), Catch::Equals("STOPPED") || Catch::Equals("COMPLETED"));
  }
  check_all_final(*process);
  // Only the 4 steps before the failure sent anything.
  CHECK(received(sink).size() <= 4);
  CHECK(stats_of(*process, "bad").messages_out == 4);
}

TEST_CASE("failure wakes a blocked producer and a blocked consumer elsewhere in the model",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // `joiner` waits on input b (fed only by the failing component) while `filler` blocks on a
  // full channel into joiner.a. Neither of them ever closes by itself.
  m.add<Counter>("filler", -1);
  m.add<Adder>("joiner");
  m.add<Counter>("feeder", -1);
  // `bad` takes a while over its failing step, so that `joiner` and `filler` are surely
  // blocked by then, whatever runs them (forked workers start in their own time).
  auto& bad = m.add<Thrower>("bad", 1);
  bad.pause = 100ms;
  m.connect("filler.out", "joiner.a", 64);
  m.connect("bad.out", "joiner.b");
  m.connect("feeder.out", "bad.in", 64);
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  REQUIRE_THROWS_AS(run_guarded(*process), patchbay::ComponentFailure);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(channel_of(*process, "filler.out", "joiner.a").times_full > 0);
  CHECK(channel_of(*process, "bad.out", "joiner.b").times_empty > 0);
  CHECK(status_of(*process, "bad") == "FAILED");
  for (const auto& name : {"filler", "joiner", "feeder"}) {
    INFO(name);
    CHECK_THAT(status_of(*process, name), Catch::Equals("STOPPED") || Catch::Equals("COMPLETED"));
  }
  check_all_final(*process);
  CHECK(process->status() == Status::failed);
}

TEST_CASE("failure: an exception in init() fails the run and stops the others", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);  // never closes: only the failure can end it
  m.add<Thrower>("bad", 0);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "bad.in", 64);
  m.connect("bad.out", "sink.in");
  auto process = m.build(kind);

  try {
    run_guarded(*process);
    FAIL("run() returned normally although init() threw");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "bad");
    CHECK_THAT(e.type(), Contains("Thrower"));
    CHECK(thrown_message(kind, e) == "boom in init");
  }
  CHECK(process->status() == Status::failed);
  CHECK(status_of(*process, "bad") == "FAILED");
  CHECK(stats_of(*process, "bad").steps == 0);
  for (const auto& name : {"src", "sink"}) {
    INFO(name);
    CHECK_THAT(status_of(*process, name), Catch::Equals("STOPPED") || Catch::Equals("COMPLETED"));
  }
  check_all_final(*process);
}

TEST_CASE("failure: an exception in teardown() after COMPLETED fails the run", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 3);
  auto& sink = m.add<BadTeardown>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  try {
    run_guarded(*process);
    FAIL("run() returned normally although teardown() threw");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "sink");
    CHECK(thrown_message(kind, e) == "cannot flush");
  }
  CHECK(torn_down_with(sink) == Status::completed);
  CHECK(status_of(*process, "sink") == "FAILED");
  CHECK(process->status() == Status::failed);
}

// ---- deadlock ----

TEST_CASE("deadlock: a cycle with more initial values than its channels hold is reported",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& a = m.add<Pass<std::int64_t>>("a");
  std::vector<Value> initial(1000, Value(1));
  a.set_initial_values("in", initial);
  m.add<Pass<std::int64_t>>("b");
  m.connect("a.out", "b.in", 64);
  m.connect("b.out", "a.in", 64);
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  try {
    run_guarded(*process);
    FAIL("run() returned normally although the model deadlocks");
  } catch (const patchbay::Error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Contains("deadlock"));
    CHECK_THAT(what, Contains("'a'"));
    CHECK_THAT(what, Contains("'b'"));
  }
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  check_all_final(*process);
  CHECK(process->status() == Status::failed);
}

// ---- stop ----

TEST_CASE("stop() from another thread ends a run that would never end, without an error",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", -1);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Collector<std::int64_t>>("sink", false);
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "sink.in", 64);
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  Status while_running = Status::created;
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    while_running = process->status();
    process->stop();
  });
  CHECK_NOTHROW(run_guarded(*process));
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(while_running == Status::running);
  CHECK(process->status() == Status::stopped);
  for (const auto& name : {"src", "pass", "sink"})
    CHECK(status_of(*process, name) == "STOPPED");
  CHECK(stats_of(*process, "sink").steps > 0);
}

// When stop() arrives, running components unwind at once while parked ones wait for the stop
// watcher; the moment in between, with every live component parked, is not a deadlock.
TEST_CASE("stop() wakes components parked on full channels", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // a <-> b park for good on full channels; src -> sink keeps the rest of the model busy, so
  // this is not a deadlock of the whole process and only stop() can end it.
  auto& a = m.add<Pass<std::int64_t>>("a");
  a.set_initial_values("in", std::vector<Value>(100, Value(7)));
  m.add<Pass<std::int64_t>>("b");
  m.add<Counter>("src", -1);
  m.add<Collector<std::int64_t>>("sink", false);
  m.connect("a.out", "b.in", 64);
  m.connect("b.out", "a.in", 64);
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);

  // Stats are live: stop once both directions of the cycle have been full, however slowly
  // this machine gets there (a fixed delay was too short under load).
  std::thread stopper([&] {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < give_up &&
           (channel_of(*process, "a.out", "b.in").times_full == 0 ||
            channel_of(*process, "b.out", "a.in").times_full == 0)) {
      std::this_thread::sleep_for(5ms);
    }
    process->stop();
  });
  CHECK_NOTHROW(run_guarded(*process));
  stopper.join();
  CHECK(channel_of(*process, "a.out", "b.in").times_full > 0);
  CHECK(channel_of(*process, "b.out", "a.in").times_full > 0);
  CHECK(process->status() == Status::stopped);
  for (const auto& name : {"a", "b", "src", "sink"})
    CHECK(status_of(*process, name) == "STOPPED");
}

TEST_CASE("stop(): a long step that polls stop_requested() sees the stop", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& slow = m.add<LongStep>("slow", 400ms);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("slow.out", "sink.in");
  auto process = m.build(kind);

  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    process->stop();
  });
  CHECK_NOTHROW(run_guarded(*process));
  stopper.join();
  CHECK(saw_stop(slow));
  CHECK(std::chrono::steady_clock::now() - start < 300ms);
  CHECK(process->status() == Status::stopped);
  CHECK(status_of(*process, "slow") == "STOPPED");
}

TEST_CASE("stop() before run() makes run() return at once with STOPPED", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  auto& src = m.add<Counter>("src", -1);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);

  process->stop();
  const auto start = std::chrono::steady_clock::now();
  CHECK_NOTHROW(run_guarded(*process));
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(process->status() == Status::stopped);
  CHECK(status_of(*process, "src") == "STOPPED");
  CHECK(status_of(*process, "sink") == "STOPPED");
  CHECK(stats_of(*process, "src").steps == 0);
  CHECK_FALSE(init_called(src));
}

// ---- status ----

TEST_CASE("status: a normal run leaves every component and the process COMPLETED", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 10);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "sink.in");
  auto process = m.build(kind);

  CHECK(process->status() == Status::created);
  for (const auto& s : process->component_stats())
    CHECK(s.status == Status::created);
  run_guarded(*process);
  CHECK(process->status() == Status::completed);
  for (const auto& s : process->component_stats()) {
    INFO(s.name);
    CHECK(s.status == Status::completed);
  }
  CHECK(process->elapsed() > std::chrono::nanoseconds{0});
}

TEST_CASE("status: run() may be called only once", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 3);
  m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  CHECK_THROWS_AS(process->run(), patchbay::Error);
  CHECK(process->status() == Status::completed);
}

// ---- counters ----

TEST_CASE("counters: component_stats and channel_stats count what was sent", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 100);
  auto& sink = m.add<Collector<std::int64_t>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  REQUIRE(received_count(sink) == 100);

  const auto src = stats_of(*process, "src");
  CHECK(src.steps == 101);  // the closing step is a step too
  CHECK(src.messages_in == 0);
  CHECK(src.messages_out == 100);
  CHECK(src.bytes_out == 800);
  CHECK_THAT(src.type, Contains("Counter"));

  const auto dst = stats_of(*process, "sink");
  CHECK(dst.steps == 100);
  CHECK(dst.messages_in == 100);
  CHECK(dst.bytes_in == 800);
  CHECK(dst.messages_out == 0);
  CHECK(dst.bytes_out == 0);

  const auto channels = process->channel_stats();
  REQUIRE(channels.size() == 1);
  CHECK(channels[0].source == "src.out");
  CHECK(channels[0].target == "sink.in");
  CHECK(channels[0].messages == 100);
  CHECK(channels[0].bytes == 800);
  CHECK(channels[0].capacity == patchbay::ProcessOptions{}.channel_capacity);
}

// ---- typed and Value ports ----

TEST_CASE("ports: an int64 output feeds a Value input", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 3, 40);
  auto& sink = m.add<Collector<Value>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  CHECK(received(sink) == std::vector<Value>{40, 41, 42});
  for (const auto& v : received(sink))
    CHECK(v.is_int());
}

TEST_CASE("ports: a Value output feeds an int64 input, checked at run time", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("integers fit") {
    Model m;
    m.add<ListSource<Value>>("a", std::vector<Value>{1, -2, 3000000000});
    auto& sink = m.add<Collector<std::int64_t>>("b");
    m.connect("a.out", "b.in");
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == std::vector<std::int64_t>{1, -2, 3000000000});
  }
  SECTION("a string fails the consumer, naming the connector") {
    Model m;
    m.add<ListSource<Value>>("a", std::vector<Value>{1, "hello", 3});
    m.add<Collector<std::int64_t>>("b");
    m.connect("a.out", "b.in");
    auto process = m.build(kind);
    try {
      run_guarded(*process);
      FAIL("run() returned normally although a string reached an int64 input");
    } catch (const patchbay::ComponentFailure& e) {
      CHECK(e.component() == "b");
      CHECK_THAT(e.message(), Contains("a.out -> b.in"));
      CHECK_THAT(e.message(), Contains("hello"));
    }
    CHECK(status_of(*process, "b") == "FAILED");
    CHECK(stats_of(*process, "b").steps == 1);
  }
}

TEST_CASE("ports: strings and trivially copyable structs arrive intact", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("std::string") {
    const std::vector<std::string> items{"", "hello", std::string("with\0nul", 8),
                                         std::string(1000, 'z'), "last"};
    Model m;
    m.add<ListSource<std::string>>("src", items);
    m.add<Pass<std::string>>("pass");
    auto& sink = m.add<Collector<std::string>>("sink");
    m.connect("src.out", "pass.in");
    m.connect("pass.out", "sink.in", 4096);
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == items);
  }
  SECTION("struct") {
    const std::vector<Point> items{{1, 0.5, {'a', 'b', 'c'}}, {-7, -1e300, {'x'}}, {}};
    Model m;
    m.add<ListSource<Point>>("src", items);
    m.add<Pass<Point>>("pass");
    auto& sink = m.add<Collector<Point>>("sink");
    m.connect("src.out", "pass.in");
    m.connect("pass.out", "sink.in", 128);
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == items);
    CHECK(stats_of(*process, "sink").bytes_in == 3 * sizeof(Point));
  }
}

TEST_CASE("ports: a message larger than its channel fails, saying to raise the capacity",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<ListSource<std::string>>("src", std::vector<std::string>{"ok", std::string(100, 'x')});
  m.add<Collector<std::string>>("sink");
  m.connect("src.out", "sink.in", 64);
  auto process = m.build(kind);
  try {
    run_guarded(*process);
    FAIL("run() returned normally although a message did not fit its channel");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "src");
    CHECK_THAT(e.message(), Contains("src.out -> sink.in"));
    CHECK_THAT(e.message(), Contains("100 bytes"));
    CHECK_THAT(e.message(), Contains("raise") && Contains("capacity"));
  }
  check_all_final(*process);
}

// ---- the engines under test ----

TEST_CASE("test engines: parallel-split runs every component in a worker of its own",
          "[semantics]") {
  // A chain and a fan-out: the default planner would keep the chain in one worker.
  Model m;
  m.add<Counter>("src", 3);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Collector<std::int64_t>>("s1");
  m.add<Collector<std::int64_t>>("s2");
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "s1.in");
  m.connect("pass.out", "s2.in");
  auto process = m.build("parallel-split");
  const std::string plan = patchbay_test::plan_of(*process);
  INFO("plan:\n" << plan);
  for (const std::string name : {"src", "pass", "s1", "s2"})
    CHECK_THAT(plan, Contains("worker " + name + ": ") && Contains("; " + name + "\n"));
  std::size_t workers = 0;
  for (std::size_t at = plan.find("\nworker "); at != std::string::npos;
       at = plan.find("\nworker ", at + 1))
    ++workers;
  CHECK(workers == 4);
  CHECK_THAT(plan, Contains("8 cores"));
}
