#include "run/instantiate.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "core/component_args_access.hpp"

namespace patchbay::detail {

namespace {

/// The fields that connectors name on one component.
struct NamedFields {
  std::set<std::string> inputs;
  std::set<std::string> outputs;
};

/// A component of a type nobody registered: ports only, from what the connectors say.
class StandIn final : public Component {
 public:
  StandIn(const ComponentArgs& args, const NamedFields& fields) : Component(args) {
    for (const auto& field : fields.inputs)
      add_input<Value>(field);
    for (const auto& field : fields.outputs)
      add_output<Value>(field);
  }
  void init() override { throw Error("a stand-in for an unknown component type cannot run"); }
  void step() override { throw Error("a stand-in for an unknown component type cannot run"); }
};

/// Per component name, the fields the connectors name on it as targets (inputs) and sources
/// (outputs). Malformed ends are skipped: wiring reports them.
std::map<std::string, NamedFields, std::less<>> fields_by_component(
    const std::vector<ConnectorSpec>& connectors) {
  std::map<std::string, NamedFields, std::less<>> out;
  auto split = [](const std::string& end) -> std::pair<std::string_view, std::string> {
    const auto dot = end.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == end.size()) return {};
    return {std::string_view(end).substr(0, dot), end.substr(dot + 1)};
  };
  for (const auto& connector : connectors) {
    if (auto [component, field] = split(connector.source); !field.empty())
      out[std::string(component)].outputs.insert(std::move(field));
    if (auto [component, field] = split(connector.target); !field.empty())
      out[std::string(component)].inputs.insert(std::move(field));
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Component>> instantiate(const ProcessSpec& spec,
                                                    const Registry& registry,
                                                    UnknownTypes unknown) {
  std::vector<std::unique_ptr<Component>> components;
  components.reserve(spec.components.size());
  std::optional<std::map<std::string, NamedFields, std::less<>>> fields;  // built when needed
  for (const ComponentSpec& c : spec.components) {
    ComponentArgs args(c.name);
    for (const auto& [key, value] : c.args) {
      auto where = c.arg_locations.find(key);
      ComponentArgsAccess::set(args, key, value,
                               where != c.arg_locations.end() ? where->second : c.where);
    }
    for (const auto& [field, values] : c.initial_values)
      ComponentArgsAccess::set_initial_values(args, field, values);
    ComponentArgsAccess::set_resources(args, c.resources);
    ComponentArgsAccess::set_parameters(args, spec.parameters);
    ComponentArgsAccess::set_context(args, c.type, c.where);
    std::unique_ptr<Component> component;
    if (unknown == UnknownTypes::stand_in && !registry.contains(c.type)) {
      if (!fields) fields = fields_by_component(spec.connectors);
      const auto it = fields->find(c.name);
      component = it == fields->end() ? std::make_unique<StandIn>(args, NamedFields{})
                                      : std::make_unique<StandIn>(args, it->second);
    } else {
      component = registry.create(c.type, args);
    }
    // Applied again here so that a component whose constructor passed only its name to
    // Component still gets what the model says.
    for (const auto& [field, values] : c.initial_values)
      component->set_initial_values(field, values);
    component->set_resource_overrides(c.resources);
    component->set_worker_label(c.worker);
    components.push_back(std::move(component));
  }
  return components;
}

bool is_stand_in(const Component& component) {
  return dynamic_cast<const StandIn*>(&component) != nullptr;
}

}  // namespace patchbay::detail

namespace patchbay {
ComponentSpec* ProcessSpec::find(const std::string& component_name) {
  for (auto& c : components) {
    if (c.name == component_name) return &c;
  }
  return nullptr;
}
}  // namespace patchbay
