#include "core/text.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace patchbay::detail {

std::size_t utf8_length(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  std::uint32_t code = b0 & (0xFFu >> (length + 1));
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

namespace {

/// Appends `text` escaped, stopping before `max_bytes` of input; returns the bytes consumed.
std::size_t append_escaped(std::string& out, std::string_view text, std::size_t max_bytes,
                           bool escape_quote) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 1;
    if (c >= 0x80) {
      n = utf8_length(text.substr(i));
      if (n == 0) n = 1;
    }
    if (i + n > max_bytes) break;
    if (c == '\\' || (escape_quote && c == '\'')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && n == 1)) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return i;
}

}  // namespace

std::string quote(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 2);
  out += '\'';
  const std::size_t used = append_escaped(out, text, max_bytes, true);
  if (used < text.size()) {
    out += "...' (" + std::to_string(text.size()) + " bytes)";
  } else {
    out += '\'';
  }
  return out;
}

std::string one_line(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  const std::size_t used = append_escaped(out, text, max_bytes, false);
  if (used < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace patchbay::detail
