// Resource requests of a component (cpu, gpu, memory, custom resources) and the quantity
// grammar used to write them in a model file ("500m", "512Mi", "2G", ...).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace patchbay {

/// What a component asks for. A plain value type: thread-safe to copy and compare; not to be
/// modified while another thread reads it.
struct Resources {
  double cpu = 0.001;                    ///< cores
  double gpu = 0;                        ///< devices
  double memory = 0;                     ///< bytes
  std::map<std::string, double> custom;  ///< resource name -> amount

  bool operator==(const Resources&) const = default;
};

/// The fields a model file sets explicitly, to lay over defaults with apply(). Unset optionals
/// (and custom names that are absent) keep the base value. A plain value type like Resources.
struct ResourceOverrides {
  std::optional<double> cpu;
  std::optional<double> gpu;
  std::optional<double> memory;
  std::map<std::string, double> custom;

  bool operator==(const ResourceOverrides&) const = default;
};

/// Parses a resource quantity with Plugboard's (Kubernetes-style) grammar: a non-negative
/// decimal number without exponent ("2", "1.5", ".5", "1."; an optional leading '+'),
/// optionally followed directly by one suffix:
///   m (1e-3), k (1e3), M (1e6), G (1e9), T (1e12), P (1e15), E (1e18),
///   Ki (2^10), Mi (2^20), Gi (2^30), Ti (2^40), Pi (2^50), Ei (2^60).
/// Leading and trailing whitespace is ignored. Decimal suffixes are applied exactly (the result
/// is the double nearest to the written value), so "500m" == 0.5 and "0.1k" == 100.
/// Examples: "500m" -> 0.5, "512Mi" -> 536870912, "2G" -> 2e9, "1.5" -> 1.5, " 2 " -> 2.
/// Throws ModelError "invalid quantity '<text>': <reason>", where reason is one of "empty",
/// "negative", "exponent not allowed", "unknown suffix 'x' (expected one of m, k, ...)",
/// "not a number" or "out of range". The error carries no location; callers that know where
/// the text came from should catch and rethrow with one.
/// Thread-safety: pure function, safe to call concurrently.
[[nodiscard]] double parse_quantity(std::string_view text);

/// Validates a quantity given directly as a number: returns `value` (with -0 turned into 0).
/// Throws ModelError "invalid quantity <value>: <reason>" for a negative value ("negative"),
/// NaN ("not a number") or an infinity ("infinite").
/// Thread-safety: pure function, safe to call concurrently.
double check_quantity(double value);

/// Renders a quantity compactly for messages: "0.5", "2", "512Mi" (an exact multiple of a
/// binary suffix, value >= 1Ki; the largest such suffix wins), "2G" (otherwise an exact multiple
/// of a decimal suffix, value >= 1k; the largest wins), else the shortest plain decimal that
/// reads back exactly ("0.001", "1536.5"); never an exponent. For every finite non-negative
/// value, parse_quantity(format_quantity(v)) == v. Negative values are rendered plainly
/// ("-1"), non-finite ones as "nan", "inf", "-inf"; this function never throws (except
/// std::bad_alloc).
/// Thread-safety: pure function, safe to call concurrently.
[[nodiscard]] std::string format_quantity(double value);

/// Lays `overrides` over `base`: cpu, gpu and memory are replaced where the override has a
/// value; custom resources are merged by name (an override's name replaces the base amount,
/// names only in base are kept). Values are taken as given, not validated (use parse_quantity
/// or check_quantity first).
/// Thread-safety: pure function, safe to call concurrently.
[[nodiscard]] Resources apply(const Resources& base, const ResourceOverrides& overrides);

/// Renders resources for messages and logs, always listing cpu, gpu and memory, then custom
/// resources sorted by name, each value as format_quantity() renders it:
/// "cpu=0.5 gpu=1 memory=512Mi custom_hardware=2".
/// Thread-safety: pure function, safe to call concurrently.
[[nodiscard]] std::string to_string(const Resources& resources);

}  // namespace patchbay
