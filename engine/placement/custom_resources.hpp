// Custom resources ("fpga", "license"): what components ask for against what the process
// declares. They are counted, not placed: no worker or core depends on them.
#pragma once

#include "placement/messages.hpp"
#include "placement/planner.hpp"

namespace patchbay::detail::placement {

/// Adds to `report` one line per component whose custom demand does not fit: the process does
/// not declare that resource, or the sum over the components before it and this one exceeds the
/// declared capacity (components in order; the line names those that already take it).
/// Thread-safety: pure apart from `report`.
void check_custom_resources(const PlacementInput& input, DemandReport& report);

}  // namespace patchbay::detail::placement
