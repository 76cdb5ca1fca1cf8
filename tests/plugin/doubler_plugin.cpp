// A plugin for the tests: a shared module that registers the component `Doubler`.
#include <patchbay/component.hpp>
#include <patchbay/registry.hpp>

#include <stdexcept>

namespace {

/// Doubles input `x` onto output `y`; throws ("negative input") for a negative x.
class Doubler final : public patchbay::Component {
 public:
  explicit Doubler(const patchbay::ComponentArgs& args) : Component(args) {}
  void step() override {
    if (x.value() < 0) throw std::runtime_error("negative input");
    y = x.value() * 2;
  }

  patchbay::Input<double> x{this, "x"};
  patchbay::Output<double> y{this, "y"};
};

}  // namespace

PATCHBAY_REGISTER_COMPONENT(Doubler);
