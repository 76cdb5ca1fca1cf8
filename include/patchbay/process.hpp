// The process interface shared by LocalProcess and (later) ParallelProcess.
#pragma once

#include <patchbay/process_spec.hpp>
#include <patchbay/status.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace patchbay {

class Registry;

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

/// A runnable model.
class Process {
 public:
  virtual ~Process() = default;

  /// Runs the model to the end on the calling thread. Returns when every component has
  /// completed, or after stop(). Throws ComponentFailure when a component fails (after every
  /// other component has stopped), ModelError for a model that cannot run.
  /// Call once, from one thread.
  virtual void run() = 0;
  /// Asks the process to stop: components become STOPPED at their next step boundary or wait.
  /// Thread-safe and async-signal-safe; may be called before, during or after run().
  virtual void stop() noexcept = 0;
  /// CREATED, RUNNING, COMPLETED, FAILED or STOPPED. Thread-safe.
  [[nodiscard]] virtual Status status() const = 0;
  /// Per-component counters; readable from any thread during and after run().
  [[nodiscard]] virtual std::vector<ComponentStats> component_stats() const = 0;
  /// Per-channel counters; readable from any thread during and after run().
  [[nodiscard]] virtual std::vector<ChannelStats> channel_stats() const = 0;
  /// Wall time of run() so far (or of the whole run once it returned). Thread-safe.
  [[nodiscard]] virtual std::chrono::nanoseconds elapsed() const = 0;
};

/// Builds the engine the spec asks for (spec.kind), instantiating its components from
/// `registry`. Throws ModelError for an invalid model (before anything runs).
std::unique_ptr<Process> make_process(const ProcessSpec& spec);
std::unique_ptr<Process> make_process(const ProcessSpec& spec, const Registry& registry);

}  // namespace patchbay
