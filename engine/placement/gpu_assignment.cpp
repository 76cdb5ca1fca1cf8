#include "placement/gpu_assignment.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <set>

namespace patchbay::detail::placement {

namespace {

// One pass of GPU assignment over a plan's units: the GPUs given whole, and the fractions of
// the others.
class GpuAssigner {
 public:
  GpuAssigner(const Machine& machine, Units& units, DemandReport& report)
      : machine_(machine),
        units_(units),
        report_(report),
        owner_(machine.gpus.size(), kNone),
        fraction_(machine.gpus.size(), 0.0),
        sharers_(machine.gpus.size()) {}

  void assign_whole() {
    for (std::size_t u = 0; u < units_.size(); ++u) {
      Unit& unit = units_[u];
      if (unit.total.gpu < 1) continue;
      std::vector<unsigned> free;
      for (unsigned g = 0; g < machine_.gpus.size(); ++g)
        if (owner_[g] == kNone) free.push_back(g);
      const double need = std::ceil(unit.total.gpu);
      const std::string ask = units_.asks(u) + "gpu=" + format_quantity(unit.total.gpu);
      if (machine_.gpus.empty()) {
        report_.add(ask + ", the machine has no GPU");
        continue;
      }
      if (need > static_cast<double>(machine_.gpus.size())) {
        report_.add(ask + ", the machine has " + all_gpus());
        continue;
      }
      if (need > static_cast<double>(free.size())) {
        std::vector<std::string> users;
        for (std::size_t other = 0; other < u; ++other) {
          if (!units_[other].gpus.empty() && units_[other].total.gpu >= 1) {
            users.push_back(units_.mention(other) + " uses " +
                            gpu_names(machine_, units_[other].gpus));
          }
        }
        report_.add(ask + " but only " + std::to_string(free.size()) + " of the machine's " +
                    all_gpus() + " remain" + (free.size() == 1 ? "s" : "") + ": " +
                    list_some(users, "; "));
        continue;
      }
      const auto count = static_cast<std::size_t>(need);
      // Prefer GPUs near one NUMA node, so the worker's cores can be near all of them.
      std::vector<unsigned> chosen;
      for (const NumaNode& node : machine_.numa_nodes) {
        std::vector<unsigned> near;
        for (unsigned g : free)
          if (machine_.gpus[g].numa_node == static_cast<int>(node.index)) near.push_back(g);
        if (near.size() >= count) {
          chosen.assign(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(count));
          break;
        }
      }
      if (chosen.empty())
        chosen.assign(free.begin(), free.begin() + static_cast<std::ptrdiff_t>(count));
      for (unsigned g : chosen)
        owner_[g] = u;
      unit.gpus = chosen;
    }
  }

  void assign_shared() {
    for (std::size_t u = 0; u < units_.size(); ++u) {
      Unit& unit = units_[u];
      if (!(unit.total.gpu > 0 && unit.total.gpu < 1)) continue;
      const std::string ask = units_.asks(u) + "gpu=" + format_quantity(unit.total.gpu);
      if (machine_.gpus.empty()) {
        report_.add(ask + ", the machine has no GPU");
        continue;
      }
      // The least used GPU not given whole: shared GPUs are spread, not stacked.
      std::size_t best = kNone;
      for (unsigned g = 0; g < machine_.gpus.size(); ++g) {
        if (owner_[g] != kNone || !fits(fraction_[g], unit.total.gpu, 1.0)) continue;
        if (best == kNone || fraction_[g] < fraction_[best]) best = g;
      }
      if (best == kNone) {
        std::vector<std::string> states;
        for (unsigned g = 0; g < machine_.gpus.size(); ++g) {
          if (owner_[g] != kNone) {
            states.push_back(machine_.gpus[g].name + " is used whole by " +
                             units_.mention(owner_[g]));
          } else {
            states.push_back(machine_.gpus[g].name + " has " +
                             format_quantity(std::max(0.0, 1 - fraction_[g])) + " left after " +
                             list_some(sharers_[g], ", "));
          }
        }
        report_.add(ask + " but no GPU has that much left: " + list_some(states, "; "));
        continue;
      }
      fraction_[best] += unit.total.gpu;
      sharers_[best].push_back(units_.mention(u));
      unit.gpus = {static_cast<unsigned>(best)};
    }
  }

 private:
  const Machine& machine_;
  Units& units_;
  DemandReport& report_;
  std::vector<std::size_t> owner_;  // unit using the GPU whole
  std::vector<double> fraction_;    // sum of shared fractions
  std::vector<std::vector<std::string>> sharers_;

  // "2 GPUs (cuda0, cuda1)": every GPU of the machine.
  std::string all_gpus() const {
    std::vector<unsigned> all(machine_.gpus.size());
    std::iota(all.begin(), all.end(), 0U);
    const std::size_t count = all.size();
    return std::to_string(count) + (count == 1 ? " GPU (" : " GPUs (") + gpu_names(machine_, all) +
           ")";
  }
};

}  // namespace

void assign_gpus(const Machine& machine, Units& units, DemandReport& report) {
  GpuAssigner assigner(machine, units, report);
  assigner.assign_whole();
  assigner.assign_shared();
}

std::vector<unsigned> cores_near(const Machine& machine, const std::vector<unsigned>& gpus) {
  std::set<unsigned> near;
  for (unsigned g : gpus)
    near.insert(machine.gpus[g].local_cores.begin(), machine.gpus[g].local_cores.end());
  return {near.begin(), near.end()};
}

std::string gpu_names(const Machine& machine, const std::vector<unsigned>& gpus) {
  std::vector<std::string> names;
  names.reserve(gpus.size());
  for (unsigned g : gpus)
    names.push_back(machine.gpus[g].name);
  return join(names, ", ");
}

}  // namespace patchbay::detail::placement
