#include "placement/machine.hpp"

#include <patchbay/resources.hpp>

#include <hwloc.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>

#include "placement/gpu_discovery.hpp"
#include "placement/topology_limits.hpp"

namespace patchbay::detail {

namespace {

using placement::cannot_load;
using placement::check_pu_count;
using placement::check_synthetic_size;
using placement::check_xml_size;
using placement::read_gpus;

struct BitmapDeleter {
  void operator()(hwloc_bitmap_s* bitmap) const { hwloc_bitmap_free(bitmap); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapDeleter>;

Bitmap make_bitmap() {
  Bitmap bitmap(hwloc_bitmap_alloc());
  if (!bitmap) throw std::bad_alloc();
  return bitmap;
}

void read_cores(hwloc_topology_t topology, bool this_system, Machine& machine,
                std::vector<Bitmap>& core_sets) {
  Bitmap usable = make_bitmap();
  hwloc_bitmap_copy(usable.get(), hwloc_topology_get_allowed_cpuset(topology));
  if (this_system) {
    // The cgroup allows these; `taskset` or a parent's binding may narrow them further.
    Bitmap bound = make_bitmap();
    if (hwloc_get_cpubind(topology, bound.get(), HWLOC_CPUBIND_PROCESS) == 0 &&
        hwloc_bitmap_intersects(bound.get(), usable.get()))
      hwloc_bitmap_and(usable.get(), usable.get(), bound.get());
  }
  hwloc_obj_t current_core = nullptr;
  for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, nullptr); pu != nullptr;
       pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, pu)) {
    if (!hwloc_bitmap_isset(usable.get(), pu->os_index)) continue;
    // A topology without Core objects: each PU is a core of its own.
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_CORE, pu);
    if (core == nullptr || core != current_core || machine.cores.empty()) {
      current_core = core;
      Core entry;
      entry.index = static_cast<unsigned>(machine.cores.size());
      machine.cores.push_back(entry);
      core_sets.push_back(make_bitmap());
    }
    machine.cores.back().pus.push_back(pu->os_index);
    hwloc_bitmap_set(core_sets.back().get(), pu->os_index);
  }
  for (Core& core : machine.cores)
    std::sort(core.pus.begin(), core.pus.end());
}

void read_numa_nodes(hwloc_topology_t topology, Machine& machine,
                     const std::vector<Bitmap>& core_sets) {
  const int count = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < count; ++i) {
    hwloc_obj_t node =
        hwloc_get_obj_by_type(topology, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    NumaNode entry;
    entry.index = static_cast<unsigned>(i);
    entry.memory = node->attr != nullptr ? node->attr->numanode.local_memory : 0;
    for (Core& core : machine.cores) {
      // The first node holding the core wins (DRAM before high-bandwidth memory).
      if (core.numa_node >= 0 || node->cpuset == nullptr) continue;
      if (hwloc_bitmap_isincluded(core_sets[core.index].get(), node->cpuset)) {
        core.numa_node = i;
        entry.cores.push_back(core.index);
      }
    }
    machine.numa_nodes.push_back(std::move(entry));
  }
}

std::string plural(std::size_t count, const char* singular, const char* plural_form) {
  return std::to_string(count) + " " + (count == 1 ? singular : plural_form);
}

}  // namespace

std::size_t Machine::pu_count() const {
  std::size_t count = 0;
  for (const Core& core : cores)
    count += core.pus.size();
  return count;
}

std::uint64_t Machine::memory() const {
  std::uint64_t total = 0;
  for (const NumaNode& node : numa_nodes)
    total += node.memory;
  return total;
}

std::string Machine::summary() const {
  std::string text = plural(packages, "package", "packages") + ", " +
                     plural(cores.size(), "core", "cores") + ", " +
                     plural(pu_count(), "PU", "PUs") + ", " +
                     plural(numa_nodes.size(), "NUMA node", "NUMA nodes");
  if (!numa_nodes.empty() && memory() > 0) {
    // Equal as printed: real nodes differ by the few megabytes the firmware keeps.
    const std::string first = format_bytes(static_cast<double>(numa_nodes.front().memory));
    const bool equal = std::all_of(numa_nodes.begin(), numa_nodes.end(), [&](const NumaNode& n) {
      return n.memory > 0 && format_bytes(static_cast<double>(n.memory)) == first;
    });
    if (equal) {
      text += " (" + format_bytes(static_cast<double>(numa_nodes.front().memory)) +
              (numa_nodes.size() > 1 ? " each)" : ")");
    } else {
      text += " (";
      for (std::size_t i = 0; i < numa_nodes.size(); ++i) {
        if (i > 0) text += ", ";
        text += numa_nodes[i].memory > 0 ? format_bytes(static_cast<double>(numa_nodes[i].memory))
                                         : std::string("unknown");
      }
      text += ")";
    }
  }
  if (gpus.empty()) return text + ", no GPU";
  text += ", " + plural(gpus.size(), "GPU", "GPUs") + " (";
  // Consecutive GPUs near the same node read as one group: "cuda0, cuda1 near NUMA 0; ...".
  for (std::size_t i = 0; i < gpus.size();) {
    std::size_t end = i;
    while (end < gpus.size() && gpus[end].numa_node == gpus[i].numa_node)
      ++end;
    if (i > 0) text += "; ";
    for (std::size_t j = i; j < end; ++j)
      text += (j > i ? ", " : "") + gpus[j].name;
    if (gpus[i].numa_node >= 0) text += " near NUMA " + std::to_string(gpus[i].numa_node);
    i = end;
  }
  return text + ")";
}

