#include <patchbay/library.hpp>
#include <patchbay/registry.hpp>

namespace patchbay::library {

namespace {
template <class T>
ComponentFactory factory() {
  return [](const ComponentArgs& args) -> std::unique_ptr<Component> {
    return std::make_unique<T>(args);
  };
}
}  // namespace

void register_library(Registry& registry) {
  registry.add("Iterator", factory<Iterator>());
  registry.add("Sleep", factory<Sleep>());
  registry.add("Timestamper", factory<Timestamper>());
  registry.add("FileReader", factory<FileReader>());
  registry.add("FileWriter", factory<FileWriter>());
}

}  // namespace patchbay::library

namespace patchbay {

// Defined with the library rather than in core: the global registry is the one that holds the
// library's components, and core does not depend on the library.
Registry& Registry::global() {
  static Registry* registry = [] {
    auto* r = new Registry();  // never destroyed: plugins may register during static exit
    library::register_library(*r);
    return r;
  }();
  return *registry;
}

}  // namespace patchbay
