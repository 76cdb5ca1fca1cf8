#include <patchbay/registry.hpp>
#include <patchbay/version.hpp>

#include <map>
#include <mutex>
#include <typeindex>
#include <utility>

#include "core/component_access.hpp"
#include "core/component_args_access.hpp"

namespace patchbay {

namespace detail {
namespace {
struct ClassNames {
  std::mutex mutex;
  std::map<std::type_index, std::string> names;
};
ClassNames& class_names() {
  static auto* table = new ClassNames();  // lives until the program ends, for plugins' statics
  return *table;
}
}  // namespace

void remember_class_name(const std::type_info& type, const char* name) noexcept {
  try {
    auto& table = class_names();
    std::lock_guard lock(table.mutex);
    table.names.emplace(std::type_index(type), name);
  } catch (...) {  // out of memory: the class keeps its C++ name
  }
}

std::string abi_mismatch(const AbiStamp& stamp) {
  const AbiStamp own = abi_stamp();
  std::string diff;
  auto compare = [&](const char* what, std::uint32_t theirs, std::uint32_t ours) {
    if (theirs == ours) return;
    diff += std::string(diff.empty() ? "" : ", ") + what + " " + std::to_string(theirs) +
            " (this library: " + std::to_string(ours) + ")";
  };
  compare("ABI version", stamp.version, own.version);
  compare("sizeof(Component)", stamp.component, own.component);
  compare("sizeof(ComponentArgs)", stamp.component_args, own.component_args);
  compare("sizeof(Port)", stamp.port, own.port);
  compare("sizeof(Value)", stamp.value, own.value);
  if (diff.empty()) return diff;
  return "compiled against other patchbay headers than this library's (" + diff +
         "): rebuild it against this version (" + PATCHBAY_VERSION + ")";
}

void register_component(const char* name, ComponentFactory factory, const AbiStamp& stamp,
                        const std::type_info& type) noexcept {
  try {
    if (std::string why = abi_mismatch(stamp); !why.empty()) {
      Registry::global().record_error("component type '" + std::string(name) + "' is " + why);
      return;
    }
    Registry::global().add(name, std::move(factory));
    remember_class_name(type, name);
  } catch (const std::exception& e) {
    Registry::global().record_error(e.what());
  }
}

std::string registered_class_name(const std::type_info& type) {
  auto& table = class_names();
  std::lock_guard lock(table.mutex);
  const auto it = table.names.find(std::type_index(type));
  return it == table.names.end() ? std::string() : it->second;
}
}  // namespace detail

void Registry::add(std::string name, ComponentFactory factory) {
  std::lock_guard lock(mutex_);
  if (factories_.find(name) != factories_.end()) {
    throw Error("component type '" + name + "' is registered twice");
  }
  factories_.emplace(std::move(name), std::move(factory));
}

void Registry::add_builtin(std::string name, ComponentFactory factory) {
  std::lock_guard lock(mutex_);
  if (factories_.find(name) != factories_.end()) {
    throw Error("component type '" + name + "' is registered twice");
  }
  builtins_.insert(name);
  factories_.emplace(std::move(name), std::move(factory));
}

namespace {

// The packages under which a dotted name means a built-in type: Plugboard's own library
// (plugboard.library.FileWriter, plugboard.library.file_io.FileWriter, ...), and the module
// of Plugboard's tutorial whose components the built-ins Iterator, Sleep and Timestamper are.
bool builtin_package(std::string_view package, std::string_view name) {
  if (package == "plugboard" || package.starts_with("plugboard.")) return true;
  return package == "hello_ray" && (name == "Iterator" || name == "Sleep" || name == "Timestamper");
}

}  // namespace

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
    if (factories_.find(last) == factories_.end()) return {};
    if (builtins_.count(last) != 0 && !builtin_package(type.substr(0, dot), last)) return {};
    return std::string(last);
  }
  return {};
}

std::string Registry::not_builtin_reason(std::string_view type) const {
  const auto dot = type.rfind('.');
  if (dot == std::string_view::npos) return {};
  const std::string last(type.substr(dot + 1));
  {
    std::lock_guard lock(mutex_);
    if (builtins_.count(last) == 0) return {};
  }
  return "it is not the built-in " + last + ", which is spelled '" + last +
         "' or 'plugboard.library." + last + "'; a type of package '" +
         std::string(type.substr(0, dot)) + "' must be registered under its own name";
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
    std::string reason = not_builtin_reason(type);
    if (!reason.empty()) reason = ": " + reason;
    throw ModelError("unknown component type '" + std::string(type) + "' for component '" +
                         args.name() + "'" + reason + " (registered types: " + known +
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
