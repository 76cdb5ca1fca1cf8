// The components the tests build their models from, each written once.
//
// A ParallelProcess constructs components in the test process and runs them in forked workers,
// so what a component observes during a run goes to shared memory mapped in its constructor
// (SharedRecord, SharedCounter), never to plain members: those would change in the child only.
// Settings (timed, pause, initial values) are made before the run and travel with the fork.
// The exceptions are RowCollector, ThrowingSource and ThrowOnValue, which the library's tests
// run in a LocalProcess only.
//
// Components with a constructor taking ComponentArgs can also be registered by name (the fork
// server's tests, the fault campaign's plugin) and built from a model.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>
#include <patchbay/port.hpp>
#include <patchbay/status.hpp>
#include <patchbay/value.hpp>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/shared_record.hpp"

namespace patchbay::test {

/// steady_clock's time in nanoseconds, as Paced stamps its steps.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Capacity of a component's records: room for a few thousand small records; more fails the
/// recording component with a message saying so.
inline constexpr std::size_t record_capacity = std::size_t{256} * 1024;

/// What every component below that derives from it can do besides its job: count its init()
/// calls, stamp the start of each step (to compare the progress of a producer with that of its
/// consumer) and take a while over each step.
class Paced : public Component {
 public:
  using Component::Component;

  bool timed = false;
  std::chrono::microseconds pause{0};
  SharedRecord step_times{record_capacity};  // int64 steady_clock nanoseconds
  SharedCounter inits;

  void init() override { ++inits; }

 protected:
  void pace() {
    if (timed) step_times.append(now_ns());
    if (pause.count() != 0) std::this_thread::sleep_for(pause);
  }
};

/// Emits first, first+1, ... on `out`, `count` values, then closes (never when count < 0). It
/// writes `out` in the closing step too: that value must not be sent. Argument: `count`.
class Counter final : public Paced {
 public:
  explicit Counter(std::string name, std::int64_t count = -1, std::int64_t first = 0)
      : Paced(std::move(name)), count_(count), first_(first) {}
  explicit Counter(const ComponentArgs& args)
      : Paced(args), count_(args.get<std::int64_t>("count")), first_(0) {}

  Output<std::int64_t> out{this, "out"};

  void step() override {
    pace();
    out = first_ + emitted_;
    if (emitted_ == count_) {
      close();
      return;
    }
    ++emitted_;
  }

 private:
  std::int64_t count_;
  std::int64_t first_;
  std::int64_t emitted_ = 0;
};

/// Fails the run unless it receives 0, 1, 2, ... exactly once and in order, and at completion
/// unless it saw exactly `expected` values: delivery across processes. Argument: `expected`.
class SequenceCheck final : public Component {
 public:
  SequenceCheck(std::string name, std::int64_t expected)
      : Component(std::move(name)), expected_(expected) {}
  explicit SequenceCheck(const ComponentArgs& args)
      : Component(args), expected_(args.get<std::int64_t>("expected")) {}

  Input<std::int64_t> in{this, "in"};

  void step() override {
    if (in.value() != next_) {
      throw std::runtime_error("expected " + std::to_string(next_) + ", got " +
                               std::to_string(in.value()));
    }
    ++next_;
  }
  void teardown(Status status) override {
    if (status == Status::completed && next_ != expected_) {
      throw std::runtime_error("received " + std::to_string(next_) + " values, expected " +
                               std::to_string(expected_));
    }
  }

 private:
  std::int64_t expected_;
  std::int64_t next_ = 0;
};

/// Emits the given items on `out`, one per step, then closes.
template <class T>
class ListSource final : public Paced {
 public:
  ListSource(std::string name, std::vector<T> items)
      : Paced(std::move(name)), items_(std::move(items)) {}

  Output<T> out{this, "out"};

  void step() override {
    pace();
    if (next_ == items_.size()) {
      close();
      return;
    }
    out = items_[next_++];
  }

