#include <patchbay/model.hpp>
#include <patchbay/registry.hpp>

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <set>

namespace patchbay {

void load_plugin(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string> loaded;
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(path, ec);
  const std::string key = ec ? path : canonical.string();
  std::lock_guard lock(mutex);
  if (loaded.count(key) != 0) return;
  if (!std::filesystem::exists(key)) throw ModelError("plugin '" + path + "' does not exist");
  // RTLD_NOW: a plugin with missing symbols fails here, not in the middle of a run.
  // The handle is never closed: the registry keeps pointers into the library.
  if (dlopen(key.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* reason = dlerror();
    throw ModelError("cannot load plugin '" + path + "': " + (reason ? reason : "unknown error"));
  }
  loaded.insert(key);
  if (auto errors = Registry::global().take_errors(); !errors.empty()) {
    throw ModelError("plugin '" + path + "': " + errors.front());
  }
}

void load_plugins(const ProcessSpec& spec) {
  for (const auto& path : spec.plugins)
    load_plugin(path);
}

}  // namespace patchbay
