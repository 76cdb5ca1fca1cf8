#include "process/instantiate.hpp"

namespace patchbay::detail {

std::vector<std::unique_ptr<Component>> instantiate(const ProcessSpec& spec,
                                                    const Registry& registry) {
  std::vector<std::unique_ptr<Component>> components;
  components.reserve(spec.components.size());
  for (const ComponentSpec& c : spec.components) {
    ComponentArgs args(c.name);
    for (const auto& [key, value] : c.args) {
      auto where = c.arg_locations.find(key);
      args.set(key, value, where != c.arg_locations.end() ? where->second : c.where);
    }
    for (const auto& [field, values] : c.initial_values)
      args.set_initial_values(field, values);
    args.set_resources(c.resources);
    args.set_parameters(spec.parameters);
    args.set_context(c.type, c.where);
    std::unique_ptr<Component> component = registry.create(c.type, args);
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

}  // namespace patchbay::detail

namespace patchbay {
ComponentSpec* ProcessSpec::find(const std::string& component_name) {
  for (auto& c : components) {
    if (c.name == component_name) return &c;
  }
  return nullptr;
}
}  // namespace patchbay
