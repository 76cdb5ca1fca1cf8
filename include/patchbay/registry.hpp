// The component registry: maps type names to factories.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay {

using ComponentFactory = std::function<std::unique_ptr<Component>(const ComponentArgs&)>;

/// Type name -> factory. The library components (Iterator, Sleep, Timestamper, FileReader,
/// FileWriter) are always present in global(). All methods are thread-safe.
///
///     PATCHBAY_REGISTER_COMPONENT(Doubler);          // in the .cpp that defines Doubler
///     auto c = patchbay::Registry::global().create("Doubler", patchbay::ComponentArgs{"d"});
class Registry {
 public:
  Registry() = default;
  /// The process-wide registry, with the library components.
  static Registry& global();

  /// Adds a type. Throws patchbay::Error if `name` is already registered.
  void add(std::string name, ComponentFactory factory);
  /// Resolves `type` by exact name, else by its last dotted segment
  /// ("hello_ray.Sleep" -> "Sleep"). Returns the registered name, or "" when unknown.
  [[nodiscard]] std::string resolve(std::string_view type) const;
  [[nodiscard]] bool contains(std::string_view type) const { return !resolve(type).empty(); }
  /// Registered names, sorted.
  [[nodiscard]] std::vector<std::string> names() const;

  /// Builds a component. Throws ModelError for an unknown type (listing the known ones) or
  /// for arguments that were given but never read by the constructor.
  [[nodiscard]] std::unique_ptr<Component> create(std::string_view type,
                                                  const ComponentArgs& args) const;

  /// Registration at static initialisation cannot throw (a plugin being loaded would abort):
  /// Registrar records its error here instead, and load_plugin() reports it.
  void record_error(std::string message);
  /// Returns and clears the recorded registration errors.
  [[nodiscard]] std::vector<std::string> take_errors();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ComponentFactory, std::less<>> factories_;
  std::vector<std::string> errors_;
};

/// Registers T (constructible from `const ComponentArgs&`) under `name` at static
/// initialisation. Use through PATCHBAY_REGISTER_COMPONENT.
template <class T>
struct Registrar {
  explicit Registrar(const char* name) noexcept {
    try {
      Registry::global().add(name, [](const ComponentArgs& args) -> std::unique_ptr<Component> {
        return std::make_unique<T>(args);
      });
    } catch (const std::exception& e) {
      Registry::global().record_error(e.what());
    }
  }
};

}  // namespace patchbay

#define PATCHBAY_CONCAT_INNER(a, b) a##b
#define PATCHBAY_CONCAT(a, b) PATCHBAY_CONCAT_INNER(a, b)

/// Registers component class `Type` under its own name. Place in a .cpp file (a program or a
/// plugin shared library). `Type` needs a constructor taking `const patchbay::ComponentArgs&`.
#define PATCHBAY_REGISTER_COMPONENT(Type) PATCHBAY_REGISTER_COMPONENT_AS(Type, #Type)
/// Registers component class `Type` under `name`.
#define PATCHBAY_REGISTER_COMPONENT_AS(Type, name)                                          \
  static const ::patchbay::Registrar<Type> PATCHBAY_CONCAT(patchbay_registrar_, __LINE__) { \
    name                                                                                    \
  }
