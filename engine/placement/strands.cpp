#include "placement/strands.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <tuple>
#include <unordered_map>

namespace patchbay::detail::placement {

std::vector<UnitList> pool_strands(const Units& units, const UnitList& pool, const Edges& edges) {
  std::set<std::pair<std::size_t, std::size_t>> links;
  for (const auto& [source, target] : edges) {
    const std::size_t from = units.of(source);
    const std::size_t to = units.of(target);
    if (from != to) links.emplace(from, to);
  }
  std::vector<std::size_t> outputs(units.size(), 0);
  std::vector<std::size_t> inputs(units.size(), 0);
  for (const auto& [from, to] : links) {
    ++outputs[from];
    ++inputs[to];
  }
  std::vector<bool> in_pool(units.size(), false);
  for (std::size_t u : pool)
    in_pool[u] = true;
  std::vector<std::size_t> parent(units.size());
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  auto root = [&](std::size_t u) {
    while (parent[u] != u)
      u = parent[u] = parent[parent[u]];
    return u;
  };
  for (const auto& [from, to] : links) {
    if (in_pool[from] && in_pool[to] && outputs[from] == 1 && inputs[to] == 1) {
      const std::size_t a = root(from);
      const std::size_t b = root(to);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
  }
  std::map<std::size_t, UnitList> by_root;
  for (std::size_t u : pool)
    by_root[root(u)].push_back(u);
  std::vector<UnitList> strands;
  strands.reserve(by_root.size());
  for (auto& [first, members] : by_root)
    strands.push_back(std::move(members));
  std::sort(strands.begin(), strands.end());
  return strands;
}

std::vector<UnitList> strand_sources(const Units& units, const std::vector<UnitList>& strands,
                                     const Edges& edges) {
  std::vector<std::size_t> strand_of(units.size(), kNone);
  for (std::size_t s = 0; s < strands.size(); ++s) {
    for (std::size_t u : strands[s])
      strand_of[u] = s;
  }
  std::vector<UnitList> sources(strands.size());
  for (const auto& [source, target] : edges) {
    const std::size_t s = strand_of[units.of(target)];
    if (s != kNone && units.of(source) != units.of(target)) sources[s].push_back(units.of(source));
  }
  for (auto& list : sources) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
  }
  return sources;
}

std::vector<UnitList> spread_strands(const Units& units, const std::vector<UnitList>& strands,
                                     const std::vector<UnitList>& sources, std::size_t count) {
  std::vector<std::vector<std::size_t>> members(count);  // strands per worker
  std::vector<double> load(count, 0.0);
  // Per source unit: how many of the strands it feeds each worker holds. A strand's siblings
  // in a worker are then found through its few sources, not by comparing it with every strand
  // placed before it (quadratic in a wide fan-out).
  std::vector<std::unordered_map<std::size_t, std::size_t>> fed(units.size());
  std::vector<std::size_t> conflicts(count, 0);
  auto weight = [&](std::size_t s) {
    double sum = 0;
    for (std::size_t u : strands[s])
      sum += units[u].total.cpu;
    return sum;
  };
  for (std::size_t s = 0; s < strands.size(); ++s) {
    std::size_t target = s;
    if (s >= count) {
      // Fewest fan-out siblings first (they should run in parallel), then the lightest.
      for (std::size_t source : sources[s]) {
        for (const auto& [w, strands_fed] : fed[source])
          conflicts[w] += strands_fed;
      }
      target = 0;
      for (std::size_t w = 1; w < count; ++w) {
        if (std::tie(conflicts[w], load[w]) < std::tie(conflicts[target], load[target])) target = w;
      }
      for (std::size_t source : sources[s]) {
        for (const auto& entry : fed[source])
          conflicts[entry.first] = 0;
      }
    }
    members[target].push_back(s);
    load[target] += weight(s);
    for (std::size_t source : sources[s])
      ++fed[source][target];
  }
  std::vector<UnitList> workers;
  workers.reserve(count);
  for (const auto& strand_list : members) {
    UnitList worker;
    for (std::size_t s : strand_list)
      worker.insert(worker.end(), strands[s].begin(), strands[s].end());
    std::sort(worker.begin(), worker.end());
    workers.push_back(std::move(worker));
  }
  return workers;
}

}  // namespace patchbay::detail::placement
