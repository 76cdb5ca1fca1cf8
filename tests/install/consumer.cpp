// A program of another project, built against an installed patchbay by tests/install/check.sh
// (pkg-config, CMake, meson subproject): a model of three components, run in-process.
#include <patchbay/patchbay.hpp>

#include <cstdint>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

namespace {

class Doubler : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<std::int64_t> x{this, "x"};
  patchbay::Output<std::int64_t> y{this, "y"};
  void step() override { y = 2 * x.value(); }
};

class Sum : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<std::int64_t> y{this, "y"};
  void step() override { total += y.value(); }
  std::int64_t total = 0;
};

}  // namespace

int main() {
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  parts.push_back(std::make_unique<patchbay::library::Iterator>("input", 5));
  parts.push_back(std::make_unique<Doubler>("double"));
  auto sum = std::make_unique<Sum>("sum");
  Sum& result = *sum;
  parts.push_back(std::move(sum));
  patchbay::LocalProcess process(std::move(parts),
                                 {{"input.x", "double.x"}, {"double.y", "sum.y"}});
  process.run();
  std::cout << "sum " << result.total << "\n";  // 2 * (0 + 1 + 2 + 3 + 4)
  return result.total == 20 ? 0 : 1;
}
