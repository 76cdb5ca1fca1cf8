#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "core/text.hpp"

namespace patchbay {

namespace {

struct Suffix {
  std::string_view name;
  int exponent;  // power of 10 for decimal suffixes, power of 2 for binary ones
  bool binary;
};

// Binary ones first, each group in increasing order (format_quantity walks them backwards).
constexpr std::array<Suffix, 13> kSuffixes{{
    {"Ki", 10, true},
    {"Mi", 20, true},
    {"Gi", 30, true},
    {"Ti", 40, true},
    {"Pi", 50, true},
    {"Ei", 60, true},
    {"m", -3, false},
    {"k", 3, false},
    {"M", 6, false},
    {"G", 9, false},
    {"T", 12, false},
    {"P", 15, false},
    {"E", 18, false},
}};

constexpr std::string_view kSuffixList = "m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

[[noreturn]] void fail(std::string_view text, std::string_view reason) {
  throw ModelError("invalid quantity " + detail::quote(text) + ": " + std::string(reason));
}

// Parses an unsigned quantity (no sign). Returns the value, or sets `reason` and returns 0.
double parse_unsigned(std::string_view s, std::string& reason) {
  std::size_t i = 0;
  std::size_t digits = 0;
  const auto skip_digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i]))
      ++i;
    digits += i - start;
  };
  skip_digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    skip_digits();
  }
  if (digits == 0) {
    reason = "not a number";
    return 0;
  }
  const std::string_view number = s.substr(0, i);
  const std::string_view suffix_text = s.substr(i);

  const Suffix* suffix = nullptr;
  if (!suffix_text.empty()) {
    const char first = suffix_text.front();
    if ((first == 'e' || first == 'E') && suffix_text.size() > 1 &&
        (is_digit(suffix_text[1]) || suffix_text[1] == '+' || suffix_text[1] == '-')) {
      reason = "exponent not allowed";
      return 0;
    }
    if (first == '.' || is_digit(first)) {
      reason = "not a number";
      return 0;
    }
    for (const Suffix& candidate : kSuffixes) {
      if (candidate.name == suffix_text) {
        suffix = &candidate;
        break;
      }
    }
    if (suffix == nullptr) {
      reason = "unknown suffix " + detail::quote(suffix_text);
      reason.append(" (expected one of ").append(kSuffixList).append(")");
      return 0;
    }
  }

  double value = 0;
  std::from_chars_result result{};
  if (suffix != nullptr && !suffix->binary) {
    // Let from_chars apply the power of ten so that the result is correctly rounded.
    std::string scaled(number);
    scaled.append("e").append(std::to_string(suffix->exponent));
    result = std::from_chars(scaled.data(), scaled.data() + scaled.size(), value,
                             std::chars_format::general);
    if (result.ec == std::errc{} && result.ptr != scaled.data() + scaled.size()) {
      result.ec = std::errc::invalid_argument;
    }
  } else {
    result = std::from_chars(number.data(), number.data() + number.size(), value,
                             std::chars_format::fixed);
    if (result.ec == std::errc{} && result.ptr != number.data() + number.size()) {
      result.ec = std::errc::invalid_argument;
    }
    if (result.ec == std::errc{} && suffix != nullptr) value = std::ldexp(value, suffix->exponent);
  }
  if (result.ec == std::errc::result_out_of_range || !std::isfinite(value)) {
    reason = "out of range";
    return 0;
  }
  if (result.ec != std::errc{}) {
    reason = "not a number";
    return 0;
  }
  return value;
}

// Shortest decimal without exponent that reads back as `value`.
std::string plain(double value) {
  if (value == 0) return "0";  // also turns -0 into "0"
  std::array<char, 400> buffer{};
  const auto result =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  return {buffer.data(), result.ptr};
}

}  // namespace

double parse_quantity(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) fail(text, "empty");
  const bool negative = s.front() == '-';
  if (negative || s.front() == '+') s.remove_prefix(1);
  std::string reason;
  const double value = parse_unsigned(s, reason);
  if (!reason.empty()) fail(text, reason);
  if (negative) fail(text, "negative");
  return value;
}

double check_quantity(double value) {
  const char* reason = nullptr;
  if (std::isnan(value)) {
    reason = "not a number";
  } else if (std::isinf(value)) {
    reason = "infinite";
  } else if (value < 0) {
    reason = "negative";
  }
  if (reason != nullptr) {
    // The shortest form: a fixed-point rendering of -1e300 has 300 digits.
    std::array<char, 32> text{};
    const auto end = std::to_chars(text.data(), text.data() + text.size(), value).ptr;
    throw ModelError("invalid quantity " + std::string(text.data(), end) + ": " + reason);
  }
  return value == 0 ? 0.0 : value;
}

std::string format_quantity(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";

  std::string best_binary;
  if (value >= 1024) {
    for (auto it = kSuffixes.rbegin(); it != kSuffixes.rend(); ++it) {
      if (!it->binary) continue;
      const double mantissa = std::ldexp(value, -it->exponent);  // exact
      if (mantissa >= 1 && mantissa == std::trunc(mantissa)) {
        best_binary = plain(mantissa).append(it->name);
        break;
      }
    }
  }
  std::string best_decimal;
  if (value >= 1000) {
    for (auto it = kSuffixes.rbegin(); it != kSuffixes.rend(); ++it) {
      if (it->binary || it->exponent < 3) continue;
      double scale = 1;  // powers of ten are exact doubles up to 1e22
      for (int k = 0; k < it->exponent; ++k)
        scale *= 10;
      const double mantissa = value / scale;
      // mantissa * scale == value also guarantees that parse_quantity reads the text back as
      // `value`: both round the same real number to the nearest double.
      if (mantissa >= 1 && mantissa == std::trunc(mantissa) && mantissa * scale == value) {
        best_decimal = plain(mantissa).append(it->name);
        break;
      }
    }
  }
  if (!best_binary.empty() && (best_decimal.empty() || best_binary.size() <= best_decimal.size())) {
    return best_binary;
  }
  if (!best_decimal.empty()) return best_decimal;
  return plain(value);
}

Resources apply(const Resources& base, const ResourceOverrides& overrides) {
  Resources result = base;
  if (overrides.cpu) result.cpu = *overrides.cpu;
  if (overrides.gpu) result.gpu = *overrides.gpu;
  if (overrides.memory) result.memory = *overrides.memory;
  for (const auto& [name, amount] : overrides.custom)
    result.custom[name] = amount;
  return result;
}

std::string to_string(const Resources& resources) {
  std::string text = "cpu=" + format_quantity(resources.cpu);
  text.append(" gpu=").append(format_quantity(resources.gpu));
  text.append(" memory=").append(format_quantity(resources.memory));
  for (const auto& [name, amount] : resources.custom) {
    text.append(" ").append(name).append("=").append(format_quantity(amount));
  }
  return text;
}

}  // namespace patchbay
