// The unit of sharing between cores, which every layout in shared memory is aligned to.
#pragma once

#include <cstddef>

namespace patchbay::detail {

/// Bytes of a cache line: what two cores exchange when one writes and the other reads. Data
/// written by different sides sit on lines of their own, so that one side's writes do not take
/// the line from under the other (false sharing). Our own constant rather than
/// std::hardware_destructive_interference_size: GCC warns that the standard one may change
/// with -mtune, and this value is part of the layout of shared memory, which must not.
inline constexpr std::size_t cache_line_bytes = 64;

static_assert(cache_line_bytes >= alignof(std::max_align_t) &&
              (cache_line_bytes & (cache_line_bytes - 1)) == 0);

}  // namespace patchbay::detail
