#include "placement/planner.hpp"

#include <patchbay/error.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/resources.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "placement/custom_resources.hpp"
#include "placement/gpu_assignment.hpp"
#include "placement/memory_ledger.hpp"
#include "placement/messages.hpp"
#include "placement/strands.hpp"
#include "placement/units.hpp"

namespace patchbay::detail {

namespace {

using placement::assign_gpus;
using placement::check_custom_resources;
using placement::cores_near;
using placement::DemandReport;
using placement::gpu_names;
using placement::kNone;
using placement::list_some;
using placement::MemoryLedger;
using placement::pool_strands;
using placement::spread_strands;
using placement::strand_sources;
using placement::throw_too_many_workers;
using placement::Unit;
using placement::UnitList;
using placement::Units;

// What a core is used for: placement hands it out once, whole, or shares it.
enum class CoreState { free, exclusive, shared_with_gpu };

struct CoreUse {
  CoreState state = CoreState::free;
  std::size_t owner = kNone;  // the unit of an exclusive core
  std::size_t users = 0;      // GPU workers sharing it (shared_with_gpu) or pool workers
};

// A worker as placing builds it; assemble() orders and names them into the Plan.
struct WorkerDraft {
  std::vector<std::size_t> units;
  std::vector<unsigned> cores;
  std::vector<unsigned> gpus;
  bool dedicated = false;
};

// One plan_placement() call: the rules of planner.hpp as steps, each placing on what the
// earlier ones left. Unmet demands are gathered in report_ rather than thrown, so that one
// ModelError names them all; a step therefore skips a unit an earlier step refused.
class Planner {
 public:
  Planner(const Machine& machine, const PlacementInput& input)
      : machine_(machine),
        input_(input),
        units_(input),
        cores_(machine.cores.size()),
        memory_(machine) {}

  Plan run() {
    validate();
    check_worker_count(own_workers());
    check_custom_resources(input_, report_);
    assign_gpus(machine_, units_, report_);
    wanted_by_gpu_units_ = wanted_by_gpu_units();
    place_gpu_units_with_cores();
    place_dedicated_units();
    place_gpu_units_sharing_cores();
    place_pool();
    report_.throw_if_any();
    check_worker_count(workers_.size());
    return assemble();
  }

 private:
  const Machine& machine_;
  const PlacementInput& input_;
  Units units_;
  std::vector<CoreUse> cores_;
  MemoryLedger memory_;
  std::vector<WorkerDraft> workers_;
  std::vector<bool> wanted_by_gpu_units_;  // per core, fixed once GPUs are assigned
  DemandReport report_;

  // The most workers a plan may have: each is a process, and past a few dozen per hardware
  // thread a machine only switches between them.
  [[nodiscard]] std::size_t worker_limit() const {
    return std::min(limits::max_workers, limits::max_workers_per_pu * machine_.pu_count());
  }

  // "'a' (cpu=2), 'b' (gpu=1)": the units holding some of `cores` exclusively.
  std::string owners_of(const std::vector<unsigned>& cores) const {
    std::vector<std::size_t> owners;
    for (unsigned c : cores) {
      if (cores_[c].state == CoreState::exclusive &&
          std::find(owners.begin(), owners.end(), cores_[c].owner) == owners.end())
        owners.push_back(cores_[c].owner);
    }
    std::sort(owners.begin(), owners.end());
    std::vector<std::string> parts;
    for (std::size_t u : owners) {
      std::string what = "cpu=" + format_quantity(units_[u].total.cpu);
      if (units_[u].has_gpu()) what += " gpu=" + format_quantity(units_[u].total.gpu);
      parts.push_back(units_.mention(u) + " (" + what + ")");
    }
    return list_some(parts, ", ");
  }

  // --- steps, in run()'s order ----------------------------------------------------------------

