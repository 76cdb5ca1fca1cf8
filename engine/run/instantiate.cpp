#include "run/instantiate.hpp"

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/component_args_access.hpp"
#include "core/port_access.hpp"
#include "core/text.hpp"
#include "serve/replicas.hpp"

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

// What a component reads as its parameters: the process's, under its own of the same name.
std::map<std::string, Value> parameters_of(const ProcessSpec& spec, const ComponentSpec& c) {
  if (c.parameters.empty()) return spec.parameters;
  std::map<std::string, Value> merged = spec.parameters;
  for (const auto& [key, value] : c.parameters)
    merged[key] = value;
  return merged;
}

// Why component `c` cannot have replicas, or "".
std::string replicas_refused(const ComponentSpec& c, const Component& built) {
  for (std::span<Port* const> ports : {built.inputs(), built.outputs()}) {
    for (const Port* port : ports) {
      if (PortAccess::is_host(*port)) return "an Ingress or Egress is the host's end of the model";
      if (port->is_event()) {
        return "each copy would receive (or publish) every event " + quote(port->name());
      }
    }
  }
  if (built.inputs().empty()) return "it has no inputs to share among the copies";
  if (!c.initial_values.empty()) return "each copy would start with its initial_values";
  if (!c.worker.empty()) return "its copies cannot all run in worker '" + c.worker + "'";
  return "";
}

Instantiated instantiate(const ProcessSpec& spec, const Registry& registry, UnknownTypes unknown) {
  Instantiated out;
  out.components.reserve(spec.components.size());
  out.options = spec.options;
  std::optional<std::map<std::string, NamedFields, std::less<>>> fields;  // built when needed
  // Replicated components: their name, and the names of their split and merge ("" if none).
  struct Replicated {
    std::string split;
    std::string merge;
  };
  std::map<std::string, Replicated, std::less<>> replicated;
  std::vector<ConnectorSpec> internal;
  const auto build = [&](const ComponentSpec& c, const std::string& name) {
    ComponentArgs args(name);
    for (const auto& [key, value] : c.args) {
      auto where = c.arg_locations.find(key);
      ComponentArgsAccess::set(args, key, value,
                               where != c.arg_locations.end() ? where->second : c.where);
    }
    for (const auto& [field, values] : c.initial_values)
      ComponentArgsAccess::set_initial_values(args, field, values);
    ComponentArgsAccess::set_resources(args, c.resources);
    ComponentArgsAccess::set_parameters(args, parameters_of(spec, c));
    ComponentArgsAccess::set_context(args, c.type, c.where);
    ComponentArgsAccess::set_base_dir(args, spec.base_dir);
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
    if (c.step_timeout) out.options.step_timeouts[name] = *c.step_timeout;
    out.components.push_back(std::move(component));
    out.locations.push_back(c.where);
  };
  for (const ComponentSpec& c : spec.components) {
    if (c.replicas <= 1) {
      build(c, c.name);
      continue;
    }
    if (c.replicas > limits::max_replicas) {
      throw ModelError("component " + quote(c.name) + ": 'replicas' must be at most " +
                           std::to_string(limits::max_replicas),
                       c.where);
    }
    const std::size_t first = out.components.size();
    for (std::size_t k = 1; k <= c.replicas; ++k)
      build(c, c.name + "#" + std::to_string(k));
    const Component& copy = *out.components[first];
    if (const std::string why = replicas_refused(c, copy); !why.empty()) {
      throw ModelError("component " + quote(c.name) + " cannot have replicas: " + why, c.where);
    }
    Replicated names;
    names.split = c.name + "#split";
    const bool merged = !copy.outputs().empty();
    if (merged) names.merge = c.name + "#merge";
    const bool order = merged && c.ordered;
    auto split = std::make_unique<Router>(names.split, Router::Role::split, c.replicas, order,
                                          copy.inputs());
    std::unique_ptr<Router> merge;
    if (merged) {
      merge = std::make_unique<Router>(names.merge, Router::Role::merge, c.replicas, order,
                                       copy.outputs());
    }
    const std::size_t internal_from = internal.size();
    for (std::size_t k = 1; k <= c.replicas; ++k) {
      const std::string copy_name = c.name + "#" + std::to_string(k);
      const std::string tag = "#" + std::to_string(k);
      for (const Port* in : copy.inputs())
        internal.emplace_back(names.split + "." + in->name() + tag, copy_name + "." + in->name());
      for (const Port* o : copy.outputs())
        internal.emplace_back(copy_name + "." + o->name(), names.merge + "." + o->name() + tag);
    }
    if (order) internal.emplace_back(names.split + ".order", names.merge + ".order");
    for (std::size_t k = internal_from; k < internal.size(); ++k)
      internal[k].where = c.where;
    out.locations.push_back(c.where);
    if (merge) out.locations.push_back(c.where);
    out.components.push_back(std::move(split));
    if (merge) out.components.push_back(std::move(merge));
    replicated.emplace(c.name, std::move(names));
  }
  // Connectors to a replicated component go to its split, those from it leave its merge.
  const auto end_of = [&](const std::string& end, bool source) {
    const auto dot = end.rfind('.');
    if (dot == std::string::npos) return end;
    const auto it = replicated.find(std::string_view(end).substr(0, dot));
    if (it == replicated.end()) return end;
    const std::string& router = source ? it->second.merge : it->second.split;
    // A connector from a copy without outputs names a field it does not have: wiring says so.
    return (router.empty() ? it->first : router) + end.substr(dot);
  };
  out.connectors.reserve(spec.connectors.size() + internal.size());
  for (ConnectorSpec connector : spec.connectors) {
    if (!replicated.empty()) {
      connector.source = end_of(connector.source, true);
      connector.target = end_of(connector.target, false);
    }
    out.connectors.push_back(std::move(connector));
  }
  for (auto& connector : internal)
    out.connectors.push_back(std::move(connector));
  return out;
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
