// Compiled DAGs (include/patchbay/dag.hpp): a DAG of registered functions turned into a model
// of Ingress -> one component per node -> Egress, started and kept; each execution is a request.
#include <patchbay/dag.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/parallel_process.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/text.hpp"
#include "serve/dag_call.hpp"
#include "tasks/task_core.hpp"

namespace patchbay::detail {

namespace {
using Bytes = std::vector<std::byte>;
}  // namespace

CompiledModel compile_dag(const std::shared_ptr<const DagNodeData>& output,
                          const std::shared_ptr<const DagNodeData>& input,
                          const DagOptions& options) {
  if (output == nullptr || output->input) {
    throw Error("compile(): the DAG's output must be a node that bind() made, not its input");
  }
  // The nodes the output depends on, each after its dependencies.
  std::vector<const DagNodeData*> order;
  std::map<const DagNodeData*, std::string> names;
  std::map<std::string, int> uses;
  const auto visit = [&](const auto& self, const DagNodeData* node) -> void {
    if (names.contains(node)) return;
    if (node->input) {
      if (node != input.get()) {
        throw Error(
            "compile(): a node of the DAG takes a DagInput that was not given to compile()");
      }
      names[node] = "input";
      return;
    }
    names[node] = "";  // on the way: the graph is acyclic by construction
    for (const auto& dependency : node->dependencies)
      self(self, dependency.get());
    const RemoteFunction* function = find_remote(node->function);
    if (function == nullptr || function->invoker == nullptr) {
      throw Error("compile(): a node's function is not registered (PATCHBAY_REMOTE)");
    }
    const int n = ++uses[function->name];
    names[node] = n == 1 ? function->name : function->name + "#" + std::to_string(n);
    order.push_back(node);
  };
  visit(visit, output.get());

  // A spec of registered types, so that a running ForkServer can fork the workers.
  ProcessSpec spec;
  spec.name = "dag";
  spec.kind = options.parallel ? ProcessKind::parallel : ProcessKind::local;
  spec.options = options.process;
  const auto add = [&](std::string type, std::string name, std::map<std::string, Value> args) {
    ComponentSpec c;
    c.type = std::move(type);
    c.name = std::move(name);
    c.args = std::move(args);
    spec.components.push_back(std::move(c));
  };
  const auto connect = [&](std::string source, std::string target) {
    spec.connectors.emplace_back(std::move(source), std::move(target));
  };
  add("Ingress", "input", {{"type", "bytes"}});
  for (const DagNodeData* node : order) {
    const std::string& name = names[node];
    add(std::string(dag_call_type), name,
        {{"function", find_remote(node->function)->name},
         {"arguments", to_hex(node->arguments)},
         {"dependencies", static_cast<std::int64_t>(node->dependencies.size())}});
    for (std::size_t i = 0; i < node->dependencies.size(); ++i) {
      const DagNodeData* from = node->dependencies[i].get();
      connect(from->input ? "input.out" : names[from] + ".result", name + ".a" + std::to_string(i));
    }
    if (node->dependencies.empty()) connect("input.out", name + ".input");
  }
  add("Egress", "output", {{"type", "bytes"}});
  connect(names[output.get()] + ".result", "output.in");

  CompiledModel model;
  if (options.parallel) {
    model.process = std::make_unique<ParallelProcess>(spec);
  } else {
    model.process = std::make_unique<LocalProcess>(spec);
  }
  model.client = model.process->client<Bytes, Bytes>("input", "output");
  model.process->start();
  return model;
}

}  // namespace patchbay::detail
