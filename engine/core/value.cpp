#include <patchbay/error.hpp>
#include <patchbay/internal/value_codec.hpp>
#include <patchbay/value.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace patchbay {

namespace {

// Encoding: one tag byte, then bool: 1 byte; int/double: 8 bytes; string: u32 length + bytes;
// list: u32 count + elements; map: u32 count + (u32 key length + key bytes + value) per entry,
// keys in sorted order. Unaligned fields are copied with memcpy.
enum class Tag : std::uint8_t {
  null = 0,
  boolean = 1,
  integer = 2,
  real = 3,
  string = 4,
  list = 5,
  map = 6
};

[[noreturn]] void wrong_kind(Value::Kind wanted, Value::Kind held) {
  throw Error("value is " + std::string(kind_name(held)) + ", expected " +
              std::string(kind_name(wanted)));
}

template <class T>
void put(std::byte*& out, const T& x) {
  std::memcpy(out, &x, sizeof(T));
  out += sizeof(T);
}

void put_text(std::byte*& out, const std::string& s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  out += s.size();
}

class Decoder {
 public:
  Decoder(const std::byte* data, std::size_t size) : cursor_(data), end_(data + size) {}

  Value read() {
    switch (static_cast<Tag>(take<std::uint8_t>())) {
      case Tag::null:
        return {};
      case Tag::boolean: {
        // Only what encode_value() writes: another byte would decode, and re-encode, as true.
        const auto byte = take<std::uint8_t>();
        if (byte > 1)
          throw Error("malformed encoded value: a boolean byte of " + std::to_string(byte));
        return Value(byte == 1);
      }
      case Tag::integer:
        return Value(take<std::int64_t>());
      case Tag::real:
        return Value(take<double>());
      case Tag::string:
        return Value(read_text());
      case Tag::list: {
        const auto n = take<std::uint32_t>();
        Value::List items;
        items.reserve(std::min<std::size_t>(n, static_cast<std::size_t>(end_ - cursor_)));
        for (std::uint32_t i = 0; i < n; ++i)
          items.push_back(read());
        return Value(std::move(items));
      }
      case Tag::map: {
        const auto n = take<std::uint32_t>();
        Value::Map entries;
        for (std::uint32_t i = 0; i < n; ++i) {
          std::string key = read_text();
          // Sorted and unique, as encode_value() writes them: anything else would decode to a
          // map that encodes differently.
          if (!entries.empty() && !(entries.rbegin()->first < key))
            throw Error("malformed encoded value: map keys out of order");
          Value item = read();
          entries.emplace_hint(entries.end(), std::move(key), std::move(item));
        }
        return Value(std::move(entries));
      }
    }
    throw Error("malformed encoded value: unknown tag");
  }
  [[nodiscard]] bool at_end() const { return cursor_ == end_; }

 private:
  std::string read_text() {
    const auto n = take<std::uint32_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(cursor_), n);
    cursor_ += n;
    return s;
  }
  void need(std::size_t n) const {
    if (static_cast<std::size_t>(end_ - cursor_) < n)
      throw Error("malformed encoded value: truncated");
  }
  template <class T>
  T take() {
    need(sizeof(T));
    T x;
    std::memcpy(&x, cursor_, sizeof(T));
    cursor_ += sizeof(T);
    return x;
  }

  const std::byte* cursor_;
  const std::byte* end_;
};

// Shortest round-trip text, written as Python's repr() writes a float (what Plugboard's own
// files hold): positional from 1e-4 up to 1e16 ("100000.0", "0.0001"), with a ".0" so that it
// stays recognisably a double, and scientific beyond ("1e+16", "2.5e-10").
std::string format_double(double d) {
  char buffer[64];
  if (!std::isfinite(d)) {
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), d);
    return {buffer, end};
  }
  const auto [sci_end, sci_ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), d, std::chars_format::scientific);
  const std::string scientific(buffer, sci_end);
  const int exponent = d == 0 ? 0 : std::atoi(scientific.c_str() + scientific.find('e') + 1);
  if (exponent < -4 || exponent >= 16) return scientific;
  const auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), d, std::chars_format::fixed);
  std::string s(buffer, end);
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

}  // namespace

std::string_view kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::null:
      return "null";
    case Value::Kind::boolean:
      return "bool";
    case Value::Kind::integer:
      return "int";
    case Value::Kind::real:
      return "double";
    case Value::Kind::string:
      return "string";
    case Value::Kind::list:
      return "list";
    case Value::Kind::map:
      return "map";
  }
  return "?";
}

bool Value::as_bool() const {
  if (!is_bool()) wrong_kind(Kind::boolean, kind());
  return std::get<bool>(data_);
}

std::int64_t Value::as_int() const {
  std::int64_t i = 0;
  if (is_string() && detail::parse_int_text(std::get<std::string>(data_), i)) return i;
  if (!is_int()) wrong_kind(Kind::integer, kind());
  return std::get<std::int64_t>(data_);
}

double Value::as_double() const {
  if (is_int()) return static_cast<double>(std::get<std::int64_t>(data_));
  double d = 0;
  if (is_string() && detail::parse_number_text(std::get<std::string>(data_), d)) return d;
  if (!is_double()) wrong_kind(Kind::real, kind());
  return std::get<double>(data_);
}

