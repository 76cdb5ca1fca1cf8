#include <patchbay/registry.hpp>

#include <utility>

#include "core/component_access.hpp"
#include "core/component_args_access.hpp"

namespace patchbay {

void Registry::add(std::string name, ComponentFactory factory) {
  std::lock_guard lock(mutex_);
  if (factories_.find(name) != factories_.end()) {
    throw Error("component type '" + name + "' is registered twice");
  }
  factories_.emplace(std::move(name), std::move(factory));
}

void Registry::record_error(std::string message) {
  std::lock_guard lock(mutex_);
  errors_.push_back(std::move(message));
}

std::vector<std::string> Registry::take_errors() {
  std::lock_guard lock(mutex_);
  return std::exchange(errors_, {});
}

std::string Registry::resolve(std::string_view type) const {
  std::lock_guard lock(mutex_);
  if (factories_.find(type) != factories_.end()) return std::string(type);
  const auto dot = type.rfind('.');
  if (dot != std::string_view::npos) {
    const auto last = type.substr(dot + 1);
    if (factories_.find(last) != factories_.end()) return std::string(last);
  }
  return {};
}

std::vector<std::string> Registry::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(factories_.size());
  for (const auto& [name, factory] : factories_)
    out.push_back(name);
  return out;
}

std::unique_ptr<Component> Registry::create(std::string_view type,
                                            const ComponentArgs& args) const {
  const std::string resolved = resolve(type);
  if (resolved.empty()) {
    std::string known;
    for (const auto& name : names())
      known += (known.empty() ? "" : ", ") + name;
    throw ModelError("unknown component type '" + std::string(type) + "' for component '" +
                         args.name() + "' (registered types: " + known +
                         "; load a plugin that registers it with --plugin or plugins:)",
                     args.where());
  }
  ComponentFactory factory;
  {
    std::lock_guard lock(mutex_);
    factory = factories_.find(resolved)->second;
  }
  ComponentArgs typed_args = args;
  detail::ComponentArgsAccess::set_context(typed_args, resolved, args.where());
  std::unique_ptr<Component> component = factory(typed_args);
  if (const auto unused = detail::ComponentArgsAccess::unused(typed_args); !unused.empty()) {
    std::string list;
    for (const auto& key : unused)
      list += (list.empty() ? "'" : ", '") + key + "'";
    throw ModelError("component '" + args.name() + "' (" + resolved + "): unknown argument" +
                         (unused.size() > 1 ? "s " : " ") + list,
                     typed_args.where(unused.front()));
  }
  detail::ComponentAccess::set_type_name(*component, resolved);
  return component;
}

}  // namespace patchbay
