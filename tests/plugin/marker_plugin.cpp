// A plugin for the tests: loading it leaves a file behind, so that a test can tell whether
// engine-run loaded it. It registers the component `Marker` (input `x`, output `y`, both
// int64) and, at static initialisation, creates `plugin-loaded.marker` in the working
// directory.
#include <patchbay/component.hpp>
#include <patchbay/registry.hpp>

#include <cstdint>
#include <fstream>

namespace {

/// Passes `x` on to `y`; needs the argument `factor`.
class Marker final : public patchbay::Component {
 public:
  explicit Marker(const patchbay::ComponentArgs& args)
      : Component(args), factor_(args.get<std::int64_t>("factor")) {}
  void step() override { y = x.value() * factor_; }

  patchbay::Input<std::int64_t> x{this, "x"};
  patchbay::Output<std::int64_t> y{this, "y"};

 private:
  std::int64_t factor_;
};

const bool marked = [] {
  std::ofstream("plugin-loaded.marker") << "loaded\n";
  return true;
}();

}  // namespace

PATCHBAY_REGISTER_COMPONENT(Marker);
