#include <patchbay/local_process.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/registry.hpp>

#include <algorithm>
#include <chrono>

#include "local/fiber_parker.hpp"
#include "local/fiber_run.hpp"
#include "parallel/parallel_runtime.hpp"
#include "run/component_runner.hpp"
#include "run/instantiate.hpp"
#include "run/run_lifecycle.hpp"
#include "run/stats.hpp"
#include "run/wiring.hpp"

namespace patchbay {

namespace detail {

namespace {

// How often the run's thread looks for a stop() that came from another thread or a signal.
constexpr auto stop_poll_interval = std::chrono::milliseconds(2);

}  // namespace

class LocalRuntime {
 public:
  LocalRuntime(std::vector<std::unique_ptr<Component>> components,
               std::vector<ConnectorSpec> connectors, ProcessOptions options,
               const std::vector<SourceLocation>& locations)
      : components_(std::move(components)),
        connectors_(std::move(connectors)),
        options_(std::move(options)) {
    std::vector<Component*> raw;
    raw.reserve(components_.size());
    for (auto& c : components_)
      raw.push_back(c.get());
    wiring_ = build_wiring(raw, connectors_, options_, locations);
    rings_.reserve(wiring_.wires.size());
    for (const Wire& wire : wiring_.wires)
      rings_.emplace_back(wire.capacity);
    component_counters_.assign(components_.size(), ComponentCounters{});
    channel_counters_.assign(wiring_.wires.size(), ChannelCounters{});
  }

  void run();

