// Compiled DAGs (include/patchbay/dag.hpp): a DAG of registered functions turned into a model
// of Ingress -> one component per node -> Egress, started and kept; each execution is a request.
#include <patchbay/dag.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/parallel_process.hpp>

#include <deque>
#include <map>
#include <span>

#include "core/component_access.hpp"
#include "core/text.hpp"
#include "serve/dag_call.hpp"
#include "tasks/task_core.hpp"

namespace patchbay::detail {

namespace {

using Bytes = std::vector<std::byte>;

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(std::span<const std::byte> bytes) {
  std::string text;
  text.reserve(2 * bytes.size());
  for (const std::byte b : bytes) {
    text.push_back(hex_digits[std::to_integer<unsigned>(b) >> 4]);
    text.push_back(hex_digits[std::to_integer<unsigned>(b) & 15]);
  }
  return text;
}

Bytes from_hex(const ComponentArgs& args, std::string_view key) {
  const std::string text = args.get_or<std::string>(key, "");
  const auto digit = [&](char c) -> unsigned {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    throw args.error(key, "must be hexadecimal bytes");
  };
  if (text.size() % 2 != 0) throw args.error(key, "must be hexadecimal bytes");
  Bytes bytes(text.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::byte>(digit(text[2 * i]) << 4 | digit(text[2 * i + 1]));
  return bytes;
}

const RemoteFunction& function_named(const ComponentArgs& args) {
  const std::string name = args.get<std::string>("function");
  for (const RemoteFunction& f : remote_functions()) {
    if (f.name == name && f.invoker != nullptr) return f;
  }
  throw args.error("function", "no function registered (PATCHBAY_REMOTE) as " + quote(name));
}

/// One node: calls its function on each step, with the constant arguments bind() encoded and
/// the results of the nodes it depends on, which arrive on inputs "a0", "a1", ... (a node with
/// none waits on "input" instead, so that each execution calls it once). Output "result".
/// Arguments: `function` (its registered name), `arguments` (bind()'s encoding, in hex),
/// `dependencies` (how many).
class DagCall final : public Component {
 public:
  explicit DagCall(const ComponentArgs& args)
      : Component(args), function_(function_named(args)), arguments_(from_hex(args, "arguments")) {
    ComponentAccess::set_type_name(*this, function_.name);
    const auto count = args.get_or<std::int64_t>("dependencies", 0);
    if (count < 0 || count > 1024) throw args.error("dependencies", "must be 0 to 1024");
    for (std::int64_t i = 0; i < count; ++i)
      dependencies_.emplace_back(this, "a" + std::to_string(i));
    if (dependencies_.empty()) trigger_.emplace(this, "input");
  }

  void step() override {
    ByteReader arguments(arguments_);
    output_.clear();
    function_.invoker(arguments, resolver_, output_);
    result.value().assign(output_.bytes().begin(), output_.bytes().end());
  }

  Output<Bytes> result{this, "result"};

 private:
  // A dependency's "future" is the value on its input for this step.
  class Resolver final : public ArgResolver {
   public:
    explicit Resolver(DagCall& call) : call_(call) {}
    std::span<const std::byte> resolve(FutureRef ref) override {
      return call_.dependencies_.at(ref.slot).value();
    }

   private:
    DagCall& call_;
  };

  const RemoteFunction& function_;
  Bytes arguments_;
  std::deque<Input<Bytes>> dependencies_;
  std::optional<Input<Bytes>> trigger_;
  ByteWriter output_;
  Resolver resolver_{*this};
};

}  // namespace

ComponentFactory dag_call_factory() {
  return [](const ComponentArgs& args) -> std::unique_ptr<Component> {
    return std::make_unique<DagCall>(args);
  };
}

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
