#include "placement/cpuset_text.hpp"

#include <cstddef>

namespace patchbay::detail {

std::string cpuset_text(const std::vector<unsigned>& numbers) {
  std::string text;
  for (std::size_t i = 0; i < numbers.size();) {
    std::size_t end = i;
    while (end + 1 < numbers.size() && numbers[end + 1] == numbers[end] + 1)
      ++end;
    if (!text.empty()) text += ',';
    text += std::to_string(numbers[i]);
    if (end > i) {
      text += '-';
      text += std::to_string(numbers[end]);
    }
    i = end + 1;
  }
  return text.empty() ? "-" : text;
}

}  // namespace patchbay::detail
