#include <patchbay/model.hpp>
#include <patchbay/registry.hpp>

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>

#include "core/registry_access.hpp"
#include "core/text.hpp"

namespace patchbay {

void load_plugin(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string> loaded;
  namespace fs = std::filesystem;
  // Only the non-throwing forms: a path the system rejects (too long, a loop) is a bad model,
  // reported with the path, not a filesystem_error.
  std::error_code ec;
  const auto canonical = fs::weakly_canonical(path, ec);
  const std::string key = ec ? path : canonical.string();
  std::lock_guard lock(mutex);
  if (loaded.count(key) != 0) return;
  const fs::file_status status = fs::status(key, ec);
  if (status.type() == fs::file_type::not_found) {
    throw ModelError("plugin " + detail::quote(path) + " does not exist");
  }
  if (ec) throw ModelError("plugin " + detail::quote(path) + ": " + ec.message());
  if (status.type() == fs::file_type::directory) {
    throw ModelError("plugin " + detail::quote(path) + " is a directory, not a shared library");
  }
  // RTLD_NOW: a plugin with missing symbols fails here, not in the middle of a run.
  // The handle is never closed: the registry keeps pointers into the library.
  if (dlopen(key.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* reason = dlerror();
    throw ModelError("cannot load plugin " + detail::quote(path) + ": " +
                     detail::one_line(reason ? reason : "unknown error", 400));
  }
  loaded.insert(key);
  if (auto errors = detail::RegistryAccess::take_errors(Registry::global()); !errors.empty()) {
    throw ModelError("plugin " + detail::quote(path) + ": " +
                     detail::one_line(errors.front(), 400));
  }
}

void load_plugins(const ProcessSpec& spec) {
  for (const auto& path : spec.plugins)
    load_plugin(path);
}

void load_needed_plugins(const ProcessSpec& spec) {
  namespace fs = std::filesystem;
  for (const auto& path : spec.plugins) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found) {
      throw ModelError("plugin " + detail::quote(path) + " does not exist", spec.where);
    }
    if (ec) throw ModelError("plugin " + detail::quote(path) + ": " + ec.message(), spec.where);
  }
  const Registry& registry = Registry::global();
  for (const auto& component : spec.components) {
    if (!registry.contains(component.type)) {
      load_plugins(spec);
      return;
    }
  }
}

}  // namespace patchbay
