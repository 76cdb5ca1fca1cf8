// Process::spec(), to_yaml() and dump(): the model a process runs, written back.
#include <patchbay/component.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>

#include <utility>

namespace patchbay {

void Process::set_spec(ProcessSpec spec, ProcessKind kind) {
  spec.kind = kind;
  spec_ = std::make_shared<const ProcessSpec>(std::move(spec));
}

ProcessSpec Process::describe(const std::vector<std::unique_ptr<Component>>& components,
                              const std::vector<ConnectorSpec>& connectors,
                              const ProcessOptions& options) {
  ProcessSpec spec;
  spec.options = options;
  spec.connectors = connectors;
  spec.components.reserve(components.size());
  for (const auto& c : components) {
    if (!c) continue;
    ComponentSpec entry;
    entry.type = c->type_name();
    entry.name = c->name();
    entry.args = c->arguments();
    entry.initial_values = c->initial_values();
    entry.resources = c->resource_overrides();
    entry.worker = c->worker_label();
    spec.components.push_back(std::move(entry));
  }
  return spec;
}

ProcessSpec Process::spec() const {
  return spec_ ? *spec_ : ProcessSpec{};
}

std::string Process::to_yaml() const {
  return dump_model(spec());
}

void Process::dump(const std::string& path) const {
  save_model(spec(), path);
}

}  // namespace patchbay
