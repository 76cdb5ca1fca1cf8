// ParallelProcess, delivery: messages of every kind cross processes exactly once and in order,
// in every wait mode, with their counts and times.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <thread>

#include "parallel/parallel_runtime.hpp"
#include "placement/machine.hpp"
#include "shm/arena.hpp"
#include "support/command.hpp"
#include "support/components.hpp"
#include "support/parallel_run.hpp"
#include "support/shared_record.hpp"

using namespace std::chrono_literals;
using patchbay::Component;
using patchbay::Input;
using patchbay::Output;
using patchbay::ParallelProcess;
using patchbay::ProcessOptions;
using patchbay::Status;
using patchbay::test::add;
using patchbay::test::Counter;
using patchbay::test::Pass;
using patchbay::test::run_and_check_cleanup;
using patchbay::test::run_stopped_after;
using patchbay::test::ScopedEnvironment;
using patchbay::test::SequenceCheck;
using patchbay::test::SlowSink;
using patchbay::test::split_options;

namespace {

// Emits strings of varying length whose content depends on their sequence number.
class Texts final : public Component {
 public:
  Texts(std::string name, std::int64_t count) : Component(std::move(name)), count_(count) {}
  Output<std::string> out{this, "out"};
  void step() override {
    if (next_ == count_) {
      close();
      return;
    }
    out = std::string(static_cast<std::size_t>(next_ % 97), static_cast<char>('a' + next_ % 26)) +
          std::to_string(next_);
    ++next_;
  }

 private:
  std::int64_t count_;
  std::int64_t next_ = 0;
};

// Rebuilds the text a Texts source would send for each sequence number and compares.
class TextCheck final : public Component {
 public:
  TextCheck(std::string name, std::int64_t expected)
      : Component(std::move(name)), expected_(expected) {}
  Input<std::string> in{this, "in"};
  void step() override {
    const std::string want =
        std::string(static_cast<std::size_t>(next_ % 97), static_cast<char>('a' + next_ % 26)) +
        std::to_string(next_);
    if (in.value() != want) throw std::runtime_error("text " + std::to_string(next_) + " differs");
    ++next_;
  }
  void teardown(Status status) override {
    if (status == Status::completed && next_ != expected_)
      throw std::runtime_error("count differs");
  }

 private:
  std::int64_t expected_;
  std::int64_t next_ = 0;
};

// Passes values on, pausing 10 ms every 2,000 messages: long enough for the workers on both
// sides of it to give up spinning and go idle (or asleep), so that they must be woken, even in
// an unoptimised build under a sanitizer.
class Hiccup final : public Component {
 public:
  using Component::Component;
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (++seen_ % 2'000 == 0) std::this_thread::sleep_for(10ms);
    out = in.value();
  }

 private:
  std::int64_t seen_ = 0;
};

// A trivially copyable record that knows its sequence number and checks itself.
struct Reading {
  std::int64_t seq = 0;
  double value = 0;
  std::uint64_t check = 0;
};
std::uint64_t reading_check(std::int64_t seq, double value) {
  return static_cast<std::uint64_t>(seq) * 0x9e3779b97f4a7c15ULL ^
         static_cast<std::uint64_t>(value * 8);
}

// Sends `count` readings, and each sequence number as an int64 to a Value input beside them.
class Readings final : public Component {
 public:
  Readings(std::string name, std::int64_t count) : Component(std::move(name)), count_(count) {}
  Output<Reading> out{this, "out"};
  Output<std::int64_t> seq{this, "seq"};
  void step() override {
    if (sent_ == count_) {
      close();
      return;
    }
    const double v = static_cast<double>(sent_) * 0.5;
    out = Reading{sent_, v, reading_check(sent_, v)};
    seq = sent_++;
  }

 private:
  std::int64_t count_;
  std::int64_t sent_ = 0;
};

// Fails unless each step brings reading n intact, and n as a Value.
class ReadingCheck final : public Component {
 public:
  ReadingCheck(std::string name, std::int64_t expected)
      : Component(std::move(name)), expected_(expected) {}
  Input<Reading> in{this, "in"};
  Input<patchbay::Value> seq{this, "seq"};
  void step() override {
    const Reading& r = in.value();
    if (r.seq != next_ || r.check != reading_check(r.seq, r.value) || !seq.value().is_int() ||
        seq.value().as_int() != next_) {
      throw std::runtime_error("reading " + std::to_string(next_) + " arrived damaged");
    }
    ++next_;
  }
  void teardown(Status status) override {
    if (status == Status::completed && next_ != expected_)
      throw std::runtime_error("received " + std::to_string(next_) + " readings");
  }

