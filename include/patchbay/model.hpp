// Loading models from YAML files (the Plugboard-compatible schema).
#pragma once

#include <patchbay/process_spec.hpp>

#include <string>
#include <vector>

namespace patchbay {

/// Parses a YAML model file into a ProcessSpec. Throws ModelError with the file and line for
/// syntax errors and schema violations. Plugin paths are resolved relative to the file.
/// Thread-safe (no shared state).
ProcessSpec load_model(const std::string& path);
/// Parses YAML text; `origin` names it in error messages. Thread-safe (no shared state).
ProcessSpec parse_model(const std::string& yaml_text, const std::string& origin = "<model>");

/// Applies "component.arg=value" overrides (value parsed as a YAML scalar or flow sequence).
/// Throws ModelError for a malformed override or an unknown component. Not thread-safe for
/// one `spec` (it modifies it); distinct specs may be edited from different threads.
void apply_overrides(ProcessSpec& spec, const std::vector<std::string>& overrides);

/// Loads a shared library that registers components (PATCHBAY_REGISTER_COMPONENT at static
/// initialisation). Throws ModelError naming the path and dlerror() text. Libraries stay
/// loaded for the life of the program. Thread-safe.
void load_plugin(const std::string& path);
/// Loads every plugin named in the spec, as load_plugin() does. Thread-safe.
void load_plugins(const ProcessSpec& spec);

/// A Mermaid flowchart of the model, like Plugboard's diagrams. Thread-safe (pure).
std::string mermaid_diagram(const ProcessSpec& spec);

}  // namespace patchbay
