// The components of Plugboard's events tutorial, in C++: a random source that ends the run
// with a StopEvent, a component that publishes high and low events, and two that collect them.
// Built as a plugin that engine-run loads with --plugin; registered under the names the
// tutorial's model file uses.
#include <patchbay/patchbay.hpp>

#include <cstdint>
#include <optional>
#include <random>

namespace {

/// What a high or a low event carries.
struct ExtremeValue {
  double value = 0;
  bool high = false;
};

/// value: `iters` numbers drawn uniformly from [0, 1); the step that draws the last one also
/// sends the StopEvent. `seed` (optional) makes the numbers repeatable.
class Random : public patchbay::Component {
 public:
  explicit Random(const patchbay::ComponentArgs& args)
      : Component(args),
        iters_(args.get_or<std::int64_t>("iters", 50)),
        engine_(args.contains("seed") ? static_cast<std::uint64_t>(args.get<std::int64_t>("seed"))
                                      : std::random_device{}()) {
    if (iters_ < 1) throw args.error("iters", "must be at least 1");
  }

  patchbay::Output<double> value{this, "value"};

  void step() override {
    value = distribution_(engine_);
    if (++done_ == iters_) publish_stop();
  }

 private:
  std::int64_t iters_;
  std::int64_t done_ = 0;
  std::mt19937_64 engine_;
  std::uniform_real_distribution<double> distribution_{0.0, 1.0};
};

/// Publishes high_event for a value at or above `high_limit`, low_event at or below
/// `low_limit`.
class FindHighLowValues : public patchbay::Component {
 public:
  explicit FindHighLowValues(const patchbay::ComponentArgs& args)
      : Component(args),
        low_limit_(args.get_or<double>("low_limit", 0.2)),
        high_limit_(args.get_or<double>("high_limit", 0.8)) {}

  patchbay::Input<double> value{this, "value"};
  patchbay::EventOutput<ExtremeValue> high{this, "high_event"};
  patchbay::EventOutput<ExtremeValue> low{this, "low_event"};

  void step() override {
    if (value.value() >= high_limit_) high.publish({value.value(), true});
    if (value.value() <= low_limit_) low.publish({value.value(), false});
  }

 private:
  double low_limit_;
  double high_limit_;
};

/// Handles high events (High) or low ones: after each, value is the latest event's value.
/// Exports how many it handled (`events`: the --stats JSON shows it).
template <bool High>
class Collect : public patchbay::Component {
 public:
  using Component::Component;

  patchbay::EventInput<ExtremeValue> on_event{this, High ? "high_event" : "low_event",
                                              &Collect::handle};
  patchbay::Output<patchbay::Value> value{this, "value"};

  void handle(const patchbay::Event<ExtremeValue>& event) {
    latest_ = event.data.value;
    ++handled_;
  }
  void step() override { value = latest_ ? patchbay::Value(*latest_) : patchbay::Value(); }
  void teardown(patchbay::Status) override { export_value("events", handled_); }

 private:
  std::optional<double> latest_;
  std::int64_t handled_ = 0;
};

using CollectHigh = Collect<true>;
using CollectLow = Collect<false>;

}  // namespace

PATCHBAY_REGISTER_COMPONENT_AS(Random, "hello_events.Random");
PATCHBAY_REGISTER_COMPONENT_AS(FindHighLowValues, "hello_events.FindHighLowValues");
PATCHBAY_REGISTER_COMPONENT_AS(CollectHigh, "hello_events.CollectHigh");
PATCHBAY_REGISTER_COMPONENT_AS(CollectLow, "hello_events.CollectLow");