 private:
  std::int64_t expected_;
  std::int64_t next_ = 0;
};

// SequenceCheck that stops for a moment every `every` values, so that whichever side is faster
// the producer finds its channel full: the full ring's wait is then tested in every run.
class PausingCheck final : public Component {
 public:
  PausingCheck(std::string name, std::int64_t expected, std::int64_t every)
      : Component(std::move(name)), expected_(expected), every_(every) {}
  Input<std::int64_t> in{this, "in"};
  void step() override {
    if (in.value() != next_)
      throw std::runtime_error("expected " + std::to_string(next_) + ", got " +
                               std::to_string(in.value()));
    if (++next_ % every_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  void teardown(Status status) override {
    if (status == Status::completed && next_ != expected_)
      throw std::runtime_error("received " + std::to_string(next_) + " values");
  }

 private:
  std::int64_t expected_;
  std::int64_t every_;
  std::int64_t next_ = 0;
};

}  // namespace

TEST_CASE("a million messages cross processes exactly once and in order", "[parallel]") {
  for (const auto mode :
       {patchbay::WaitMode::spin, patchbay::WaitMode::adaptive, patchbay::WaitMode::block}) {
    CAPTURE(to_string(mode));
    std::vector<std::unique_ptr<Component>> parts;
    add<Counter>(parts, "producer", "count", 1'000'000);
    add<PausingCheck>(parts, "consumer", "check", 1'000'000, 100'000);
    ProcessOptions options = split_options();
    options.wait = mode;
    // Small, and the consumer pauses ten times: the producer fills it and waits, however fast
    // each side runs (under a sanitizer the consumer may otherwise keep up throughout).
    options.channel_capacity = 4096;
    ParallelProcess process(std::move(parts), {{"count.out", "check.in"}}, options);
    const auto outcome = run_and_check_cleanup(process);
    REQUIRE(outcome.error.empty());
    CHECK(process.status() == Status::completed);
    const auto channels = process.channel_stats();
    CHECK(channels[0].messages == 1'000'000);
    CHECK(channels[0].times_full > 0);
    for (const auto& s : process.component_stats())
      CHECK(s.status == Status::completed);
  }
}

TEST_CASE("producers' fences and consumers' membarriers both wake every consumer", "[parallel]") {
  // PATCHBAY_ASYMMETRIC_BARRIERS=0: every producer fences; unset: producers skip the fence
  // towards spinning and adaptive consumers, which issue membarrier(2) before going idle.
  const char* setting = GENERATE(as<const char*>{}, nullptr, "0");
  CAPTURE(setting == nullptr ? "membarrier" : "fences");
  const ScopedEnvironment barriers("PATCHBAY_ASYMMETRIC_BARRIERS", setting);
  for (const auto mode : {patchbay::WaitMode::spin, patchbay::WaitMode::adaptive}) {
    CAPTURE(to_string(mode));
    // At each hiccup worker "ends" has its producer's channel full and its checker's empty, so
    // it goes idle, and the hiccup's next step must wake it: 10 times.
    constexpr int messages = 20'000;
    std::vector<std::unique_ptr<Component>> parts;
    add<Counter>(parts, "ends", "count", messages);
    add<Hiccup>(parts, "middle", "hiccup");
    add<SequenceCheck>(parts, "ends", "check", messages);
    ProcessOptions options = split_options();
    options.wait = mode;
    options.channel_capacity = 256;
    ParallelProcess process(std::move(parts),
                            {{"count.out", "hiccup.in"}, {"hiccup.out", "check.in"}}, options);
    const auto outcome = run_and_check_cleanup(process);
    REQUIRE(outcome.error.empty());
    CHECK(process.channel_stats()[1].messages == messages);
    for (const auto& s : process.component_stats())
      CHECK(s.status == Status::completed);
    if (mode == patchbay::WaitMode::adaptive) {
      for (const auto& w : process.worker_stats()) {
        if (w.name == "ends") CHECK(w.time_waiting > 0ns);  // it did fall asleep
      }
    }
  }
  // And a true deadlock is still told from a pause.
  std::vector<std::unique_ptr<Component>> parts;
  auto& a = add<Pass<>>(parts, "left", "a");
  add<Pass<>>(parts, "right", "b");
  a.set_initial_values("in", std::vector<patchbay::Value>(1000, patchbay::Value(1)));
  ProcessOptions options = split_options();
  options.wait = patchbay::WaitMode::adaptive;
  ParallelProcess process(std::move(parts), {{"a.out", "b.in", 64}, {"b.out", "a.in", 64}},
                          options);
  const auto outcome = run_and_check_cleanup(process);
  CHECK_THAT(outcome.error, Catch::StartsWith("deadlock"));
}

TEST_CASE("time in steps and asleep is counted in nanoseconds, within the run's time",
          "[parallel]") {
  // Steps are timed with the CPU's time-stamp counter where it is invariant, converted when
  // read: a wrong rate would put the busy time outside these bounds.
  constexpr int steps = 10;
  constexpr auto nap = 2ms;  // SlowSink's step
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "producer", "count", steps);
  add<SlowSink>(parts, "consumer", "slow");
  ProcessOptions options = split_options();
  options.wait = patchbay::WaitMode::block;
  ParallelProcess process(std::move(parts), {{"count.out", "slow.in"}}, options);
  const auto outcome = run_and_check_cleanup(process);
  REQUIRE(outcome.error.empty());
  const auto elapsed = process.elapsed();
  const auto stats = process.component_stats();
  REQUIRE(stats[1].steps == steps);
  CHECK(stats[1].time_in_step >= steps * nap * 9 / 10);
  CHECK(stats[1].time_in_step <= elapsed);
  // The producer is done at once and the consumer waits on it only before its first step.
  CHECK(stats[0].time_in_step < elapsed);
  std::chrono::nanoseconds busy{};
  for (const auto& w : process.worker_stats()) {
    CHECK(w.time_busy <= elapsed);
    CHECK(w.time_waiting <= elapsed);
    busy += w.time_busy;
  }
  CHECK(busy >= steps * nap * 9 / 10);
}

TEST_CASE("variable-length messages cross processes intact", "[parallel]") {
  std::vector<std::unique_ptr<Component>> parts;
  add<Texts>(parts, "producer", "texts", 100'000);
  add<TextCheck>(parts, "consumer", "check", 100'000);
  ParallelProcess process(std::move(parts), {{"texts.out", "check.in", 1024}}, split_options());
  const auto outcome = run_and_check_cleanup(process);
  CHECK(outcome.error.empty());
  CHECK(process.channel_stats()[0].messages == 100'000);
}

TEST_CASE("structs cross processes as fixed-size records, beside a converting connector",
          "[parallel]") {
  // Reading -> Reading travels as fixed-size records; int64 -> Value through Value's codec.
  // A small capacity makes the fixed-size ring wrap and fill many times.
  for (const auto mode : {patchbay::WaitMode::spin, patchbay::WaitMode::block}) {
    CAPTURE(to_string(mode));
    std::vector<std::unique_ptr<Component>> parts;
    add<Readings>(parts, "producer", "readings", 200'000);
    add<ReadingCheck>(parts, "consumer", "check", 200'000);
    ProcessOptions options = split_options();
    options.wait = mode;
    ParallelProcess process(std::move(parts),
                            {{"readings.out", "check.in", 256}, {"readings.seq", "check.seq"}},
                            options);
    const auto outcome = run_and_check_cleanup(process);
    REQUIRE(outcome.error.empty());
    const auto channels = process.channel_stats();
    CHECK(channels[0].messages == 200'000);
    CHECK(channels[0].bytes == 200'000 * sizeof(Reading));
    CHECK(channels[0].times_full > 0);
  }
}

TEST_CASE("counts are published while a component runs, and exact at the end", "[parallel]") {
  // A runner keeps its counts on its fiber and publishes them every 64 steps and whenever it
  // waits: readers see them move during the run.
  constexpr std::int64_t messages = 20'000'000;
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "producer", "count", messages);
  add<SequenceCheck>(parts, "consumer", "check", messages);
  ParallelProcess process(std::move(parts), {{"count.out", "check.in"}}, split_options());
  std::atomic<bool> done{false};
  std::uint64_t seen_steps = 0;
  std::uint64_t seen_messages = 0;
  std::thread reader([&] {
    while (!done.load() && (seen_steps == 0 || seen_messages == 0)) {
      for (const auto& s : process.component_stats())
        if (s.status == Status::running || s.status == Status::waiting) {
          if (s.name == "count") seen_steps = s.steps;
          if (s.name == "check") seen_messages = s.messages_in;
        }
      std::this_thread::sleep_for(1ms);
    }
  });
  const auto outcome = run_stopped_after(process, 1500ms);
  done = true;
  reader.join();
  CHECK(outcome.error.empty());
  CHECK(seen_steps > 0);
  CHECK(seen_messages > 0);
  // At the end: every message the producer counted was sent, and the consumer counted what it
  // took, whether it completed or was stopped.
  const auto stats = process.component_stats();
  const auto channels = process.channel_stats();
  CHECK(stats[0].messages_out == channels[0].messages);
  CHECK(stats[1].messages_in <= channels[0].messages);
  CHECK(stats[1].steps == stats[1].messages_in);
}

TEST_CASE("a model mixes in-worker and cross-worker connectors", "[parallel]") {
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "one", "count", 50'000);
  add<Pass<>>(parts, "one", "pass-a");  // same worker as count: an in-worker ring
  add<Pass<>>(parts, "two", "pass-b");  // another worker
  add<SequenceCheck>(parts, "two", "check", 50'000);
  ParallelProcess process(
      std::move(parts),
      {{"count.out", "pass-a.in"}, {"pass-a.out", "pass-b.in"}, {"pass-b.out", "check.in"}},
      split_options());
  CHECK_THAT(process.plan(), Catch::Contains("worker one") && Catch::Contains("worker two"));
  const auto outcome = run_and_check_cleanup(process);
  CHECK(outcome.error.empty());
  CHECK(process.status() == Status::completed);
}
