// Typed input and output ports: the named fields of a component.
#pragma once

#include <patchbay/internal/port_codec.hpp>
#include <patchbay/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace patchbay {

class Component;
struct PortType;

namespace detail {
class PortAccess;
struct PortTypeMaker;
}  // namespace detail

/// True for the types a port may carry: any trivially copyable type, std::string,
/// std::vector<std::byte> (a byte buffer), std::vector<T> of a trivially copyable T (an array)
/// and Value.
template <class T>
inline constexpr bool is_port_value_v =
    std::is_trivially_copyable_v<T> || std::is_same_v<T, std::string> ||
    detail::is_array_vector_v<T> || std::is_same_v<T, Value>;

/// The descriptor of type T: one per type for the life of the program.
/// Thread-safe (a function-local static).
template <class T>
requires is_port_value_v<T>
const PortType& port_type();

/// The type a port carries, as the engine checks connectors against it. One immutable
/// descriptor per C++ type, made by port_type<T>(); thread-safe. How its values travel through
/// a channel (its codec) is the engine's concern, reached through detail::PortAccess.
struct PortType {
  /// Name for messages: "int64", "double", "bool", "string", "bytes", "Value", or the
  /// demangled C++ name.
  std::string name;
  const std::type_info* cpp_type = nullptr;
  bool is_dynamic = false;  ///< true for Value ports

  /// Whether both describe the same C++ type.
  [[nodiscard]] bool same_as(const PortType& other) const { return *cpp_type == *other.cpp_type; }
  /// Whether a connector from a port of this type into `target` is allowed: same type, or
  /// either side a Value port and the other convertible (Value -> T is checked at run time).
  [[nodiscard]] bool can_feed(const PortType& target) const;

 private:
  template <class T>
  requires is_port_value_v<T>
  friend const PortType& port_type();
  friend class detail::PortAccess;
  friend struct detail::PortTypeMaker;

  PortType(std::string type_name, const std::type_info& type, bool dynamic,
           const detail::PortCodec& codec)
      : name(std::move(type_name)), cpp_type(&type), is_dynamic(dynamic), codec_(codec) {}

  detail::PortCodec codec_;
};

namespace detail {
/// Makes the port types whose codec is not port_codec<T>() (buffer ports, buffer.hpp).
struct PortTypeMaker {
  static PortType make(std::string name, const std::type_info& type, const PortCodec& codec) {
    return PortType(std::move(name), type, false, codec);
  }
};
}  // namespace detail

template <class T>
requires is_port_value_v<T>
const PortType& port_type() {
  static const PortType descriptor(detail::port_type_name<T>(), typeid(T), std::is_same_v<T, Value>,
                                   detail::port_codec<T>());
  return descriptor;
}

/// Common part of every port: what a component's field is called, what it carries, and whose
/// it is. Ports are neither copyable nor movable: the engine keeps pointers to them for the
/// life of their component. name(), type(), direction() and owner() never change after
/// construction and are safe from any thread; the value is reached through Input and Output.
class Port {
 public:
  enum class Direction : std::uint8_t { input, output };

  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;
  virtual ~Port() = default;

  /// The field name ("x" in "doubler.x").
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const PortType& type() const { return *type_; }
  [[nodiscard]] Direction direction() const { return direction_; }
  /// The component the field belongs to.
  [[nodiscard]] Component& owner() const { return *owner_; }
  /// Whether the port is an event type the component publishes (an output) or handles (an
  /// input), event.hpp, rather than a field: its name is the event type.
  [[nodiscard]] bool is_event() const { return event_; }

 protected:
  /// `in_place`: a buffer port (buffer.hpp), whose storage is the buffer's state, not a value.
  Port(Component* owner, std::string name, const PortType& type, Direction direction, void* storage,
       bool event = false, bool in_place = false);

 private:
  friend class detail::PortAccess;

  Component* owner_;
  std::string name_;
  const PortType* type_;
  Direction direction_;
  void* storage_;  // the Input's or Output's value, which the engine reads and writes
  bool event_ = false;
  bool in_place_ = false;
  // The host's end of an Ingress or Egress (library.hpp): fed by, or read by, the process's
  // host instead of a connector; with the capacity of that ring (0: the process's default).
  bool host_ = false;
  std::size_t host_capacity_ = 0;
};

namespace detail {
/// Makes `port` the host's end of its component (Ingress, Egress): no connector may reach it,
/// and the engine gives it a ring of `capacity` bytes (0: the process's channel_capacity) to
/// the host's threads. Call from the component's constructor.
void make_host_port(Port& port, std::size_t capacity);
}  // namespace detail

/// An input field. value() holds the value delivered for the current step.
/// Not thread-safe: read it only from the component's own methods (step() for the value of
/// this step), which run on its fiber; the engine writes it there between steps.
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
/// last one written, else T's default (null for Value). Not thread-safe: write it only from the
/// component's own methods (step() for what this step sends), which run on its fiber; the
/// engine reads it there after each step.
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
