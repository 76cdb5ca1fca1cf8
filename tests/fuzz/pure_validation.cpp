#include "pure_validation.hpp"

#include <patchbay/library.hpp>
#include <patchbay/model.hpp>
#include <patchbay/registry.hpp>

#include <memory>
#include <string>
#include <vector>

#include "placement/machine.hpp"
#include "run/instantiate.hpp"
#include "run/wiring.hpp"

namespace patchbay::fuzz {

namespace {

// FileReader and FileWriter without the file: the same arguments, checks and ports.
template <bool reads>
class FileStandIn final : public Component {
 public:
  explicit FileStandIn(const ComponentArgs& args) : Component(args) {
    const auto path = args.get<std::string>("path");
    const auto fields = args.get<std::vector<std::string>>("field_names");
    if (fields.empty()) throw args.error("field_names", "must name at least one column");
    if (!reads && path.empty()) throw args.error("path", "must not be empty");
    for (const auto& field : fields) {
      if constexpr (reads) {
        add_output<Value>(field);
      } else {
        add_input<Value>(field);
      }
    }
  }
  void step() override {}
};

template <class T>
ComponentFactory factory() {
  return [](const ComponentArgs& args) -> std::unique_ptr<Component> {
    return std::make_unique<T>(args);
  };
}

const Registry& pure_registry() {
  static const auto registry = [] {
    auto r = std::make_unique<Registry>();
    r->add("Iterator", factory<library::Iterator>());
    r->add("Sleep", factory<library::Sleep>());
    r->add("Timestamper", factory<library::Timestamper>());
    r->add("FileReader", factory<FileStandIn<true>>());
    r->add("FileWriter", factory<FileStandIn<false>>());
    return r;
  }();
  return *registry;
}

// Two packages, two NUMA nodes, eight cores of two PUs: room for dedicated and shared workers.
const detail::Machine& synthetic_machine() {
  static const detail::Machine machine = detail::load_machine("pack:2 numa:1 core:4 pu:2");
  return machine;
}

}  // namespace

std::optional<detail::Plan> validate_purely(const ProcessSpec& spec) {
  (void)mermaid_diagram(spec);
  const detail::Instantiated built = detail::instantiate(spec, pure_registry());
  std::vector<Component*> raw;
  for (const auto& c : built.components)
    raw.push_back(c.get());
  const detail::Wiring wiring =
      detail::build_wiring(raw, built.connectors, built.options, built.locations);
  if (spec.kind != ProcessKind::parallel) return std::nullopt;

  detail::PlacementInput input;
  for (const Component* c : raw)
    input.components.push_back({c->name(), c->type_name(), c->resources(), c->worker_label()});
  for (const detail::Wire& w : wiring.wires)
    input.edges.emplace_back(w.source_component, w.target_component);
  if (spec.options.workers != 0) input.workers = spec.options.workers;
  input.custom_capacities = spec.options.custom_resources;
  detail::Plan plan = detail::plan_placement(synthetic_machine(), input);
  (void)plan.to_string(input.components);
  return plan;
}

}  // namespace patchbay::fuzz
