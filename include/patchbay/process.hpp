// The process interface shared by LocalProcess and ParallelProcess, and the functions that
// build and check one from a ProcessSpec.
#pragma once

#include <patchbay/port.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/serve.hpp>
#include <patchbay/status.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay {

class Registry;

namespace detail {
class BackgroundRun;
}

/// Counters of one component, as a snapshot. Readable during the run: a component publishes
/// its counts every 64 steps and whenever it waits, so a snapshot taken meanwhile may lag by
/// up to 64 steps; once the component has finished they are exact.
struct ComponentStats {
  std::string name;
  std::string type;
  Status status = Status::created;
  std::uint64_t steps = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t messages_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  /// On a request's way (downstream of an Ingress): steps that threw, each failing its request
  /// with an error reply while the model goes on (docs/SERVING.md, "Errors"). Not in `steps`.
  std::uint64_t failed_steps = 0;
  /// A copy of a replicated component in a ParallelProcess: times it was started again after
  /// its worker died (docs/SERVING.md, "Replicas"). Its other counts are its latest start's.
  std::uint64_t restarts = 0;
  /// Time its fiber ran after init(): its steps and the channel reads and writes between them.
  /// Only the first eight waits and then one in eight (at random) are timed:
  /// time_in_step + time_waiting is the elapsed time since the first step, exact, split in the
  /// proportion the timed waits showed. Published with the counts.
  std::chrono::nanoseconds time_in_step{0};
  /// Time it waited for a channel (an empty input or a full output).
  std::chrono::nanoseconds time_waiting{0};
};

/// Counters of one channel (connector), as a snapshot; messages and bytes are published with
/// the writing component's counts, times_empty with the reading component's (see
/// ComponentStats).
struct ChannelStats {
  std::string source;
  std::string target;
  std::size_t capacity = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t times_full = 0;   ///< writer found it full and waited
  std::uint64_t times_empty = 0;  ///< reader found it empty and waited
};

/// A runnable model: the interface of LocalProcess and ParallelProcess. Built by their
/// constructors or by make_process(); run once, on the calling thread (run()) or on a thread
/// of its own (start(), then join()); stopped from anywhere.
///
///     auto process = patchbay::make_process(patchbay::load_model("model.yaml"));
///     process->run();  // on this thread; stop() from another, or from a signal handler
///     std::cout << process->elapsed().count() << " ns\n";
///
///     process->start();  // or in the background: this thread goes on
///     ...
///     process->drain();  // sources end, the rest finishes what is in flight
///     process->join();   // throws what run() would have thrown
///
/// Destroying a started process stops it and waits for its run (a failure it ended with is
/// dropped: join() to see it). Destroying a Process while run() runs on another thread is
/// undefined: stop() it and let run() return first.
class Process {
 public:
  Process();
  /// A class deriving from Process calls end_background() first in its destructor.
  virtual ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  /// Starts run() on a thread of its own and returns once the run has begun (status() is no
  /// longer CREATED) or has already ended. The caller goes on while the model runs: it may
  /// stop() it, read its stats, and join() it. Throws Error when the process was run or
  /// started before (a process runs once). Call from one thread.
  void start();
  /// Waits for the end of the run start() began (every component completed, failed or
  /// stopped), then throws what run() would have thrown (ComponentFailure, Error). The first
  /// join() that sees the end throws; later ones return at once. Thread-safe. Throws Error
  /// when the process was not started.
  void join();

  /// Runs the model to the end on the calling thread. Returns when every component has
  /// completed, or after stop(). Throws ComponentFailure when a component fails (after every
  /// other component has stopped), ModelError for a model that cannot run.
  /// Call once, from one thread.
  virtual void run() = 0;
  /// Asks the process to stop: components become STOPPED at their next step boundary or wait.
  /// Thread-safe and async-signal-safe; may be called before, during or after run().
  virtual void stop() noexcept = 0;
  /// Asks the process to end gracefully: each source (a component without inputs) ends
  /// COMPLETED at its next step boundary, as if it had closed, and every other component
  /// completes once it has consumed what is in flight and its inputs have closed; nothing sent
  /// is dropped. A source that never returns from a step, or a cycle that no source feeds,
  /// keeps the run going: stop() ends it. Thread-safe and async-signal-safe; may be called
  /// before, during or after run().
  virtual void drain() noexcept = 0;
  /// CREATED, RUNNING, COMPLETED, FAILED or STOPPED. Thread-safe.
  [[nodiscard]] virtual Status status() const = 0;
  /// Per-component counters; readable from any thread during and after run().
  [[nodiscard]] virtual std::vector<ComponentStats> component_stats() const = 0;
  /// Per-channel counters; readable from any thread during and after run().
  [[nodiscard]] virtual std::vector<ChannelStats> channel_stats() const = 0;
  /// Wall time of run() so far (or of the whole run once it returned). Thread-safe.
  [[nodiscard]] virtual std::chrono::nanoseconds elapsed() const = 0;
  /// What the components exported (Component::export_value()), by component name, as each
  /// left them when it finished; a component that exported nothing is absent. Call it once
  /// run() (or join()) has returned, after a failure or a stop too: not during the run. Throws
  /// Error when what one ParallelProcess worker's components exported exceeds
  /// limits::max_worker_exports_bytes, or its record in shared memory is corrupted.
  [[nodiscard]] virtual std::map<std::string, Value::Map> exports() const = 0;