  // The options and edges, before anything is counted or placed.
  void validate() const {
    if (input_.workers && *input_.workers == 0)
      throw ModelError("process option workers=0: a process needs at least one worker");
    if (input_.workers && *input_.workers > worker_limit()) {
      throw ModelError("process option workers=" + std::to_string(*input_.workers) +
                       " is more than the " + std::to_string(worker_limit()) +
                       " workers allowed on this machine (" +
                       std::to_string(limits::max_workers_per_pu) + " per usable PU, at most " +
                       std::to_string(limits::max_workers) + ")");
    }
    for (const auto& [source, target] : input_.edges) {
      if (source >= input_.components.size() || target >= input_.components.size()) {
        throw std::invalid_argument("placement edge names component " +
                                    std::to_string(std::max(source, target)) + " of " +
                                    std::to_string(input_.components.size()));
      }
    }
  }

  // Every labelled unit and every unit with a GPU or cpu >= 1 is a worker of its own: they are
  // counted before anything is placed, so that thousands of labels fail at once.
  [[nodiscard]] std::size_t own_workers() const {
    return static_cast<std::size_t>(std::count_if(units_.begin(), units_.end(), [](const Unit& u) {
      return !u.pooled() || !u.label.empty();
    }));
  }

  void check_worker_count(std::size_t count) const {
    if (count > worker_limit()) throw_too_many_workers(count, worker_limit());
  }

  // Cores near GPUs that fractional-cpu GPU units still need: dedicated units take them last.
  std::vector<bool> wanted_by_gpu_units() const {
    std::vector<bool> wanted(machine_.cores.size(), false);
    for (const Unit& unit : units_) {
      if (unit.has_gpu() && !unit.dedicated_cores()) {
        for (unsigned c : cores_near(machine_, unit.gpus))
          wanted[c] = true;
      }
    }
    return wanted;
  }

  // `count` free cores among `candidates`, within one NUMA node when possible (one with room for
  // `memory` first); cores marked in `avoid` are taken last. Empty when too few are free.
  std::vector<unsigned> pick_free_cores(const std::vector<unsigned>& candidates, std::size_t count,
                                        double memory, const std::vector<bool>& avoid) const {
    std::vector<unsigned> free;
    for (unsigned c : candidates)
      if (cores_[c].state == CoreState::free) free.push_back(c);
    if (free.size() < count) return {};
    auto by_preference = [&](unsigned a, unsigned b) {
      return std::make_pair(static_cast<bool>(avoid[a]), a) <
             std::make_pair(static_cast<bool>(avoid[b]), b);
    };
    std::stable_sort(free.begin(), free.end(), by_preference);
    for (const bool need_room : {true, false}) {
      std::vector<unsigned> best;
      std::size_t best_avoided = kNone;
      for (const NumaNode& node : machine_.numa_nodes) {
        if (need_room && !memory_.has_room(static_cast<int>(node.index), memory)) continue;
        std::vector<unsigned> in_node;
        for (unsigned c : free)
          if (machine_.cores[c].numa_node == static_cast<int>(node.index)) in_node.push_back(c);
        if (in_node.size() < count) continue;
        in_node.resize(count);
        const auto avoided = static_cast<std::size_t>(
            std::count_if(in_node.begin(), in_node.end(), [&](unsigned c) { return avoid[c]; }));
        if (avoided < best_avoided) {
          best = in_node;
          best_avoided = avoided;
        }
      }
      if (!best.empty()) {
        std::sort(best.begin(), best.end());
        return best;
      }
    }
    free.resize(count);
    std::sort(free.begin(), free.end());
    return free;
  }

  // The NUMA node all of `cores` are on, or -1.
  int common_node(const std::vector<unsigned>& cores) const {
    if (cores.empty()) return -1;
    const int node = machine_.cores[cores.front()].numa_node;
    for (unsigned c : cores)
      if (machine_.cores[c].numa_node != node) return -1;
    return node;
  }

  // Charges a dedicated worker's memory to its node, or reports that it does not fit.
  void charge_memory(std::size_t u, int node) {
    const double memory = units_[u].total.memory;
    if (memory_.has_room(node, memory)) {
      memory_.take(node, memory, units_.mention(u));
      return;
    }
    report_.add(units_.asks(u) + "memory=" + format_quantity(memory) + " but " +
                memory_.describe(node));
  }

