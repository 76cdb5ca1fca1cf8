// The component registry: maps type names to factories.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace patchbay {

/// Builds one component from its arguments; what a registered type is made with.
using ComponentFactory = std::function<std::unique_ptr<Component>(const ComponentArgs&)>;

namespace detail {
struct AbiStamp;
class RegistryAccess;
void register_component(const char* name, ComponentFactory factory, const AbiStamp& stamp,
                        const std::type_info& type) noexcept;
}  // namespace detail

/// Type name -> factory. The library components (Iterator, Sleep, Timestamper, FileReader,
/// FileWriter) are always present in global(). Every method is thread-safe: a mutex guards
/// the table, and create() runs the factory outside it.
///
///     PATCHBAY_REGISTER_COMPONENT(Doubler);          // in the .cpp that defines Doubler
///     auto c = patchbay::Registry::global().create("Doubler", patchbay::ComponentArgs{"d"});
class Registry {
 public:
  /// An empty registry (without the library components: library::register_library() adds
  /// them).
  Registry() = default;
  /// The process-wide registry, with the library components. Lives until the program ends.
  /// Thread-safe (made on first use).
  static Registry& global();

  /// Adds a type. Throws patchbay::Error if `name` is already registered. Thread-safe.
  void add(std::string name, ComponentFactory factory);
  /// Resolves `type` by exact name, else by its last dotted segment, as a Plugboard model names
  /// a class by its Python module ("components.Save" -> "Save"). A built-in type (the library's,
  /// library::register_library()) is found that way only under Plugboard's own package
  /// ("plugboard.library.FileWriter", "plugboard.library.file_io.FileWriter") and, for the
  /// tutorial's components it stands in for, its module ("hello_ray.Sleep"): another package's
  /// "acme.sinks.FileWriter" is not the built-in, and resolves only if registered under that
  /// name. Returns the registered name, or "" when unknown. Thread-safe.
  [[nodiscard]] std::string resolve(std::string_view type) const;
  /// Whether resolve(type) finds a registered name. Thread-safe.
  [[nodiscard]] bool contains(std::string_view type) const { return !resolve(type).empty(); }
  /// Registered names, sorted. Thread-safe.
  [[nodiscard]] std::vector<std::string> names() const;

  /// Builds a component. Throws ModelError for an unknown type (listing the known ones) or
  /// for arguments that were given but never read by the constructor; what the constructor
  /// throws passes through. Thread-safe when the factory is (the library's are).
  [[nodiscard]] std::unique_ptr<Component> create(std::string_view type,
                                                  const ComponentArgs& args) const;

 private:
  friend void detail::register_component(const char* name, ComponentFactory factory,
                                         const detail::AbiStamp& stamp,
                                         const std::type_info& type) noexcept;
  friend class detail::RegistryAccess;

  // Registration at static initialisation cannot throw (a plugin being loaded would abort):
  // Registrar records its error here instead, and load_plugin() reports it.
  void record_error(std::string message);
  // Returns and clears the recorded registration errors.
  [[nodiscard]] std::vector<std::string> take_errors();

  // Adds a built-in type: one that a dotted name resolves to only under the packages above.
  void add_builtin(std::string name, ComponentFactory factory);
  // Why `type` is unknown when it names a built-in in another package; "" otherwise.
  [[nodiscard]] std::string not_builtin_reason(std::string_view type) const;

  mutable std::mutex mutex_;
  std::map<std::string, ComponentFactory, std::less<>> factories_;
  std::set<std::string, std::less<>> builtins_;
  std::vector<std::string> errors_;
};

namespace detail {

/// Records that class `type` is registered as `name`, so that an instance built in code
/// (without a Registry) reports that name as its Component::type_name(), and a model written
/// from it (Process::spec()) names a type that loads. The first name recorded for a class
/// stays. Thread-safe; never throws.
void remember_class_name(const std::type_info& type, const char* name) noexcept;
/// The name recorded for class `type`, or "" when none. Thread-safe.
[[nodiscard]] std::string registered_class_name(const std::type_info& type);

/// The layout of the classes a plugin shares with this library, as the headers a piece of
/// code was compiled with give it. A plugin built against other patchbay headers would build
/// its components with another layout than this library reads: its registrations are refused
/// (load_plugin() then says so) rather than crashing in the first run.
struct AbiStamp {
  std::uint32_t version = 0;  ///< abi_version: raised when a shared class changes otherwise
  std::uint32_t component = 0;
  std::uint32_t component_args = 0;
  std::uint32_t port = 0;
  std::uint32_t value = 0;
};
/// Raised whenever a class in these headers changes in a way sizes alone do not show.
inline constexpr std::uint32_t abi_version = 1;
/// The stamp of the headers this is compiled with.
[[nodiscard]] constexpr AbiStamp abi_stamp() noexcept {
  return {abi_version, static_cast<std::uint32_t>(sizeof(Component)),
          static_cast<std::uint32_t>(sizeof(ComponentArgs)),
          static_cast<std::uint32_t>(sizeof(Port)), static_cast<std::uint32_t>(sizeof(Value))};
}
/// "" when `stamp` (compiled into a registration) matches this library's own; else what
/// differs. Thread-safe.
[[nodiscard]] std::string abi_mismatch(const AbiStamp& stamp);

/// Registers `factory` under `name` in Registry::global() for code compiled with `stamp`, at
/// static initialisation: refused, with the error recorded for load_plugin() to report, when
/// the stamp is not this library's or the name is taken. What Registrar calls. Never throws.
void register_component(const char* name, ComponentFactory factory, const AbiStamp& stamp,
                        const std::type_info& type) noexcept;

/// Registers T (constructible from `const ComponentArgs&`) under `name` at static
/// initialisation; what PATCHBAY_REGISTER_COMPONENT expands to.
template <class T>
struct Registrar {
  explicit Registrar(const char* name) noexcept {
    register_component(
        name,
        [](const ComponentArgs& args) -> std::unique_ptr<Component> {
          return std::make_unique<T>(args);
        },
        abi_stamp(), typeid(T));
  }
};

}  // namespace detail

}  // namespace patchbay

#define PATCHBAY_CONCAT_INNER(a, b) a##b
#define PATCHBAY_CONCAT(a, b) PATCHBAY_CONCAT_INNER(a, b)

/// Registers component class `Type` under its own name. Place in a .cpp file (a program or a
/// plugin shared library). `Type` needs a constructor taking `const patchbay::ComponentArgs&`.
#define PATCHBAY_REGISTER_COMPONENT(Type) PATCHBAY_REGISTER_COMPONENT_AS(Type, #Type)
/// Registers component class `Type` under `name`.
#define PATCHBAY_REGISTER_COMPONENT_AS(Type, name)                                      \
  static const ::patchbay::detail::Registrar<Type> PATCHBAY_CONCAT(patchbay_registrar_, \
                                                                   __LINE__) {          \
    name                                                                                \
  }
