#include <patchbay/component_args.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "core/text.hpp"

namespace patchbay {

ComponentArgs::ComponentArgs(std::string name, std::map<std::string, Value> values)
    : name_(std::move(name)), values_(std::move(values)) {}

bool ComponentArgs::contains(std::string_view key) const {
  return values_.find(std::string(key)) != values_.end();
}

const Value* ComponentArgs::find(std::string_view key) const {
  auto it = values_.find(std::string(key));
  if (it == values_.end()) return nullptr;
  used_.insert(it->first);
  return &it->second;
}

ComponentArgs& ComponentArgs::set(std::string key, Value value, SourceLocation where) {
  if (!where.empty()) locations_[key] = std::move(where);
  values_[std::move(key)] = std::move(value);
  return *this;
}

ComponentArgs& ComponentArgs::set_initial_values(std::string field, std::vector<Value> values) {
  initial_values_[std::move(field)] = std::move(values);
  return *this;
}

ComponentArgs& ComponentArgs::set_resources(ResourceOverrides resources) {
  resources_ = std::move(resources);
  return *this;
}

ComponentArgs& ComponentArgs::set_parameters(std::map<std::string, Value> parameters) {
  parameters_ = std::move(parameters);
  return *this;
}

ComponentArgs& ComponentArgs::set_context(std::string type, SourceLocation where) {
  type_ = std::move(type);
  where_ = std::move(where);
  return *this;
}

ComponentArgs& ComponentArgs::set_base_dir(std::string base_dir) {
  base_dir_ = std::move(base_dir);
  return *this;
}

std::string ComponentArgs::resolve_path(const std::string& path) const {
  if (base_dir_.empty() || path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
}

std::string ComponentArgs::get_path(std::string_view key) const {
  return resolve_path(get<std::string>(key));
}

SourceLocation ComponentArgs::where(std::string_view key) const {
  auto it = locations_.find(std::string(key));
  return it != locations_.end() ? it->second : where_;
}

std::vector<std::string> ComponentArgs::unused() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : values_) {
    if (used_.find(key) == used_.end()) out.push_back(key);
  }
  return out;
}

ModelError ComponentArgs::error(std::string_view key, const std::string& what) const {
  std::string subject = "component " + detail::quote(name_);
  if (!type_.empty()) subject += " (" + detail::one_line(type_, detail::quoted_max_bytes) + ")";
  return ModelError(subject + ": argument " + detail::quote(key) + " " + what, where(key));
}

namespace {
std::string describe(const Value& v) {
  std::string s = std::string(kind_name(v.kind()));
  if (!v.is_null() && !v.is_list() && !v.is_map()) s += " " + detail::quote(v.to_string());
  return s;
}

// Converts a value read from a model to T, or says what was wrong ("must be ..., got ...").
template <class T>
T convert(const Value& v, const std::function<ModelError(const std::string&)>& fail);

template <>
bool convert<bool>(const Value& v, const std::function<ModelError(const std::string&)>& fail) {
  if (!v.is_bool()) throw fail("must be true or false, got " + describe(v));
  return v.as_bool();
}

template <>
std::int64_t convert<std::int64_t>(const Value& v,
                                   const std::function<ModelError(const std::string&)>& fail) {
  if (v.is_double() && std::trunc(v.as_double()) == v.as_double() &&
      std::abs(v.as_double()) < 9.0e18) {
    return static_cast<std::int64_t>(v.as_double());
  }
  if (!v.is_int()) throw fail("must be an integer, got " + describe(v));
  return v.as_int();
}

template <>
int convert<int>(const Value& v, const std::function<ModelError(const std::string&)>& fail) {
  const std::int64_t i = convert<std::int64_t>(v, fail);
  if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max())
    throw fail("is out of range: " + std::to_string(i));
  return static_cast<int>(i);
}

template <>
std::size_t convert<std::size_t>(const Value& v,
                                 const std::function<ModelError(const std::string&)>& fail) {
  const std::int64_t i = convert<std::int64_t>(v, fail);
  if (i < 0) throw fail("must not be negative, got " + std::to_string(i));
  return static_cast<std::size_t>(i);
}

template <>
double convert<double>(const Value& v, const std::function<ModelError(const std::string&)>& fail) {
  if (!v.is_number()) throw fail("must be a number, got " + describe(v));
  return v.as_double();
}

template <>
std::string convert<std::string>(const Value& v,
                                 const std::function<ModelError(const std::string&)>& fail) {
  if (!v.is_string()) throw fail("must be a string, got " + describe(v));
  return v.as_string();
}

template <>
Value convert<Value>(const Value& v, const std::function<ModelError(const std::string&)>&) {
  return v;
}

template <>
std::vector<std::string> convert<std::vector<std::string>>(
    const Value& v, const std::function<ModelError(const std::string&)>& fail) {
  if (!v.is_list()) throw fail("must be a list of strings, got " + describe(v));
  std::vector<std::string> out;
  for (const auto& item : v.as_list()) {
    if (!item.is_string()) throw fail("must be a list of strings, got an item " + describe(item));
    out.push_back(item.as_string());
  }
  return out;
}

template <>
std::vector<Value> convert<std::vector<Value>>(
    const Value& v, const std::function<ModelError(const std::string&)>& fail) {
  if (!v.is_list()) throw fail("must be a list, got " + describe(v));
  return v.as_list();
}

template <>
Value::Map convert<Value::Map>(const Value& v,
                               const std::function<ModelError(const std::string&)>& fail) {
  if (!v.is_map()) throw fail("must be a mapping, got " + describe(v));
  return v.as_map();
}
}  // namespace

template <class T>
T ComponentArgs::get(std::string_view key) const {
  const Value* found = find(key);
  if (found == nullptr) throw error(key, "is required but missing");
  return convert<T>(*found, [&](const std::string& what) { return error(key, what); });
}

template <class T>
T ComponentArgs::parameter(std::string_view name) const {
  const std::string subject =
      "component " + detail::quote(name_) + ": parameter " + detail::quote(name);
  const auto it = parameters_.find(std::string(name));
  if (it == parameters_.end()) {
    std::string known;
    for (const auto& [key, value] : parameters_)
      known += (known.empty() ? "" : ", ") + key;
    throw ModelError(subject +
                         " is not set: give it in the process's 'parameters' or in the "
                         "component's own (" +
                         (known.empty() ? std::string("none are set") : "set: " + known) + ")",
                     where_);
  }
  return convert<T>(it->second, [&](const std::string& what) {
    return ModelError(subject + " " + what, where_);
  });
}

#define PATCHBAY_COMPONENT_ARGS_TYPE(T)                         \
  template T ComponentArgs::get<T>(std::string_view key) const; \
  template T ComponentArgs::parameter<T>(std::string_view name) const;
PATCHBAY_COMPONENT_ARGS_TYPE(bool)
PATCHBAY_COMPONENT_ARGS_TYPE(std::int64_t)
PATCHBAY_COMPONENT_ARGS_TYPE(int)
PATCHBAY_COMPONENT_ARGS_TYPE(std::size_t)
PATCHBAY_COMPONENT_ARGS_TYPE(double)
PATCHBAY_COMPONENT_ARGS_TYPE(std::string)
PATCHBAY_COMPONENT_ARGS_TYPE(Value)
PATCHBAY_COMPONENT_ARGS_TYPE(std::vector<std::string>)
PATCHBAY_COMPONENT_ARGS_TYPE(std::vector<Value>)
PATCHBAY_COMPONENT_ARGS_TYPE(Value::Map)
#undef PATCHBAY_COMPONENT_ARGS_TYPE

}  // namespace patchbay