 private:
  std::vector<T> items_;
  std::size_t next_ = 0;
};

/// Records every value it receives on `in` (or only counts them when keep is false).
template <class T>
class Collector final : public Paced {
 public:
  explicit Collector(std::string name, bool keep = true) : Paced(std::move(name)), keep_(keep) {}

  Input<T> in{this, "in"};
  SharedRecord values{record_capacity};
  SharedCounter received;

  void step() override {
    pace();
    ++received;
    if (keep_) values.append(in.value());
  }

 private:
  bool keep_;
};

/// Copies `in` to `out`. No arguments.
template <class T = std::int64_t>
class Pass final : public Paced {
 public:
  using Paced::Paced;

  Input<T> in{this, "in"};
  Output<T> out{this, "out"};

  void step() override {
    pace();
    out = in.value();
  }
};

/// Two inputs: records each pair it steps on and sends their sum.
class Adder final : public Paced {
 public:
  using Paced::Paced;

  Input<std::int64_t> a{this, "a"};
  Input<std::int64_t> b{this, "b"};
  Output<std::int64_t> sum{this, "sum"};
  SharedRecord pairs{record_capacity};  // std::pair<int64, int64>

  void step() override {
    pace();
    pairs.append(std::pair{a.value(), b.value()});
    sum = a.value() + b.value();
  }
};

/// A pass-through that throws in its `throw_at`-th step, or in init() when throw_at is 0.
class Thrower final : public Paced {
 public:
  Thrower(std::string name, int throw_at) : Paced(std::move(name)), throw_at_(throw_at) {}

  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};

  void init() override {
    Paced::init();
    if (throw_at_ == 0) throw std::runtime_error("boom in init");
  }
  void step() override {
    pace();
    if (++steps_ == throw_at_) throw std::runtime_error("boom at step " + std::to_string(steps_));
    out = in.value();
  }

 private:
  int throw_at_;
  int steps_ = 0;
};

/// A pass-through that calls close() in its `close_at`-th step.
class Closer final : public Paced {
 public:
  Closer(std::string name, int close_at) : Paced(std::move(name)), close_at_(close_at) {}

  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};

  void step() override {
    out = in.value();
    if (++steps_ == close_at_) close();
  }

 private:
  int close_at_;
  int steps_ = 0;
};

/// Writes its outputs only when the input is 1 or 3, so that the other steps show what an
/// output sends when it was not written (or never written).
class SparseWriter final : public Paced {
 public:
  using Paced::Paced;

  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> i{this, "i"};
  Output<Value> v{this, "v"};
  Output<std::string> s{this, "s"};

  void step() override {
    if (in.value() == 1) {
      i = 10;
      v = "ten";
      s = "one";
    } else if (in.value() == 3) {
      i = 30;
      v = 3.5;
      s = "three";
    }
  }
};

/// One half of a counting loop: sends in + 1 until `in` reaches `limit`, then closes.
class LoopCounter final : public Paced {
 public:
  LoopCounter(std::string name, std::int64_t limit) : Paced(std::move(name)), limit_(limit) {}

  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  SharedRecord seen{record_capacity};  // int64

  void step() override {
    seen.append(in.value());
    if (in.value() >= limit_) {
      close();
      return;
    }
    out = in.value() + 1;
  }

 private:
  std::int64_t limit_;
};

/// A source whose single step takes "forever" unless it notices the stop: it polls
/// stop_requested() (for at most `patience`) the way a long computation should.
class LongStep final : public Paced {
 public:
  LongStep(std::string name, std::chrono::milliseconds patience)
      : Paced(std::move(name)), patience_(patience) {}

  Output<std::int64_t> out{this, "out"};
  SharedCounter saw_stop;

  void step() override {
    const auto deadline = std::chrono::steady_clock::now() + patience_;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stop_requested()) {
        ++saw_stop;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  std::chrono::milliseconds patience_;
};

/// A sink whose teardown() throws once it has completed normally.
class BadTeardown final : public Paced {
 public:
  using Paced::Paced;

  Input<std::int64_t> in{this, "in"};
  SharedRecord torn_down_with{record_capacity};  // Status

