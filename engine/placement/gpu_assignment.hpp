// Which GPUs each unit gets: whole GPUs for a demand of one or more, a share of one GPU below
// that. Cores come later: the planner places each GPU unit's worker near its GPUs.
#pragma once

#include <string>
#include <vector>

#include "placement/machine.hpp"
#include "placement/messages.hpp"
#include "placement/units.hpp"

namespace patchbay::detail::placement {

/// Sets Unit::gpus (indexes into machine.gpus) of every unit with gpu > 0, in two passes over
/// the units in order. First each unit with gpu >= 1 gets ceil(gpu) whole GPUs that no other
/// unit uses, all near one NUMA node when some node has enough free ones, else the first free.
/// Then each unit with 0 < gpu < 1 gets the least used GPU not given whole that still has its
/// fraction (at most 1 per GPU), so that shared GPUs are spread, not stacked. A demand that
/// cannot be met is a line in `report`, and its unit keeps no GPU.
/// Thread-safety: pure apart from `units` and `report`.
void assign_gpus(const Machine& machine, Units& units, DemandReport& report);

/// The usable cores near any of `gpus` (indexes into machine.gpus): indexes into
/// machine.cores, ascending. Thread-safety: pure function.
[[nodiscard]] std::vector<unsigned> cores_near(const Machine& machine,
                                               const std::vector<unsigned>& gpus);

/// "cuda0, cuda1": the names of `gpus` for a message. Thread-safety: pure function.
[[nodiscard]] std::string gpu_names(const Machine& machine, const std::vector<unsigned>& gpus);

}  // namespace patchbay::detail::placement
