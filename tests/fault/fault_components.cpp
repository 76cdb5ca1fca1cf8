// Components for the fault campaign's models, as a plugin engine-run loads: a counting source,
// a pass-through and a sink that fails the run on any gap, duplicate or reordering.
#include <patchbay/patchbay.hpp>

#include "support/sequence_components.hpp"

namespace patchbay::test {

/// Sends on what it receives. No arguments.
class Pass final : public patchbay::Component {
 public:
  explicit Pass(const patchbay::ComponentArgs& args) : Component(args) {}
  patchbay::Input<std::int64_t> in{this, "in"};
  patchbay::Output<std::int64_t> out{this, "out"};
  void step() override { out = in.value(); }
};

PATCHBAY_REGISTER_COMPONENT(Counter);
PATCHBAY_REGISTER_COMPONENT(Pass);
PATCHBAY_REGISTER_COMPONENT(SequenceCheck);

}  // namespace patchbay::test
