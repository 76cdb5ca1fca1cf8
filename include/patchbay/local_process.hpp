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
/// The model is validated in the constructor (throws ModelError). run() may be called once.
class LocalProcess final : public Process {
 public:
  LocalProcess(std::vector<std::unique_ptr<Component>> components,
               std::vector<ConnectorSpec> connectors, ProcessOptions options = {});
  /// Instantiates the spec's components from `registry`.
  explicit LocalProcess(const ProcessSpec& spec);
  LocalProcess(const ProcessSpec& spec, const Registry& registry);
  ~LocalProcess() override;

  void run() override;
  void stop() noexcept override;
  [[nodiscard]] Status status() const override;
  [[nodiscard]] std::vector<ComponentStats> component_stats() const override;
  [[nodiscard]] std::vector<ChannelStats> channel_stats() const override;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const override;

  /// The component called `name`, or nullptr. Inspect it after run().
  [[nodiscard]] Component* component(std::string_view name) const;

 private:
  std::unique_ptr<detail::LocalRuntime> runtime_;
};

}  // namespace patchbay