  // A worker for `units` on `cores`, with the GPUs of its units.
  void add_worker(std::vector<std::size_t> units, std::vector<unsigned> cores, bool dedicated) {
    WorkerDraft draft;
    draft.units = std::move(units);
    draft.cores = std::move(cores);
    draft.dedicated = dedicated;
    for (std::size_t u : draft.units) {
      for (unsigned g : units_[u].gpus) {
        if (std::find(draft.gpus.begin(), draft.gpus.end(), g) == draft.gpus.end())
          draft.gpus.push_back(g);
      }
    }
    workers_.push_back(std::move(draft));
  }

  void place_gpu_units_with_cores() {
    for (std::size_t u = 0; u < units_.size(); ++u)
      if (units_[u].has_gpu() && units_[u].dedicated_cores()) place_gpu_unit_with_cores(u);
  }

  void place_dedicated_units() {
    for (std::size_t u = 0; u < units_.size(); ++u)
      if (!units_[u].has_gpu() && units_[u].dedicated_cores()) place_dedicated_unit(u);
  }

  void place_gpu_units_sharing_cores() {
    for (std::size_t u = 0; u < units_.size(); ++u)
      if (units_[u].has_gpu() && !units_[u].dedicated_cores()) place_gpu_unit_sharing_core(u);
  }

  // ceil(cpu) dedicated cores near the unit's GPUs.
  void place_gpu_unit_with_cores(std::size_t u) {
    Unit& unit = units_[u];
    if (unit.gpus.empty()) return;  // its GPU demand already failed
    const std::vector<unsigned> near = cores_near(machine_, unit.gpus);
    const double need = std::ceil(unit.total.cpu);
    std::vector<unsigned> chosen;
    if (need <= static_cast<double>(near.size())) {
      chosen = pick_free_cores(near, static_cast<std::size_t>(need), unit.total.memory,
                               wanted_by_gpu_units_);
    }
    if (chosen.empty()) {
      const auto free = std::count_if(
          near.begin(), near.end(), [&](unsigned c) { return cores_[c].state == CoreState::free; });
      std::string line =
          units_.asks(u) + "cpu=" + format_quantity(unit.total.cpu) +
          " with gpu=" + format_quantity(unit.total.gpu) + " but " +
          (near.size() == 1 ? "1 core is" : std::to_string(near.size()) + " cores are") + " near " +
          gpu_names(machine_, unit.gpus);
      if (static_cast<std::size_t>(free) < near.size())
        line += " and only " + std::to_string(free) + " remain after " + owners_of(near);
      report_.add(line);
      return;
    }
    for (unsigned c : chosen)
      cores_[c] = CoreUse{CoreState::exclusive, u, 1};
    charge_memory(u, common_node(chosen));
    add_worker({u}, chosen, true);
  }

  // ceil(cpu) dedicated cores anywhere, within one NUMA node with room when possible.
  void place_dedicated_unit(std::size_t u) {
    Unit& unit = units_[u];
    const double need = std::ceil(unit.total.cpu);
    std::vector<unsigned> all(machine_.cores.size());
    std::iota(all.begin(), all.end(), 0U);
    std::vector<unsigned> chosen;
    if (need <= static_cast<double>(all.size())) {
      chosen = pick_free_cores(all, static_cast<std::size_t>(need), unit.total.memory,
                               wanted_by_gpu_units_);
    }
    if (chosen.empty()) {
      const std::string ask = units_.asks(u) + "cpu=" + format_quantity(unit.total.cpu);
      const auto free = std::count_if(cores_.begin(), cores_.end(),
                                      [](const CoreUse& c) { return c.state == CoreState::free; });
      if (need > static_cast<double>(all.size())) {
        report_.add(ask + " but the machine has " + std::to_string(all.size()) +
                    (all.size() == 1 ? " core" : " cores"));
      } else {
        report_.add(ask + " but only " + std::to_string(free) + " of the machine's " +
                    std::to_string(all.size()) + " cores remain after " + owners_of(all));
      }
      return;
    }
    for (unsigned c : chosen)
      cores_[c] = CoreUse{CoreState::exclusive, u, 1};
    charge_memory(u, common_node(chosen));
    add_worker({u}, chosen, true);
  }

