#include <patchbay/version.hpp>

namespace patchbay {

const char* version() noexcept {
  return PATCHBAY_VERSION;
}

}  // namespace patchbay
