#include "placement/memory_ledger.hpp"

#include <algorithm>
#include <cstddef>
#include <numeric>

#include "placement/messages.hpp"

namespace patchbay::detail::placement {

MemoryLedger::MemoryLedger(const Machine& machine)
    : machine_(machine), used_(machine.numa_nodes.size(), 0.0), users_(machine.numa_nodes.size()) {}

bool MemoryLedger::known(int node) const {
  if (node >= 0) return machine_.numa_nodes[static_cast<std::size_t>(node)].memory > 0;
  return !machine_.numa_nodes.empty() &&
         std::all_of(machine_.numa_nodes.begin(), machine_.numa_nodes.end(),
                     [](const NumaNode& n) { return n.memory > 0; });
}

double MemoryLedger::left(int node) const {
  if (node >= 0) {
    return static_cast<double>(machine_.numa_nodes[static_cast<std::size_t>(node)].memory) -
           used_[static_cast<std::size_t>(node)];
  }
  return static_cast<double>(machine_.memory()) - std::accumulate(used_.begin(), used_.end(), 0.0) -
         spanning_used_;
}

bool MemoryLedger::has_room(int node, double memory) const {
  return !(memory > 0) || !known(node) || memory <= left(node) + 0.5;
}

void MemoryLedger::take(int node, double memory, const std::string& who) {
  if (!(memory > 0)) return;
  if (node >= 0) {
    used_[static_cast<std::size_t>(node)] += memory;
    users_[static_cast<std::size_t>(node)].push_back(who);
  } else {
    spanning_used_ += memory;
  }
}

std::string MemoryLedger::describe(int node) const {
  if (node < 0) {
    return "the machine has " + format_bytes(static_cast<double>(machine_.memory())) +
           (spanning_used_ > 0 || left(node) < static_cast<double>(machine_.memory())
                ? " (" + format_bytes(std::max(0.0, left(node))) + " left)"
                : "");
  }
  const auto index = static_cast<std::size_t>(node);
  std::string text = "NUMA node " + std::to_string(node) + " has " +
                     format_bytes(static_cast<double>(machine_.numa_nodes[index].memory));
  if (!users_[index].empty()) {
    text += " (" + format_bytes(std::max(0.0, left(node))) + " left after " +
            list_some(users_[index], ", ") + ")";
  }
  return text;
}

}  // namespace patchbay::detail::placement
