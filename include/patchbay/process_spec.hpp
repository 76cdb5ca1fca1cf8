// A model as data: components, connectors and options, built in code or loaded from YAML.
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>
#include <patchbay/value.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace patchbay {

/// The limits a model must stay within. A model file may come from anyone: each limit keeps
/// one kind of input from costing unbounded time or memory before or while the model runs, and
/// exceeding one is a ModelError (exit code 2 in engine-run) that names it.
namespace limits {

/// Bytes of a model file, checked before it is parsed: yaml-cpp reads about 10 MB a second,
/// and a model of 20,000 components takes 2 MB.
inline constexpr std::size_t max_model_file_bytes = std::size_t{16} << 20;
/// YAML nodes the loader reads, an alias counted each time it is used: ten aliases of ten
/// aliases of ... ("billion laughs") would otherwise expand to billions. yaml-cpp's tree costs
/// about 500 bytes a node, so a document near the limit takes about 0.5 GB while it loads.
inline constexpr std::size_t max_yaml_nodes = 1'000'000;
/// Bytes of scalar text the loader reads, aliases counted each time they are used: no more
/// than a file could hold.
inline constexpr std::size_t max_yaml_text_bytes = max_model_file_bytes;
/// Nesting of YAML mappings and sequences (a model needs about ten).
inline constexpr std::size_t max_yaml_depth = 64;

/// Hardware threads (PUs) of a topology given as an hwloc synthetic description or XML file.
inline constexpr std::size_t max_topology_pus = 4096;
/// Objects (packages, caches, cores, PUs, ...) of a synthetic topology, all levels together.
inline constexpr std::size_t max_topology_objects = 65'536;
/// Bytes of an hwloc XML topology file, checked before hwloc reads it.
inline constexpr std::size_t max_topology_xml_bytes = std::size_t{16} << 20;

/// Workers of a ParallelProcess (each one a process), and the process option `workers`.
inline constexpr std::size_t max_workers = 1024;
/// Workers per usable hardware thread: beyond this a machine only switches between them.
inline constexpr std::size_t max_workers_per_pu = 64;
/// Copies of one component (`replicas`).
inline constexpr std::size_t max_replicas = 256;
/// Bytes of what the components of one ParallelProcess worker export (Component::
/// export_value()), encoded: values, names and 8 bytes a component.
inline constexpr std::size_t max_worker_exports_bytes = std::size_t{64} << 10;

/// Bytes of a component fiber's stack (ProcessOptions::fiber_stack_size): below the minimum
/// a fiber overflows its stack at its first call.
inline constexpr std::size_t min_fiber_stack_size = std::size_t{16} << 10;
inline constexpr std::size_t max_fiber_stack_size = std::size_t{1} << 30;

/// Seconds of one Sleep step (`sleep_seconds`): one year.
inline constexpr double max_sleep_seconds = 365.0 * 24 * 3600;

}  // namespace limits

/// Which engine runs a model.
enum class ProcessKind : std::uint8_t { local, parallel };

/// How a ParallelProcess worker waits for a channel shared with another worker:
/// spin (lowest latency, burns its core), adaptive (spins briefly, then sleeps on a futex),
/// block (sleeps at once).
enum class WaitMode : std::uint8_t { spin, adaptive, block };

/// "spin", "adaptive", "block". Thread-safe (pure).
std::string_view to_string(WaitMode mode);
/// Parses "spin", "adaptive" or "block"; throws ModelError otherwise, located at `where`.
/// Thread-safe (pure).
WaitMode parse_wait_mode(std::string_view text, const SourceLocation& where = {});

/// One component of a model: its registered type, name and arguments.
struct ComponentSpec {
  std::string type;
  std::string name;
  std::map<std::string, Value> args;  ///< constructor arguments
  /// The component's own `parameters`: they replace the process's of the same name for this
  /// component (Plugboard's parameters tutorial).
  std::map<std::string, Value> parameters;
  std::map<std::string, std::vector<Value>> initial_values;
  ResourceOverrides resources;
  std::string worker;  ///< ParallelProcess: components with the same label share a worker
  /// ParallelProcess: replaces ProcessOptions::step_timeout for this component (seconds).
  std::optional<double> step_timeout;
  /// Copies of the component that share its messages (docs/SERVING.md, "Replicas"): NAME#1 to
  /// NAME#N, fed by a least-loaded split (NAME#split) and, when it has outputs, merged back by
  /// NAME#merge, in the order the split took the messages when `ordered`, else as they come.
  std::size_t replicas = 1;
  bool ordered = true;
  SourceLocation where;                                 ///< the component's entry
  std::map<std::string, SourceLocation> arg_locations;  ///< per argument, when known
};

/// How a connector delivers, in Plugboard's terms: `pipeline` from a component's output field
/// to another's input field (every message to the target), `pubsub` from an event's publishers
/// to its subscribers ("EVENT.publishers" -> "EVENT.subscribers"; the wires themselves are built
/// from the events the components declare, event.hpp, so such a connector only names an event
/// that some component must publish or handle).
enum class ConnectorMode : std::uint8_t { pipeline, pubsub };

