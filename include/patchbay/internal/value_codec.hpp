// The binary form of a Value on a ring. Engine use: a Value port's codec (built in the code
// that declares the port, a plugin's included) and the fork server's wire format call these.
#pragma once

#include <patchbay/value.hpp>

#include <cstddef>

namespace patchbay::detail {

/// Bytes encode_value() writes for `value`: exact. Thread-safe (pure).
std::size_t encoded_size(const Value& value);
/// Writes exactly encoded_size(value) bytes to `out`. Thread-safe (pure).
void encode_value(const Value& value, std::byte* out);
/// Decodes bytes written by encode_value(); throws patchbay::Error on malformed input.
/// Thread-safe (pure).
Value decode_value(const std::byte* data, std::size_t size);

}  // namespace patchbay::detail
