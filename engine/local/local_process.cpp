#include <patchbay/local_process.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/registry.hpp>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "local/fiber_parker.hpp"
#include "local/fiber_run.hpp"
#include "parallel/parallel_runtime.hpp"
#include "parallel/wake.hpp"
#include "run/component_runner.hpp"
#include "run/instantiate.hpp"
#include "run/run_lifecycle.hpp"
#include "run/slice_ticker.hpp"
#include "run/stats.hpp"
#include "run/wiring.hpp"
#include "serve/host_attach.hpp"
#include "serve/host_port.hpp"
#include "serve/replies.hpp"
#include "shm/atomic.hpp"

namespace patchbay {

namespace detail {

namespace {

// How often the run's thread looks for a stop() that came from another thread or a signal.
constexpr auto stop_poll_interval = std::chrono::milliseconds(2);
// A component that alone can run polls its host rings this many times before it parks and the
// run's waiter takes over (spin and adaptive modes), as a worker's do (parallel/worker.cpp).
constexpr unsigned host_direct_spins = 256;

// The memory a local run shares with its host ports' handles, which may outlive it: the rings
// to the host and the word the run's thread sleeps on while it waits for the host.
struct LocalHostMemory {
  WorkerControl control{};
  std::uint32_t draining = 0;  ///< 1 once LocalProcess::drain() was called (the drain word)
  std::vector<void*> rings;
  std::vector<ChannelCounters> counters;  ///< per host wire
  LocalHostMemory() = default;
  LocalHostMemory(const LocalHostMemory&) = delete;
  LocalHostMemory& operator=(const LocalHostMemory&) = delete;
  ~LocalHostMemory() {
    for (void* ring : rings)
      ::operator delete (ring, std::align_val_t{channel::RingBase::kAlignment});
  }
};

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
      rings_.emplace_back(wire.capacity, wire.record_size);
    component_counters_.assign(components_.size(), ComponentCounters{});
    channel_counters_.assign(wiring_.wires.size(), ChannelCounters{});
    if (!wiring_.host_wires.empty()) make_host_ports(raw);
  }
  LocalRuntime(const LocalRuntime&) = delete;
  LocalRuntime& operator=(const LocalRuntime&) = delete;
  ~LocalRuntime() { host_ports_.end_all("the process was destroyed"); }

  void run();
  /// Wakes the run's thread if it waits for the host (a stop or a drain). Async-signal-safe.
  void wake_for_host() noexcept {
    if (host_memory_) wake_worker(host_memory_->control);
  }
  /// drain(): the run's state and, for the host's threads, the shared flag. Async-signal-safe.
  void drain() noexcept {
    state_.drain();
    if (host_memory_) store_release(host_memory_->draining, 1);
    wake_for_host();
  }

  // A ring on the heap per host wire, and the host's port on it.
  void make_host_ports(const std::vector<Component*>& raw) {
    host_memory_ = std::make_shared<LocalHostMemory>();
    host_memory_->counters.assign(wiring_.host_wires.size(), ChannelCounters{});
    for (const Wire& wire : wiring_.host_wires) {
      const std::size_t bytes = host_ring_bytes(wire.capacity);
      void* memory = ::operator new (bytes, std::align_val_t{channel::RingBase::kAlignment});
      host_memory_->rings.push_back(memory);
      std::memset(memory, 0, bytes);
      (void)create_host_ring(memory, wire.capacity, wire.record_size);
      HostPortSetup setup;
      setup.component = components_[wire.source_component]->name();
      setup.port = wire.source;
      setup.inbound = host_inbound(wire);
      setup.memory = memory;
      setup.capacity = wire.capacity;
      setup.worker = &host_memory_->control;
      setup.drain_word = &host_memory_->draining;
      setup.wait = options_.wait;
      setup.counters = &host_memory_->counters[host_memory_->rings.size() - 1];
      setup.replies = replies_of(raw, wiring_, wire);
      setup.keep_alive = host_memory_;
      host_ports_.add(std::make_shared<HostPort>(std::move(setup)));
    }
  }

