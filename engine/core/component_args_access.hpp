// Engine-side access to ComponentArgs: building them from a model, and what only the engine
// reads back.
#pragma once

#include <patchbay/component_args.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace patchbay::detail {

/// The engine's key to ComponentArgs: the builder that instantiate() fills from a
/// ComponentSpec, and the fields that Component's constructor and Registry::create() read.
class ComponentArgsAccess {
 public:
  /// Adds argument `key`, written at `where` (its YAML line, when known).
  static void set(ComponentArgs& args, std::string key, Value value, SourceLocation where) {
    args.set(std::move(key), std::move(value), std::move(where));
  }
  static void set_initial_values(ComponentArgs& args, std::string field,
                                 std::vector<Value> values) {
    args.set_initial_values(std::move(field), std::move(values));
  }
  static void set_resources(ComponentArgs& args, ResourceOverrides resources) {
    args.set_resources(std::move(resources));
  }
  static void set_parameters(ComponentArgs& args, std::map<std::string, Value> parameters) {
    args.set_parameters(std::move(parameters));
  }
  /// The registered type name and where the component was written, for messages.
  static void set_context(ComponentArgs& args, std::string type, SourceLocation where) {
    args.set_context(std::move(type), std::move(where));
  }

  /// The folder relative paths in the component's arguments are taken against (get_path()).
  static void set_base_dir(ComponentArgs& args, std::string base_dir) {
    args.set_base_dir(std::move(base_dir));
  }

  [[nodiscard]] static const std::string& type(const ComponentArgs& args) { return args.type_; }
  [[nodiscard]] static const std::map<std::string, Value>& values(const ComponentArgs& args) {
    return args.values_;
  }
  [[nodiscard]] static const ResourceOverrides& resources(const ComponentArgs& args) {
    return args.resources_;
  }
  [[nodiscard]] static const std::map<std::string, std::vector<Value>>& initial_values(
      const ComponentArgs& args) {
    return args.initial_values_;
  }
  /// Arguments never read, sorted.
  [[nodiscard]] static std::vector<std::string> unused(const ComponentArgs& args) {
    return args.unused();
  }
};

}  // namespace patchbay::detail
