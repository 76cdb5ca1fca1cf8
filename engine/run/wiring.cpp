#include "run/wiring.hpp"

#include <patchbay/resources.hpp>

#include <algorithm>
#include <bit>
#include <map>
#include <set>

#include "channel/ring.hpp"
#include "core/port_access.hpp"
#include "core/text.hpp"
#include "run/instantiate.hpp"

namespace patchbay::detail {

namespace {

struct FieldRef {
  std::string component;
  std::string field;
};

FieldRef split_field(const std::string& text, const char* role, const ConnectorSpec& connector) {
  const auto dot = text.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == text.size()) {
    throw ModelError(
        "connector " + std::string(role) + " " + quote(text) + " must be 'component.field'",
        connector.where);
  }
  return {text.substr(0, dot), text.substr(dot + 1)};
}

std::string port_names(std::span<Port* const> ports) {
  if (ports.empty()) return "none";
  std::string out;
  for (Port* p : ports)
    out += (out.empty() ? "" : ", ") + one_line(p->name(), quoted_max_bytes);
  return out;
}

std::string describe_component(const Component& c) {
  return "component " + quote(c.name()) + " (" + one_line(c.type_name(), quoted_max_bytes) + ")";
}

// Every component downstream of an Ingress (and the Ingress) is on a request's way: a step that
// throws there fails that request, not the run, and the wires out of it say how (WireErrors).
void mark_request_ways(Wiring& wiring) {
  const std::size_t n = wiring.components.size();
  std::vector<std::vector<std::size_t>> next(n);
  for (const auto& w : wiring.wires) {
    if (!w.event) next[w.source_component].push_back(w.target_component);
  }
  // reach[i][j]: component j is downstream of component i (through at least one wire).
  std::vector<std::vector<bool>> reach(n);
  const auto downstream_of = [&](std::size_t from) {
    std::vector<bool> seen(n, false);
    std::vector<std::size_t> stack(next[from].begin(), next[from].end());
    while (!stack.empty()) {
      const std::size_t c = stack.back();
      stack.pop_back();
      if (seen[c]) continue;
      seen[c] = true;
      stack.insert(stack.end(), next[c].begin(), next[c].end());
    }
    return seen;
  };
  std::vector<bool> on_way(n, false);
  for (const auto& w : wiring.host_wires) {
    if (!host_inbound(w)) continue;
    on_way[w.target_component] = true;
    const auto below = downstream_of(w.target_component);
    for (std::size_t c = 0; c < n; ++c)
      on_way[c] = on_way[c] || below[c];
  }
  for (auto& w : wiring.wires) {
    if (!on_way[w.source_component] || w.event) continue;
    if (reach[w.target_component].empty())
      reach[w.target_component] = downstream_of(w.target_component);
    const bool closes_cycle = reach[w.target_component][w.source_component];
    const bool has_initial = w.target->owner().initial_values().contains(w.target->name());
    if (closes_cycle && has_initial) {
      w.errors = WireErrors::repeat;
    } else {
      w.errors = WireErrors::forward;
      w.record_size = 0;
    }
  }
  for (auto& w : wiring.host_wires) {
    if (host_inbound(w) || !on_way[w.source_component]) continue;
    w.errors = WireErrors::forward;
    w.record_size = 0;
  }
}

// Finds a cycle among wires whose target input has no initial values; returns it as names.
std::vector<std::string> find_unbroken_cycle(std::span<Component* const> components,
                                             const std::vector<Wire>& wires) {
  const std::size_t n = components.size();
  std::vector<std::vector<std::size_t>> next(n);
  for (const auto& w : wires) {
    if (w.event) continue;
    const auto& initial = w.target->owner().initial_values();
    auto it = initial.find(w.target->name());
    if (it == initial.end() || it->second.empty())
      next[w.source_component].push_back(w.target_component);
  }
  enum class Mark : std::uint8_t { unvisited, active, done };
  std::vector<Mark> mark(n, Mark::unvisited);
  std::vector<std::size_t> path;
  std::vector<std::string> cycle;
  // Iterative DFS keeps deep chains (thousands of components) off the call stack.
  for (std::size_t root = 0; root < n && cycle.empty(); ++root) {
    if (mark[root] != Mark::unvisited) continue;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
    mark[root] = Mark::active;
    path.assign(1, root);
    while (!stack.empty() && cycle.empty()) {
      auto& [node, edge] = stack.back();
      if (edge == next[node].size()) {
        mark[node] = Mark::done;
        stack.pop_back();
        path.pop_back();
        continue;
      }
      const std::size_t to = next[node][edge++];
      if (mark[to] == Mark::active) {
        auto start = std::find(path.begin(), path.end(), to);
        for (auto it = start; it != path.end(); ++it)
          cycle.push_back(one_line(components[*it]->name(), quoted_max_bytes));
        cycle.push_back(one_line(components[to]->name(), quoted_max_bytes));
      } else if (mark[to] == Mark::unvisited) {
        mark[to] = Mark::active;
        path.push_back(to);
        stack.emplace_back(to, 0);
      }
    }
  }
  return cycle;
}

// A pubsub connector ("EVENT.publishers" -> "EVENT.subscribers", as Plugboard writes its event
// connectors) builds nothing: the event's wires come from what the components declare. It must
// name an event that a component publishes or handles, as Plugboard's event name or in the
// safe form Plugboard uses in connector names ('.' and '-' as '_').
void check_event_connector(std::span<Component* const> components, const ConnectorSpec& connector) {
  const std::string event = connector.source.substr(0, connector.source.rfind('.'));
  const auto safe = [](std::string name) {
    for (char& c : name) {
      if (c == '.' || c == '-') c = '_';
    }
    return name;
  };
  std::set<std::string> declared;
  for (const Component* c : components) {
    if (is_stand_in(*c)) return;  // its events are unknown
    for (std::span<Port* const> ports : {c->inputs(), c->outputs()}) {
      for (const Port* port : ports) {
        if (!port->is_event()) continue;
        if (port->name() == event || safe(port->name()) == safe(event)) return;
        declared.insert(port->name());
      }
    }
  }
  std::string known;
  for (const std::string& name : declared)
    known += (known.empty() ? "" : ", ") + name;
  throw ModelError("connector " + quote(connector.source + " -> " + connector.target) +
                       ": no component publishes or handles the event " + quote(event) +
                       " (events declared: " + (known.empty() ? std::string("none") : known) + ")",
                   connector.where);
}

std::size_t port_index_of(std::span<Port* const> ports, const Port* port) {
  return static_cast<std::size_t>(std::find(ports.begin(), ports.end(), port) - ports.begin());
}

// Publish-subscribe: a wire from every publisher of an event type to every other component
// that handles it, in component order, so that each subscriber gets each event once and a
// publisher's events in the order it published them.
void add_event_wires(std::span<Component* const> components, std::size_t capacity, Wiring& wiring) {
  std::map<std::string, std::vector<std::pair<std::size_t, Port*>>, std::less<>> handlers;
  for (std::size_t t = 0; t < components.size(); ++t) {
    for (Port* in : components[t]->inputs()) {
      if (in->is_event()) handlers[in->name()].emplace_back(t, in);
    }
  }
  for (std::size_t s = 0; s < components.size(); ++s) {
    for (Port* out : components[s]->outputs()) {
      if (!out->is_event()) continue;
      const auto found = handlers.find(out->name());
      if (found == handlers.end()) continue;
      for (const auto& [t, in] : found->second) {
        if (t == s) continue;  // a component does not receive its own events
        if (!out->type().can_feed(in->type()) && !is_stand_in(*components[s]) &&
            !is_stand_in(*components[t])) {
          throw ModelError("event " + quote(out->name()) + ": " +
                           describe_component(*components[s]) + " publishes it as " +
                           out->type().name + " but " + describe_component(*components[t]) +
                           " handles it as " + in->type().name);
        }
        Wire wire;
        wire.source_component = s;
        wire.target_component = t;
        wire.source = out;
        wire.target = in;
        wire.capacity = capacity;
        wire.event = true;
        if (const std::size_t fixed_size = PortAccess::codec(*out).fixed_size;
            out->type().same_as(in->type()) && fixed_size != 0 &&
            fixed_size <= channel::VariableRing::max_payload_for(wire.capacity)) {
          wire.record_size = fixed_size;
        }
        wire.label = components[s]->name() + "." + out->name() + " -> " + components[t]->name() +
                     "." + in->name();
        wiring.components[s].outputs[port_index_of(components[s]->outputs(), out)].push_back(
            wiring.wires.size());
        wiring.components[t].inputs[port_index_of(components[t]->inputs(), in)].push_back(
            wiring.wires.size());
        wiring.wires.push_back(std::move(wire));
      }
    }
  }
}

}  // namespace

