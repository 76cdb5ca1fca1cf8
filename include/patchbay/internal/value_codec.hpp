// The binary form of a Value on a ring. Engine use: a Value port's codec (built in the code
// that declares the port, a plugin's included) and the fork server's wire format call these.
#pragma once

#include <patchbay/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace patchbay::detail {

/// Bytes encode_value() writes for `value`: exact. Thread-safe (pure).
std::size_t encoded_size(const Value& value);
/// Writes exactly encoded_size(value) bytes to `out`. Thread-safe (pure).
void encode_value(const Value& value, std::byte* out);
/// Decodes bytes written by encode_value(); throws patchbay::Error on malformed input.
/// Thread-safe (pure).
Value decode_value(const std::byte* data, std::size_t size);

/// Whether the whole of `text` spells an int64 (decimal digits, one optional sign: "007",
/// "+5", "-3"); if so, stores it in `out`. What Value::as_int() and a typed integer port read
/// from a string. Thread-safe (pure).
bool parse_int_text(std::string_view text, std::int64_t& out) noexcept;
/// Whether the whole of `text` spells a number (an int or a decimal, with an optional exponent:
/// "1e3", "-0.5", "+2"; not "inf", "nan" or hexadecimal); if so, stores it in `out`. What
/// Value::as_double() and a typed floating-point port read from a string. Thread-safe (pure).
bool parse_number_text(std::string_view text, double& out) noexcept;
/// The number `text` is the exact spelling of, as Value::to_string() writes it ("7", "2.5",
/// "1e+16"), else nullopt ("007", "1e3", "2.50" spell numbers but not as written). Thread-safe
/// (pure).
std::optional<Value> canonical_number(std::string_view text);

}  // namespace patchbay::detail
