#include <patchbay/model.hpp>

#include <map>
#include <set>

namespace patchbay {

namespace {

std::string node(const ComponentSpec& c) {
  const auto dot = c.type.rfind('.');
  const std::string type = dot == std::string::npos ? c.type : c.type.substr(dot + 1);
  return c.name + "@{ shape: rounded, label: " + type + "<br>**" + c.name + "** }";
}

std::string component_of(const std::string& field) {
  const auto dot = field.rfind('.');
  return dot == std::string::npos ? field : field.substr(0, dot);
}

}  // namespace

std::string mermaid_diagram(const ProcessSpec& spec) {
  std::map<std::string, const ComponentSpec*> by_name;
  for (const auto& c : spec.components)
    by_name[c.name] = &c;
  auto label = [&](const std::string& name) {
    auto it = by_name.find(name);
    return it != by_name.end() ? node(*it->second) : name;
  };
  std::string out = "flowchart LR\n";
  std::set<std::pair<std::string, std::string>> edges;
  std::set<std::string> connected;
  for (const auto& connector : spec.connectors) {
    const std::string source = component_of(connector.source);
    const std::string target = component_of(connector.target);
    connected.insert(source);
    connected.insert(target);
    // One arrow per pair of components, as in Plugboard's diagrams.
    if (!edges.emplace(source, target).second) continue;
    out += "    " + label(source) + " --> " + label(target) + "\n";
  }
  for (const auto& c : spec.components) {
    if (connected.count(c.name) == 0) out += "    " + node(c) + "\n";
  }
  return out;
}

}  // namespace patchbay
