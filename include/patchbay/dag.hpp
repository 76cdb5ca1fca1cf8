// Compiled DAGs: registered functions (PATCHBAY_REMOTE, tasks.hpp) bound into a graph once,
// compiled into a long-lived model with fixed channels, then executed again and again, each
// execution a request through that model (serve.hpp) instead of a set of tasks.
//
//     std::string task1();
//     std::string task2();
//     std::string task3(const std::string& a, const std::string& b);
//     PATCHBAY_REMOTE(task1);  PATCHBAY_REMOTE(task2);  PATCHBAY_REMOTE(task3);
//
//     auto r1 = patchbay::bind(task1);
//     auto r2 = patchbay::bind(task2);
//     auto r3 = patchbay::bind(task3, r1, r2);   // depends on both
//     auto dag = patchbay::compile(r3);          // workers start here (ParallelProcess)
//     std::cout << dag.execute().get() << "\n";  // again and again, from any thread
//
// With an input: `patchbay::DagInput<int> x; auto y = patchbay::bind(twice, x);
// auto dag = patchbay::compile(y, x); dag.execute(21).get();`.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/serialize.hpp>
#include <patchbay/serve.hpp>
#include <patchbay/tasks.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace patchbay {

namespace detail {

/// One node of a DAG as bind() made it: the DAG's input, or a call of a registered function
/// whose arguments are constants (encoded in `arguments`) and other nodes' results (encoded as
/// futures whose slot is the index in `dependencies`). Immutable once made, so a DAG cannot
/// hold a cycle.
struct DagNodeData {
  bool input = false;
  std::uint64_t function = 0;
  std::vector<std::byte> arguments;
  std::vector<std::shared_ptr<const DagNodeData>> dependencies;
};

/// The model compiled from a DAG, started, and a Client for its executions (engine/serve/dag.cpp).
struct CompiledModel {
  std::unique_ptr<Process> process;
  Client<std::vector<std::byte>, std::vector<std::byte>> client;
};

}  // namespace detail

struct DagOptions;

/// A node of a DAG whose result is a T: what bind() returns. Copyable; copies are the same node.
template <class T>
class DagNode {
 public:
  using value_type = T;
  explicit DagNode(std::shared_ptr<const detail::DagNodeData> data) : data_(std::move(data)) {}
  [[nodiscard]] const std::shared_ptr<const detail::DagNodeData>& data() const { return data_; }

 private:
  std::shared_ptr<const detail::DagNodeData> data_;
};

/// The input of a DAG: the value each execute(value) passes to the nodes bound to it.
/// Copyable; copies are the same input.
template <class T>
class DagInput : public DagNode<T> {
 public:
  DagInput() : DagNode<T>(input_node()) {}

 private:
  static std::shared_ptr<const detail::DagNodeData> input_node() {
    detail::DagNodeData node;
    node.input = true;
    return std::make_shared<const detail::DagNodeData>(std::move(node));
  }
};

template <class T>
struct is_dag_node : std::false_type {};
template <class T>
struct is_dag_node<DagNode<T>> : std::true_type {};
template <class T>
struct is_dag_node<DagInput<T>> : std::true_type {};

/// A node that calls `fn` (registered with PATCHBAY_REMOTE) with `args`: values (copied now,
/// passed to every execution), other nodes (their results) or a DagInput (the execution's
/// input). A node passed for a parameter P must give P's type (std::vector<E> for a
/// std::span<const E>, std::string for a std::string_view).
template <class R, class... P, class... A>
DagNode<R> bind(R (*fn)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "bind() takes one argument per parameter");
  static_assert(!std::is_void_v<R>, "a DAG's function must return a value");
  detail::DagNodeData node;
  node.function = detail::cached_remote_id(fn);
  ByteWriter out;
  const auto add = [&]<class Param, class Arg>(Arg&& arg) {
    using D = std::remove_cvref_t<Arg>;
    if constexpr (is_dag_node<D>::value) {
      static_assert(std::is_same_v<typename D::value_type,
                                   typename detail::WireType<std::decay_t<Param>>::type>,
                    "a node passed as an argument must give the parameter's type exactly");
      out.append_value(detail::arg_future);
      out.append_value(detail::FutureRef{static_cast<std::uint32_t>(node.dependencies.size()), 0});
      node.dependencies.push_back(arg.data());
    } else {
      detail::encode_value_arg<std::decay_t<Param>>(out, std::forward<Arg>(arg));
    }
  };
  (add.template operator()<P>(std::forward<A>(args)), ...);
  (void)add;  // no arguments: unused
  node.arguments.assign(out.bytes().begin(), out.bytes().end());
  return DagNode<R>(std::make_shared<const detail::DagNodeData>(std::move(node)));
}

