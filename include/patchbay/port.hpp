// Typed input and output ports: the named fields of a component.
#pragma once

#include <patchbay/value.hpp>

#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

namespace patchbay {

class Component;

/// How values of one C++ type travel through a channel: the codec for the ring and the
/// conversions to and from Value. One immutable descriptor per type; thread-safe.
struct PortType {
  /// Name for messages: "int64", "double", "bool", "string", "bytes", "Value", or the
  /// demangled C++ name.
  std::string name;
  const std::type_info* cpp_type = nullptr;
  bool is_dynamic = false;  ///< true for Value ports
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

  [[nodiscard]] bool same_as(const PortType& other) const { return *cpp_type == *other.cpp_type; }
  /// Whether a connector from a port of this type into `target` is allowed: same type, or
  /// either side a Value port and the other convertible (Value -> T is checked at run time).
  [[nodiscard]] bool can_feed(const PortType& target) const;
};

namespace detail {
std::string demangle(const char* mangled);

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
    if (!in.is_int()) return false;
    const std::int64_t i = in.as_int();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0 || static_cast<std::uint64_t>(i) > std::numeric_limits<T>::max()) return false;
    } else {
      if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) return false;
    }
    out = static_cast<T>(i);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!in.is_number()) return false;
    out = static_cast<T>(in.as_double());
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

std::string arithmetic_type_name(const std::type_info& type);
}  // namespace detail

/// True for the types a port may carry: any trivially copyable type, std::string,
/// std::vector<std::byte> (a byte buffer) and Value.
template <class T>
inline constexpr bool is_port_value_v =
    std::is_trivially_copyable_v<T> || std::is_same_v<T, std::string> ||
    std::is_same_v<T, std::vector<std::byte>> || std::is_same_v<T, Value>;

/// The descriptor of type T. Thread-safe (a function-local static).
template <class T>
requires is_port_value_v<T>
const PortType& port_type() {
  static const PortType descriptor = [] {
    PortType t;
    t.cpp_type = &typeid(T);
    if constexpr (std::is_same_v<T, Value>) {
      t.name = "Value";
      t.is_dynamic = true;
      t.encoded_size = [](const void* v) {
        return patchbay::encoded_size(*static_cast<const Value*>(v));
      };
      t.encode = [](const void* v, std::byte* out) {
        patchbay::encode(*static_cast<const Value*>(v), out);
      };
      t.decode = [](const std::byte* d, std::size_t n, void* v) {
        *static_cast<Value*>(v) = decode_value(d, n);
      };
      t.decode_value = [](const std::byte* d, std::size_t n) {
        return patchbay::decode_value(d, n);
      };
      t.assign_from_value = [](const Value& in, void* v) {
        *static_cast<Value*>(v) = in;
        return true;
      };
    } else if constexpr (std::is_same_v<T, std::string> ||
                         std::is_same_v<T, std::vector<std::byte>>) {
      t.name = std::is_same_v<T, std::string> ? "string" : "bytes";
      t.encoded_size = [](const void* v) { return static_cast<const T*>(v)->size(); };
      t.encode = [](const void* v, std::byte* out) {
        const T& s = *static_cast<const T*>(v);
        if (!s.empty()) std::memcpy(out, s.data(), s.size());
      };
      t.decode = [](const std::byte* d, std::size_t n, void* v) {
        T& s = *static_cast<T*>(v);
        s.resize(n);
        if (n != 0) std::memcpy(s.data(), d, n);
      };
      if constexpr (std::is_same_v<T, std::string>) {
        t.decode_value = [](const std::byte* d, std::size_t n) {
          return Value(std::string(reinterpret_cast<const char*>(d), n));
        };
        t.assign_from_value = [](const Value& in, void* v) {
          return detail::from_value_to(in, *static_cast<std::string*>(v));
        };
      }
    } else {
      t.name = std::is_arithmetic_v<T> ? detail::arithmetic_type_name(typeid(T))
                                       : detail::demangle(typeid(T).name());
      t.fixed_size = sizeof(T);
      t.encoded_size = [](const void*) { return sizeof(T); };
      t.encode = [](const void* v, std::byte* out) { std::memcpy(out, v, sizeof(T)); };
      t.decode = [](const std::byte* d, std::size_t, void* v) { std::memcpy(v, d, sizeof(T)); };
      if constexpr (std::is_arithmetic_v<T>) {
        t.decode_value = [](const std::byte* d, std::size_t) {
          T x;
          std::memcpy(&x, d, sizeof(T));
          return detail::to_value_of(x);
        };
        t.assign_from_value = [](const Value& in, void* v) {
          return detail::from_value_to(in, *static_cast<T*>(v));
        };
      }
    }
    return t;
  }();
  return descriptor;
}

/// Common part of every port. Ports are neither copyable nor movable: the engine keeps
/// pointers to them for the life of their component.
class Port {
 public:
  enum class Direction : std::uint8_t { input, output };

  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;
  virtual ~Port() = default;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const PortType& type() const { return *type_; }
  [[nodiscard]] Direction direction() const { return direction_; }
  [[nodiscard]] Component& owner() const { return *owner_; }
  /// The current value, type-erased (engine use).
  [[nodiscard]] void* storage() { return storage_; }
  [[nodiscard]] const void* storage() const { return storage_; }

 protected:
  Port(Component* owner, std::string name, const PortType& type, Direction direction,
       void* storage);

 private:
  Component* owner_;
  std::string name_;
  const PortType* type_;
  Direction direction_;
  void* storage_;
};

/// An input field. value() holds the value delivered for the current step.
/// Read it from step() only (component-thread only).
///
///     patchbay::Input<double> x{this, "x"};
///     void step() override { y = x.value() * 2; }
template <class T>
class Input final : public Port {
 public:
  Input(Component* owner, std::string name)
      : Port(owner, std::move(name), port_type<T>(), Direction::input, &value_) {}

  [[nodiscard]] const T& value() const { return value_; }
  operator const T&() const { return value_; }
  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }

 private:
  T value_{};
};

/// An output field. Every step sends its current value: the one written in the step, else the
/// last one written, else T's default (null for Value). Write it from step() only.
///
///     patchbay::Output<double> y{this, "y"};
///     void step() override { y = 42.0; }
template <class T>
class Output final : public Port {
 public:
  Output(Component* owner, std::string name)
      : Port(owner, std::move(name), port_type<T>(), Direction::output, &value_) {}

  Output& operator=(const T& v) {
    value_ = v;
    return *this;
  }
  Output& operator=(T&& v) {
    value_ = std::move(v);
    return *this;
  }
  template <class U>
  requires(!std::is_same_v<std::remove_cvref_t<U>, T> && std::is_assignable_v<T&, U&&>) Output&
  operator=(U&& v) {
    value_ = std::forward<U>(v);
    return *this;
  }
  [[nodiscard]] const T& value() const { return value_; }
  [[nodiscard]] T& value() { return value_; }

 private:
  T value_{};
};

}  // namespace patchbay
