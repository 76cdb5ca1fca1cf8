// The node of a compiled DAG (include/patchbay/dag.hpp) as a component: a call of a registered
// function, in the global registry as patchbay.DagCall so that a ForkServer's workers build it.
#include "serve/dag_call.hpp"

#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>
#include <patchbay/port.hpp>
#include <patchbay/serialize.hpp>
#include <patchbay/tasks.hpp>

#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/component_access.hpp"
#include "core/text.hpp"
#include "tasks/task_core.hpp"

namespace patchbay::detail {

namespace {

using Bytes = std::vector<std::byte>;

constexpr char hex_digits[] = "0123456789abcdef";

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

std::string to_hex(std::span<const std::byte> bytes) {
  std::string text;
  text.reserve(2 * bytes.size());
  for (const std::byte b : bytes) {
    text.push_back(hex_digits[std::to_integer<unsigned>(b) >> 4]);
    text.push_back(hex_digits[std::to_integer<unsigned>(b) & 15]);
  }
  return text;
}

ComponentFactory dag_call_factory() {
  return [](const ComponentArgs& args) -> std::unique_ptr<Component> {
    return std::make_unique<DagCall>(args);
  };
}

}  // namespace patchbay::detail