  // One core near the unit's GPU: a free one, else the least shared with other such units.
  void place_gpu_unit_sharing_core(std::size_t u) {
    Unit& unit = units_[u];
    if (unit.gpus.empty()) return;  // its GPU demand already failed
    const std::vector<unsigned> near = cores_near(machine_, unit.gpus);
    std::size_t best = kNone;
    for (unsigned c : near) {
      if (cores_[c].state == CoreState::free) {
        best = c;
        break;
      }
    }
    if (best == kNone) {
      for (unsigned c : near) {
        if (cores_[c].state == CoreState::shared_with_gpu &&
            (best == kNone || cores_[c].users < cores_[best].users))
          best = c;
      }
    }
    if (best == kNone) {
      const std::string ask = units_.asks(u) + "gpu=" + format_quantity(unit.total.gpu);
      if (near.empty()) {
        report_.add(ask + " but no usable core is near " + gpu_names(machine_, unit.gpus));
      } else {
        report_.add(ask + " but every core near " + gpu_names(machine_, unit.gpus) +
                    " is dedicated to " + owners_of(near));
      }
      return;
    }
    const auto core = static_cast<unsigned>(best);
    cores_[core].state = CoreState::shared_with_gpu;
    ++cores_[core].users;
    charge_memory(u, machine_.cores[core].numa_node);
    add_worker({u}, {core}, false);
  }

  // The rest on shared workers, one core each: labels alone, the others in strands.
  void place_pool() {
    std::vector<std::size_t> pool;
    for (std::size_t u = 0; u < units_.size(); ++u)
      if (units_[u].pooled()) pool.push_back(u);
    if (pool.empty()) return;

    std::vector<unsigned> pool_cores;
    for (unsigned c = 0; c < cores_.size(); ++c)
      if (cores_[c].state == CoreState::free) pool_cores.push_back(c);
    if (pool_cores.empty()) {  // share the cores of fractional-cpu GPU workers
      for (unsigned c = 0; c < cores_.size(); ++c)
        if (cores_[c].state == CoreState::shared_with_gpu) pool_cores.push_back(c);
    }
    if (pool_cores.empty()) {
      std::vector<unsigned> all(machine_.cores.size());
      std::iota(all.begin(), all.end(), 0U);
      const std::string owners = owners_of(all);
      for (std::size_t u : pool) {
        if (report_.full()) {
          report_.count();
          continue;
        }
        report_.add(units_.asks(u) + "cpu=" + format_quantity(units_[u].total.cpu) +
                    " but no core remains: the machine's " + std::to_string(all.size()) +
                    (all.size() == 1 ? " core is" : " cores are") + " dedicated to " + owners);
      }
      return;
    }

    // A label is a worker of its own; the other units go along strands to the rest.
    std::vector<std::vector<std::size_t>> groups;  // units per pool worker
    std::vector<std::size_t> unlabeled;
    for (std::size_t u : pool) {
      if (units_[u].label.empty()) {
        unlabeled.push_back(u);
      } else {
        groups.push_back({u});
      }
    }
    const std::vector<UnitList> strands = pool_strands(units_, unlabeled, input_.edges);
    const std::vector<UnitList> sources = strand_sources(units_, strands, input_.edges);
    const std::size_t wanted = input_.workers.value_or(pool_cores.size());
    // Room left under the worker limit, for a default that follows a very large machine.
    const std::size_t room =
        worker_limit() - std::min(worker_limit(), workers_.size() + groups.size());
    const std::size_t count =
        strands.empty()
            ? 0
            : std::min({strands.size(), std::max<std::size_t>(1, room),
                        std::max<std::size_t>(1, wanted - std::min(wanted, groups.size()))});

    for (UnitList& units : spread_strands(units_, strands, sources, count))
      groups.push_back(std::move(units));

    // Cores in the order of the workers' first components: compact and deterministic.
    std::sort(groups.begin(), groups.end());
    for (const auto& units : groups) {
      double memory = 0;
      for (std::size_t u : units)
        memory += units_[u].total.memory;
      const unsigned core = pick_pool_core(pool_cores, units, memory);
      ++cores_[core].users;
      add_worker(units, {core}, false);
    }
  }