const std::string& Value::as_string() const {
  if (!is_string()) wrong_kind(Kind::string, kind());
  return std::get<std::string>(data_);
}

const Value::List& Value::as_list() const {
  if (!is_list()) wrong_kind(Kind::list, kind());
  return std::get<List>(data_);
}

const Value::Map& Value::as_map() const {
  if (!is_map()) wrong_kind(Kind::map, kind());
  return std::get<Map>(data_);
}

const Value* Value::find(std::string_view key) const {
  const Map& entries = as_map();
  const auto it = entries.find(std::string(key));
  return it == entries.end() ? nullptr : &it->second;
}

const Value& Value::at(std::string_view key) const {
  if (const Value* found = find(key)) return *found;
  std::string keys;
  for (const auto& [k, v] : as_map())
    keys += (keys.empty() ? "" : ", ") + k;
  throw Error("no key '" + std::string(key) + "' in the mapping (" +
              (keys.empty() ? std::string("it is empty") : "its keys: " + keys) + ")");
}

const Value& Value::at(std::size_t index) const {
  const List& items = as_list();
  if (index >= items.size()) {
    throw Error("index " + std::to_string(index) + " is out of range (the list has " +
                std::to_string(items.size()) + " items)");
  }
  return items[index];
}

std::string Value::to_string() const {
  switch (kind()) {
    case Kind::null:
      return {};
    case Kind::boolean:
      return as_bool() ? "true" : "false";
    case Kind::integer:
      return std::to_string(as_int());
    case Kind::real:
      return format_double(std::get<double>(data_));
    case Kind::string:
      return as_string();
    case Kind::list: {
      std::string s = "[";
      const auto& items = as_list();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i != 0) s += ", ";
        s += items[i].to_string();
      }
      return s + "]";
    }
    case Kind::map: {
      std::string s = "{";
      bool first = true;
      for (const auto& [key, item] : as_map()) {
        if (!first) s += ", ";
        first = false;
        s += key + ": " + item.to_string();
      }
      return s + "}";
    }
  }
  return {};
}

namespace detail {

namespace {
// `text` without the one '+' it may start with; false when nothing that from_chars reads is
// left ("", "+", "+-1").
bool without_plus(std::string_view& text) {
  if (text.starts_with('+')) {
    text.remove_prefix(1);
    if (text.starts_with('-')) return false;
  }
  return !text.empty();
}
}  // namespace

bool parse_int_text(std::string_view text, std::int64_t& out) noexcept {
  if (!without_plus(text)) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

bool parse_number_text(std::string_view text, double& out) noexcept {
  // Digits, signs, a point and an exponent only: "inf", "nan" and hexadecimal stay text.
  if (text.find_first_not_of("0123456789+-.eE") != std::string_view::npos) return false;
  if (!without_plus(text)) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

std::optional<Value> canonical_number(std::string_view text) {
  std::int64_t i = 0;
  if (parse_int_text(text, i)) {
    if (std::to_string(i) == text) return Value(i);
    return std::nullopt;
  }
  double d = 0;
  if (parse_number_text(text, d) && format_double(d) == text) return Value(d);
  return std::nullopt;
}

std::size_t encoded_size(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::null:
      return 1;
    case Value::Kind::boolean:
      return 2;
    case Value::Kind::integer:
    case Value::Kind::real:
      return 9;
    case Value::Kind::string:
      return 5 + value.as_string().size();
    case Value::Kind::list: {
      std::size_t n = 5;
      for (const auto& item : value.as_list())
        n += encoded_size(item);
      return n;
    }
    case Value::Kind::map: {
      std::size_t n = 5;
      for (const auto& [key, item] : value.as_map())
        n += 4 + key.size() + encoded_size(item);
      return n;
    }
  }
  return 1;
}

namespace {
void encode_into(const Value& value, std::byte*& out) {
  switch (value.kind()) {
    case Value::Kind::null:
      put(out, Tag::null);
      return;
    case Value::Kind::boolean:
      put(out, Tag::boolean);
      put(out, static_cast<std::uint8_t>(value.as_bool()));
      return;
    case Value::Kind::integer:
      put(out, Tag::integer);
      put(out, value.as_int());
      return;
    case Value::Kind::real:
      put(out, Tag::real);
      put(out, value.as_double());
      return;
    case Value::Kind::string:
      put(out, Tag::string);
      put_text(out, value.as_string());
      return;
    case Value::Kind::list:
      put(out, Tag::list);
      put(out, static_cast<std::uint32_t>(value.as_list().size()));
      for (const auto& item : value.as_list())
        encode_into(item, out);
      return;
    case Value::Kind::map:
      put(out, Tag::map);
      put(out, static_cast<std::uint32_t>(value.as_map().size()));
      for (const auto& [key, item] : value.as_map()) {
        put_text(out, key);
        encode_into(item, out);
      }
      return;
  }
}
}  // namespace

void encode_value(const Value& value, std::byte* out) {
  encode_into(value, out);
}

Value decode_value(const std::byte* data, std::size_t size) {
  Decoder decoder(data, size);
  Value v = decoder.read();
  if (!decoder.at_end()) throw Error("malformed encoded value: trailing bytes");
  return v;
}

}  // namespace detail

}  // namespace patchbay
