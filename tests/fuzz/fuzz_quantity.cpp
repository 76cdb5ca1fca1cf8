// libFuzzer target: the quantity grammar ("500m", "512Mi"). parse_quantity either rejects the
// text with patchbay::ModelError or returns a finite value >= 0 (never -0) that format_quantity
// renders and parse_quantity reads back exactly; the same holds for the input's first 8 bytes taken
// as a double, which check_quantity must also accept unchanged.
#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "check.hpp"
#include "core/text.hpp"

namespace {

using patchbay::fuzz::require;

void require_round_trip(double value) {
  const std::string text = patchbay::format_quantity(value);
  double back = -1;
  try {
    back = patchbay::parse_quantity(text);
  } catch (const patchbay::ModelError& e) {
    require(false, "format_quantity wrote " + patchbay::detail::quote(text) +
                       ", which parse_quantity rejects: " + patchbay::detail::one_line(e.what()));
  }
  require(back == value && std::signbit(back) == std::signbit(value),
          "format_quantity wrote " + patchbay::detail::quote(text) + ", which reads back as " +
              patchbay::format_quantity(back));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const double value = patchbay::parse_quantity(text);
    require(std::isfinite(value) && value >= 0 && !std::signbit(value),
            "parse_quantity(" + patchbay::detail::quote(text) + ") returned " +
                patchbay::format_quantity(value));
    require_round_trip(value);
  } catch (const patchbay::ModelError&) {
    // Rejected, as bad text should be.
  }

  if (size >= sizeof(double)) {
    double value = 0;
    std::memcpy(&value, data, sizeof value);
    if (std::isfinite(value) && value >= 0) {
      require(patchbay::check_quantity(value) == value, "check_quantity changed a valid value");
      require_round_trip(value == 0 ? 0.0 : value);
    }
  }
  return 0;
}
