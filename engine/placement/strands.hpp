// How the pool's units are grouped onto shared workers: units joined along chain links form
// strands, and strands are spread over the workers so that fan-out siblings run apart.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "placement/units.hpp"

namespace patchbay::detail::placement {

/// Unit indexes, ascending.
using UnitList = std::vector<std::size_t>;
/// Connectors as (source component, target component), as in PlacementInput::edges.
using Edges = std::vector<std::pair<std::size_t, std::size_t>>;

/// The units of `pool` joined along chain links (a -> b between units, where a has one output
/// link and b one input link), each strand ascending, strands ordered by their first unit.
/// Thread-safety: pure function.
[[nodiscard]] std::vector<UnitList> pool_strands(const Units& units, const UnitList& pool,
                                                 const Edges& edges);

/// For each strand, the units that feed one of its units over a link between units, ascending:
/// strands that share one are fan-out siblings. A chain's own links count too, harmlessly: the
/// unit before a chain link feeds nothing else. Thread-safety: pure function.
[[nodiscard]] std::vector<UnitList> strand_sources(const Units& units,
                                                   const std::vector<UnitList>& strands,
                                                   const Edges& edges);

/// Spreads `strands` over `count` shared workers: the first `count` strands start one worker
/// each; every later one joins the worker holding the fewest of its fan-out siblings (a sibling
/// counted once per source the two share), then the lightest (sum of cpu), then the first.
/// Returns the units of each worker, ascending. Takes time near-linear in strands and their
/// sources times `count`. `count` is at most strands.size(), and 0 only when there are none.
/// Thread-safety: pure function.
[[nodiscard]] std::vector<UnitList> spread_strands(const Units& units,
                                                   const std::vector<UnitList>& strands,
                                                   const std::vector<UnitList>& sources,
                                                   std::size_t count);

}  // namespace patchbay::detail::placement
