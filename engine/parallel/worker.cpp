// The worker side of a ParallelProcess: what a forked child does until it exits.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <patchbay/error.hpp>
#include <patchbay/internal/value_codec.hpp>

#include "channel/ring.hpp"
#include "local/fiber_parker.hpp"
#include "local/fiber_run.hpp"
#include "local/fiber_scheduling.hpp"
#include "parallel/child_signals.hpp"
#include "parallel/gpu_environment.hpp"
#include "parallel/parallel_runtime.hpp"
#include "parallel/protocol.hpp"
#include "parallel/wake.hpp"
#include "run/component_runner.hpp"
#include "run/slice_ticker.hpp"
#include "serve/host_attach.hpp"
#include "serve/replicas.hpp"
#include "shm/atomic.hpp"
#include "shm/barrier.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"

namespace patchbay::detail {

namespace {

WorkerControl* exiting_worker = nullptr;

// Runs when a component calls exit(): static destructors of a forked copy of the host (and a
// fiber scheduler with suspended fibers) could hang, so record the status and leave at once.
void on_component_exit(int status, void*) {
  if (exiting_worker != nullptr) exiting_worker->exit_status = status;
  _exit(static_cast<int>(WorkerExit::component_exit));
}

// exit() destroys the calling thread's thread_local objects before it runs on_exit handlers,
// and the fiber scheduler's destructor waits for fibers that will never finish. This object is
// created after the scheduler, so its destructor runs first and leaves; _exit() (the normal
// way out) never runs it.
struct ExitGuard {
  ExitGuard() = default;
  ExitGuard(const ExitGuard&) = delete;
  ExitGuard& operator=(const ExitGuard&) = delete;
  ~ExitGuard() {
    if (exiting_worker != nullptr) exiting_worker->exit_status = -1;
    _exit(static_cast<int>(WorkerExit::component_exit));
  }
};
// A component that alone can run in its worker polls its own input rings this many times before
// it parks and the worker's waiter takes over (spin and adaptive modes).
constexpr unsigned direct_spins = 256;

void copy_text(char* out, std::size_t size, const std::string& text) {
  const std::size_t n = std::min(size - 1, text.size());
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

/// One worker's share of a run: its components as fibers, their channels (rings local to the
/// worker, or shared with another worker and watched by its RemoteWaiter), and its report to
/// the supervisor. run() reads as the steps it takes.
class WorkerRun {
 public:
  WorkerRun(const ParallelModel& model, Arena& arena, std::size_t worker)
      : model_(model),
        arena_(arena),
        worker_(worker),
        me_(arena.worker(worker)),
        plan_(model.plan.workers[worker]),
        mode_(wait_mode_of(model, worker)),
        shared_core_(shares_cores(model, worker)),
        // Components of this worker that all wait on each other are not necessarily a deadlock
        // of the process (LocalProcess's rule: every component waiting): the worker goes idle
        // and the supervisor, which sees every worker, decides.
        group_([](FiberParkGroup&) { return false; }),
        wakers_(model.plan.workers.size()) {
    state_.watch_external(&arena.header().stop, &arena.header().abort, &arena.header().drain,
                          &arena.header().quiet);
  }
  WorkerRun(const WorkerRun&) = delete;
  WorkerRun& operator=(const WorkerRun&) = delete;

  /// Runs this worker's components to their end; returns how the worker exits.
  WorkerExit run() {
    make_runners();
    attach_channels();
    report_failures_to_supervisor();
    guard_against_exit();
    initialize();
    run_components();
    return finish();
  }

 private:
  // Heavy barriers replace the producers' fences towards workers that spin before they go
  // idle; in `block` mode every wait goes idle at once, and a fence per message is cheaper than
  // a barrier per wait.
  bool issues_heavy_barriers(std::size_t worker) const {
    return asymmetric_ && wait_mode_of(model_, worker) != WaitMode::block;
  }

  // Who to wake when a channel to `component` moves: its parker here, or its worker's waker.
  Parker* peer_of(std::size_t component) {
    const std::size_t w = model_.plan.worker_of[component];
    if (w == worker_) return parkers_.at(component).get();
    if (!wakers_[w]) {
      wakers_[w] = std::make_unique<RemoteWaker>(arena_.worker(w),
                                                 !(registered_ && issues_heavy_barriers(w)));
    }
    return wakers_[w].get();
  }

  // A parker and a runner per component of this worker, mirroring status and liveness into
  // its slot of the arena.
  void make_runners() {
    for (std::size_t c : plan_.components) {
      parkers_[c] = std::make_unique<FiberParker>(group_, model_.components[c]->name());
    }
    registered_ = asymmetric_ && register_for_heavy_barriers();
    for (std::size_t c : plan_.components) {
      ComponentSlot& slot = arena_.component(c);
      runners_.push_back(std::make_unique<ComponentRunner>(*model_.components[c], state_,
                                                           *parkers_.at(c), slot.counters));
      runners_.back()->set_status_mirror(&slot.status);
      runners_.back()->set_liveness_mirrors(&slot.step_sequence, &slot.waiting_on);
      runner_of_[c] = runners_.back().get();
    }
    // A split or a merge settles with the supervisor what a copy that died held.
    if (arena_.replica_count() != model_.copies.size()) throw Error("arena corrupted: replicas");
    for (std::size_t c : plan_.components) {
      const Router* router = router_of(*model_.components[c]);
      if (router == nullptr) continue;
      std::vector<ReplicaSlot*> slots;
      for (std::size_t i = 0; i < model_.copies.size(); ++i) {
        const ReplicaCopy& copy = model_.copies[i];
        if (copy.split == c || (copy.merge == c && router->role() == Router::Role::merge))
          slots.push_back(&arena_.replica(i));
      }
      if (slots.size() == router->replicas()) runner_of_[c]->set_replica_slots(std::move(slots));
    }
  }

  // Every channel with an end in this worker: its ring in the arena, checked, given to the
  // runners; those shared with another worker are also watched by the waiter.
  void attach_channels() {
    auto index_of = [](std::span<Port* const> ports, const Port* port) {
      return static_cast<std::size_t>(std::find(ports.begin(), ports.end(), port) - ports.begin());
    };
    for (std::size_t i = 0; i < model_.wiring.wires.size(); ++i) {
      const Wire& wire = model_.wiring.wires[i];
      const bool source_here = model_.plan.worker_of[wire.source_component] == worker_;
      const bool target_here = model_.plan.worker_of[wire.target_component] == worker_;
      if (!source_here && !target_here) continue;
      ChannelSlot& slot = arena_.channel(i);
      const channel::AnyRing ring = channel::attach_ring(
          arena_.ring_memory(i, channel::RingBase::bytes_required(wire.capacity)));
      if (channel::base_of(ring).capacity() != wire.capacity ||
          std::holds_alternative<channel::FixedRing>(ring) != (wire.record_size != 0)) {
        throw Error("arena corrupted: a ring's capacity or format changed");
      }
      const bool remote = source_here != target_here;
      if (remote) {
        (source_here ? remote_outputs_ : remote_inputs_).push_back({ring, !source_here});
      }
      if (source_here) {
        Component& c = *model_.components[wire.source_component];
        runner_of_[wire.source_component]->add_output(
            index_of(c.outputs(), wire.source),
            {ring, peer_of(wire.target_component), &slot.counters, &wire, false, remote});
      }
      if (target_here) {
        Component& c = *model_.components[wire.target_component];
        runner_of_[wire.target_component]->add_input(
            index_of(c.inputs(), wire.target),
            {ring, peer_of(wire.source_component), &slot.counters, &wire, false, remote});
      }
    }
    attach_host_rings();
  }

  // The rings between the host and this worker's Ingress and Egress components: watched like a
  // ring shared with another worker; the component's peer wakes the host's threads.
  void attach_host_rings() {
    const std::size_t first = model_.wiring.wires.size();
    for (std::size_t h = 0; h < model_.wiring.host_wires.size(); ++h) {
      const Wire& wire = model_.wiring.host_wires[h];
      if (model_.plan.worker_of[wire.source_component] != worker_) continue;
      attach_host_ring(*runner_of_[wire.source_component], wire,
                       arena_.ring_memory(first + h, host_ring_bytes(wire.capacity)),
                       arena_.channel(first + h).counters, host_watches_);
    }
    remote_inputs_.insert(remote_inputs_.end(), host_watches_.inputs.begin(),
                          host_watches_.inputs.end());
    remote_outputs_.insert(remote_outputs_.end(), host_watches_.outputs.begin(),
                           host_watches_.outputs.end());
  }

  // On the first failure here: write it into this worker's block, claim failed_worker if no
  // worker did before, and stop every worker.
  void report_failures_to_supervisor() {
    state_.set_wake_all([this] {
      group_.wake_all();
      if (!reported_) {
        reported_ = true;
        if (const auto failure = state_.failure()) write_report(*failure);
      }
      ArenaHeader& header = arena_.header();
      store_release(header.abort, 1);
      for (std::size_t w = 0; w < model_.plan.workers.size(); ++w) {
        if (w != worker_) wake_worker(arena_.worker(w));
      }
    });
  }

  void write_report(const Failure& failure) {
    std::uint32_t index = no_component;
    for (std::size_t c : plan_.components) {
      if (model_.components[c]->name() == failure.component) index = static_cast<std::uint32_t>(c);
    }
    me_.failed_component = index;
    copy_text(me_.message, sizeof(me_.message), failure.message);
    std::uint32_t none = no_worker;
    // Release: the report above is visible to whoever reads failed_worker.
    compare_exchange_acq_rel(arena_.header().failed_worker, none,
                             static_cast<std::uint32_t>(worker_));
  }

  // The fiber scheduler's thread_local first, then the guard: thread_local destructors run in
  // reverse order, so the guard's runs first if a component calls exit(), before any fiber ran.
  static void guard_against_exit() {
    (void)boost::fibers::context::active();
    static thread_local ExitGuard exit_guard;
    (void)exit_guard;
  }

  // init() of every component here before any step; a failure or a stop skips the rest.
  void initialize() {
    for (auto& runner : runners_) {
      if (!runner->initialize()) break;
    }
  }

  // The components' fibers until each has finished, with the waiter taking over whenever all
  // of them wait on other workers.
  void run_components() {
    // Sharing a core, a worker never spins: what it waits for may need this very core.
    RemoteWaiter waiter(me_, group_, state_, mode_, shared_core_, issues_heavy_barriers(worker_),
                        std::move(remote_inputs_), std::move(remote_outputs_));
    group_.set_remote_wait([&waiter] { waiter.wait(); },
                           mode_ == WaitMode::block || shared_core_ ? 0 : direct_spins);
    std::vector<ComponentRunner*> raw;
    raw.reserve(runners_.size());
    for (auto& r : runners_)
      raw.push_back(r.get());
    // Fair stepping among the components of this worker: one that yields lets the watcher
    // below poll the other workers too, so a component here that waits on them gets its turn.
    std::optional<SliceTicker> ticker;
    if (raw.size() >= 2) {
      ticker.emplace();
      for (ComponentRunner* runner : raw)
        runner->set_slice_epoch(ticker->epoch());
    }
    run_fibers(raw, group_, model_.options.fiber_stack_size, [&](FiberRunDone& done) {
      // Runs when every component here is parked and one of them parked on a local channel
      // (a component that parks on another worker last waits on its own fiber, see
      // FiberParkGroup::set_remote_wait()), and between the components' turns otherwise.
      boost::fibers::context* const self = boost::fibers::context::active();  // looked up once
      while (!done.done()) {
        waiter.wait();
        self->yield();
      }
    });
    group_.set_remote_wait({});
  }

  // The worker's final state in its block, and its exit code.
  WorkerExit finish() {
    state_.set_wake_all({});
    write_exports();
    if (state_.failure() && reported_) {
      store_release(me_.state, static_cast<std::uint32_t>(WorkerState::failed));
      return WorkerExit::reported_failure;
    }
    store_release(me_.state, static_cast<std::uint32_t>(WorkerState::done));
    return WorkerExit::done;
  }

  // What this worker's components exported, into its slot of the arena (see WorkerExports),
  // for Process::exports(); what does not fit is left out and marked.
  void write_exports() {
    std::byte* slot = arena_.exports(worker_);
    std::byte* records = slot + sizeof(WorkerExports);
    std::uint32_t used = 0;
    std::uint32_t truncated = 0;
    for (std::size_t c : plan_.components) {
      const Value::Map& exports = model_.components[c]->exports();
      if (exports.empty()) continue;
      const Value value(exports);
      const std::size_t size = encoded_size(value);
      if (used + 8 > limits::max_worker_exports_bytes ||
          size > limits::max_worker_exports_bytes - used - 8) {
        truncated = 1;
        continue;
      }
      const auto index = static_cast<std::uint32_t>(c);
      const auto bytes = static_cast<std::uint32_t>(size);
      std::memcpy(records + used, &index, 4);
      std::memcpy(records + used + 4, &bytes, 4);
      encode_value(value, records + used + 8);
      used += 8 + bytes;
    }
    WorkerExports header{used, truncated};
    std::memcpy(slot, &header, sizeof header);
  }

  const ParallelModel& model_;
  Arena& arena_;
  const std::size_t worker_;
  WorkerControl& me_;
  const WorkerPlan& plan_;
  const WaitMode mode_;
  const bool shared_core_;
  const bool asymmetric_ = arena_.header().asymmetric_barriers != 0;
  bool registered_ = false;  ///< for heavy barriers (shm/barrier.hpp)
  bool reported_ = false;    ///< this worker wrote a failure report
  RunState state_;
  FiberParkGroup group_;
  std::map<std::size_t, std::unique_ptr<FiberParker>> parkers_;  // by component index
  std::vector<std::unique_ptr<RemoteWaker>> wakers_;             // by worker index
  HostWatches host_watches_;  ///< the host rings of this worker's Ingress and Egress components
  std::vector<std::unique_ptr<ComponentRunner>> runners_;
  std::map<std::size_t, ComponentRunner*> runner_of_;  // by component index
  std::vector<RemoteWatch> remote_inputs_;
  std::vector<RemoteWatch> remote_outputs_;
};

}  // namespace

bool shares_cores(const ParallelModel& model, std::size_t worker) {
  const std::vector<WorkerPlan>& workers = model.plan.workers;
  std::size_t busy = 0;
  for (const WorkerPlan& w : workers)
    busy += w.components.empty() ? 0 : 1;
  if (!model.machine.is_this_system) {
    // Not bound (a plan for another topology): the workers share whatever this process may use.
    cpu_set_t usable;
    CPU_ZERO(&usable);
    if (sched_getaffinity(0, sizeof usable, &usable) != 0) return false;
    return busy > static_cast<std::size_t>(CPU_COUNT(&usable));
  }
  return model.plan.shares_pus(worker);
}

WaitMode wait_mode_of(const ParallelModel& model, std::size_t worker) {
  WaitMode mode = model.options.wait;
  for (std::size_t i = 0; i < model.wiring.wires.size(); ++i) {
    const Wire& wire = model.wiring.wires[i];
    const auto& override = wire.wait;
    const bool touches = model.plan.worker_of[wire.source_component] == worker ||
                         model.plan.worker_of[wire.target_component] == worker;
    // The most eager mode among the process's and this worker's connectors wins.
    if (touches && override && static_cast<int>(*override) < static_cast<int>(mode))
      mode = *override;
  }
  return mode;
}

void ParallelRuntime::worker_main(std::size_t worker) noexcept {
  // Die with the supervisor, even on its kill -9; checked again in case it died already.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != supervisor_pid_) _exit(static_cast<int>(WorkerExit::error));
  reset_signals_in_child();
  close_inherited_descriptors({});  // the arena is mapped: a worker needs no descriptor
  WorkerExit code = WorkerExit::error;
  try {
    const WorkerPlan& plan = model_.plan.workers[worker];
    (void)bind_to(model_.machine, plan.cores, plan.numa_node);
    set_gpu_environment(model_.machine, plan.gpus);
    WorkerControl& me = arena_->worker(worker);
    me.pid = getpid();
    exiting_worker = &me;
    on_exit(on_component_exit, nullptr);
    store_release(me.state, static_cast<std::uint32_t>(WorkerState::ready));
    if (wait_for_go() == Go::leave) _exit(static_cast<int>(WorkerExit::done));
    store_release(me.state, static_cast<std::uint32_t>(WorkerState::running));
    use_engine_scheduling();  // this process's thread is the engine's
    code = WorkerRun(model_, *arena_, worker).run();
  } catch (...) {
    code = WorkerExit::error;
  }
  std::fflush(nullptr);
  _exit(static_cast<int>(code));
}

Go ParallelRuntime::wait_for_go() const {
  ArenaHeader& header = arena_->header();
  std::uint32_t go = 0;
  // Acquire pairs with run()'s release of `go`.
  while ((go = load_acquire(header.go)) == static_cast<std::uint32_t>(Go::wait)) {
    futex_wait(&header.go, go, std::chrono::milliseconds(100));
    if (getppid() != supervisor_pid_) _exit(static_cast<int>(WorkerExit::error));
  }
  return go == static_cast<std::uint32_t>(Go::leave) ? Go::leave : Go::run;
}

}  // namespace patchbay::detail
