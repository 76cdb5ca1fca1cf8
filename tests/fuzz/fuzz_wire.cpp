// libFuzzer target: the fork server's wire format, the decoders of the model and of the plan a
// launcher receives (engine/process/spec_codec.hpp). Malformed bytes must end in
// patchbay::Error; bytes that decode must be exactly what encoding the result writes, so that
// the decoders accept nothing the supervisor could not have sent (no value out of range).
#include <patchbay/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "fork/spec_codec.hpp"

namespace {

void require_same(std::string_view input, const std::string& encoded, const char* decoder) {
  if (encoded == input) return;
  const auto first = std::mismatch(input.begin(), input.end(), encoded.begin(), encoded.end());
  patchbay::fuzz::require(false, std::string(decoder) +
                                     " accepted bytes that encoding its result does not write: "
                                     "they differ from byte " +
                                     std::to_string(first.first - input.begin()) + " of " +
                                     std::to_string(input.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    require_same(bytes, patchbay::detail::encode_spec(patchbay::detail::decode_spec(bytes)),
                 "decode_spec");
  } catch (const patchbay::Error&) {
    // Rejected, as malformed bytes should be.
  }
  try {
    require_same(bytes, patchbay::detail::encode_plan(patchbay::detail::decode_plan(bytes)),
                 "decode_plan");
  } catch (const patchbay::Error&) {
  }
  return 0;
}
