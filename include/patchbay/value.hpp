// The dynamic value carried by ports whose fields are named at run time (FileWriter, Sleep).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace patchbay {

/// A dynamically typed value: null, bool, int64, double, string, a list of values, or a
/// mapping from string keys to values (YAML's mappings, JSON's objects), nested at will.
/// A regular value type; distinct objects may be used from different threads.
///
///     Value v = 42;            // int64
///     v = "hello";             // string
///     Value list = Value::List{1, 2.5, "x"};
///     Value map = Value::Map{{"scale", 2.0}, {"names", Value::List{"a", "b"}}};
///     double scale = map.at("scale").as_double();
class Value {
 public:
  using List = std::vector<Value>;
  /// Keys in sorted order (what a YAML dump writes).
  using Map = std::map<std::string, Value>;
  enum class Kind : std::uint8_t { null, boolean, integer, real, string, list, map };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : data_(b) {}
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) Value(I i)
      : data_(static_cast<std::int64_t>(i)) {}
  Value(double d) : data_(d) {}
  Value(float f) : data_(static_cast<double>(f)) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(List l) : data_(std::move(l)) {}
  Value(Map m) : data_(std::move(m)) {}

  [[nodiscard]] Kind kind() const { return static_cast<Kind>(data_.index()); }
  [[nodiscard]] bool is_null() const { return kind() == Kind::null; }
  [[nodiscard]] bool is_bool() const { return kind() == Kind::boolean; }
  [[nodiscard]] bool is_int() const { return kind() == Kind::integer; }
  [[nodiscard]] bool is_double() const { return kind() == Kind::real; }
  /// True for int64 and double.
  [[nodiscard]] bool is_number() const { return is_int() || is_double(); }
  [[nodiscard]] bool is_string() const { return kind() == Kind::string; }
  [[nodiscard]] bool is_list() const { return kind() == Kind::list; }
  [[nodiscard]] bool is_map() const { return kind() == Kind::map; }

  /// Accessors throw patchbay::Error naming the kind asked for and the kind held.
  [[nodiscard]] bool as_bool() const;
  /// An int64, or a string whose whole text spells one ("007" is 7; a CSV cell is a string).
  [[nodiscard]] std::int64_t as_int() const;
  /// A double; an int64 converts, and a string whose whole text spells a number is read as
  /// one ("1e3" is 1000.0; not "inf", "nan" or hexadecimal).
  [[nodiscard]] double as_double() const;
  [[nodiscard]] const std::string& as_string() const;
  [[nodiscard]] const List& as_list() const;
  [[nodiscard]] const Map& as_map() const;

  /// A mapping's entry `key`, or nullptr when it has none. Throws patchbay::Error when this is
  /// not a mapping.
  [[nodiscard]] const Value* find(std::string_view key) const;
  /// A mapping's entry `key`. Throws patchbay::Error when this is not a mapping, or when the
  /// key is absent (naming it and the keys there are).
  [[nodiscard]] const Value& at(std::string_view key) const;
  /// A list's item `index`. Throws patchbay::Error when this is not a list or the index is out
  /// of range.
  [[nodiscard]] const Value& at(std::size_t index) const;

  /// Text for display and CSV: null -> "", bool -> true/false, strings as they are, lists as
  /// [a, b], mappings as {key: value, ...}; an int64 in decimal, a double as the shortest text
  /// that reads back as exactly it, written as Python's repr() writes a float: positional with
  /// a ".0" from 1e-4 up to 1e16 ("100000.0", "0.0001"), scientific beyond ("1e+16", "2.5e-10"),
  /// and "inf", "-inf", "nan".
  [[nodiscard]] std::string to_string() const;

  bool operator==(const Value&) const = default;

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, List, Map> data_;
};

/// Name of a kind for messages: "null", "bool", "int", "double", "string", "list", "map".
/// Thread-safe (pure).
std::string_view kind_name(Value::Kind kind);

}  // namespace patchbay
