#include "parallel/gpu_environment.hpp"

#include <algorithm>
#include <cstdlib>

namespace patchbay::detail {

std::string cuda_visible_devices(const Machine& machine, const std::vector<std::string>& gpus) {
  // With CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA numbers devices by PCI bus id: a GPU's index is
  // its rank in that order. hwloc names them cuda*, nvml* or card* depending on its build.
  std::vector<std::string> bus_ids;
  for (const Gpu& g : machine.gpus)
    bus_ids.push_back(g.pci_bus_id);
  std::sort(bus_ids.begin(), bus_ids.end());
  std::string devices;
  for (const auto& name : gpus) {
    std::string index;
    for (const Gpu& g : machine.gpus) {
      if (g.name != name) continue;
      if (!g.pci_bus_id.empty()) {
        index = std::to_string(std::lower_bound(bus_ids.begin(), bus_ids.end(), g.pci_bus_id) -
                               bus_ids.begin());
      }
    }
    if (index.empty()) {
      const auto digits = name.find_first_of("0123456789");
      index = digits == std::string::npos ? name : name.substr(digits);
    }
    devices += (devices.empty() ? "" : ",") + index;
  }
  return devices;
}

void set_gpu_environment(const Machine& machine, const std::vector<std::string>& gpus) {
  if (gpus.empty()) return;
  setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
  setenv("CUDA_VISIBLE_DEVICES", cuda_visible_devices(machine, gpus).c_str(), 1);
}

}  // namespace patchbay::detail
