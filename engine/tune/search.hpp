// The search algorithms behind Tuner: each proposes points and is told their scores.
#pragma once

#include <patchbay/tune.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace patchbay::detail {

/// One point to evaluate: its values (one per parameter) and a tag to tell its score by.
struct Proposal {
  std::size_t tag = 0;
  std::vector<Value> values;
};

/// A search over a TuneSpec's parameters. Single-threaded: the tuning loop asks and tells.
class Search {
 public:
  virtual ~Search() = default;
  /// The next point, or nullopt when there is none now: the budget is spent, or the search
  /// waits for scores of points it proposed.
  virtual std::optional<Proposal> next() = 0;
  /// The scores of a proposal, one per objective (the higher the better: a minimised
  /// objective negated); empty for a trial that gave none.
  virtual void tell(std::size_t tag, const std::vector<double>& scores) = 0;
};

/// The search `spec.algorithm` names. `start`: the model's own values of the parameters (null
/// where it has none), where a model-based search begins.
std::unique_ptr<Search> make_search(const TuneSpec& spec, const std::vector<Value>& start);

/// The middle of each parameter's range (the middle category of a choice): a point every
/// search could propose, to check the model with before a search starts.
std::vector<Value> middle_point(const TuneSpec& spec);
/// The values a grid search takes for each parameter.
std::vector<std::vector<Value>> grid_axes(const TuneSpec& spec);
/// The grid a grid search walks, in order (at most num_samples points).
std::vector<std::vector<Value>> grid_points(const TuneSpec& spec);

}  // namespace patchbay::detail
