#include <patchbay/component_args.hpp>

#include <cmath>
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
  if (!v.is_null() && !v.is_list()) s += " " + detail::quote(v.to_string());
  return s;
}
}  // namespace

#define PATCHBAY_REQUIRE_ARG(key)                                    \
  const Value* found = find(key);                                    \
  if (found == nullptr) throw error(key, "is required but missing"); \
  const Value& v = *found

template <>
bool ComponentArgs::get<bool>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  if (!v.is_bool()) throw error(key, "must be true or false, got " + describe(v));
  return v.as_bool();
}

template <>
std::int64_t ComponentArgs::get<std::int64_t>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  if (v.is_double() && std::trunc(v.as_double()) == v.as_double() &&
      std::abs(v.as_double()) < 9.0e18) {
    return static_cast<std::int64_t>(v.as_double());
  }
  if (!v.is_int()) throw error(key, "must be an integer, got " + describe(v));
  return v.as_int();
}

template <>
int ComponentArgs::get<int>(std::string_view key) const {
  const std::int64_t i = get<std::int64_t>(key);
  if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max()) {
    throw error(key, "is out of range: " + std::to_string(i));
  }
  return static_cast<int>(i);
}

template <>
std::size_t ComponentArgs::get<std::size_t>(std::string_view key) const {
  const std::int64_t i = get<std::int64_t>(key);
  if (i < 0) throw error(key, "must not be negative, got " + std::to_string(i));
  return static_cast<std::size_t>(i);
}

template <>
double ComponentArgs::get<double>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  if (!v.is_number()) throw error(key, "must be a number, got " + describe(v));
  return v.as_double();
}

template <>
std::string ComponentArgs::get<std::string>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  if (!v.is_string()) throw error(key, "must be a string, got " + describe(v));
  return v.as_string();
}

template <>
Value ComponentArgs::get<Value>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  return v;
}

template <>
std::vector<std::string> ComponentArgs::get<std::vector<std::string>>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  if (!v.is_list()) throw error(key, "must be a list of strings, got " + describe(v));
  std::vector<std::string> out;
  for (const auto& item : v.as_list()) {
    if (!item.is_string())
      throw error(key, "must be a list of strings, got an item " + describe(item));
    out.push_back(item.as_string());
  }
  return out;
}

template <>
std::vector<Value> ComponentArgs::get<std::vector<Value>>(std::string_view key) const {
  PATCHBAY_REQUIRE_ARG(key);
  if (!v.is_list()) throw error(key, "must be a list, got " + describe(v));
  return v.as_list();
}

#undef PATCHBAY_REQUIRE_ARG

}  // namespace patchbay
