// Building a model in code, running it on any engine under test, and reading what it did.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/error.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/status.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/components.hpp"
#include "support/process_factory.hpp"

namespace patchbay::test {

/// A model under construction: add() keeps a reference to each component before it moves into
/// the process, for the inspection helpers below; build() hands the components to an engine of
/// the kind named (patchbay_test::process_kinds()), or build_local() to a LocalProcess; after
/// either the model is empty.
struct Model {
  std::vector<std::unique_ptr<Component>> parts;
  std::vector<ConnectorSpec> connectors;
  ProcessOptions options;

  template <class T, class... Args>
  T& add(Args&&... args) {
    auto part = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *part;
    parts.push_back(std::move(part));
    return ref;
  }
  void connect(std::string source, std::string target, std::size_t capacity = 0) {
    ConnectorSpec c;
    c.source = std::move(source);
    c.target = std::move(target);
    c.capacity = capacity;
    connectors.push_back(std::move(c));
  }
  std::unique_ptr<Process> build(const std::string& kind) {
    return patchbay_test::make_test_process(kind, std::move(parts), std::move(connectors), options);
  }
  /// A LocalProcess, for the tests that look at its components (LocalProcess::component()).
  std::unique_ptr<LocalProcess> build_local() {
    return std::make_unique<LocalProcess>(std::move(parts), std::move(connectors), options);
  }
};

/// Runs `process` on this thread. If run() has not returned after `limit`, another thread stops
/// the process, so that a hang fails the test instead of wedging the whole test run.
void run_guarded(Process& process,
                 std::chrono::milliseconds limit = std::chrono::milliseconds(5000));

// The counters and statuses come from the Process interface, which every engine provides. What
// the test components recorded is read from their shared memory, through references kept before
// they moved into the process (they live as long as the process).

/// The component_stats() entry of component `name`; fails the test when there is none.
ComponentStats stats_of(const Process& process, const std::string& name);
/// The final status of component `name`, as text.
std::string status_of(const Process& process, const std::string& name);
/// The channel_stats() entry of the connector `source -> target`; fails the test when none.
ChannelStats channel_of(const Process& process, const std::string& source,
                        const std::string& target);
/// Checks that every component has a final status: none is left CREATED, INIT, RUNNING or
/// WAITING.
void check_all_final(const Process& process);

/// What a component's exception said, from the ComponentFailure that run() threw. A
/// ParallelProcess also says which worker ran the component: message() ends in
/// " (in worker NAME (pid N, cpuset LIST))". That part is checked here and removed, so that the
/// tests compare the same text on every engine.
std::string thrown_message(const std::string& kind, const ComponentFailure& e);

/// Runs `process` on this thread and stops it from another after `delay`.
void run_and_stop(Process& process, std::chrono::milliseconds delay);

/// The message (what()) of the ComponentFailure that run() throws; fails the test when run()
/// completes.
std::string run_failure(Process& process);

/// join() of a started process, as text: what it threw ("ComponentFailure: ..." for a
/// component's failure), or "" when the run completed or stopped. Assert on the result, not
/// around the call.
std::string join_error(Process& process);

/// first, first+1, ..., `count` values.
std::vector<std::int64_t> range(std::int64_t first, std::int64_t count);

template <class T>
std::vector<T> received(const Collector<T>& sink) {
  return sink.values.template read<T>();
}
inline std::uint64_t received_count(const Collector<std::int64_t>& sink) {
  return static_cast<std::uint64_t>(sink.received.load());
}
inline std::vector<std::pair<std::int64_t, std::int64_t>> pairs_seen(const Adder& adder) {
  return adder.pairs.read<std::pair<std::int64_t, std::int64_t>>();
}
inline std::vector<std::int64_t> seen_by(const LoopCounter& counter) {
  return counter.seen.read<std::int64_t>();
}
inline std::vector<std::int64_t> step_times(const Paced& component) {
  return component.step_times.read<std::int64_t>();
}
inline bool init_called(const Paced& component) {
  return component.inits.load() != 0;
}
inline bool saw_stop(const LongStep& component) {
  return component.saw_stop.load() != 0;
}
inline Status torn_down_with(const BadTeardown& component) {
  return component.torn_down_with.last_or(Status::created);
}

}  // namespace patchbay::test
