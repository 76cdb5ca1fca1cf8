// What the parts of engine-run share: its exit codes and the helpers both commands use.
#pragma once

#include <patchbay/patchbay.hpp>

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
/// The --stats JSON of `process` (named `name`), as it is now.
std::string stats_json(const patchbay::Process& process, const std::string& name);
/// Loads `plugins`, then the model's own if it names a type still unknown; every plugin the
/// model names must exist.
void load_plugins_for(const patchbay::ProcessSpec& spec, const std::vector<std::string>& plugins);

/// `engine-run serve MODEL ...` (argv[0] is "serve"): the model as an HTTP service.
int serve_main(int argc, char** argv);

}  // namespace engine_run
