// Text taken from outside (a model file, a path, a value, a component's exception) made safe
// to put into an error message: one line, escaped, bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace patchbay::detail {

/// The most bytes of a quoted value kept in a message; the rest is summarised by its size.
inline constexpr std::size_t quoted_max_bytes = 200;
/// The most bytes of a whole message printed or thrown from untrusted text.
inline constexpr std::size_t message_max_bytes = 4096;

/// Length of the valid UTF-8 sequence at the start of `s` (1 to 4), or 0 if it does not start
/// with one (an ASCII byte included: callers handle those first).
std::size_t utf8_length(std::string_view s);

/// `text` between single quotes, on one line: a quote, a backslash and control characters are
/// escaped (\', \\, \n, \t, \r, \xHH), as are bytes that are not valid UTF-8; beyond `max_bytes`
/// of input it is cut at a character boundary and ends with "...' (N bytes)".
/// quote("a\nb") is "'a\\nb'".
std::string quote(std::string_view text, std::size_t max_bytes = quoted_max_bytes);

/// `text` made one line and bounded: control characters (newlines included) escaped as in
/// quote(), invalid UTF-8 bytes as \xHH, and cut after `max_bytes` of input with
/// "... (N bytes)". For messages that may carry a component's own text.
std::string one_line(std::string_view text, std::size_t max_bytes = message_max_bytes);

}  // namespace patchbay::detail