  RunState state_;
  RunLifecycle lifecycle_{"LocalProcess"};
  std::vector<std::unique_ptr<Component>> components_;
  std::vector<ConnectorSpec> connectors_;
  ProcessOptions options_;
  Wiring wiring_;
  std::vector<channel::AnyHeapRing> rings_;
  std::vector<ComponentCounters> component_counters_;
  std::vector<ChannelCounters> channel_counters_;
  std::shared_ptr<LocalHostMemory> host_memory_;  ///< null without host ports
  HostPorts host_ports_;
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
  // The host's rings: channel ends whose peer is the host, watched by the run's waiter as a
  // worker watches the rings it shares with other workers.
  HostWatches host_watches;
  for (std::size_t h = 0; h < wiring_.host_wires.size(); ++h) {
    const Wire& wire = wiring_.host_wires[h];
    attach_host_ring(*runners[wire.source_component], wire, host_memory_->rings[h],
                     host_memory_->counters[h], host_watches);
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
  // Fair stepping among the components of this thread.
  std::optional<SliceTicker> ticker;
  if (raw.size() >= 2) {
    ticker.emplace();
    for (ComponentRunner* runner : raw)
      runner->set_slice_epoch(ticker->epoch());
  }
  if (host_memory_) {
    RemoteWaiter waiter(host_memory_->control, group, state_, options_.wait, false, false,
                        std::move(host_watches.inputs), std::move(host_watches.outputs));
    group.set_remote_wait([&waiter] { waiter.wait(); },
                          options_.wait == WaitMode::block ? 0 : host_direct_spins);
    run_fibers(raw, group, options_.fiber_stack_size, [&](FiberRunDone& done) {
      boost::fibers::context* const self = boost::fibers::context::active();  // looked up once
      while (!done.done()) {
        waiter.wait();
        self->yield();
      }
    });
    group.set_remote_wait({});
  } else {
    run_fibers(raw, group, options_.fiber_stack_size, [&](FiberRunDone& done) {
      while (!done.wait_for(stop_poll_interval)) {
        if (state_.stop_requested()) group.wake_all();
      }
    });
  }
  state_.set_wake_all({});
  lifecycle_.ended();
  host_ports_.end_all(run_end_reason(state_.failure(), state_.stop_requested()));

  const bool any_stopped = std::any_of(components_.begin(), components_.end(), [](const auto& c) {
    return c->status() == Status::stopped;
  });
  lifecycle_.settle(state_.failure(), any_stopped);
}

}  // namespace detail

LocalProcess::LocalProcess(std::vector<std::unique_ptr<Component>> components,
                           std::vector<ConnectorSpec> connectors, ProcessOptions options) {
  set_spec(describe(components, connectors, options), ProcessKind::local);
  runtime_ =
      std::make_unique<detail::LocalRuntime>(std::move(components), std::move(connectors),
                                             std::move(options), std::vector<SourceLocation>{});
}

LocalProcess::LocalProcess(const ProcessSpec& spec) : LocalProcess(spec, Registry::global()) {}

LocalProcess::LocalProcess(const ProcessSpec& spec, const Registry& registry) {
  detail::Instantiated built = detail::instantiate(spec, registry);
  set_spec(spec, ProcessKind::local);
  runtime_ = std::make_unique<detail::LocalRuntime>(
      std::move(built.components), std::move(built.connectors), built.options, built.locations);
}

LocalProcess::~LocalProcess() {
  end_background();
}

void LocalProcess::run() {
  runtime_->run();
}

void LocalProcess::stop() noexcept {
  runtime_->state_.stop();
  runtime_->wake_for_host();
}

void LocalProcess::drain() noexcept {
  runtime_->drain();
}

std::shared_ptr<detail::HostPort> LocalProcess::host_port(std::string_view component) const {
  return runtime_->host_ports_.find(component);
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

std::map<std::string, Value::Map> LocalProcess::exports() const {
  std::map<std::string, Value::Map> out;
  for (const auto& c : runtime_->components_) {
    if (!c->exports().empty()) out.emplace(c->name(), c->exports());
  }
  return out;
}

std::vector<ChannelStats> LocalProcess::channel_stats() const {
  const detail::Wiring& wiring = runtime_->wiring_;
  std::vector<ChannelStats> out;
  out.reserve(wiring.wires.size() + wiring.host_wires.size());
  for (std::size_t i = 0; i < wiring.wires.size(); ++i)
    out.push_back(detail::snapshot(wiring.wires[i], runtime_->channel_counters_[i]));
  for (std::size_t h = 0; h < wiring.host_wires.size(); ++h) {
    out.push_back(detail::snapshot(wiring.host_wires[h], runtime_->host_memory_->counters[h]));
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
  detail::Instantiated built = detail::instantiate(
      spec, registry,
      options.allow_unknown_types ? detail::UnknownTypes::stand_in : detail::UnknownTypes::reject);
  std::vector<std::unique_ptr<Component>> components = std::move(built.components);
  const std::vector<SourceLocation>& locations = built.locations;

  ValidationReport report;
  report.components = spec.components.size();
  report.connectors = spec.connectors.size();
  for (const auto& c : components) {
    if (detail::is_stand_in(*c)) report.unknown.push_back({c->name(), c->type_name()});
  }
  if (spec.kind == ProcessKind::parallel) {
    const detail::ParallelModel model = detail::prepare_parallel_model(
        std::move(components), std::move(built.connectors), built.options, locations);
    report.workers = static_cast<std::size_t>(
        std::count_if(model.plan.workers.begin(), model.plan.workers.end(),
                      [](const auto& worker) { return !worker.components.empty(); }));
    report.plan = model.plan.to_string(model.requests);
  } else {
    std::vector<Component*> raw;
    raw.reserve(components.size());
    for (auto& c : components)
      raw.push_back(c.get());
    (void)detail::build_wiring(raw, built.connectors, built.options, locations);
  }
  return report;
}

}  // namespace patchbay