/// A connector "source.field" -> "target.field".
struct ConnectorSpec {
  ConnectorSpec() = default;
  /// `{"source.field", "target.field"}`, optionally with a capacity in bytes.
  ConnectorSpec(std::string source_field, std::string target_field, std::size_t capacity_bytes = 0)
      : source(std::move(source_field)),
        target(std::move(target_field)),
        capacity(capacity_bytes) {}

  std::string source;
  std::string target;
  /// Channel capacity in bytes (rounded up to a power of two); 0 uses the process default.
  std::size_t capacity = 0;
  /// ParallelProcess: waiting for this connector, overriding the process's mode.
  std::optional<WaitMode> wait;
  ConnectorMode mode = ConnectorMode::pipeline;
  SourceLocation where;
};

/// The machine as declared from outside a model, as Ray's `ray start --num-cpus --num-gpus
/// --memory --resources` declares a node: engine-run's options of those names, or the
/// environment (PATCHBAY_NUM_CPUS, PATCHBAY_NUM_GPUS, PATCHBAY_MEMORY, PATCHBAY_RESOURCES), the
/// options winning. Placement plans for at most `cpus` cores, `gpus` GPUs and `memory` bytes of
/// the machine it finds, and adds `custom` to the capacities of custom resources the model
/// declares (the declared machine's winning for a name both give).
struct MachineResources {
  std::optional<std::size_t> cpus;
  std::optional<std::size_t> gpus;
  std::optional<std::uint64_t> memory;
  std::map<std::string, double> custom;
};

/// Custom resources from a text: `{"NAME": AMOUNT, ...}` (JSON, as Ray's --resources) or
/// `NAME=AMOUNT,...`, amounts as model quantities ("2", "500m", "1Gi"). `what` names the source
/// in errors. Throws ModelError.
std::map<std::string, double> parse_custom_resources(std::string_view text,
                                                     const std::string& what);

/// Options that apply to the whole process.
struct ProcessOptions {
  /// Default channel capacity in bytes (a power of two, at least 64).
  std::size_t channel_capacity = std::size_t{64} * 1024;
  /// Stack size of each component fiber, in bytes (limits::min_fiber_stack_size to
  /// limits::max_fiber_stack_size). Each stack has a guard page below it. A thread keeps up to
  /// 64 stacks (64 MiB) of the fibers that ended on it, with the pages they touched, for its
  /// next run: a model run again maps no stack (docs/ARCHITECTURE.md, "Fiber stacks").
  std::size_t fiber_stack_size = std::size_t{256} * 1024;

  // ParallelProcess only.
  /// Number of workers; 0 = one per usable core (at most limits::max_workers).
  std::size_t workers = 0;
  /// hwloc XML file or synthetic description to plan for; empty = PATCHBAY_TOPOLOGY, else the
  /// real machine. Workers are bound to cores only on the real machine.
  std::string topology;
  WaitMode wait = WaitMode::adaptive;
  /// Capacities of custom resources that components may ask for.
  std::map<std::string, double> custom_resources;
  /// The machine as declared from outside the model (engine-run's --num-cpus, --num-gpus,
  /// --memory, --resources); what it leaves unset comes from the environment.
  MachineResources machine;
  /// Seconds one step may take before the run fails naming the component and its worker; a
  /// worker that shows no progress for as long (stopped by SIGSTOP, say) fails it too. 0: no
  /// limit. At most 1e6.
  double step_timeout = 0;
  /// Per component, by name: a step_timeout that replaces the process's for that component.
  std::map<std::string, double> step_timeouts;
  /// ParallelProcess: times each copy of a replicated component on a request's way is started
  /// again when its worker dies (docs/SERVING.md, "Replicas"); past that, or at 0, a copy's
  /// death fails the run as any worker's does.
  std::size_t replica_restarts = 10;
};

/// A whole model. Plain data: copy it, edit it, hand it to make_process(). Like every spec type
/// here it is a value type: distinct objects may be used from different threads, and one
/// object may be read from several threads while none modifies it.
struct ProcessSpec {
  std::string name = "process";
  ProcessKind kind = ProcessKind::local;
  std::vector<ComponentSpec> components;
  std::vector<ConnectorSpec> connectors;
  /// Shared with every component, under the component's own of the same name.
  std::map<std::string, Value> parameters;
  ProcessOptions options;
  /// Process arguments the local engine does not use (kept for the parallel engine).
  std::map<std::string, Value> extra_args;
  std::vector<std::string> plugins;  ///< shared libraries to load, resolved paths
  SourceLocation where;              ///< the model file, when loaded from one
  /// The folder that relative paths in the components' arguments are taken against
  /// (ComponentArgs::get_path(): FileReader's and FileWriter's `path`, ...): load_model() sets
  /// the model file's folder, as its path names it ("examples/csv" for
  /// "examples/csv/model.yaml"); empty (a model built in code, or parse_model()): the working
  /// directory.
  std::string base_dir;

  /// Finds a component by name, or nullptr; valid until `components` changes.
  [[nodiscard]] ComponentSpec* find(const std::string& component_name);
};

}  // namespace patchbay
