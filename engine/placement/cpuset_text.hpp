// CPU numbers written as people and the kernel's cpuset files write them: "0-3,16-19".
#pragma once

#include <string>
#include <vector>

namespace patchbay::detail {

/// `numbers` (ascending: PU OS indexes, or core indexes) in the cpuset list format: runs of
/// consecutive numbers as "first-last", separated by commas; "-" when there are none.
/// cpuset_text({0, 1, 2, 3, 16, 17}) is "0-3,16-17". Thread-safety: pure function.
[[nodiscard]] std::string cpuset_text(const std::vector<unsigned>& numbers);

}  // namespace patchbay::detail
