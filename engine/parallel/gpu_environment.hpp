// The environment a worker's GPUs need: CUDA numbers devices its own way, so the planner's GPU
// names become the indices CUDA_VISIBLE_DEVICES expects.
#pragma once

#include <string>
#include <vector>

#include "placement/machine.hpp"

namespace patchbay::detail {

/// The CUDA_VISIBLE_DEVICES value (with CUDA_DEVICE_ORDER=PCI_BUS_ID) for the named GPUs.
std::string cuda_visible_devices(const Machine& machine, const std::vector<std::string>& gpus);

/// Sets CUDA_DEVICE_ORDER and CUDA_VISIBLE_DEVICES in this process for `gpus` (the worker's,
/// from its plan); leaves the environment alone when there are none. Not thread-safe: a worker
/// calls it once, before any component runs.
void set_gpu_environment(const Machine& machine, const std::vector<std::string>& gpus);

}  // namespace patchbay::detail
