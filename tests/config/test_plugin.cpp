// Plugins: shared libraries that register components, loaded by path or from a model.
#include <patchbay/component_args.hpp>
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>
#include <patchbay/registry.hpp>

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/registry_access.hpp"
#include "support/command.hpp"

#ifndef PATCHBAY_TEST_PLUGIN
#error "PATCHBAY_TEST_PLUGIN must name the doubler plugin (see tests/meson.build)"
#endif
#ifndef PATCHBAY_TEST_DUPLICATE_PLUGIN
#error "PATCHBAY_TEST_DUPLICATE_PLUGIN must name the duplicate plugin (see tests/meson.build)"
#endif

using Catch::Contains;
using patchbay::ModelError;
using patchbay::Registry;
namespace fs = std::filesystem;

namespace {

const std::string kDoubler = PATCHBAY_TEST_PLUGIN;
const std::string kDuplicate = PATCHBAY_TEST_DUPLICATE_PLUGIN;
const std::string kStale = PATCHBAY_STALE_PLUGIN;

using patchbay::test::lines_of;
using patchbay::test::read_file;
using patchbay::test::TempDir;
using patchbay::test::write_file;

// Whether the dynamic loader already holds the library at `path` (without loading it).
bool already_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOLOAD | RTLD_LAZY);
  if (handle == nullptr) return false;
  dlclose(handle);  // drops the reference RTLD_NOLOAD took
  return true;
}

std::size_t count_registered(const std::string& name) {
  const auto names = Registry::global().names();
  return static_cast<std::size_t>(std::count(names.begin(), names.end(), name));
}

}  // namespace

TEST_CASE("loading the plugin registers its component", "[plugin]") {
  REQUIRE(fs::exists(kDoubler));
  if (!already_loaded(kDoubler)) CHECK_FALSE(Registry::global().contains("Doubler"));
  patchbay::load_plugin(kDoubler);
  CHECK(already_loaded(kDoubler));
  CHECK(Registry::global().resolve("Doubler") == "Doubler");
  CHECK(Registry::global().resolve("my_plugins.Doubler") == "Doubler");

  auto doubler = Registry::global().create("Doubler", patchbay::ComponentArgs("d"));
  REQUIRE(doubler != nullptr);
  CHECK(doubler->name() == "d");
  CHECK(doubler->type_name() == "Doubler");
  REQUIRE(doubler->find_input("x") != nullptr);
  CHECK(doubler->find_input("x")->type().name == "double");
  REQUIRE(doubler->find_output("y") != nullptr);
  CHECK(doubler->find_output("y")->type().name == "double");
}

TEST_CASE("loading the same plugin twice is harmless", "[plugin]") {
  patchbay::load_plugin(kDoubler);
  CHECK_NOTHROW(patchbay::load_plugin(kDoubler));
  // Through another spelling of the same path, too.
  const fs::path other = fs::path(kDoubler).parent_path() / "." / fs::path(kDoubler).filename();
  CHECK_NOTHROW(patchbay::load_plugin(other.string()));
  CHECK(count_registered("Doubler") == 1);
  CHECK(patchbay::detail::RegistryAccess::take_errors(Registry::global()).empty());
}

