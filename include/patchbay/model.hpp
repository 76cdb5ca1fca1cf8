// Loading models from YAML files (the Plugboard-compatible schema).
#pragma once

#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <string>
#include <vector>

namespace patchbay {

/// How load_model() treats what a model file names beside itself.
struct LoadOptions {
  /// Load the plugins the model needs, as load_needed_plugins() does. False: read the file
  /// only (what `engine-run --dump` and `--validate --no-plugins` do).
  bool load_plugins = true;
};

/// Reads a YAML model file into a ProcessSpec, and loads the plugins it needs
/// (load_needed_plugins()), so that `make_process(load_model("model.yaml"))->run()` runs a
/// model that engine-run runs. Relative paths in the model are taken against the file's folder:
/// its plugins' (resolved here) and its components' path arguments (ProcessSpec::base_dir,
/// ComponentArgs::get_path()). Throws ModelError with the file and line for syntax errors and
/// schema violations, and naming the plugin for a plugin that is missing or fails to load.
/// Thread-safe (plugins are loaded under a lock).
ProcessSpec load_model(const std::string& path);
/// The same, as `options` say.
ProcessSpec load_model(const std::string& path, const LoadOptions& options);
/// Parses YAML text; `origin` names it in error messages. Thread-safe (no shared state).
ProcessSpec parse_model(const std::string& yaml_text, const std::string& origin = "<model>");

/// Applies "component.arg=value" overrides (value parsed as YAML: a scalar, or a flow sequence
/// or mapping), "component.parameters.key=value" (the component's own parameter),
/// "component.initial_values.field=value" (a list, or one value) and
/// "parameters.key=value" (the process's). Throws ModelError for a malformed override or an
/// unknown component. Not thread-safe for
/// one `spec` (it modifies it); distinct specs may be edited from different threads.
void apply_overrides(ProcessSpec& spec, const std::vector<std::string>& overrides);

/// The model as YAML in Plugboard's schema (`plugboard: process: ...`), which load_model() and
/// parse_model() read back into the same spec: components with their arguments, parameters,
/// initial values, resources and placement, connectors, process parameters and options, and
/// plugins as absolute paths. Strings that would read back as another kind ("1", "true") are
/// quoted. Throws patchbay::Error if the spec cannot be written. Thread-safe (pure).
std::string dump_model(const ProcessSpec& spec);
/// Writes dump_model(spec) to `path`. Throws patchbay::Error naming the path when it cannot.
void save_model(const ProcessSpec& spec, const std::string& path);

/// Loads a shared library that registers components (PATCHBAY_REGISTER_COMPONENT at static
/// initialisation). Throws ModelError naming the path and dlerror() text. Libraries stay
/// loaded for the life of the program. Thread-safe.
void load_plugin(const std::string& path);
/// Loads every plugin named in the spec, as load_plugin() does. Thread-safe.
void load_plugins(const ProcessSpec& spec);
/// What load_model() and engine-run do with a model's plugins: checks that each one named
/// exists (a ModelError naming the first that does not), then loads them all if one of the
/// model's component types is not registered yet, and none if every type is: a plugin is
/// code, and none is run that the model does not need. engine-run first loads its --plugin
/// libraries, then calls this. Thread-safe.
void load_needed_plugins(const ProcessSpec& spec);

/// A Mermaid flowchart of the model, like Plugboard's diagrams: components and connectors, and
/// the events that pubsub connectors name as hexagons. Any name draws: a plain one (a letter or
/// '_', then letters, digits, '_' and single dashes, not a word Mermaid reserves) is its node's
/// id, as in Plugboard's; any other gets a generated id and a quoted label, '"' written `#quot;`
/// and other syntax as numeric entity codes. Thread-safe (pure).
std::string mermaid_diagram(const ProcessSpec& spec);
/// The same with the events the components declare (event.hpp), as Plugboard draws them: a
/// hexagon per event type, dotted arrows from its publishers and to its subscribers. Builds the
/// components with `registry` (constructors only; unknown types stand in without events).
/// Thread-safe when the registry's factories are.
std::string mermaid_diagram(const ProcessSpec& spec, const Registry& registry);

}  // namespace patchbay
