#include <patchbay/model.hpp>
#include <patchbay/registry.hpp>

#include <cctype>
#include <map>
#include <set>
#include <string_view>

#include "run/instantiate.hpp"

namespace patchbay {

namespace {

// Names and types come from the model file, and any name the engine accepts must draw: one
// with a character that Mermaid reads as syntax (a space, a brace, a quote, a line break), a
// run of dashes that reads as an arrow ("a--b"), or a word Mermaid reserves ("end", "class",
// "style", in any letter case) would break the chart or change it. Plain names print as
// Plugboard prints them (the name is the node id, the label unquoted); any other gets a
// generated node id and a quoted label, with '"' written as #quot; and the other characters
// that are syntax as Mermaid's numeric entity codes (#35; for '#').

bool reserved(std::string_view text) {
  static constexpr std::string_view words[] = {
      "end",    "graph",     "flowchart", "subgraph", "style",    "classdef", "class",
      "click",  "linkstyle", "direction", "call",     "href",     "default",  "interpolate",
      "stroke", "fill",      "color",     "callback", "accTitle", "accDescr", "tb",
      "td",     "bt",        "rl",        "lr"};
  std::string lower(text);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string_view word : words) {
    std::string folded(word);
    for (char& c : folded)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == folded) return true;
  }
  return false;
}

// A letter or '_' first, then letters, digits and '_', with single dashes between them.
bool plain(std::string_view text) {
  if (text.empty() || reserved(text)) return false;
  const auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!((text.front() >= 'a' && text.front() <= 'z') ||
        (text.front() >= 'A' && text.front() <= 'Z') || text.front() == '_')) {
    return false;
  }
  if (!word(text.back())) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (word(text[i])) continue;
    if (text[i] != '-' || !word(text[i + 1])) return false;  // a dash between word characters
  }
  return true;
}

std::string escaped_label_text(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool ok = byte >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ' ';
    if (ok) {
      out += c;
    } else if (c == '"') {
      out += "#quot;";
    } else {
      // Appended piecewise: GCC 12 at -O3 warns (-Wrestrict) on "#" + std::string&&.
      out += '#';
      out += std::to_string(byte);
      out += ';';
    }
  }
  return out;
}

/// Node ids, one per name met, unique: the name itself when plain.
class NodeIds {
 public:
  explicit NodeIds(const ProcessSpec& spec) {
    for (const auto& c : spec.components) {
      if (plain(c.name)) taken_.insert(c.name);
    }
  }
  const std::string& operator()(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    std::string id = name;
    if (!plain(name)) {
      do {
        id = "node" + std::to_string(next_++);
      } while (taken_.count(id) != 0);
      taken_.insert(id);
    }
    return ids_.emplace(name, std::move(id)).first->second;
  }

 private:
  std::set<std::string> taken_;
  std::map<std::string, std::string> ids_;
  std::size_t next_ = 0;
};

std::string node(NodeIds& ids, const ComponentSpec& c) {
  const auto dot = c.type.rfind('.');
  const std::string type = dot == std::string::npos ? c.type : c.type.substr(dot + 1);
  const std::string& id = ids(c.name);
  if (plain(c.name) && plain(type)) {
    return id + "@{ shape: rounded, label: " + type + "<br>**" + c.name + "** }";
  }
  return id + "@{ shape: rounded, label: \"" + escaped_label_text(type) + "<br>**" +
         escaped_label_text(c.name) + "**\" }";
}

std::string component_of(const std::string& field) {
  const auto dot = field.rfind('.');
  return dot == std::string::npos ? field : field.substr(0, dot);
}

/// Per event type: who publishes it and who handles it.
struct EventEnds {
  std::set<std::string> publishers;
  std::set<std::string> subscribers;
};
using Events = std::map<std::string, EventEnds>;

// The events that pubsub connectors name ("EVENT.publishers" -> "EVENT.subscribers").
void add_connector_events(const ProcessSpec& spec, Events& events) {
  for (const auto& connector : spec.connectors) {
    if (connector.mode == ConnectorMode::pubsub)
      (void)events[connector.source.substr(0, connector.source.rfind('.'))];
  }
}

std::string diagram(const ProcessSpec& spec, const Events& events) {
  std::map<std::string, const ComponentSpec*> by_name;
  for (const auto& c : spec.components)
    by_name[c.name] = &c;
  NodeIds ids(spec);
  auto label = [&](const std::string& name) {
    auto it = by_name.find(name);
    if (it != by_name.end()) return node(ids, *it->second);
    // A connector to a component the model lacks: drawn, as a bare node.
    return plain(name) ? name : ids(name) + "[\"" + escaped_label_text(name) + "\"]";
  };
  std::string out = "flowchart LR\n";
  std::set<std::pair<std::string, std::string>> edges;
  std::set<std::string> connected;
  for (const auto& connector : spec.connectors) {
    if (connector.mode == ConnectorMode::pubsub) continue;  // drawn with the events below
    const std::string source = component_of(connector.source);
    const std::string target = component_of(connector.target);
    connected.insert(source);
    connected.insert(target);
    // One arrow per pair of components, as in Plugboard's diagrams.
    if (!edges.emplace(source, target).second) continue;
    out += "    " + label(source) + " --> " + label(target) + "\n";
  }
  // Events as Plugboard draws them: a hexagon per type, dotted arrows from its publishers and
  // to its subscribers.
  for (const auto& [name, ends] : events) {
    // A key no component name can take, so that the id is generated when the name is taken.
    const std::string& id = ids(std::string("\x01event ") + name);
    const std::string hexagon = id + "{{\"" + escaped_label_text(name) + "\"}}";
    if (ends.publishers.empty() && ends.subscribers.empty()) out += "    " + hexagon + "\n";
    for (const auto& publisher : ends.publishers) {
      connected.insert(publisher);
      out += "    " + label(publisher) + " -.-> " + hexagon + "\n";
    }
    for (const auto& subscriber : ends.subscribers) {
      connected.insert(subscriber);
      out += "    " + hexagon + " -.-> " + label(subscriber) + "\n";
    }
  }
  for (const auto& c : spec.components) {
    if (connected.count(c.name) == 0) out += "    " + node(ids, c) + "\n";
  }
  return out;
}

}  // namespace

std::string mermaid_diagram(const ProcessSpec& spec) {
  Events events;
  add_connector_events(spec, events);
  return diagram(spec, events);
}

std::string mermaid_diagram(const ProcessSpec& spec, const Registry& registry) {
  Events events;
  add_connector_events(spec, events);
  try {
    // Constructors only, unknown types as stand-ins: the events each component declares.
    const detail::Instantiated model =
        detail::instantiate(spec, registry, detail::UnknownTypes::stand_in);
    for (const auto& component : model.components) {
      for (const Port* port : component->outputs()) {
        if (port->is_event()) events[port->name()].publishers.insert(component->name());
      }
      for (const Port* port : component->inputs()) {
        if (port->is_event()) events[port->name()].subscribers.insert(component->name());
      }
    }
  } catch (const std::exception&) {
    // A model that does not build is drawn as written; validation says what is wrong.
  }
  return diagram(spec, events);
}

}  // namespace patchbay