  void step() override {}
  void teardown(Status final_status) override {
    torn_down_with.append(final_status);
    throw std::runtime_error("cannot flush");
  }
};

/// How a Faulty component fails.
enum class Fault { exception, abort, segfault, exit, exit_at_once, hang };

/// A pass-through that fails when it receives the value `at`, in the way `fault` says
/// (exit_at_once: exit(9) in its first step, whatever it receives). Arguments: `fault`
/// ("exception", "abort", "segfault", "exit" or "hang") and `at`.
class Faulty final : public Component {
 public:
  Faulty(std::string name, Fault fault, std::int64_t at)
      : Component(std::move(name)), fault_(fault), at_(at) {}
  explicit Faulty(const ComponentArgs& args)
      : Component(args),
        fault_(fault_named(args.get<std::string>("fault"))),
        at_(args.get<std::int64_t>("at")) {}

  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};

  void step() override {
    if (fault_ == Fault::exit_at_once) std::exit(9);
    if (in.value() == at_) {
      switch (fault_) {
        case Fault::exception:
          throw std::runtime_error("bad value " + std::to_string(at_));
        case Fault::abort:
          std::abort();
        case Fault::segfault:
          std::raise(SIGSEGV);
          break;
        case Fault::exit:
          std::exit(7);
        case Fault::exit_at_once:
          break;
        case Fault::hang:
          while (true)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    out = in.value();
  }

 private:
  static Fault fault_named(const std::string& name) {
    if (name == "exception") return Fault::exception;
    if (name == "abort") return Fault::abort;
    if (name == "segfault") return Fault::segfault;
    if (name == "exit") return Fault::exit;
    if (name == "hang") return Fault::hang;
    throw std::invalid_argument("Faulty: unknown fault '" + name + "'");
  }

  Fault fault_;
  std::int64_t at_;
};

/// A sink that never finishes on its own: 2 ms a step keeps its producer blocked on a full
/// ring. No arguments.
class SlowSink final : public Component {
 public:
  using Component::Component;

  Input<std::int64_t> in{this, "in"};

  void step() override { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }
};

/// One row of RowCollector: the values of its inputs in one step.
using Row = std::vector<Value>;

/// The rows a RowCollector of one field records for the integers 0..n-1.
inline std::vector<Row> ints(std::int64_t n) {
  std::vector<Row> rows;
  for (std::int64_t i = 0; i < n; ++i)
    rows.push_back({Value(i)});
  return rows;
}

/// Records every step's input values (one Value input per field), one row per step, in a plain
/// member: for a LocalProcess only.
class RowCollector final : public Component {
 public:
  RowCollector(std::string name, const std::vector<std::string>& fields)
      : Component(std::move(name)) {
    for (const auto& field : fields)
      inputs_.push_back(&add_input<Value>(field));
  }
  void step() override {
    Row row;
    for (const auto* input : inputs_)
      row.push_back(input->value());
    rows.push_back(std::move(row));
  }

  std::vector<Row> rows;

 private:
  std::vector<Input<Value>*> inputs_;
};

/// Emits 0, 1, ... as Values on `out` and throws ("source gave up") at step `fail_at`.
class ThrowingSource final : public Component {
 public:
  ThrowingSource(std::string name, std::int64_t fail_at)
      : Component(std::move(name)), fail_at_(fail_at) {}
  void step() override {
    if (next_ == fail_at_) throw std::runtime_error("source gave up");
    out = next_++;
  }

  Output<Value> out{this, "out"};

 private:
  std::int64_t fail_at_;
  std::int64_t next_ = 0;
};

/// Consumes the Value input `x` and throws ("thrower hit VALUE") when it equals `trigger`.
class ThrowOnValue final : public Component {
 public:
  ThrowOnValue(std::string name, Value trigger) : Component(std::move(name)), trigger_(trigger) {}
  void step() override {
    if (x.value() == trigger_) throw std::runtime_error("thrower hit " + trigger_.to_string());
  }

  Input<Value> x{this, "x"};

 private:
  Value trigger_;
};

}  // namespace patchbay::test
