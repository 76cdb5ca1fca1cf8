// The component type of a compiled DAG's nodes (engine/serve/dag.cpp), in the global registry
// so that a ForkServer's workers can build it from a spec.
#pragma once

#include <patchbay/registry.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace patchbay::detail {

/// The registered type name of a DAG's node.
inline constexpr std::string_view dag_call_type = "patchbay.DagCall";

/// Makes a DAG's node from its arguments: `function`, `arguments`, `dependencies`.
ComponentFactory dag_call_factory();

/// `bytes` as the text of a node's `arguments` (hexadecimal).
std::string to_hex(std::span<const std::byte> bytes);

}  // namespace patchbay::detail
