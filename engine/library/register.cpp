#include <patchbay/library.hpp>
#include <patchbay/registry.hpp>

#include <string>

#include "core/registry_access.hpp"
#include "serve/dag_call.hpp"

namespace patchbay::library {

namespace {
template <class T>
ComponentFactory factory(const char* name) {
  patchbay::detail::remember_class_name(typeid(T), name);
  return [](const ComponentArgs& args) -> std::unique_ptr<Component> {
    return std::make_unique<T>(args);
  };
}

// An Ingress or Egress of the type its `type` argument names.
template <template <class> class HostComponent>
ComponentFactory host_factory() {
  return [](const ComponentArgs& args) -> std::unique_ptr<Component> {
    const std::string type = args.get_or<std::string>("type", "Value");
    if (type == "Value") return std::make_unique<HostComponent<Value>>(args);
    if (type == "int64") return std::make_unique<HostComponent<std::int64_t>>(args);
    if (type == "double") return std::make_unique<HostComponent<double>>(args);
    if (type == "bool") return std::make_unique<HostComponent<bool>>(args);
    if (type == "string") return std::make_unique<HostComponent<std::string>>(args);
    if (type == "bytes") return std::make_unique<HostComponent<std::vector<std::byte>>>(args);
    throw args.error(
        "type", "must be one of int64, double, bool, string, bytes, Value; got '" + type + "'");
  };
}
}  // namespace

void register_library(Registry& registry) {
  using detail::RegistryAccess;
  RegistryAccess::add_builtin(registry, "Iterator", factory<Iterator>("Iterator"));
  RegistryAccess::add_builtin(registry, "Sleep", factory<Sleep>("Sleep"));
  RegistryAccess::add_builtin(registry, "Timestamper", factory<Timestamper>("Timestamper"));
  RegistryAccess::add_builtin(registry, "FileReader", factory<FileReader>("FileReader"));
  RegistryAccess::add_builtin(registry, "FileWriter", factory<FileWriter>("FileWriter"));
  RegistryAccess::add_builtin(registry, "SQLReader", factory<SQLReader>("SQLReader"));
  RegistryAccess::add_builtin(registry, "SQLWriter", factory<SQLWriter>("SQLWriter"));
  RegistryAccess::add_builtin(registry, "Ingress", host_factory<Ingress>());
  RegistryAccess::add_builtin(registry, "Egress", host_factory<Egress>());
  // The nodes of compiled DAGs (dag.hpp), not meant for model files.
  RegistryAccess::add_builtin(registry, std::string(patchbay::detail::dag_call_type),
                              patchbay::detail::dag_call_factory());
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
