// Engine-side access to a port's value and its type's codec.
#pragma once

#include <patchbay/port.hpp>

namespace patchbay::detail {

/// The engine's key to what users never touch: the type-erased value behind an Input or Output,
/// and the codec that moves it through a ring. Each call is an inline member read, as the
/// public accessors it replaces were: the message path stays free of calls.
class PortAccess {
 public:
  /// The current value, type-erased: a T* for an Input<T> or Output<T>.
  [[nodiscard]] static void* storage(Port& port) noexcept { return port.storage_; }
  [[nodiscard]] static const void* storage(const Port& port) noexcept { return port.storage_; }
  [[nodiscard]] static const PortCodec& codec(const PortType& type) noexcept { return type.codec_; }
  [[nodiscard]] static const PortCodec& codec(const Port& port) noexcept {
    return port.type_->codec_;
  }
  /// Whether the port is a buffer port (buffer.hpp): its storage is an OutBuffer or InView.
  [[nodiscard]] static bool in_place(const Port& port) noexcept { return port.in_place_; }
  /// Whether the port is the host's end of an Ingress or Egress (see make_host_port()).
  [[nodiscard]] static bool is_host(const Port& port) noexcept { return port.host_; }
  [[nodiscard]] static std::size_t host_capacity(const Port& port) noexcept {
    return port.host_capacity_;
  }
  static void set_host(Port& port, std::size_t capacity) noexcept {
    port.host_ = true;
    port.host_capacity_ = capacity;
  }
};

}  // namespace patchbay::detail
