// The plan as `engine-run --plan` prints it (Plan::to_string), and which of its workers share
// cores (Plan::shares_pus).
#include "placement/planner.hpp"

#include <algorithm>

#include "placement/cpuset_text.hpp"
#include "placement/messages.hpp"

namespace patchbay::detail {

using placement::join;

bool Plan::shares_pus(std::size_t worker) const {
  const std::vector<unsigned>& mine = workers.at(worker).pus;
  for (std::size_t w = 0; w < workers.size(); ++w) {
    if (w == worker || workers[w].components.empty()) continue;
    for (const unsigned pu : workers[w].pus) {
      if (std::find(mine.begin(), mine.end(), pu) != mine.end()) return true;
    }
  }
  return false;
}

std::string Plan::to_string(const std::vector<PlacementRequest>& components) const {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"component", "type", "worker", "cpuset", "numa", "gpu"});
  for (std::size_t c = 0; c < components.size() && c < worker_of.size(); ++c) {
    const WorkerPlan& worker = workers.at(worker_of[c]);
    rows.push_back({components[c].component, components[c].type, worker.name,
                    cpuset_text(worker.pus),
                    worker.numa_node >= 0 ? std::to_string(worker.numa_node) : "-",
                    worker.gpus.empty() ? "-" : join(worker.gpus, ",")});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    text += line + "\n";
  }
  text += "\n";
  for (const WorkerPlan& worker : workers) {
    std::vector<std::string> names;
    for (std::size_t c : worker.components)
      names.push_back(c < components.size() ? components[c].component : std::to_string(c));
    text += "worker " + worker.name + ": " + (worker.cores.size() == 1 ? "core " : "cores ") +
            cpuset_text(worker.cores) + " (PUs " + cpuset_text(worker.pus) + "), " +
            (worker.numa_node >= 0 ? "NUMA node " + std::to_string(worker.numa_node)
                                   : std::string("no single NUMA node")) +
            (worker.dedicated ? ", dedicated" : ", shared") +
            (worker.gpus.empty() ? std::string() : ", GPU " + join(worker.gpus, ",")) + "; " +
            join(names, ", ") + "\n";
  }
  if (!bound) {
    text +=
        "not bound (a plan for another machine): workers run on the CPUs this process may "
        "use, and wait without spinning when they outnumber them\n";
  } else {
    std::vector<std::string> sharing;
    for (std::size_t w = 0; w < workers.size(); ++w) {
      if (shares_pus(w)) sharing.push_back(workers[w].name);
    }
    if (!sharing.empty()) {
      text += "workers " + join(sharing, ", ") +
              " share cores with another worker: they wait without spinning, whatever their "
              "wait mode\n";
    }
  }
  text += "machine: " + machine + "\n";
  return text;
}

}  // namespace patchbay::detail
