// The components of Plugboard's "Tuning a process" tutorial, in C++: Iterator counts the
// horizontal positions x, Trajectory computes a projectile's height y at each, MaxHeight keeps
// the highest. model.yaml's tune: section searches the launch angle and velocity that give the
// greatest height (docs/TUNING.md). Built as a plugin; registered under the tutorial's names.
#include <patchbay/patchbay.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace {

/// x: 0, 1, ..., iters - 1, then closes.
class Iterator : public patchbay::Component {
 public:
  explicit Iterator(const patchbay::ComponentArgs& args)
      : Component(args), iters_(args.get<std::int64_t>("iters")) {}

  patchbay::Output<double> x{this, "x"};

  void step() override {
    if (next_ == iters_) {
      close();
      return;
    }
    x = static_cast<double>(next_++);
  }

 private:
  std::int64_t iters_;
  std::int64_t next_ = 0;
};

/// y: the height at x of a projectile launched at `angle` degrees and `velocity` m/s.
class Trajectory : public patchbay::Component {
 public:
  explicit Trajectory(const patchbay::ComponentArgs& args)
      : Component(args),
        angle_(args.get_or<double>("angle", 30.0) * std::numbers::pi / 180.0),
        velocity_(args.get_or<double>("velocity", 20.0)) {}

  patchbay::Input<double> x{this, "x"};
  patchbay::Output<double> y{this, "y"};

  void step() override {
    const double c = std::cos(angle_);
    y = x.value() * std::tan(angle_) -
        9.81 * x.value() * x.value() / (2 * velocity_ * velocity_ * c * c);
  }

 private:
  double angle_;
  double velocity_;
};

/// max_y: the greatest y so far (0 at first); also exported, so that a parallel model's
/// tuner reads it too.
class MaxHeight : public patchbay::Component {
 public:
  using Component::Component;

  patchbay::Input<double> y{this, "y"};
  patchbay::Output<double> max_y{this, "max_y"};

  void step() override {
    max_ = std::max(max_, y.value());
    max_y = max_;
  }
  void teardown(patchbay::Status) override { export_value("max_y", max_); }

 private:
  double max_ = 0;
};

}  // namespace

PATCHBAY_REGISTER_COMPONENT_AS(Iterator, "hello_tuner.Iterator");
PATCHBAY_REGISTER_COMPONENT_AS(Trajectory, "hello_tuner.Trajectory");
PATCHBAY_REGISTER_COMPONENT_AS(MaxHeight, "hello_tuner.MaxHeight");
