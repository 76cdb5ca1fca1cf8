// A component for a cycle: sum = x + previous, where `previous` is fed back from `sum`.
// Built as a plugin that engine-run loads with --plugin (or a model's plugins:).
#include <patchbay/patchbay.hpp>

class Accumulator : public patchbay::Component {
 public:
  using Component::Component;

  patchbay::Input<std::int64_t> x{this, "x"};
  patchbay::Input<std::int64_t> previous{this, "previous"};
  patchbay::Output<std::int64_t> sum{this, "sum"};

  void step() override { sum = x.value() + previous.value(); }
};

PATCHBAY_REGISTER_COMPONENT(Accumulator);
