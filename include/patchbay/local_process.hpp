// LocalProcess: every component a fiber on the calling thread.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>

#include <memory>
#include <vector>

namespace patchbay {

class Registry;

namespace detail {
class LocalRuntime;
}

/// Runs a model in-process: each component is a Boost.Fiber fiber on the thread that calls
/// run(); channels are bounded rings on the heap; a full or empty channel parks the fiber
/// (no system call). Deterministic for a given model.
///
///     std::vector<std::unique_ptr<patchbay::Component>> parts;
///     parts.push_back(std::make_unique<Producer>("p"));
///     parts.push_back(std::make_unique<Consumer>("c"));
///     patchbay::LocalProcess process(std::move(parts), {{"p.out", "c.in"}});
///     process.run();
///
/// The model is validated in the constructor (throws ModelError). Thread-safety as Process
/// says: run() once, from one thread; stop(), status(), the stats and elapsed() from any thread.
class LocalProcess final : public Process {
 public:
  /// Runs `components` (owned from here on) wired by `connectors`.
  LocalProcess(std::vector<std::unique_ptr<Component>> components,
               std::vector<ConnectorSpec> connectors, ProcessOptions options = {});
  /// Instantiates the spec's components from Registry::global().
  explicit LocalProcess(const ProcessSpec& spec);
  /// Instantiates the spec's components from `registry`, which is not used after construction.
  LocalProcess(const ProcessSpec& spec, const Registry& registry);
  ~LocalProcess() override;

  void run() override;
  void stop() noexcept override;
  void drain() noexcept override;
  [[nodiscard]] Status status() const override;
  [[nodiscard]] std::vector<ComponentStats> component_stats() const override;
  [[nodiscard]] std::vector<ChannelStats> channel_stats() const override;
  [[nodiscard]] std::map<std::string, Value::Map> exports() const override;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const override;
  [[nodiscard]] std::shared_ptr<detail::HostPort> host_port(
      std::string_view component) const override;

  /// The component called `name`, or nullptr; it lives as long as the process. Safe from any
  /// thread, but the component itself runs on run()'s thread: inspect it after run().
  [[nodiscard]] Component* component(std::string_view name) const;

 private:
  std::unique_ptr<detail::LocalRuntime> runtime_;
};

}  // namespace patchbay