namespace {

Machine load_machine_now(const std::string& source) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) {
    cannot_load(source.empty() ? "this machine" : source,
                std::string("hwloc cannot start: ") + std::strerror(errno));
  }
  std::shared_ptr<hwloc_topology> topology(raw, hwloc_topology_destroy);
  // Keeps PCI devices and their OS devices (cuda0, nvml0, card0): GPUs and their locality.
  hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);

  Machine machine;
  machine.source = source.empty() ? "this machine" : source;
  if (source.empty()) {
    // Components that would start GPU drivers (and their threads) in the supervisor before it
    // forks; GPUs stay visible through sysfs (card*, renderD*) and NVML. "pci" (libpciaccess)
    // leaks on every load and adds nothing to Linux's own sysfs PCI discovery.
    for (const char* component : {"cuda", "opencl", "levelzero", "gl", "pci"})
      (void)hwloc_topology_set_components(raw, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, component);
  } else {
    std::error_code error;
    if (std::filesystem::is_regular_file(source, error)) {
      check_xml_size(source);
      if (hwloc_topology_set_xml(raw, source.c_str()) != 0) {
        cannot_load(source, std::string("not a valid hwloc XML file (") + std::strerror(errno) +
                                "); export one with 'lstopo FILE.xml'");
      }
    } else {
      check_synthetic_size(source);
      if (hwloc_topology_set_synthetic(raw, source.c_str()) != 0) {
        cannot_load(source,
                    "no such file, and not a valid hwloc synthetic description (such as "
                    "'pack:2 numa:1 core:8 pu:2')");
      }
    }
  }
  if (hwloc_topology_load(raw) != 0)
    cannot_load(machine.source, std::string("hwloc failed: ") + std::strerror(errno));

  machine.is_this_system = source.empty() && hwloc_topology_is_thissystem(raw) != 0;
  machine.packages =
      static_cast<unsigned>(std::max(0, hwloc_get_nbobjs_by_type(raw, HWLOC_OBJ_PACKAGE)));
  std::vector<Bitmap> core_sets;
  read_cores(raw, machine.is_this_system, machine, core_sets);
  if (machine.cores.empty()) cannot_load(machine.source, "it has no usable core");
  if (!source.empty()) check_pu_count(machine);
  read_numa_nodes(raw, machine, core_sets);
  std::vector<hwloc_const_bitmap_t> core_cpusets;
  core_cpusets.reserve(core_sets.size());
  for (const Bitmap& set : core_sets)
    core_cpusets.push_back(set.get());
  read_gpus(raw, core_cpusets, machine);
  machine.topology = std::move(topology);
  return machine;
}

}  // namespace

Machine load_machine(const std::string& source) {
  if (!source.empty()) return load_machine_now(source);
  // Reading this machine walks sysfs (every PCI device included) and costs milliseconds, as
  // much as the rest of a parallel start-up: it is read once per process and CPU binding (the
  // machine is restricted to the PUs the caller may use, which pinning changes). The copy
  // shares the read-only hwloc topology, which hwloc allows from any thread.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::string key;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      key += CPU_ISSET(cpu, &allowed) ? '1' : '0';
  }
  static std::mutex mutex;
  static std::map<std::string, Machine> cached;
  const std::lock_guard lock(mutex);
  auto found = cached.find(key);
  if (found == cached.end()) found = cached.emplace(key, load_machine_now(source)).first;
  return found->second;
}

bool bind_to(const Machine& machine, const std::vector<unsigned>& cores, int numa_node) {
  if (!machine.is_this_system || !machine.topology || cores.empty()) return false;
  hwloc_topology_t topology = machine.topology.get();
  Bitmap cpuset = make_bitmap();
  for (unsigned core : cores) {
    for (unsigned pu : machine.cores.at(core).pus)
      hwloc_bitmap_set(cpuset.get(), pu);
  }
  hwloc_obj_t node = nullptr;
  if (numa_node >= 0) {
    const NumaNode& entry = machine.numa_nodes.at(static_cast<std::size_t>(numa_node));
    node = hwloc_get_obj_by_type(topology, HWLOC_OBJ_NUMANODE, entry.index);
  }
  if (hwloc_set_cpubind(topology, cpuset.get(), HWLOC_CPUBIND_PROCESS) != 0) return false;
  const hwloc_topology_support* support = hwloc_topology_get_support(topology);
  const bool can_bind_memory =
      support->membind->bind_membind != 0 && (support->membind->set_thisproc_membind != 0 ||
                                              support->membind->set_thisthread_membind != 0);
  if (node != nullptr && can_bind_memory) {
    // No PROCESS flag: Linux binds memory per thread, and a fresh worker has only this one;
    // threads it starts later inherit the policy. Failure (seccomp, cgroups) is not fatal.
    (void)hwloc_set_membind(topology, node->nodeset, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET);
  }
  return true;
}

std::string format_bytes(double bytes) {
  std::string exact = format_quantity(bytes);
  if (exact.size() <= 8 || !std::isfinite(bytes) || bytes < 1024) return exact;
  static constexpr const char* kUnits[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  int unit = 0;
  double scaled = bytes / 1024;
  while (unit < 5 && scaled >= 1024) {
    scaled /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", scaled);
  std::string text = buffer;
  if (text.ends_with(".0")) text.resize(text.size() - 2);
  return text + kUnits[unit];
}

}  // namespace patchbay::detail
