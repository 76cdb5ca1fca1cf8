// Which of hwloc's OS devices are GPUs, and which of them are one card: a card shows as several
// devices (cuda0, opencl0d0, nvml0, card0), and servers' display adapters are no GPU at all.
// Private to placement: it needs hwloc.h, which machine.hpp keeps out of its includers.
#pragma once

#include <hwloc.h>

#include <vector>

#include "placement/machine.hpp"

namespace patchbay::detail::placement {

/// Appends to machine.gpus the GPUs of `topology`, in hwloc's order of their first device. OS
/// devices of type GPU or co-processor under one PCI device (its functions included) are one
/// GPU, named by its CUDA device if it has one, else by its first; a group showing only DRM
/// devices (card*, renderD*, controlD*) on a BMC's or hypervisor's display adapter is left out.
/// Each GPU's local cores are the machine.cores whose cpuset, `core_cpusets[core.index]`, lies
/// within its nearest non-I/O ancestor; its NUMA node is the one those cores share, else the
/// single node of that ancestor, else -1. machine.cores and machine.numa_nodes must be read.
/// Thread-safety: reads `topology` only; hwloc allows that from any thread.
void read_gpus(hwloc_topology_t topology, const std::vector<hwloc_const_bitmap_t>& core_cpusets,
               Machine& machine);

}  // namespace patchbay::detail::placement
