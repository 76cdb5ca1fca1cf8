// The machine placement plans for: cores, NUMA nodes and GPUs, read with hwloc from this machine,
// an hwloc XML export or a synthetic description.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct hwloc_topology;  // hwloc's handle; kept out of this header so hwloc.h stays private

namespace patchbay::detail {

/// One physical core the process may run on.
struct Core {
  unsigned index = 0;  ///< position in Machine::cores (hwloc logical index among usable cores)
  std::vector<unsigned> pus;  ///< OS indexes of its hardware threads, ascending
  int numa_node = -1;         ///< logical index of its NUMA node, -1 when unknown
};

/// One NUMA node: its memory and the usable cores it holds.
struct NumaNode {
  unsigned index = 0;           ///< hwloc logical index, also its position in Machine::numa_nodes
  std::uint64_t memory = 0;     ///< bytes; 0 when the topology does not say
  std::vector<unsigned> cores;  ///< indexes into Machine::cores
};

/// One physical GPU, however many OS devices (cuda0, opencl0d0, nvml0, card0) hwloc shows for it.
struct Gpu {
  std::string name;                  ///< the CUDA name if there is one ("cuda0"), else the first
  std::vector<std::string> devices;  ///< every OS device name hwloc shows for it
  std::string pci_bus_id;  ///< "0000:84:00.0": the function of its first device; "" off PCI
  int numa_node = -1;      ///< the single NUMA node it is attached to, -1 if not one
  std::vector<unsigned> local_cores;  ///< indexes into Machine::cores, near the GPU
};

/// A loaded topology. A plain value type: copies share the (immutable) hwloc handle, so copies
/// may be read from several threads at once.
struct Machine {
  std::string source;  ///< "this machine", the XML file path, or the synthetic description
  unsigned packages = 0;
  std::vector<Core> cores;  ///< usable cores only, in hwloc's logical order
  std::vector<NumaNode> numa_nodes;
  std::vector<Gpu> gpus;
  bool is_this_system = false;  ///< true only for the real machine: binding applies to it
  std::shared_ptr<hwloc_topology> topology;

  /// Number of usable hardware threads.
  [[nodiscard]] std::size_t pu_count() const;
  /// Total memory of the NUMA nodes in bytes; 0 when unknown.
  [[nodiscard]] std::uint64_t memory() const;
  /// One line: "2 packages, 16 cores, 32 PUs, 2 NUMA nodes (32Gi each), 1 GPU (cuda0 near
  /// NUMA 1)".
  [[nodiscard]] std::string summary() const;
};

/// Loads a machine (this machine: once per process and CPU binding, then from memory).
/// `source` empty: this machine, restricted to the PUs this process may use
/// (its cgroup's cpuset, narrowed by its current CPU binding, e.g. under `taskset`). The path of an
/// existing file: an hwloc XML export. Anything else: an hwloc synthetic description ("pack:2
/// numa:1 core:8 pu:2"). I/O devices are kept so GPUs are seen; for this machine, hwloc's cuda,
/// opencl, levelzero and gl components are left out (they would start GPU drivers, and their
/// threads, in a process about to fork), so its GPUs show as sysfs DRM devices (card1, renderD128)
/// or NVML ones (nvml0) and XML files keep their names; OS devices under one PCI device (functions
/// of one card included) are one GPU, and display adapters of BMCs and virtual machines showing
/// only a DRM device are not GPUs. A synthetic topology has none. A synthetic description or an
/// XML file is refused beyond limits::max_topology_pus PUs (and, before hwloc reads it, beyond
/// limits::max_topology_objects objects or limits::max_topology_xml_bytes bytes). Throws
/// ModelError "topology '<source>' cannot be loaded: <why>". Thread-safety: safe to call
/// concurrently.
Machine load_machine(const std::string& source);

/// Binds the calling process (all its threads) to the PUs of `cores` (indexes into
/// machine.cores) and, when `numa_node` >= 0 and the system supports it, its memory to that
/// node. Memory binding is best effort (containers often forbid it). Does nothing and returns
/// false when `machine` is not this system (an XML or synthetic topology), when `cores` is
/// empty, or when CPU binding fails; returns true once the CPU binding is in place.
/// Throws std::out_of_range for a core or node index the machine does not have.
/// Thread-safety: changes process-wide state; call it from a single-threaded process (a freshly
/// forked worker).
bool bind_to(const Machine& machine, const std::vector<unsigned>& cores, int numa_node);

/// Renders a byte count for people: "32Gi", "512Mi", "63.8Gi" (one decimal when not exact).
/// Thread-safety: pure function.
[[nodiscard]] std::string format_bytes(double bytes);

}  // namespace patchbay::detail
