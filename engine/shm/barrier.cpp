#include "shm/barrier.hpp"

#include <cstdlib>
#include <string_view>

namespace patchbay::detail {

bool asymmetric_barriers_available() {
  if (const char* setting = std::getenv("PATCHBAY_ASYMMETRIC_BARRIERS");
      setting != nullptr && std::string_view(setting) == "0") {
    return false;
  }
  const long commands = membarrier(MEMBARRIER_CMD_QUERY);
  if (commands < 0) return false;
  constexpr long needed =
      MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
  return (commands & needed) == needed;
}

}  // namespace patchbay::detail
