// The bounds a topology from a model must keep (limits::max_topology_*), checked before hwloc
// builds it: hwloc would spend minutes, or loop, on "pack:16 core:1024 pu:16" or "2147483648",
// and reads an XML export whole. Every failure to load a topology is worded here.
#pragma once

#include <string>

#include "placement/machine.hpp"

namespace patchbay::detail::placement {

/// Throws ModelError "topology '<source>' cannot be loaded: <why>".
[[noreturn]] void cannot_load(const std::string& source, const std::string& why);

/// Refuses a synthetic description ("pack:2 numa:1 core:8 pu:2") that would build more than
/// limits::max_topology_objects objects or limits::max_topology_pus PUs, counting its levels
/// without building them. Malformed text passes: hwloc rejects it with its own reason.
/// Throws ModelError (cannot_load). Thread-safety: pure function.
void check_synthetic_size(const std::string& description);

/// Refuses an XML export larger than limits::max_topology_xml_bytes, unread: its size bounds
/// the objects it can describe. A file whose size cannot be read passes. Throws ModelError
/// (cannot_load). Thread-safety: safe to call concurrently.
void check_xml_size(const std::string& path);

/// Refuses a loaded machine with more than limits::max_topology_pus usable PUs, for sources
/// whose size could not be bounded before loading. Throws ModelError (cannot_load).
/// Thread-safety: pure function.
void check_pu_count(const Machine& machine);

}  // namespace patchbay::detail::placement