TEST_CASE("a model naming the plugin runs its component", "[plugin]") {
  TempDir dir;
  // The plugin named relative to the model file (through a link to the built library).
  fs::create_directories(dir / "lib");
  fs::create_symlink(kDoubler, dir / "lib/libdoubler.so");
  const fs::path out = dir / "doubled.csv";
  const fs::path model = dir / "model.yaml";
  write_file(model, R"(plugboard:
  plugins:
  - lib/libdoubler.so
  process:
    type: local
    args:
      components:
      - type: Iterator
        args: {name: input, iters: 5}
      - type: Sleep
        args: {name: pass, sleep_seconds: 0}
      - type: my_plugins.Doubler
        args: {name: double}
      - type: FileWriter
        args:
          name: save
          path: ")" + out.string() +
                        R"("
          field_names: [y]
      connectors:
      - {source: input.x, target: pass.x}
      - {source: pass.y, target: double.x}
      - {source: double.y, target: save.y}
)");
  const auto spec = patchbay::load_model(model.string());
  REQUIRE(spec.plugins.size() == 1);
  CHECK(spec.plugins[0] == (dir / "lib/libdoubler.so").string());
  patchbay::load_plugins(spec);
  CHECK(count_registered("Doubler") == 1);

  auto process = patchbay::make_process(spec);
  process->run();
  CHECK(process->status() == patchbay::Status::completed);
  const auto lines = lines_of(read_file(out));
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "y");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK(std::stod(lines[i]) == 2.0 * static_cast<double>(i - 1));
  }
}

TEST_CASE("a missing plugin is a ModelError naming the path", "[plugin]") {
  TempDir dir;
  const std::string path = (dir / "no-such-plugin.so").string();
  try {
    patchbay::load_plugin(path);
    FAIL("a missing plugin was loaded");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(path) && Contains("does not exist"));
  }
  patchbay::ProcessSpec spec;
  spec.plugins = {path};
  CHECK_THROWS_AS(patchbay::load_plugins(spec), ModelError);
}

TEST_CASE("a file that is not a shared library is a ModelError naming the path", "[plugin]") {
  TempDir dir;
  const fs::path path = dir / "not-a-plugin.so";
  write_file(path, "this is text, not ELF\n");
  try {
    patchbay::load_plugin(path.string());
    FAIL("a text file was loaded as a plugin");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(path.string()) && Contains("cannot load plugin"));
  }
  // A directory is no library either.
  CHECK_THROWS_AS(patchbay::load_plugin((dir / "").string()), ModelError);
}

TEST_CASE("a plugin built against other patchbay headers is refused with a ModelError saying so",
          "[plugin]") {
  // The headers this test is built with are the library's.
  CHECK(patchbay::detail::abi_mismatch(patchbay::detail::abi_stamp()).empty());
  auto other = patchbay::detail::abi_stamp();
  other.version += 1;
  CHECK_THAT(patchbay::detail::abi_mismatch(other), Contains("ABI version"));
  REQUIRE(fs::exists(kStale));
  if (already_loaded(kStale)) {
    WARN("the stale plugin was loaded earlier in this run; its error is reported once");
    return;
  }
  try {
    patchbay::load_plugin(kStale);
    FAIL("a plugin built against other headers was accepted");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(kStale) && Contains("'StaleThing'") &&
                             Contains("compiled against other patchbay headers") &&
                             Contains("sizeof(Component)") && Contains("rebuild it"));
  }
  // Its component was not registered: nothing can build it with the wrong layout.
  CHECK_FALSE(Registry::global().contains("StaleThing"));
}

TEST_CASE("a plugin registering an existing name is a ModelError from load_plugin", "[plugin]") {
  REQUIRE(fs::exists(kDuplicate));
  if (already_loaded(kDuplicate)) {
    WARN("the duplicate plugin was loaded earlier in this run; its error is reported once");
    return;
  }
  try {
    patchbay::load_plugin(kDuplicate);
    FAIL("a plugin registering 'Iterator' again was accepted");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(),
               Contains(kDuplicate) && Contains("'Iterator'") && Contains("registered twice"));
  }
  // The error was taken, and the library's Iterator is still the one registered.
  CHECK(patchbay::detail::RegistryAccess::take_errors(Registry::global()).empty());
  CHECK(count_registered("Iterator") == 1);
  auto iterator = Registry::global().create(
      "Iterator", patchbay::ComponentArgs("it", {{"iters", patchbay::Value(2)}}));
  CHECK(dynamic_cast<patchbay::library::Iterator*>(iterator.get()) != nullptr);
}
