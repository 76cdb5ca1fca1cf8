// Building a spec's components from the registry.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <memory>
#include <vector>

namespace patchbay::detail {

/// What instantiate() does with a component type the registry does not know.
enum class UnknownTypes : std::uint8_t {
  reject,    ///< a ModelError listing the registered types
  stand_in,  ///< a stand-in component (validation without the plugin that has the type)
};

/// A spec's components, built, and the connectors between them.
struct Instantiated {
  std::vector<std::unique_ptr<Component>> components;
  std::vector<ConnectorSpec> connectors;
  /// Per component: its entry in the model (copies and routers: their component's).
  std::vector<SourceLocation> locations;
  /// The spec's options, with each component's step_timeout (copies: their component's).
  ProcessOptions options;
};

/// Creates every component of `spec` with its arguments, initial values, resource overrides and
/// the process parameters. Throws ModelError (unknown type, bad or unknown argument, replicas
/// that cannot be) located at the component's line.
///
/// A component with `replicas` N > 1 becomes N copies NAME#1..NAME#N with a split before them
/// and a merge after them (serve/replicas.hpp); the connectors to and from NAME go to the split
/// and from the merge, and new connectors join the split, the copies and the merge.
///
/// With UnknownTypes::stand_in, a component whose type is unknown becomes a stand-in that
/// never runs: its inputs and outputs are the fields the connectors name on it, all of type
/// Value (so wiring checks everything about a connector but the types behind them), its
/// resources are those the model gives, and its arguments are not checked.
Instantiated instantiate(const ProcessSpec& spec, const Registry& registry,
                         UnknownTypes unknown = UnknownTypes::reject);

/// Whether `component` is a stand-in made by instantiate().
bool is_stand_in(const Component& component);

}  // namespace patchbay::detail
