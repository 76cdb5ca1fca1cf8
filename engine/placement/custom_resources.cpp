#include "placement/custom_resources.hpp"

#include <patchbay/resources.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/text.hpp"
#include "placement/units.hpp"

namespace patchbay::detail::placement {

void check_custom_resources(const PlacementInput& input, DemandReport& report) {
  std::map<std::string, double> used;
  std::map<std::string, std::vector<std::string>> takers;
  for (std::size_t c = 0; c < input.components.size(); ++c) {
    for (const auto& [name, amount] : input.components[c].resources.custom) {
      if (!(amount > 0)) continue;
      if (report.full()) {
        report.count();
        continue;
      }
      const std::string subject = "component " + quote(input.components[c].component) +
                                  " asks for custom resource " + quote(name) + "=" +
                                  format_quantity(amount);
      auto capacity = input.custom_capacities.find(name);
      if (capacity == input.custom_capacities.end()) {
        std::vector<std::string> declared;
        for (const auto& [other, amount_declared] : input.custom_capacities)
          declared.push_back(quote(other) + "=" + format_quantity(amount_declared));
        report.add(subject + (declared.empty()
                                  ? " but the process declares none"
                                  : " but the process does not declare it (it declares " +
                                        list_some(declared, ", ") + ")"));
        continue;
      }
      if (!fits(used[name], amount, capacity->second)) {
        std::string line = subject + " but the process declares " + quote(name) + "=" +
                           format_quantity(capacity->second);
        if (!takers[name].empty()) {
          line += " and " + list_some(takers[name], ", ") + " already take " +
                  format_quantity(used[name]);
        }
        report.add(line);
        continue;
      }
      used[name] += amount;
      takers[name].push_back(quote(input.components[c].component));
    }
  }
}

}  // namespace patchbay::detail::placement
