// Engine-side access to a registry's recorded registration errors.
#pragma once

#include <patchbay/registry.hpp>

#include <string>
#include <utility>
#include <vector>

namespace patchbay::detail {

/// The engine's key to what a Registrar recorded: registration errors, which load_plugin()
/// reports once the plugin's static initialisation is over.
class RegistryAccess {
 public:
  /// Returns and clears the recorded registration errors. Thread-safe.
  [[nodiscard]] static std::vector<std::string> take_errors(Registry& registry) {
    return registry.take_errors();
  }
  /// Adds a built-in type (the library's): see Registry::resolve(). Thread-safe.
  static void add_builtin(Registry& registry, std::string name, ComponentFactory factory) {
    registry.add_builtin(std::move(name), std::move(factory));
  }
};

}  // namespace patchbay::detail
