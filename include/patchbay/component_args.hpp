// Named constructor arguments of a component, as given in code or in a YAML model.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>
#include <patchbay/value.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay {

namespace detail {
class ComponentArgsAccess;
}

/// The arguments a component is built from: its name, its constructor arguments, initial
/// values for its inputs, resource overrides, and the process parameters. Reading an argument
/// marks it used; after construction the engine rejects arguments nobody read (a typo).
/// Not thread-safe (reading marks arguments used): read it from the component's constructor
/// only, where the engine hands it over; it does not outlive that call.
///
///     Sleep(const patchbay::ComponentArgs& args)
///         : Component(args), seconds_(args.get<double>("sleep_seconds")) {}
class ComponentArgs {
 public:
  ComponentArgs() = default;
  /// Arguments for building a component by hand, as Registry::create() takes them.
  explicit ComponentArgs(std::string name, std::map<std::string, Value> values = {});

  /// The component's name.
  [[nodiscard]] const std::string& name() const { return name_; }

  /// The argument converted to T (bool, integers, floating point, std::string, Value,
  /// std::vector<std::string>, std::vector<Value>, Value::Map). Throws ModelError when it is
  /// missing or of the wrong type, naming the component, the argument and the model line.
  template <class T>
  [[nodiscard]] T get(std::string_view key) const;
  /// As get(), or `fallback` when the argument is absent.
  template <class T>
  [[nodiscard]] T get_or(std::string_view key, T fallback) const {
    return contains(key) ? get<T>(key) : std::move(fallback);
  }
  /// Argument `key`, a file path, as the model means it: a relative path is taken against the
  /// folder of the model file it was written in (what load_model() records in
  /// ProcessSpec::base_dir), so that a model names the same files from whatever directory it
  /// runs; an absolute path, and any path of a model built in code, as it is. Throws as
  /// get<std::string>().
  ///
  ///     path_(args.get_path("path"))   // "data.csv" next to the model file
  [[nodiscard]] std::string get_path(std::string_view key) const;
  /// `path` as get_path() takes a path: against the model file's folder when relative.
  [[nodiscard]] std::string resolve_path(const std::string& path) const;
  /// Whether the argument was given. Does not mark it used.
  [[nodiscard]] bool contains(std::string_view key) const;
  /// The raw argument or nullptr; marks it used. The pointer lives as long as the arguments.
  [[nodiscard]] const Value* find(std::string_view key) const;

  /// The parameters this component reads: the process's `parameters`, shared by every
  /// component, with the component's own `parameters` in place of those of the same name.
  [[nodiscard]] const std::map<std::string, Value>& parameters() const { return parameters_; }
  /// A parameter converted to T (the types get() takes). Throws ModelError naming the
  /// component and the parameter when it is not set (listing those that are) or of the wrong
  /// type.
  ///
  ///     scale_(args.parameter<double>("scale"))
  template <class T>
  [[nodiscard]] T parameter(std::string_view name) const;
  /// As parameter(), or `fallback` when it is not set.
  template <class T>
  [[nodiscard]] T parameter_or(std::string_view name, T fallback) const {
    return parameters_.count(std::string(name)) != 0 ? parameter<T>(name) : std::move(fallback);
  }

  /// Where the component was written in its model file; empty for a model built in code.
  [[nodiscard]] const SourceLocation& where() const { return where_; }
  /// Where an argument was written (its YAML line), else where the component was.
  [[nodiscard]] SourceLocation where(std::string_view key) const;
  /// A ModelError about argument `key` of this component, located at its line: what a
  /// constructor throws for a value it rejects.
  ///
  ///     if (n < 0) throw args.error("iters", "must be >= 0");
  [[nodiscard]] ModelError error(std::string_view key, const std::string& what) const;

 private:
  friend class detail::ComponentArgsAccess;

  // Building, by the engine from a ComponentSpec (see detail::ComponentArgsAccess).
  ComponentArgs& set(std::string key, Value value, SourceLocation where = {});
  ComponentArgs& set_initial_values(std::string field, std::vector<Value> values);
  ComponentArgs& set_resources(ResourceOverrides resources);
  ComponentArgs& set_parameters(std::map<std::string, Value> parameters);
  ComponentArgs& set_context(std::string type, SourceLocation where);
  ComponentArgs& set_base_dir(std::string base_dir);
  // Arguments never read, sorted.
  [[nodiscard]] std::vector<std::string> unused() const;

  std::string name_;
  std::string type_;
  SourceLocation where_;
  std::map<std::string, Value> values_;
  std::map<std::string, SourceLocation> locations_;
  std::map<std::string, std::vector<Value>> initial_values_;
  ResourceOverrides resources_;
  std::map<std::string, Value> parameters_;
  std::string base_dir_;  // where relative paths start; empty: the working directory
  mutable std::set<std::string, std::less<>> used_;
};

// Defined for bool, std::int64_t, int, std::size_t, double, std::string, Value,
// std::vector<std::string>, std::vector<Value> and Value::Map.
#define PATCHBAY_COMPONENT_ARGS_TYPE(T)                                \
  extern template T ComponentArgs::get<T>(std::string_view key) const; \
  extern template T ComponentArgs::parameter<T>(std::string_view name) const;
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
