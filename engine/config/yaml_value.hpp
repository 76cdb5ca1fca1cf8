// Converting YAML nodes to Values, with YAML 1.2 core-schema scalars.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/value.hpp>

#include <yaml-cpp/yaml.h>

#include <string>

namespace patchbay::detail {

/// The file and 1-based line of a node.
SourceLocation location_of(const YAML::Node& node, const std::string& origin);

/// A scalar becomes null (~, null, empty), bool (true/false), int, double, or string (anything
/// else, and every quoted scalar); sequences become lists. Maps are rejected with a ModelError.
Value to_value(const YAML::Node& node, const std::string& origin);

}  // namespace patchbay::detail
