// How a port's values are written to and read from a ring, and converted to and from Value.
// Engine use: port_type<T>() (in port.hpp) builds one PortCodec per type in the code that
// declares the port, a plugin's included; the component runner calls it through
// detail::PortAccess. Users never call these.
#pragma once

#include <patchbay/internal/value_codec.hpp>
#include <patchbay/value.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

namespace patchbay::detail {

/// The codec of one port type: plain function pointers, so that a record is encoded and
/// decoded without a virtual call and without knowing T where the engine runs. Immutable once
/// built; thread-safe.
struct PortCodec {
  /// Bytes every value takes on a ring for a trivially copyable type (sizeof); 0 when the size
  /// varies (strings, byte buffers, Value).
  std::size_t fixed_size = 0;
  std::size_t (*encoded_size)(const void* value) = nullptr;
  void (*encode)(const void* value, std::byte* out) = nullptr;
  void (*decode)(const std::byte* data, std::size_t size, void* value) = nullptr;
  /// Decodes a record of this type into a Value; null when the type has no Value form.
  Value (*decode_value)(const std::byte* data, std::size_t size) = nullptr;
  /// Assigns a Value to a variable of this type; false when the value does not fit.
  /// Null when the type has no Value form.
  bool (*assign_from_value)(const Value& in, void* value) = nullptr;
};

/// True for std::vector<T> of a trivially copyable T: a byte buffer or an array, which travels
/// as its elements' bytes.
template <class T>
inline constexpr bool is_array_vector_v = false;
template <class T>
inline constexpr bool is_array_vector_v<std::vector<T>> = std::is_trivially_copyable_v<T>;

std::string demangle(const char* mangled);
std::string arithmetic_type_name(const std::type_info& type);

template <class T>
Value to_value_of(const T& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return Value(static_cast<std::int64_t>(v));
  } else {
    return Value(v);
  }
}

template <class T>
bool from_value_to(const Value& in, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!in.is_bool()) return false;
    out = in.as_bool();
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    // A string that spells an integer ("007", a CSV cell) reads as that integer.
    std::int64_t i = 0;
    if (in.is_int()) {
      i = in.as_int();
    } else if (!in.is_string() || !parse_int_text(in.as_string(), i)) {
      return false;
    }
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0 || static_cast<std::uint64_t>(i) > std::numeric_limits<T>::max()) return false;
    } else {
      if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) return false;
    }
    out = static_cast<T>(i);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    // A string that spells a number ("1e3", a CSV cell) reads as that number.
    double d = 0;
    if (in.is_number()) {
      d = in.as_double();
    } else if (!in.is_string() || !parse_number_text(in.as_string(), d)) {
      return false;
    }
    out = static_cast<T>(d);
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!in.is_string()) return false;
    out = in.as_string();
    return true;
  } else {
    out = in;
    return true;
  }
}

/// The name of port type T for messages: "int64", "double", "bool", "string", "bytes",
/// "array<E>" (a std::vector<E>), "Value", or the demangled C++ name.
template <class T>
std::string port_type_name() {
  if constexpr (std::is_same_v<T, Value>) {
    return "Value";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
    return "bytes";
  } else if constexpr (is_array_vector_v<T>) {
    return "array<" + port_type_name<typename T::value_type>() + ">";
  } else if constexpr (std::is_arithmetic_v<T>) {
    return arithmetic_type_name(typeid(T));
  } else {
    return demangle(typeid(T).name());
  }
}

/// The codec of port type T (a type port.hpp's is_port_value_v accepts).
template <class T>
PortCodec port_codec() {
  PortCodec c;
  if constexpr (std::is_same_v<T, Value>) {
    c.encoded_size = [](const void* v) {
      return detail::encoded_size(*static_cast<const Value*>(v));
    };
    c.encode = [](const void* v, std::byte* out) {
      detail::encode_value(*static_cast<const Value*>(v), out);
    };
    c.decode = [](const std::byte* d, std::size_t n, void* v) {
      *static_cast<Value*>(v) = detail::decode_value(d, n);
    };
    c.decode_value = [](const std::byte* d, std::size_t n) { return detail::decode_value(d, n); };
    c.assign_from_value = [](const Value& in, void* v) {
      *static_cast<Value*>(v) = in;
      return true;
    };
  } else if constexpr (std::is_same_v<T, std::string> ||
                       std::is_same_v<T, std::vector<std::byte>>) {
    c.encoded_size = [](const void* v) { return static_cast<const T*>(v)->size(); };
    c.encode = [](const void* v, std::byte* out) {
      const T& s = *static_cast<const T*>(v);
      if (!s.empty()) std::memcpy(out, s.data(), s.size());
    };
    c.decode = [](const std::byte* d, std::size_t n, void* v) {
      T& s = *static_cast<T*>(v);
      s.resize(n);
      if (n != 0) std::memcpy(s.data(), d, n);
    };
    if constexpr (std::is_same_v<T, std::string>) {
      c.decode_value = [](const std::byte* d, std::size_t n) {
        return Value(std::string(reinterpret_cast<const char*>(d), n));
      };
      c.assign_from_value = [](const Value& in, void* v) {
        return from_value_to(in, *static_cast<std::string*>(v));
      };
    }
  } else if constexpr (is_array_vector_v<T>) {
    using E = typename T::value_type;
    c.encoded_size = [](const void* v) { return static_cast<const T*>(v)->size() * sizeof(E); };
    c.encode = [](const void* v, std::byte* out) {
      const T& a = *static_cast<const T*>(v);
      if (!a.empty()) std::memcpy(out, a.data(), a.size() * sizeof(E));
    };
    c.decode = [](const std::byte* d, std::size_t n, void* v) {
      T& a = *static_cast<T*>(v);
      a.resize(n / sizeof(E));
      if (n != 0) std::memcpy(a.data(), d, a.size() * sizeof(E));
    };
  } else {
    c.fixed_size = sizeof(T);
    c.encoded_size = [](const void*) { return sizeof(T); };
    c.encode = [](const void* v, std::byte* out) { std::memcpy(out, v, sizeof(T)); };
    c.decode = [](const std::byte* d, std::size_t, void* v) { std::memcpy(v, d, sizeof(T)); };
    if constexpr (std::is_arithmetic_v<T>) {
      c.decode_value = [](const std::byte* d, std::size_t) {
        T x;
        std::memcpy(&x, d, sizeof(T));
        return to_value_of(x);
      };
      c.assign_from_value = [](const Value& in, void* v) {
        return from_value_to(in, *static_cast<T*>(v));
      };
    }
  }
  return c;
}

}  // namespace patchbay::detail
