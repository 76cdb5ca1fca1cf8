// A compact binary encoding of a model and its plan, for the fork server: what a launcher needs
// to rebuild exactly the components, wiring and placement the supervisor made.
#pragma once

#include <patchbay/process_spec.hpp>

#include <string>
#include <string_view>

#include "placement/planner.hpp"

namespace patchbay::detail {

/// Encodes every field of `spec` (values keep their kind; doubles are stored bit for bit).
/// Thread-safety: pure function.
std::string encode_spec(const ProcessSpec& spec);
/// Decodes what encode_spec() wrote. Throws Error on malformed or truncated input, and on any
/// value encode_spec() could not have written (an unknown kind or wait mode, a line beyond int),
/// so that what it accepts encodes back to the same bytes.
ProcessSpec decode_spec(std::string_view bytes);

/// Encodes a placement plan (workers, cores, cpusets, GPUs, components).
std::string encode_plan(const Plan& plan);
/// Decodes what encode_plan() wrote. Throws Error on malformed or truncated input, and on any
/// value encode_plan() could not have written, like decode_spec().
Plan decode_plan(std::string_view bytes);

/// Appends length-prefixed fields to a byte string.
class ByteWriter {
 public:
  void u64(std::uint64_t value);
  void i64(std::int64_t value) { u64(static_cast<std::uint64_t>(value)); }
  void f64(double value);
  void text(std::string_view value);
  void value(const Value& value);
  [[nodiscard]] const std::string& bytes() const { return out_; }
  /// Empties it, keeping its memory for the next fields.
  void clear() { out_.clear(); }

 private:
  std::string out_;
};

/// Reads fields in the order ByteWriter wrote them; throws Error past the end, and for a value
/// that the writer could not have written (a flag other than 0 or 1, an out-of-range number).
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : in_(bytes) {}
  std::uint64_t u64();
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  /// An i64() that must fit an int (the writer had an int).
  int i32();
  /// A u64() that must be 0 or 1 (the writer had a bool).
  bool flag();
  /// A u64() that must be at most `largest` (an enumeration's last value, say); `what` names it
  /// in the error.
  std::uint64_t at_most(std::uint64_t largest, const char* what);
  double f64();
  std::string text();
  Value value();
  /// A count of items that follow, checked against the bytes left (each needs at least one).
  std::size_t count();
  [[nodiscard]] bool at_end() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace patchbay::detail
