// The wording placement's messages share: lists of names kept short, and the report of the
// demands a plan cannot meet, which ends planning as one ModelError.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace patchbay::detail::placement {

/// Lines of a placement failure kept in its message; the rest are counted.
inline constexpr std::size_t max_error_lines = 20;
/// Names listed in one line of a message; the rest are counted.
inline constexpr std::size_t max_names_listed = 8;

/// "a, b, c" or, past `most` parts, "a, b, ... and 7 more".
[[nodiscard]] std::string join(const std::vector<std::string>& parts, const std::string& separator,
                               std::size_t most = std::numeric_limits<std::size_t>::max());

/// The names a message lists: the first max_names_listed, then their count.
[[nodiscard]] std::string list_some(const std::vector<std::string>& parts,
                                    const std::string& separator);

/// The demands a plan cannot meet, gathered over every step so that one error names them all:
/// the first max_error_lines lines, then their count. Planning goes on after a demand fails, so
/// a step must not assume that an earlier one succeeded (a unit whose GPUs were refused has none).
class DemandReport {
 public:
  /// Whether further lines are only counted. Loops over components check it before building a
  /// line, so that a model failing in every component does not build every line.
  [[nodiscard]] bool full() const { return lines_.size() >= max_error_lines; }

  /// Adds a line, or counts it when full().
  void add(std::string line);

  /// Counts an unmet demand whose line the caller did not build because full().
  void count() { ++unreported_; }

  /// Throws ModelError with the lines, one per line, then "... and N more unmet demands" when
  /// some were only counted. Does nothing when no demand failed.
  void throw_if_any() const;

 private:
  std::vector<std::string> lines_;
  std::size_t unreported_ = 0;
};

/// Throws ModelError: the plan needs `count` workers, more than `limit` (limits::max_workers_per_pu
/// per usable PU, at most limits::max_workers), and what to change in the model.
[[noreturn]] void throw_too_many_workers(std::size_t count, std::size_t limit);

}  // namespace patchbay::detail::placement
