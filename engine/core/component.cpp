#include <patchbay/component.hpp>
#include <patchbay/error.hpp>
#include <patchbay/registry.hpp>

#include <algorithm>
#include <typeinfo>

#include "core/component_access.hpp"
#include "core/component_args_access.hpp"

namespace patchbay {

Component::Component(std::string name) : name_(std::move(name)) {}

Component::Component(const ComponentArgs& args)
    : name_(args.name()),
      type_name_(detail::ComponentArgsAccess::type(args)),
      arguments_(detail::ComponentArgsAccess::values(args)),
      resource_overrides_(detail::ComponentArgsAccess::resources(args)),
      initial_values_(detail::ComponentArgsAccess::initial_values(args)) {}

Component::~Component() = default;

std::string Component::type_name() const {
  if (!type_name_.empty()) return type_name_;
  std::string registered = detail::registered_class_name(typeid(*this));
  return registered.empty() ? detail::demangle(typeid(*this).name()) : registered;
}

Resources Component::resources() const {
  return apply(default_resources(), resource_overrides_);
}

void Component::set_initial_values(std::string field, std::vector<Value> values) {
  initial_values_[std::move(field)] = std::move(values);
}

namespace {
Port* find_port(std::span<Port* const> ports, std::string_view field) {
  auto it = std::find_if(ports.begin(), ports.end(), [&](Port* p) { return p->name() == field; });
  return it == ports.end() ? nullptr : *it;
}
}  // namespace

Port* Component::find_input(std::string_view field) const {
  return find_port(inputs_, field);
}
Port* Component::find_output(std::string_view field) const {
  return find_port(outputs_, field);
}

void Component::register_port(Port* port) {
  auto& ports = port->direction() == Port::Direction::input ? inputs_ : outputs_;
  // An event's port is named after its type: it must not hide a field, nor another event.
  for (const Port* other : ports) {
    if (other->name() == port->name() && (port->is_event() || other->is_event())) {
      throw Error("component '" + name_ + "' declares " +
                  (port->direction() == Port::Direction::input ? "input '" : "output '") +
                  port->name() + "' twice (an event type is named like a field or another event)");
    }
  }
  ports.push_back(port);
}

}  // namespace patchbay