/// How a DAG is compiled.
struct DagOptions {
  /// A ParallelProcess (its workers forked in place: compile before the program starts other
  /// threads, as ParallelProcess says), else a LocalProcess (one thread of its own).
  bool parallel = true;
  /// Workers, topology, wait mode, channel capacity... of the process (ProcessOptions).
  ProcessOptions process;
};

/// One execution's result, to come: a future. Copyable; copies share it. Thread-safe.
template <class T>
class DagResult {
 public:
  DagResult() = default;
  explicit DagResult(Reply<std::vector<std::byte>> reply) : reply_(std::move(reply)) {}
  /// Waits for the result. Throws RequestError (naming the function's node) when a function
  /// threw, ReplyError when the DAG's process ended first.
  T get() const {
    const std::vector<std::byte>& bytes = reply_.get();
    ByteReader in(bytes);
    return Codec<T>::decode(in);
  }
  /// Whether the result (or its error) is here.
  [[nodiscard]] bool ready() const { return reply_.ready(); }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return reply_.wait_for(timeout);
  }

 private:
  Reply<std::vector<std::byte>> reply_;
};

/// A DAG compiled into a running model: one component per node (named after its function:
/// "task3", "task3#2" for a second node of it), an Ingress "input" that each execution enters
/// (feeding the nodes bound to the input, and those with no node among their arguments), an
/// Egress "output". execute() may be called from any number of threads; results come in
/// execution order. Destroying it drains the model (every execution sent is answered) and
/// joins it. Not copyable.
template <class Out, class In = void>
class CompiledDag {
 public:
  explicit CompiledDag(detail::CompiledModel model) : model_(std::move(model)) {}
  CompiledDag(CompiledDag&&) noexcept = default;
  CompiledDag& operator=(CompiledDag&&) noexcept = default;
  ~CompiledDag() {
    try {
      close();
    } catch (...) {  // a failure was the caller's to see through close()
    }
  }

  /// Runs the DAG on `input` (no argument for a DAG without a DagInput).
  template <class... I>
  DagResult<Out> execute(const I&... input) {
    static_assert(sizeof...(I) == (std::is_void_v<In> ? 0 : 1),
                  "execute() takes the DAG's input, or nothing when it has none");
    ByteWriter out;
    if constexpr (!std::is_void_v<In>) (Codec<In>::encode(static_cast<const In&>(input), out), ...);
    std::vector<std::byte> bytes(out.bytes().begin(), out.bytes().end());
    return DagResult<Out>(model_.client.call(bytes));
  }
  /// Drains the model (executions sent are answered) and joins it; throws what its run threw.
  /// Later executions fail with ReplyError.
  void close() {
    if (model_.process == nullptr || closed_) return;
    closed_ = true;
    model_.process->drain();
    model_.process->join();
  }
  /// The process that runs it: its stats, its plan (ParallelProcess::plan()).
  [[nodiscard]] Process& process() { return *model_.process; }

 private:
  detail::CompiledModel model_;
  bool closed_ = false;
};

namespace detail {
/// Builds the model of the DAG that ends in `output` (its input `input`, or null), starts it and
/// opens its Client. Throws Error for a DAG whose nodes use an input that is not `input`.
CompiledModel compile_dag(const std::shared_ptr<const DagNodeData>& output,
                          const std::shared_ptr<const DagNodeData>& input,
                          const DagOptions& options);
}  // namespace detail

/// Compiles the DAG that ends in `output` and has no input.
template <class Out>
CompiledDag<Out> compile(const DagNode<Out>& output, const DagOptions& options = {}) {
  return CompiledDag<Out>(detail::compile_dag(output.data(), nullptr, options));
}

/// Compiles the DAG that ends in `output` and takes `input`.
template <class Out, class In>
CompiledDag<Out, In> compile(const DagNode<Out>& output, const DagInput<In>& input,
                             const DagOptions& options = {}) {
  return CompiledDag<Out, In>(detail::compile_dag(output.data(), input.data(), options));
}

}  // namespace patchbay
