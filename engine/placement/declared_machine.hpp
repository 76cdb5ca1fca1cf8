// The machine as declared from outside a model (MachineResources: engine-run's --num-cpus,
// --num-gpus, --memory, --resources, and the environment), applied to the machine placement
// plans for.
#pragma once

#include <patchbay/process_spec.hpp>

#include <map>
#include <string>

#include "placement/machine.hpp"

namespace patchbay::detail {

/// `given` with what it leaves unset taken from PATCHBAY_NUM_CPUS, PATCHBAY_NUM_GPUS,
/// PATCHBAY_MEMORY and PATCHBAY_RESOURCES. Throws ModelError naming the variable for a value
/// that does not parse.
MachineResources declared_machine(const MachineResources& given);

/// Plans for at most `declared.cpus` cores (the first ones), `declared.gpus` GPUs and
/// `declared.memory` bytes (the NUMA nodes' memory scaled down to that total). Throws
/// ModelError for 0 cores.
void limit_machine(Machine& machine, const MachineResources& declared);

/// The model's custom capacities with the declared machine's added (the machine's winning).
std::map<std::string, double> custom_capacities(const std::map<std::string, double>& model,
                                                const MachineResources& declared);

}  // namespace patchbay::detail