  // The least used pool core, in order, whose node has room for `memory`.
  unsigned pick_pool_core(const std::vector<unsigned>& pool_cores,
                          const std::vector<std::size_t>& units, double memory) {
    std::vector<unsigned> order = pool_cores;
    std::stable_sort(order.begin(), order.end(),
                     [&](unsigned a, unsigned b) { return cores_[a].users < cores_[b].users; });
    for (unsigned c : order) {
      const int node = machine_.cores[c].numa_node;
      if (memory_.has_room(node, memory)) {
        std::vector<std::string> names;
        for (std::size_t u : units)
          if (units_[u].total.memory > 0) names.push_back(units_.mention(u));
        memory_.take(node, memory, list_some(names, ", "));
        return c;
      }
    }
    std::set<int> nodes;
    for (unsigned c : pool_cores)
      nodes.insert(machine_.cores[c].numa_node);
    std::vector<std::string> states;
    states.reserve(nodes.size());
    for (int node : nodes)
      states.push_back(memory_.describe(node));
    std::vector<std::size_t> hungry;
    for (std::size_t u : units)
      if (units_[u].total.memory > 0) hungry.push_back(u);
    if (hungry.size() == 1) {
      report_.add(units_.asks(hungry[0]) + "memory=" + format_quantity(memory) + " but " +
                  list_some(states, ", "));
    } else {
      std::vector<std::string> names;
      names.reserve(hungry.size());
      for (std::size_t u : hungry)
        names.push_back(units_.mention(u));
      report_.add(list_some(names, ", ") + " share a worker and ask for memory=" +
                  format_quantity(memory) + " together but " + list_some(states, ", "));
    }
    return order.front();
  }

  // The drafts as the Plan: ordered by their first component, named, with their PUs.
  Plan assemble() {
    // Workers in the order of their first component.
    std::vector<std::size_t> order(workers_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::vector<std::size_t> first_component(workers_.size(), kNone);
    for (std::size_t w = 0; w < workers_.size(); ++w) {
      for (std::size_t u : workers_[w].units)
        first_component[w] = std::min(first_component[w], units_[u].components.front());
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return first_component[a] < first_component[b];
    });

    Plan plan;
    plan.machine = machine_.summary();
    plan.bound = machine_.is_this_system;
    plan.worker_of.assign(input_.components.size(), kNone);
    for (std::size_t position = 0; position < order.size(); ++position) {
      const WorkerDraft& draft = workers_[order[position]];
      WorkerPlan worker;
      worker.index = position;
      worker.name = "w" + std::to_string(position);
      for (std::size_t u : draft.units) {
        if (!units_[u].label.empty()) {
          worker.name = units_[u].label;
          break;
        }
      }
      worker.cores = draft.cores;
      std::sort(worker.cores.begin(), worker.cores.end());
      for (unsigned c : worker.cores) {
        worker.pus.insert(worker.pus.end(), machine_.cores[c].pus.begin(),
                          machine_.cores[c].pus.end());
      }
      std::sort(worker.pus.begin(), worker.pus.end());
      worker.numa_node = common_node(worker.cores);
      for (unsigned g : draft.gpus)
        worker.gpus.push_back(machine_.gpus[g].name);
      for (std::size_t u : draft.units) {
        for (std::size_t c : units_[u].components) {
          worker.components.push_back(c);
          plan.worker_of[c] = position;
        }
      }
      std::sort(worker.components.begin(), worker.components.end());
      worker.dedicated = draft.dedicated;
      plan.workers.push_back(std::move(worker));
    }
    return plan;
  }
};

}  // namespace

Plan plan_placement(const Machine& machine, const PlacementInput& input) {
  return Planner(machine, input).run();
}

}  // namespace patchbay::detail
