// What placement places: units, each the components that must share one worker (those with one
// worker label) or a single component, with their resources summed; and how messages name them.
#pragma once

#include <patchbay/resources.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "placement/planner.hpp"

namespace patchbay::detail::placement {

/// An index (of a unit, core or GPU) that names none.
inline constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

/// Whether `amount` more fits a `capacity` of which `used` is taken. Sums of quantities like
/// 0.1 + 0.2 must still fit a capacity of 0.3.
[[nodiscard]] inline bool fits(double used, double amount, double capacity) {
  return used + amount <= capacity + 1e-9 * std::max(1.0, capacity);
}

/// Components that must share a worker (one label), or a single component.
struct Unit {
  std::vector<std::size_t> components;  ///< ascending
  std::string label;                    ///< the worker label; empty for a single component
  Resources total;                      ///< summed over its components
  std::vector<unsigned> gpus;           ///< indexes into Machine::gpus, once they are assigned

  [[nodiscard]] bool has_gpu() const { return total.gpu > 0; }
  [[nodiscard]] bool dedicated_cores() const { return total.cpu >= 1; }
  /// Runs on a shared worker: no GPU and cpu < 1.
  [[nodiscard]] bool pooled() const { return !has_gpu() && !dedicated_cores(); }
};

/// The units of one placement input, ordered by their first component, and their names in
/// messages. Keeps a reference to the input, which must outlive it.
class Units {
 public:
  /// Groups `input`'s components: those with the same non-empty label form one unit.
  explicit Units(const PlacementInput& input);

  [[nodiscard]] std::size_t size() const { return units_.size(); }
  [[nodiscard]] Unit& operator[](std::size_t unit) { return units_[unit]; }
  [[nodiscard]] const Unit& operator[](std::size_t unit) const { return units_[unit]; }
  [[nodiscard]] std::vector<Unit>::const_iterator begin() const { return units_.begin(); }
  [[nodiscard]] std::vector<Unit>::const_iterator end() const { return units_.end(); }

  /// The unit holding `component`.
  [[nodiscard]] std::size_t of(std::size_t component) const { return unit_of_[component]; }

  /// The subject of a message: "component 'a'" or "components 'a', 'b' (worker 'w')".
  [[nodiscard]] std::string describe(std::size_t unit) const;
  /// A short mention of another unit: "'a'" or "worker 'w'".
  [[nodiscard]] std::string mention(std::size_t unit) const;
  /// describe(unit) and its verb: "component 'a' asks for ", "components ... ask for ".
  [[nodiscard]] std::string asks(std::size_t unit) const;

 private:
  [[nodiscard]] const std::string& name_of(std::size_t component) const {
    return input_.components[component].component;
  }

  const PlacementInput& input_;
  std::vector<Unit> units_;
  std::vector<std::size_t> unit_of_;  // per component
};

}  // namespace patchbay::detail::placement