  RunState state_;
  RunLifecycle lifecycle_{"LocalProcess"};
  std::vector<std::unique_ptr<Component>> components_;
  std::vector<ConnectorSpec> connectors_;
  ProcessOptions options_;
  Wiring wiring_;
  std::vector<channel::HeapRing<channel::VariableRing>> rings_;
  std::vector<ComponentCounters> component_counters_;
  std::vector<ChannelCounters> channel_counters_;
};

void LocalRuntime::run() {
  (void)lifecycle_.begin();

  FiberParkGroup group(fail_on_deadlock(state_));
  std::vector<std::unique_ptr<FiberParker>> parkers;
  std::vector<std::unique_ptr<ComponentRunner>> runners;
  parkers.reserve(components_.size());
  runners.reserve(components_.size());
  for (std::size_t i = 0; i < components_.size(); ++i) {
    parkers.push_back(std::make_unique<FiberParker>(group, components_[i]->name()));
    runners.push_back(std::make_unique<ComponentRunner>(*components_[i], state_, *parkers[i],
                                                        component_counters_[i]));
  }
  for (std::size_t c = 0; c < components_.size(); ++c) {
    const ComponentWires& ports = wiring_.components[c];
    for (std::size_t p = 0; p < ports.outputs.size(); ++p) {
      for (std::size_t w : ports.outputs[p]) {
        const Wire& wire = wiring_.wires[w];
        runners[c]->add_output(p, {rings_[w].ring(), parkers[wire.target_component].get(),
                                   &channel_counters_[w], &wire});
      }
    }
    for (std::size_t p = 0; p < ports.inputs.size(); ++p) {
      for (std::size_t w : ports.inputs[p]) {
        const Wire& wire = wiring_.wires[w];
        runners[c]->add_input(p, {rings_[w].ring(), parkers[wire.source_component].get(),
                                  &channel_counters_[w], &wire});
      }
    }
  }
  state_.set_wake_all([&group] { group.wake_all(); });
  // init() of every component before any step; a failure or a stop skips the rest.
  for (auto& runner : runners) {
    if (!runner->initialize()) break;
  }

  std::vector<ComponentRunner*> raw;
  raw.reserve(runners.size());
  for (auto& runner : runners)
    raw.push_back(runner.get());
  run_fibers(raw, group, options_.fiber_stack_size, [&](FiberRunDone& done) {
    while (!done.wait_for(stop_poll_interval)) {
      if (state_.stop_requested()) group.wake_all();
    }
  });
  state_.set_wake_all({});
  lifecycle_.ended();

  const bool any_stopped = std::any_of(components_.begin(), components_.end(), [](const auto& c) {
    return c->status() == Status::stopped;
  });
  lifecycle_.settle(state_.failure(), any_stopped);
}

}  // namespace detail

LocalProcess::LocalProcess(std::vector<std::unique_ptr<Component>> components,
                           std::vector<ConnectorSpec> connectors, ProcessOptions options)
    : runtime_(std::make_unique<detail::LocalRuntime>(std::move(components), std::move(connectors),
                                                      std::move(options),
                                                      std::vector<SourceLocation>{})) {}

LocalProcess::LocalProcess(const ProcessSpec& spec) : LocalProcess(spec, Registry::global()) {}

LocalProcess::LocalProcess(const ProcessSpec& spec, const Registry& registry) {
  std::vector<SourceLocation> locations;
  for (const auto& c : spec.components)
    locations.push_back(c.where);
  runtime_ = std::make_unique<detail::LocalRuntime>(detail::instantiate(spec, registry),
                                                    spec.connectors, spec.options, locations);
}

LocalProcess::~LocalProcess() {
  end_background();
}

void LocalProcess::run() {
  runtime_->run();
}

void LocalProcess::stop() noexcept {
  runtime_->state_.stop();
}

void LocalProcess::drain() noexcept {
  runtime_->state_.drain();
}

Status LocalProcess::status() const {
  return runtime_->lifecycle_.status();
}

std::chrono::nanoseconds LocalProcess::elapsed() const {
  return runtime_->lifecycle_.elapsed();
}

std::vector<ComponentStats> LocalProcess::component_stats() const {
  std::vector<ComponentStats> out;
  out.reserve(runtime_->components_.size());
  for (std::size_t i = 0; i < runtime_->components_.size(); ++i) {
    const Component& c = *runtime_->components_[i];
    const detail::ComponentCounters& k = runtime_->component_counters_[i];
    out.push_back(detail::snapshot(c, c.status(), k));
  }
  return out;
}

std::vector<ChannelStats> LocalProcess::channel_stats() const {
  std::vector<ChannelStats> out;
  out.reserve(runtime_->wiring_.wires.size());
  for (std::size_t i = 0; i < runtime_->wiring_.wires.size(); ++i) {
    const detail::Wire& wire = runtime_->wiring_.wires[i];
    const detail::ChannelCounters& k = runtime_->channel_counters_[i];
    out.push_back(detail::snapshot(wire, k));
  }
  return out;
}

Component* LocalProcess::component(std::string_view name) const {
  for (const auto& c : runtime_->components_) {
    if (c->name() == name) return c.get();
  }
  return nullptr;
}

std::unique_ptr<Process> make_process(const ProcessSpec& spec) {
  return make_process(spec, Registry::global());
}

std::unique_ptr<Process> make_process(const ProcessSpec& spec, const Registry& registry) {
  if (spec.kind == ProcessKind::parallel) return std::make_unique<ParallelProcess>(spec, registry);
  return std::make_unique<LocalProcess>(spec, registry);
}

ValidationReport validate(const ProcessSpec& spec, ValidationOptions options) {
  return validate(spec, Registry::global(), options);
}

ValidationReport validate(const ProcessSpec& spec, const Registry& registry,
                          ValidationOptions options) {
  // What make_process() does up to the point where it would allocate rings or an arena and
  // fork: the two must reject the same models.
  std::vector<SourceLocation> locations;
  locations.reserve(spec.components.size());
  for (const auto& c : spec.components)
    locations.push_back(c.where);
  std::vector<std::unique_ptr<Component>> components = detail::instantiate(
      spec, registry,
      options.allow_unknown_types ? detail::UnknownTypes::stand_in : detail::UnknownTypes::reject);

  ValidationReport report;
  report.components = components.size();
  report.connectors = spec.connectors.size();
  for (const auto& c : components) {
    if (detail::is_stand_in(*c)) report.unknown.push_back({c->name(), c->type_name()});
  }
  if (spec.kind == ProcessKind::parallel) {
    const detail::ParallelModel model = detail::prepare_parallel_model(
        std::move(components), spec.connectors, spec.options, locations);
    report.workers = static_cast<std::size_t>(
        std::count_if(model.plan.workers.begin(), model.plan.workers.end(),
                      [](const auto& worker) { return !worker.components.empty(); }));
    report.plan = model.plan.to_string(model.requests);
  } else {
    std::vector<Component*> raw;
    raw.reserve(components.size());
    for (auto& c : components)
      raw.push_back(c.get());
    (void)detail::build_wiring(raw, spec.connectors, spec.options, locations);
  }
  return report;
}

}  // namespace patchbay
