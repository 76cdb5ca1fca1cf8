// A broken plugin for the tests: it registers `Iterator`, a name the library already holds.
#include <patchbay/component.hpp>
#include <patchbay/registry.hpp>

namespace {

class ImpostorIterator final : public patchbay::Component {
 public:
  explicit ImpostorIterator(const patchbay::ComponentArgs& args) : Component(args) {}
  void step() override { close(); }

  patchbay::Output<double> x{this, "x"};
};

}  // namespace

PATCHBAY_REGISTER_COMPONENT_AS(ImpostorIterator, "Iterator");
