// The memory placement has handed out, per NUMA node and for the machine as a whole, so that a
// worker goes to a node with room for its components' memory and a failure says what is left.
#pragma once

#include <string>
#include <vector>

#include "placement/machine.hpp"

namespace patchbay::detail::placement {

/// Memory taken per NUMA node of one machine. A worker within one node counts against that
/// node and, through it, the machine; a worker spanning nodes (node -1) counts against the
/// machine's total only. Memory a node does not report (0) is unknown and never short; the
/// machine's total is unknown unless every node reports its own.
/// Keeps a reference to `machine`, which must outlive it. Thread-safety: none; one planner's.
class MemoryLedger {
 public:
  explicit MemoryLedger(const Machine& machine);

  /// Whether `memory` bytes more fit on `node` (an index into Machine::numa_nodes, or -1 for
  /// the machine as a whole): true when memory <= 0 or unknown, and within half a byte, so
  /// that sums of doubles still fit.
  [[nodiscard]] bool has_room(int node, double memory) const;

  /// Charges `memory` bytes to `node` (or -1), whether or not they fit; `who` names the taker
  /// in describe(node). Does nothing when memory <= 0.
  void take(int node, double memory, const std::string& who);

  /// For a message: "NUMA node 0 has 32Gi (12Gi left after 'a')", "NUMA node 1 has 32Gi" when
  /// nothing is taken there; "the machine has 64Gi", with " (20Gi left)" once some is taken.
  [[nodiscard]] std::string describe(int node) const;

 private:
  [[nodiscard]] bool known(int node) const;
  [[nodiscard]] double left(int node) const;

  const Machine& machine_;
  std::vector<double> used_;                     // per node
  std::vector<std::vector<std::string>> users_;  // per node, in the order they took it
  double spanning_used_ = 0;                     // by workers on no single node
};

}  // namespace patchbay::detail::placement
