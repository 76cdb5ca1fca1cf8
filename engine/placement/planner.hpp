// Placement: which worker runs which component, on which cores, NUMA node and GPUs.
// plan_placement() (planner.cpp) applies the rules below as steps over units (units.hpp), with
// custom_resources.hpp, gpu_assignment.hpp, memory_ledger.hpp and strands.hpp for their own
// parts; messages.hpp words what cannot be met, and plan_table.cpp prints the plan.
#pragma once

#include "placement/machine.hpp"

#include <patchbay/resources.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace patchbay::detail {

/// What placement needs to know about one component.
struct PlacementRequest {
  std::string component;  ///< its name in the model
  std::string type;       ///< its registered type, for the printed plan
  Resources resources;
  std::string worker;  ///< label: components with the same non-empty label share one worker
};

struct PlacementInput {
  std::vector<PlacementRequest> components;
  /// Connectors as (source component index, target component index); duplicates are fine.
  std::vector<std::pair<std::size_t, std::size_t>> edges;
  /// Process option `workers: N`: the number of shared workers (see plan_placement).
  std::optional<std::size_t> workers;
  std::map<std::string, double> custom_capacities;  ///< process-declared custom resources
};

/// One worker process of the plan.
struct WorkerPlan {
  std::size_t index = 0;
  std::string name;                     ///< "w<index>", or the label its components share
  std::vector<unsigned> cores;          ///< indexes into Machine::cores, ascending
  std::vector<unsigned> pus;            ///< OS indexes of those cores' PUs: its cpuset
  int numa_node = -1;                   ///< the node its memory binds to; -1: not one node
  std::vector<std::string> gpus;        ///< GPU names (Gpu::name) it may use
  std::vector<std::size_t> components;  ///< component indexes, ascending
  bool dedicated = false;               ///< its cores are its alone (a unit with cpu >= 1)
};

struct Plan {
  /// Only workers that run something, ordered by their first component.
  std::vector<WorkerPlan> workers;
  std::vector<std::size_t> worker_of;  ///< per component: index into workers
  std::string machine;                 ///< Machine::summary()
  bool bound = false;                  ///< planned for this machine: workers are bound to it

  /// Whether another worker of the plan has one of `worker`'s PUs. Such workers wait without
  /// spinning, whatever their wait mode: what they wait for may need that core.
  [[nodiscard]] bool shares_pus(std::size_t worker) const;

  /// The table `engine-run --plan` prints: a header `component type worker cpuset numa gpu`,
  /// one row per component, then one line per worker (saying which share PUs, or that nothing
  /// is bound) and the machine. `components` are the
  /// requests the plan was made from.
  /// Thread-safety: const, pure.
  [[nodiscard]] std::string to_string(const std::vector<PlacementRequest>& components) const;
};

/// Assigns components to workers (docs/ARCHITECTURE.md, placement). Rules, in the order they
/// apply:
/// - Components with the same non-empty `worker` label form one unit: one worker named after
///   the label, holding exactly those components, with their resources summed. Every other
///   component is a unit of its own.
/// - A unit with gpu >= 1 gets ceil(gpu) whole GPUs that no other unit uses (near one NUMA node
///   when it can). Units with 0 < gpu < 1 share the GPUs not given whole: each goes to the least
///   used one that still has its fraction (at most 1 per GPU). Either way the unit gets a worker
///   of its own whose cores are local to its GPUs: ceil(cpu) dedicated cores when cpu >= 1;
///   otherwise one core, a free one if any, else shared with another fractional-cpu GPU worker
///   near the same GPU. The worker's `gpus` name the devices (CUDA_VISIBLE_DEVICES material).
/// - A unit with cpu >= 1 (and no GPU) gets a worker of its own on ceil(cpu) dedicated cores,
///   within one NUMA node with room for its memory when possible; cores near GPUs that
///   fractional-cpu GPU units use are taken last.
/// - The other units (the pool) run on shared workers on the cores left (or, when none is left,
///   on the cores of fractional-cpu GPU workers): by default as many workers as those cores, or
///   `workers` N (N > cores: workers share cores). A labelled unit is one of them. The others
///   follow chain links (a -> b where a has one output connector and b one input: one worker);
///   every other unlabelled unit starts a worker of its own while workers remain, then joins the
///   worker with the fewest of its fan-out siblings (a sibling counted once per source the two
///   share), then the lightest (sum of cpu), then the first. Planning takes time near-linear in
///   components and connectors times the number of shared workers. Idle workers are not part of the
///   plan. Fractional cpu is a weight, not a reservation. Each shared worker gets one core: the
///   least used, in order, whose NUMA node has room for its memory.
/// - Memory: a worker within one NUMA node counts against that node (a node reporting 0 is
///   unknown and not checked); a worker spanning nodes counts against the machine's total.
/// - Custom resources: per name, the sum over components <= the process's capacity.
/// - Workers: at most limits::max_workers_per_pu per usable PU and limits::max_workers in all;
///   the default of one shared worker per core is capped to fit, while more labels, units of
///   their own or `workers` than that are a ModelError naming the count and the limit.
/// The result is deterministic. Throws ModelError when the model cannot fit, with one line per
/// unsatisfied demand naming the component, what it asks for and what the machine (or the
/// process) has (the first 20, then their count); ModelError for `workers` = 0 or beyond the
/// limit; std::invalid_argument for an edge naming a
/// component that does not exist.
/// Thread-safety: pure function.
[[nodiscard]] Plan plan_placement(const Machine& machine, const PlacementInput& input);

}  // namespace patchbay::detail