std::size_t ring_capacity(std::size_t requested, const std::string& what,
                          const SourceLocation& where) {
  constexpr std::size_t minimum = 64;
  constexpr std::size_t maximum = std::size_t{1} << 32;
  if (requested < minimum || requested > maximum) {
    throw ModelError(what + ": channel capacity " + std::to_string(requested) +
                         " bytes is out of range (64 bytes to 4 GiB)",
                     where);
  }
  return std::bit_ceil(requested);
}

Wiring build_wiring(std::span<Component* const> components,
                    std::span<const ConnectorSpec> connectors, const ProcessOptions& options,
                    std::span<const SourceLocation> locations) {
  auto where = [&](std::size_t i) {
    return i < locations.size() ? locations[i] : SourceLocation{};
  };
  std::map<std::string, std::size_t, std::less<>> by_name;
  for (std::size_t i = 0; i < components.size(); ++i) {
    if (components[i] == nullptr) throw ModelError("component #" + std::to_string(i) + " is null");
    if (components[i]->name().empty()) {
      throw ModelError(describe_component(*components[i]) + " has an empty name", where(i));
    }
    if (!by_name.emplace(components[i]->name(), i).second) {
      throw ModelError("duplicate component name " + quote(components[i]->name()), where(i));
    }
  }
  const std::size_t default_capacity =
      ring_capacity(options.channel_capacity, "process option channel_capacity", {});
  // Below the minimum a fiber overflows its stack at its first call (SIGSEGV, no message).
  if (options.fiber_stack_size < limits::min_fiber_stack_size ||
      options.fiber_stack_size > limits::max_fiber_stack_size) {
    throw ModelError("process option fiber_stack_size: " +
                     std::to_string(options.fiber_stack_size) + " bytes is out of range (" +
                     format_quantity(static_cast<double>(limits::min_fiber_stack_size)) + " to " +
                     format_quantity(static_cast<double>(limits::max_fiber_stack_size)) + ")");
  }

  Wiring wiring;
  wiring.components.resize(components.size());
  for (std::size_t i = 0; i < components.size(); ++i) {
    wiring.components[i].inputs.resize(components[i]->inputs().size());
    wiring.components[i].outputs.resize(components[i]->outputs().size());
  }

  std::set<std::pair<Port*, Port*>> seen;
  for (const auto& connector : connectors) {
    if (connector.mode == ConnectorMode::pubsub) {
      check_event_connector(components, connector);
      continue;
    }
    const FieldRef source = split_field(connector.source, "source", connector);
    const FieldRef target = split_field(connector.target, "target", connector);
    const std::string label = connector.source + " -> " + connector.target;
    const std::string quoted_label = quote(label);
    auto find_component = [&](const FieldRef& ref) {
      auto it = by_name.find(ref.component);
      if (it == by_name.end()) {
        throw ModelError(
            "connector " + quoted_label + ": no component named " + quote(ref.component),
            connector.where);
      }
      return it->second;
    };
    const std::size_t s = find_component(source);
    const std::size_t t = find_component(target);
    Component& source_component = *components[s];
    Component& target_component = *components[t];
    Port* out = source_component.find_output(source.field);
    if (out == nullptr) {
      const bool is_input = source_component.find_input(source.field) != nullptr;
      throw ModelError("connector " + quoted_label + ": " + describe_component(source_component) +
                           " has no output " + quote(source.field) +
                           (is_input ? " (" + quote(source.field) + " is an input)" : "") +
                           "; its outputs: " + port_names(source_component.outputs()),
                       connector.where);
    }
    Port* in = target_component.find_input(target.field);
    if (in == nullptr) {
      const bool is_output = target_component.find_output(target.field) != nullptr;
      throw ModelError("connector " + quoted_label + ": " + describe_component(target_component) +
                           " has no input " + quote(target.field) +
                           (is_output ? " (" + quote(target.field) + " is an output)" : "") +
                           "; its inputs: " + port_names(target_component.inputs()),
                       connector.where);
    }
    for (Port* port : {out, in}) {
      if (port->is_event()) {
        throw ModelError("connector " + quoted_label + ": " +
                             quote(port->owner().name() + "." + port->name()) + " is the event " +
                             quote(port->name()) + " of " + describe_component(port->owner()) +
                             "; events reach the components that handle them without connectors",
                         connector.where);
      }
      if (PortAccess::is_host(*port)) {
        throw ModelError("connector " + quoted_label + ": " +
                             quote(port->owner().name() + "." + port->name()) +
                             " is the host's end of " + describe_component(port->owner()) +
                             "; no connector may reach it",
                         connector.where);
      }
    }
    // A stand-in's ports are Value, but the real type behind them is unknown: only a
    // connector between two known components has types to check.
    if (!out->type().can_feed(in->type()) && !is_stand_in(source_component) &&
        !is_stand_in(target_component)) {
      throw ModelError("connector " + quoted_label + ": type mismatch: output " +
                           quote(connector.source) + " is " + out->type().name + " but input " +
                           quote(connector.target) + " is " + in->type().name,
                       connector.where);
    }
    if (!seen.emplace(out, in).second) {
      throw ModelError("connector " + quoted_label + " is given twice", connector.where);
    }
    Wire wire;
    wire.source_component = s;
    wire.target_component = t;
    wire.source = out;
    wire.target = in;
    wire.capacity =
        connector.capacity == 0
            ? default_capacity
            : ring_capacity(connector.capacity, "connector " + quoted_label, connector.where);
    if (const std::size_t fixed_size = PortAccess::codec(*out).fixed_size;
        out->type().same_as(in->type()) && fixed_size != 0 &&
        fixed_size <= channel::VariableRing::max_payload_for(wire.capacity)) {
      wire.record_size = fixed_size;
    }
    wire.label = label;
    wire.where = connector.where;
    wire.wait = connector.wait;
    const auto out_index = static_cast<std::size_t>(
        std::find(source_component.outputs().begin(), source_component.outputs().end(), out) -
        source_component.outputs().begin());
    const auto in_index = static_cast<std::size_t>(
        std::find(target_component.inputs().begin(), target_component.inputs().end(), in) -
        target_component.inputs().begin());
    wiring.components[s].outputs[out_index].push_back(wiring.wires.size());
    wiring.components[t].inputs[in_index].push_back(wiring.wires.size());
    wiring.wires.push_back(std::move(wire));
  }

  for (std::size_t i = 0; i < components.size(); ++i) {
    const Component& c = *components[i];
    for (const auto& [field, values] : c.initial_values()) {
      Port* in = c.find_input(field);
      if (in == nullptr) {
        throw ModelError(describe_component(c) + ": initial_values for " + quote(field) +
                             ", which is not one of its inputs (" + port_names(c.inputs()) + ")",
                         where(i));
      }
      for (const auto& v : values) {
        const auto assign = PortAccess::codec(*in).assign_from_value;
        if (assign == nullptr || !assign(v, PortAccess::storage(*in))) {
          throw ModelError(describe_component(c) + ": initial value " + quote(v.to_string()) +
                               " (" + std::string(kind_name(v.kind())) + ") does not fit input " +
                               quote(field) + " of type " + in->type().name,
                           where(i));
        }
      }
    }
    for (std::size_t p = 0; p < c.inputs().size(); ++p) {
      if (wiring.components[i].inputs[p].empty() && !PortAccess::is_host(*c.inputs()[p]) &&
          !c.inputs()[p]->is_event()) {
        throw ModelError(describe_component(c) + ": input " + quote(c.inputs()[p]->name()) +
                             " is not connected (every input needs a connector)",
                         where(i));
      }
    }
  }

  add_event_wires(components, default_capacity, wiring);

  for (std::size_t i = 0; i < components.size(); ++i) {
    for (std::span<Port* const> ports : {components[i]->inputs(), components[i]->outputs()}) {
      for (Port* port : ports) {
        if (!PortAccess::is_host(*port)) continue;
        Wire wire;
        wire.source_component = i;
        wire.target_component = i;
        wire.source = port;
        wire.target = port;
        const std::size_t requested = PortAccess::host_capacity(*port);
        wire.capacity = requested == 0 ? default_capacity : requested;
        if (const std::size_t fixed_size = PortAccess::codec(*port).fixed_size;
            fixed_size != 0 &&
            fixed_size <= channel::VariableRing::max_payload_for(wire.capacity)) {
          wire.record_size = fixed_size;
        }
        wire.label = port->direction() == Port::Direction::input
                         ? "host -> " + components[i]->name()
                         : components[i]->name() + " -> host";
        wire.where = where(i);
        wiring.host_wires.push_back(std::move(wire));
      }
    }
  }

  if (const auto cycle = find_unbroken_cycle(components, wiring.wires); !cycle.empty()) {
    std::string path;
    for (const auto& name : cycle)
      path += (path.empty() ? "" : " -> ") + name;
    throw ModelError("cycle without initial values: " + path +
                     " (give one input on the cycle initial_values)");
  }
  mark_request_ways(wiring);
  return wiring;
}

}  // namespace patchbay::detail
