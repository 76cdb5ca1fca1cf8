#include <patchbay/error.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "core/text.hpp"

namespace patchbay {

namespace {

// A file name in a location prefix: long enough for any real path, short enough that the
// message after it survives the bound on the whole line.
constexpr std::size_t location_file_max_bytes = 256;

/// One line of at most `max_bytes`: see message_line(). A cut leaves room for its own suffix,
/// so that a second pass finds nothing to do.
std::string bounded_line(std::string_view text, std::size_t max_bytes) {
  const std::string suffix = "... (" + std::to_string(text.size()) + " bytes)";
  const std::size_t keep = max_bytes > suffix.size() ? max_bytes - suffix.size() : 0;
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  std::size_t cut = std::string::npos;  // where a cut would go, once known
  auto append = [&](std::string_view piece) {
    if (cut == std::string::npos && out.size() + piece.size() > keep) cut = out.size();
    out += piece;
  };
  for (std::size_t i = 0; i < text.size() && out.size() <= max_bytes;) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 1;
    char escaped[5];
    if (c == '\r' || c == '\n') {
      // "\r\n", "\n" and "\r" are one line break; several in a row make one separator.
      while (i + n < text.size() && (text[i + n] == '\r' || text[i + n] == '\n'))
        ++n;
      if (!out.empty() && i + n < text.size()) append("; ");
    } else if (c >= 0x80 && (n = detail::utf8_length(text.substr(i))) > 0) {
      append(text.substr(i, n));
    } else if (c < 0x20 || c >= 0x7F) {
      n = 1;
      std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned>(c));
      append(escaped);
    } else {
      append(text.substr(i, 1));
    }
    i += n;
  }
  if (out.size() <= max_bytes) return out;
  out.resize(cut);
  out += suffix;
  return out;
}

std::string with_location(const std::string& message, const SourceLocation& where) {
  return where.empty() ? message : where.to_string() + ": " + message;
}

}  // namespace

std::string quote_text(std::string_view text) {
  return detail::quote(text);
}

std::string message_line(std::string_view text) {
  return bounded_line(text, error_message_max_bytes);
}

std::string SourceLocation::to_string() const {
  if (file.empty()) return line > 0 ? "line " + std::to_string(line) : std::string{};
  const std::string name = bounded_line(file, location_file_max_bytes);
  return line > 0 ? name + ":" + std::to_string(line) : name;
}

Error::Error(std::string_view message) : std::runtime_error(message_line(message)) {}

ModelError::ModelError(const std::string& message, SourceLocation where)
    : Error(with_location(message_line(message), where)),
      message_(message),
      where_(std::move(where)) {}

ComponentFailure::ComponentFailure(std::string component, std::string type, std::string message)
    : Error("component " + detail::quote(component) + " (" + detail::one_line(type, 200) +
            ") failed: " + message),
      component_(std::move(component)),
      type_(std::move(type)),
      message_(std::move(message)) {}

}  // namespace patchbay
