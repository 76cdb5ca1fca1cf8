#include <patchbay/buffer.hpp>
#include <patchbay/component.hpp>
#include <patchbay/port.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "core/port_access.hpp"

namespace patchbay {

bool PortType::can_feed(const PortType& target) const {
  if (same_as(target)) return true;
  if (target.is_dynamic) return codec_.decode_value != nullptr;
  if (is_dynamic) return target.codec_.assign_from_value != nullptr;
  return false;
}

namespace detail {

void make_host_port(Port& port, std::size_t capacity) {
  PortAccess::set_host(port, capacity);
}

PortCodec out_buffer_codec() {
  PortCodec c;
  c.encoded_size = [](const void* v) {
    const auto& b = *static_cast<const OutBuffer*>(v);
    return b.state == OutBuffer::State::open ? b.bytes : std::size_t{0};
  };
  c.encode = [](const void* v, std::byte* out) {
    const auto& b = *static_cast<const OutBuffer*>(v);
    if (b.state == OutBuffer::State::open && b.bytes != 0) std::memcpy(out, b.data, b.bytes);
  };
  c.decode = [](const std::byte*, std::size_t, void*) {};  // an output is never delivered to
  return c;
}

PortCodec in_view_codec() {
  PortCodec c;
  c.encoded_size = [](const void* v) { return static_cast<const InView*>(v)->bytes; };
  c.encode = [](const void* v, std::byte* out) {
    const auto& view = *static_cast<const InView*>(v);
    if (view.bytes != 0) std::memcpy(out, view.data, view.bytes);
  };
  c.decode = [](const std::byte* d, std::size_t n, void* v) {
    auto& view = *static_cast<InView*>(v);
    view.owned.assign(d, d + n);
    view.data = view.owned.data();
    view.bytes = n;
  };
  return c;
}

void buffer_misuse(const Port& port, const char* what) {
  throw std::logic_error("component '" + port.owner().name() + "', buffer '" + port.name() +
                         "': " + what);
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

std::string arithmetic_type_name(const std::type_info& type) {
  if (type == typeid(bool)) return "bool";
  if (type == typeid(float)) return "float";
  if (type == typeid(double)) return "double";
  if (type == typeid(std::int8_t)) return "int8";
  if (type == typeid(std::int16_t)) return "int16";
  if (type == typeid(std::int32_t)) return "int32";
  if (type == typeid(std::int64_t)) return "int64";
  if (type == typeid(std::uint8_t)) return "uint8";
  if (type == typeid(std::uint16_t)) return "uint16";
  if (type == typeid(std::uint32_t)) return "uint32";
  if (type == typeid(std::uint64_t)) return "uint64";
  return demangle(type.name());
}

}  // namespace detail

Port::Port(Component* owner, std::string name, const PortType& type, Direction direction,
           void* storage, bool event, bool in_place)
    : owner_(owner),
      name_(std::move(name)),
      type_(&type),
      direction_(direction),
      storage_(storage),
      event_(event),
      in_place_(in_place) {
  owner_->register_port(this);
}

}  // namespace patchbay
