// Converting YAML nodes to Values, with YAML 1.2 core-schema scalars.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/value.hpp>

#include <yaml-cpp/yaml.h>

#include <string>

namespace patchbay::detail {

/// Parses `text` as one YAML document within the limits: at most limits::max_model_file_bytes,
/// and, counted on the event stream before yaml-cpp builds its tree (which costs a few hundred
/// bytes a node), at most limits::max_yaml_nodes nodes nested at most limits::max_yaml_depth
/// deep; a second document is refused at its line. Then runs check_document(). Throws
/// ModelError with `origin` and the line: for those limits and for YAML syntax errors.
YAML::Node load_document(const std::string& text, const std::string& origin);

/// Checks a whole parsed document before anything reads it: at most limits::max_yaml_nodes
/// nodes and limits::max_yaml_text_bytes of scalar text, an alias counted each time it is used
/// (yaml-cpp shares an aliased node, so walking the tree expands it), nesting of at most
/// limits::max_yaml_depth, mapping keys that are scalars, and no key twice in one mapping.
/// Throws ModelError naming the limit, or the key and both its lines, at the offending line.
/// Once it passes, any walk of the document is bounded by those limits.
void check_document(const YAML::Node& root, const std::string& origin);

/// The file and 1-based line of a node.
SourceLocation location_of(const YAML::Node& node, const std::string& origin);

/// A scalar becomes null (~, null, empty), bool (true/false), int, double, or string (anything
/// else, and every quoted scalar); sequences become lists. Maps are rejected with a ModelError.
Value to_value(const YAML::Node& node, const std::string& origin);

}  // namespace patchbay::detail
