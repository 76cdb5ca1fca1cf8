// The README's embedding example, built so that it stays true.
#include <iostream>
#include <patchbay/patchbay.hpp>

// A component: typed fields as members, one step() per set of inputs.
class Doubler : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<std::int64_t> x{this, "x"};
  patchbay::Output<std::int64_t> y{this, "y"};
  void step() override { y = 2 * x.value(); }
};

int main() {
  namespace lib = patchbay::library;
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  parts.push_back(std::make_unique<lib::Iterator>("input", 5));
  parts.push_back(std::make_unique<Doubler>("double"));
  parts.push_back(
      std::make_unique<lib::FileWriter>("save", "out.csv", std::vector<std::string>{"y"}));
  patchbay::LocalProcess process(std::move(parts),
                                 {{"input.x", "double.x"}, {"double.y", "save.y"}});
  process.run();  // throws patchbay::ComponentFailure if a component throws
  for (const auto& s : process.component_stats())
    std::cout << s.name << ": " << s.steps << " steps\n";
}