  /// The model this process runs, as a ProcessSpec: the spec it was built from, as given
  /// (make_process() and the engines' spec constructors); for components built in code, one
  /// written from them: each component's type_name(), name, arguments(), initial values,
  /// resource overrides and worker label, the connectors and the options. Thread-safe.
  [[nodiscard]] ProcessSpec spec() const;
  /// dump_model(spec()): the model as YAML in Plugboard's schema, which load_model() and
  /// parse_model() read back (Plugboard's `process.dump()`). A model built in code runs from it
  /// where its component types are registered under their type_name(). Thread-safe.
  [[nodiscard]] std::string to_yaml() const;
  /// Writes to_yaml() to `path`. Throws patchbay::Error naming the path when it cannot.
  void dump(const std::string& path) const;

  /// A host thread's way into the Ingress component called `ingress` (library.hpp), whose
  /// type is T (or any type that takes a Value, with T = Value). Take it before or during the run;
  /// pushes wait for start() or run() once its ring is full. Throws Error when there is no such
  /// Ingress, it carries another type, or a Client owns it. Thread-safe.
  template <class T>
  Sender<T> sender(std::string_view ingress) {
    return Sender<T>(
        detail::open_host_port(host_port(ingress), ingress, port_type<T>(), true, false));
  }
  /// A host thread's way out of the Egress component called `egress`, whose type is T. As
  /// sender().
  template <class T>
  Receiver<T> receiver(std::string_view egress) {
    return Receiver<T>(
        detail::open_host_port(host_port(egress), egress, port_type<T>(), false, false));
  }
  /// Requests into Ingress `ingress` (of type Req) and their replies from Egress `egress` (of
  /// type Rep), matched in order; either may be Value, converted as for sender() and
  /// receiver(). Throws Error when either is missing, of another type, or
  /// already used by another handle, and when the wiring does not give exactly one message at
  /// `egress` per message from `ingress` (a fan-in on the way, another source feeding it,
  /// inputs at different rates, or a component that steps before any request because every
  /// input has initial values). Thread-safe.
  template <class Req, class Rep>
  Client<Req, Rep> client(std::string_view ingress, std::string_view egress) {
    auto in = detail::open_host_port(host_port(ingress), ingress, port_type<Req>(), true, true);
    auto out = detail::open_host_port(host_port(egress), egress, port_type<Rep>(), false, true);
    return Client<Req, Rep>(std::move(in), std::move(out));
  }
  /// The host's end of the Ingress or Egress component called `component`, or null; what
  /// sender(), receiver() and client() are built on.
  [[nodiscard]] virtual std::shared_ptr<detail::HostPort> host_port(
      std::string_view component) const = 0;

 protected:
  /// Stops a run start() began and waits for its thread; nothing when there is none. A
  /// derived class's destructor calls it first, while what its run() uses is still alive.
  void end_background() noexcept;
  /// What spec() returns, with `kind` the engine that runs it: the derived class's
  /// constructor sets it.
  void set_spec(ProcessSpec spec, ProcessKind kind);
  /// A spec written from components built in code (see spec()).
  static ProcessSpec describe(const std::vector<std::unique_ptr<Component>>& components,
                              const std::vector<ConnectorSpec>& connectors,
                              const ProcessOptions& options);

 private:
  std::unique_ptr<detail::BackgroundRun> background_;
  std::shared_ptr<const ProcessSpec> spec_;
};

/// Builds the engine the spec asks for (spec.kind), instantiating its components from
/// `registry` (the first form: Registry::global()). Throws ModelError for an invalid model
/// (before anything runs). A parallel model starts its workers here: see ParallelProcess for
/// the forking rule. Thread-safe for a local model when the components' constructors are.
std::unique_ptr<Process> make_process(const ProcessSpec& spec);
std::unique_ptr<Process> make_process(const ProcessSpec& spec, const Registry& registry);

/// How validate() treats a component type that the registry does not know.
struct ValidationOptions {
  /// false: an unknown type is a ModelError, as in make_process(). true: the component is
  /// checked for what the model alone says (its name, the connectors to and from it, its
  /// initial values, resources and worker label), each field it is connected through taken
  /// as a Value (any type), and it is listed in ValidationReport::unknown; its arguments are
  /// not checked. For checking a model without loading the plugins that have its types.
  bool allow_unknown_types = false;
};

/// A component validate() could check only partly: its type is not registered.
struct UnknownComponent {
  std::string name;
  std::string type;
};

/// What validate() found in a valid model.
struct ValidationReport {
  std::size_t components = 0;
  std::size_t connectors = 0;
  /// Components of unknown types (only with ValidationOptions::allow_unknown_types).
  std::vector<UnknownComponent> unknown;
  /// For a parallel model (spec.kind): the workers its placement plan starts, and the plan as
  /// plan_placement_text() prints it. 0 and "" for a local model.
  std::size_t workers = 0;
  std::string plan;
};

/// Checks that `spec` would run, without running anything: instantiates its components from
/// `registry` (constructors only: no init()), checks their arguments, the wiring (field names,
/// directions, types, duplicates, unconnected inputs, initial values, capacities, cycles
/// without initial values) and, for a parallel model, plans its placement. Unlike
/// make_process(), it allocates no channel and no shared memory and starts no process, so a
/// model of any size or capacity costs only its description. Loads no plugin: load them first
/// (load_plugins()), or set ValidationOptions::allow_unknown_types. Throws ModelError for an
/// invalid model, as make_process() would. Thread-safe when the components' constructors are.
///
///     const auto report = patchbay::validate(patchbay::load_model("model.yaml"));
///     std::cout << report.components << " components\n";
ValidationReport validate(const ProcessSpec& spec, ValidationOptions options = {});
ValidationReport validate(const ProcessSpec& spec, const Registry& registry,
                          ValidationOptions options = {});

}  // namespace patchbay
