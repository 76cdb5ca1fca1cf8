// A plugin for the tests that stands for one built against other patchbay headers: it
// registers its component with the stamp such headers would give (a larger Component), as
// PATCHBAY_REGISTER_COMPONENT compiled against them would.
#include <patchbay/component.hpp>
#include <patchbay/registry.hpp>

namespace {

class StaleThing final : public patchbay::Component {
 public:
  explicit StaleThing(const patchbay::ComponentArgs& args) : Component(args) {}
  void step() override { close(); }
};

const bool registered = [] {
  patchbay::detail::AbiStamp stamp = patchbay::detail::abi_stamp();
  stamp.component += 32;  // a member the other headers had
  patchbay::detail::register_component(
      "StaleThing",
      [](const patchbay::ComponentArgs& args) -> std::unique_ptr<patchbay::Component> {
        return std::make_unique<StaleThing>(args);
      },
      stamp, typeid(StaleThing));
  return true;
}();

}  // namespace
