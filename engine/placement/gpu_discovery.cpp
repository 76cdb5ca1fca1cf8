#include "placement/gpu_discovery.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace patchbay::detail::placement {

namespace {

// Display adapters of BMCs and hypervisors: a DRM device on one of them is no compute GPU.
bool is_display_only_vendor(unsigned vendor) {
  constexpr unsigned kVendors[] = {
      0x1a03,  // ASPEED
      0x102b,  // Matrox
      0x1013,  // Cirrus Logic
      0x1234,  // QEMU (bochs)
      0x1af4,  // virtio
      0x15ad,  // VMware
      0x1414,  // Microsoft (Hyper-V)
  };
  return std::find(std::begin(kVendors), std::end(kVendors), vendor) != std::end(kVendors);
}

bool is_drm_name(std::string_view name) {
  return name.starts_with("card") || name.starts_with("renderD") || name.starts_with("controlD");
}

hwloc_obj_t pci_ancestor(hwloc_obj_t object) {
  for (hwloc_obj_t parent = object->parent; parent != nullptr; parent = parent->parent)
    if (parent->type == HWLOC_OBJ_PCI_DEVICE) return parent;
  return nullptr;
}

// OS devices of one physical GPU, gathered before they become a Gpu.
struct GpuGroup {
  std::optional<std::tuple<unsigned, unsigned, unsigned>> slot;  // PCI domain, bus, device
  hwloc_obj_t pci = nullptr;
  hwloc_obj_t first = nullptr;
  std::vector<std::string> names;
  std::string cuda_name;
};

}  // namespace

void read_gpus(hwloc_topology_t topology, const std::vector<hwloc_const_bitmap_t>& core_cpusets,
               Machine& machine) {
  std::vector<GpuGroup> groups;
  for (hwloc_obj_t osdev = hwloc_get_next_osdev(topology, nullptr); osdev != nullptr;
       osdev = hwloc_get_next_osdev(topology, osdev)) {
    const auto type = osdev->attr->osdev.type;
    if (type != HWLOC_OBJ_OSDEV_GPU && type != HWLOC_OBJ_OSDEV_COPROC) continue;
    if (osdev->name == nullptr) continue;
    hwloc_obj_t pci = pci_ancestor(osdev);
    GpuGroup* group = nullptr;
    if (pci != nullptr) {
      // Functions of one device (84:00.0 with cuda0, 84:00.1 with opencl0d1) are one card.
      const auto& attr = pci->attr->pcidev;
      const std::tuple<unsigned, unsigned, unsigned> slot{attr.domain, attr.bus, attr.dev};
      auto found = std::find_if(groups.begin(), groups.end(),
                                [&](const GpuGroup& g) { return g.slot == slot; });
      if (found != groups.end()) {
        group = &*found;
      } else {
        group = &groups.emplace_back();
        group->slot = slot;
        group->pci = pci;
      }
    } else {
      group = &groups.emplace_back();
    }
    if (group->first == nullptr) group->first = osdev;
    group->names.emplace_back(osdev->name);
    if (type == HWLOC_OBJ_OSDEV_COPROC && group->cuda_name.empty() &&
        std::string_view(osdev->name).starts_with("cuda"))
      group->cuda_name = osdev->name;
  }

  for (const GpuGroup& group : groups) {
    const bool drm_only = std::all_of(group.names.begin(), group.names.end(),
                                      [](const std::string& n) { return is_drm_name(n); });
    if (drm_only && group.pci != nullptr &&
        is_display_only_vendor(group.pci->attr->pcidev.vendor_id))
      continue;
    Gpu gpu;
    gpu.name = group.cuda_name.empty() ? group.names.front() : group.cuda_name;
    gpu.devices = group.names;
    if (group.pci != nullptr) {
      const auto& attr = group.pci->attr->pcidev;
      char bus_id[32];
      std::snprintf(bus_id, sizeof bus_id, "%04x:%02x:%02x.%01x", attr.domain, attr.bus, attr.dev,
                    attr.func);
      gpu.pci_bus_id = bus_id;
    }
    hwloc_obj_t ancestor = hwloc_get_non_io_ancestor_obj(topology, group.first);
    if (ancestor != nullptr && ancestor->cpuset != nullptr) {
      for (const Core& core : machine.cores) {
        if (hwloc_bitmap_isincluded(core_cpusets[core.index], ancestor->cpuset))
          gpu.local_cores.push_back(core.index);
      }
    }
    // Its NUMA node: the one its local cores share, else the single node of its ancestor.
    if (!gpu.local_cores.empty()) {
      const int node = machine.cores[gpu.local_cores.front()].numa_node;
      const bool same = std::all_of(gpu.local_cores.begin(), gpu.local_cores.end(),
                                    [&](unsigned c) { return machine.cores[c].numa_node == node; });
      gpu.numa_node = same ? node : -1;
    } else if (ancestor != nullptr && ancestor->nodeset != nullptr &&
               hwloc_bitmap_weight(ancestor->nodeset) == 1) {
      const int os_index = hwloc_bitmap_first(ancestor->nodeset);
      for (const NumaNode& node : machine.numa_nodes) {
        hwloc_obj_t object = hwloc_get_obj_by_type(topology, HWLOC_OBJ_NUMANODE, node.index);
        if (static_cast<int>(object->os_index) == os_index)
          gpu.numa_node = static_cast<int>(node.index);
      }
    }
    machine.gpus.push_back(std::move(gpu));
  }
}

}  // namespace patchbay::detail::placement
