#include <patchbay/component.hpp>
#include <patchbay/port.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

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
           void* storage, bool event)
    : owner_(owner),
      name_(std::move(name)),
      type_(&type),
      direction_(direction),
      storage_(storage),
      event_(event) {
  owner_->register_port(this);
}

}  // namespace patchbay
