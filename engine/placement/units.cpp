#include "placement/units.hpp"

#include <map>

#include "core/text.hpp"
#include "placement/messages.hpp"

namespace patchbay::detail::placement {

Units::Units(const PlacementInput& input) : input_(input) {
  std::map<std::string, std::size_t> by_label;
  unit_of_.resize(input.components.size());
  for (std::size_t c = 0; c < input.components.size(); ++c) {
    const PlacementRequest& request = input.components[c];
    std::size_t u = units_.size();
    if (!request.worker.empty()) {
      auto [it, inserted] = by_label.try_emplace(request.worker, units_.size());
      u = it->second;
      if (inserted) {
        units_.emplace_back();
        units_.back().label = request.worker;
        units_.back().total = Resources{0, 0, 0, {}};
      }
    } else {
      units_.emplace_back();
      units_.back().total = Resources{0, 0, 0, {}};
    }
    Unit& unit = units_[u];
    unit.components.push_back(c);
    unit.total.cpu += request.resources.cpu;
    unit.total.gpu += request.resources.gpu;
    unit.total.memory += request.resources.memory;
    for (const auto& [name, amount] : request.resources.custom)
      unit.total.custom[name] += amount;
    unit_of_[c] = u;
  }
}

std::string Units::describe(std::size_t u) const {
  const Unit& unit = units_[u];
  if (unit.components.size() == 1) return "component " + quote(name_of(unit.components[0]));
  std::vector<std::string> names;
  for (std::size_t c : unit.components)
    names.push_back(quote(name_of(c)));
  return "components " + list_some(names, ", ") + " (worker " + quote(unit.label) + ")";
}

std::string Units::mention(std::size_t u) const {
  const Unit& unit = units_[u];
  if (unit.components.size() == 1) return quote(name_of(unit.components[0]));
  return "worker " + quote(unit.label);
}

std::string Units::asks(std::size_t u) const {
  return describe(u) + (units_[u].components.size() > 1 ? " ask for " : " asks for ");
}

}  // namespace patchbay::detail::placement
