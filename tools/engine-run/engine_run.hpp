// What the parts of engine-run share: its exit codes and the helpers both commands use.
#pragma once

#include <patchbay/patchbay.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace engine_run {

inline constexpr int kExitCompleted = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadModel = 2;
inline constexpr int kExitInterrupted = 130;

/// Prints "engine-run: MESSAGE" as one bounded line on stderr.
void error_line(std::string_view message);
/// Prints the exception being handled and returns its exit code (1, or 2 for a ModelError).
int exit_code_of_current_exception();
/// A Value as JSON: a mapping as an object, a list as an array (a non-finite double dumps as
/// null).
nlohmann::ordered_json json_from_value(const patchbay::Value& v);
/// The --stats JSON of `process` (named `name`), as it is now.
std::string stats_json(const patchbay::Process& process, const std::string& name);
/// Loads `plugins`, then the model's own if it names a type still unknown; every plugin the
/// model names must exist.
void load_plugins_for(const patchbay::ProcessSpec& spec, const std::vector<std::string>& plugins);

/// What every command that loads a model takes: --set, --plugin, --process, and the machine as
/// declared from outside the model (--num-cpus, --num-gpus, --memory, --resources).
struct ModelOptions {
  std::vector<std::string> overrides;
  std::vector<std::string> plugins;
  std::string process_kind;
  std::optional<std::size_t> num_cpus;
  std::optional<std::size_t> num_gpus;
  std::string memory;
  std::string resources;
  // Process options, in place of the model's.
  std::optional<std::size_t> workers;
  std::string wait;  ///< spin, adaptive or block; "" keeps the model's
  std::string topology;
};

/// Adds the options of ModelOptions to `app`. Returns the --plugin option.
CLI::Option* add_model_options(CLI::App& app, ModelOptions& options);
/// Parses the command line: nullopt to go on, else the exit code (0 after --help or --version,
/// 2 for a bad argument, printed with a pointer to `help`).
std::optional<int> parse_arguments(CLI::App& app, int argc, char** argv, std::string_view help);
/// The model file, with the --set overrides applied, the --process engine ("" keeps the
/// model's) and the declared machine. Throws ModelError.
patchbay::ProcessSpec load_spec(const std::string& model, const ModelOptions& options);

/// `engine-run serve MODEL ...` (argv[0] is "serve"): the model as an HTTP service.
int serve_main(int argc, char** argv);

/// `engine-run tune MODEL ...` (argv[0] is "tune"): the model's tune: section searched with
/// patchbay::Tuner (docs/TUNING.md).
int tune_main(int argc, char** argv);

}  // namespace engine_run
