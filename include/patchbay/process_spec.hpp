// A model as data: components, connectors and options, built in code or loaded from YAML.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>
#include <patchbay/value.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace patchbay {

/// Which engine runs a model.
enum class ProcessKind : std::uint8_t { local, parallel };

/// One component of a model: its registered type, name and arguments.
struct ComponentSpec {
  std::string type;
  std::string name;
  std::map<std::string, Value> args;  ///< constructor arguments
  std::map<std::string, std::vector<Value>> initial_values;
  ResourceOverrides resources;
  SourceLocation where;                                 ///< the component's entry
  std::map<std::string, SourceLocation> arg_locations;  ///< per argument, when known
};

/// A connector "source.field" -> "target.field".
struct ConnectorSpec {
  ConnectorSpec() = default;
  /// `{"source.field", "target.field"}`, optionally with a capacity in bytes.
  ConnectorSpec(std::string source_field, std::string target_field, std::size_t capacity_bytes = 0)
      : source(std::move(source_field)),
        target(std::move(target_field)),
        capacity(capacity_bytes) {}

  std::string source;
  std::string target;
  /// Channel capacity in bytes (rounded up to a power of two); 0 uses the process default.
  std::size_t capacity = 0;
  SourceLocation where;
};

/// Options that apply to the whole process.
struct ProcessOptions {
  /// Default channel capacity in bytes (a power of two, at least 64).
  std::size_t channel_capacity = std::size_t{64} * 1024;
  /// Stack size of each component fiber, in bytes.
  std::size_t fiber_stack_size = std::size_t{256} * 1024;
};

/// A whole model. Plain data: copy it, edit it, hand it to make_process().
struct ProcessSpec {
  std::string name = "process";
  ProcessKind kind = ProcessKind::local;
  std::vector<ComponentSpec> components;
  std::vector<ConnectorSpec> connectors;
  std::map<std::string, Value> parameters;  ///< shared with every component
  ProcessOptions options;
  /// Process arguments the local engine does not use (kept for the parallel engine).
  std::map<std::string, Value> extra_args;
  std::vector<std::string> plugins;  ///< shared libraries to load, resolved paths
  SourceLocation where;              ///< the model file, when loaded from one

  /// Finds a component by name, or nullptr.
  [[nodiscard]] ComponentSpec* find(const std::string& component_name);
};

}  // namespace patchbay
