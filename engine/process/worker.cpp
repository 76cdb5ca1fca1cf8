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
#include <string>
#include <vector>

#include "channel/ring.hpp"
#include "process/child_signals.hpp"
#include "process/component_runner.hpp"
#include "process/fiber_parker.hpp"
#include "process/fiber_run.hpp"
#include "process/parallel_runtime.hpp"
#include "shm/atomic.hpp"
#include "shm/barrier.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"

namespace patchbay::detail {

namespace {

// Exit code of a worker that reported a component failure in its control block.
constexpr int exit_reported_failure = 3;
// Exit code of a worker in which a component called exit(); the status is in its control block.
constexpr int exit_called = 4;

WorkerControl* exiting_worker = nullptr;

// Runs when a component calls exit(): static destructors of a forked copy of the host (and a
// fiber scheduler with suspended fibers) could hang, so record the status and leave at once.
void on_component_exit(int status, void*) {
  if (exiting_worker != nullptr) exiting_worker->exit_status = status;
  _exit(exit_called);
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
    _exit(exit_called);
  }
};
// Polls for another worker's progress this many times before going idle (adaptive: asleep).
constexpr unsigned adaptive_spins = 4096;
// A worker that shares a core with another busy worker polls this many times, yielding the core
// between polls, before it goes idle (and asleep, whatever its mode): the worker it waits for
// may be the one that needs the core.
constexpr unsigned shared_core_polls = 64;
// A component that alone can run in its worker polls its own input rings this many times before
// it parks and the worker's waiter takes over (spin and adaptive modes).
constexpr unsigned direct_spins = 256;
// WorkerControl::attention.
constexpr std::uint32_t attention_running = 0;
constexpr std::uint32_t attention_idle = 1;
constexpr std::uint32_t attention_sleeping = 2;
// Upper bound of one sleep, so a worker re-checks the stop and abort words even if a wake is lost.
constexpr auto longest_sleep = std::chrono::milliseconds(20);

void copy_text(char* out, std::size_t size, const std::string& text) {
  const std::size_t n = std::min(size - 1, text.size());
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

/// Stands for a component in another worker: notify() tells that worker a shared ring moved.
class RemoteWaker final : public Parker {
 public:
  /// `fence`: false when this process is registered for heavy barriers and the peer issues one
  /// before it polls its rings for the last time ahead of going idle (see shm/barrier.hpp).
  RemoteWaker(WorkerControl& peer, bool fence) : peer_(peer), fence_(fence) {
    // Without a fence, notify() itself reads `attention` and skips the call while it is 0.
    static_assert(attention_running == 0);
    if (!fence_) set_idle_word(&peer_.attention);
  }
  void park(const WaitReason&) override {}  // never: a remote component parks in its own worker

 protected:
  void wake() override {
    // Dekker with RemoteWaiter::wait(): our ring update, barrier, read of `attention` against
    // its store of `attention`, barrier, read of the rings. Either it sees the update or we see
    // its attention. The barrier on this side is a fence, or the peer's heavy barrier, which
    // runs one on this CPU when the peer goes idle. While the peer runs or spins this costs a
    // read of a line that rarely changes; no shared write.
    if (fence_) std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint32_t attention = load_relaxed(peer_.attention);
    if (attention == attention_running) return;
    fetch_add_seq_cst(peer_.wake_sequence, 1);
    if (attention == attention_sleeping) futex_wake_all(&peer_.wake_sequence);
  }

 private:
  WorkerControl& peer_;
  bool fence_;
};

/// A ring this worker shares with another, as its waiter sees it.
struct RemoteWatch {
  channel::Ring ring;
  bool input = false;  ///< this worker consumes it
  std::uint64_t last_index = 0;
  std::uint64_t last_word = 0;

  /// Whether the other side moved since the last look. Input: the header word at this side's
  /// read position (on a line the consumer reads anyway) turned non-zero, or the producer
  /// closed; a read position moved by this side's own reads is no news. Output: the consumer's
  /// read index or reader_closed changed.
  bool moved() {
    std::uint64_t index = 0;
    std::uint64_t word = 0;
    bool news = false;
    if (input) {
      index = load_relaxed(ring.header().read_index);  // ours
      word = ring.front_word() | (ring.closed() ? std::uint64_t{1} << 63 : 0);
      news = word != 0 && (word != last_word || index != last_index);
    } else {
      // Acquire pairs with the consumer's release of its index.
      index = load_acquire(ring.header().read_index);
      word = ring.reader_closed() ? 1 : 0;
      news = index != last_index || word != last_word;
    }
    last_index = index;
    last_word = word;
    return news;
  }
};

/// How a worker waits for the workers it shares rings with. Spinning, it polls the rings
/// themselves, so a message costs the producer no shared write; idle (every component waiting
/// and nothing seen for a while) it tells its peers to bump its wake word, which is what lets
/// the supervisor tell a deadlock from a pause; asleep it also has them FUTEX_WAKE it.
class RemoteWaiter {
 public:
  /// `heavy_barrier`: its producers skip their fence, so it issues a heavy barrier before it
  /// goes idle (see shm/barrier.hpp).
  /// `shared_core`: another busy worker runs on this worker's cores.
  RemoteWaiter(WorkerControl& me, FiberParkGroup& group, RunState& state, WaitMode mode,
               bool shared_core, bool heavy_barrier, std::vector<RemoteWatch> inputs,
               std::vector<RemoteWatch> outputs)
      : me_(me),
        group_(group),
        state_(state),
        mode_(mode),
        shared_core_(shared_core),
        heavy_barrier_(heavy_barrier),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)) {
    // Before any component runs: a ring that moves after a component parks but before it
    // waits must count as news.
    changed(inputs_);
    changed(outputs_);
    seen_sequence_ = load_acquire(me_.wake_sequence);
  }

  /// Waits until another worker moved something this worker shares with it, or a stop; then
  /// wakes the components parked on other workers. Returns at once if there is news already
  /// or a component here can run.
  void wait() {
    if (stopping() || poll() || !group_.all_parked()) return;
    // Poll quietly first: a reply usually comes within microseconds. On a shared core, spinning
    // would hold the core its producer may need: yield it between polls, and then sleep.
    const unsigned quiet = shared_core_               ? shared_core_polls
                           : mode_ == WaitMode::block ? 0
                                                      : adaptive_spins;
    for (unsigned i = 0; i < quiet; ++i) {
      if (shared_core_) {
        (void)sched_yield();
      } else {
        spin_pause();
      }
      if (stopping() || poll()) return;
    }
    count(me_.heartbeat);
    const bool sleep = mode_ != WaitMode::spin || shared_core_;
    store_relaxed(me_.attention, sleep ? attention_sleeping : attention_idle);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // see RemoteWaker::notify()
    if (heavy_barrier_) {
      if (const int error = heavy_barrier(); error != 0) {
        state_.fail({"", "",
                     std::string("membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) failed: ") +
                         std::strerror(error)});
      }
    }
    if (!stopping() && !poll()) {
      store_relaxed(me_.idle_sequence, seen_sequence_);
      store_release(me_.idle, 1);
      unsigned spins = 0;
      do {
        if (sleep) {
          const std::int64_t from = steady_now_ns();
          futex_wait(&me_.wake_sequence, seen_sequence_, longest_sleep);
          count(me_.wait_ns, static_cast<std::uint64_t>(steady_now_ns() - from));
          count(me_.heartbeat);
        } else {
          spin_pause();
          // Idle and spinning: a sign of life now and then, as sleeping gives one per wake.
          if (++spins % 4096 == 0) count(me_.heartbeat);
        }
      } while (!stopping() && !poll());
      store_release(me_.idle, 0);
    }
    store_relaxed(me_.attention, attention_running);
  }

 private:
  // Whether any watched ring moved since the last look; remembers what it saw.
  static bool changed(std::vector<RemoteWatch>& watches) {
    bool any = false;
    for (RemoteWatch& w : watches)
      any = w.moved() || any;
    return any;
  }

  // Outputs count only while a component waits for room in one: otherwise the consumer's
  // every read would wake a producer that waits for its reply.
  bool poll() {
    const std::uint32_t sequence = load_acquire(me_.wake_sequence);
    bool news = changed(inputs_) || sequence != seen_sequence_;
    if (group_.parked_on_remote_output()) news = changed(outputs_) || news;
    if (!news) return false;
    seen_sequence_ = sequence;
    group_.wake_remote();
    return true;
  }

  // Whether the run is stopping; the first time, wakes every component so that it unwinds.
  bool stopping() {
    if (!state_.stopping()) return false;
    if (!woke_for_stop_) {
      woke_for_stop_ = true;
      group_.wake_all();
    }
    return true;
  }

  WorkerControl& me_;
  FiberParkGroup& group_;
  RunState& state_;
  WaitMode mode_;
  bool shared_core_;
  bool heavy_barrier_;
  std::vector<RemoteWatch> inputs_;
  std::vector<RemoteWatch> outputs_;
  std::uint32_t seen_sequence_ = 0;
  bool woke_for_stop_ = false;
};

}  // namespace

std::string cuda_visible_devices(const Machine& machine, const std::vector<std::string>& gpus) {
  // With CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA numbers devices by PCI bus id: a GPU's index is
  // its rank in that order. hwloc names them cuda*, nvml* or card* depending on its build.
  std::vector<std::string> bus_ids;
  for (const Gpu& g : machine.gpus)
    bus_ids.push_back(g.pci_bus_id);
  std::sort(bus_ids.begin(), bus_ids.end());
  std::string devices;
  for (const auto& name : gpus) {
    std::string index;
    for (const Gpu& g : machine.gpus) {
      if (g.name != name) continue;
      if (!g.pci_bus_id.empty()) {
        index = std::to_string(std::lower_bound(bus_ids.begin(), bus_ids.end(), g.pci_bus_id) -
                               bus_ids.begin());
      }
    }
    if (index.empty()) {
      const auto digits = name.find_first_of("0123456789");
      index = digits == std::string::npos ? name : name.substr(digits);
    }
    devices += (devices.empty() ? "" : ",") + index;
  }
  return devices;
}

bool ParallelRuntime::shares_cores(std::size_t worker) const {
  const std::vector<WorkerPlan>& workers = model_.plan.workers;
  std::size_t busy = 0;
  for (const WorkerPlan& w : workers)
    busy += w.components.empty() ? 0 : 1;
  if (!model_.machine.is_this_system) {
    // Not bound (a plan for another topology): the workers share whatever this process may use.
    cpu_set_t usable;
    CPU_ZERO(&usable);
    if (sched_getaffinity(0, sizeof usable, &usable) != 0) return false;
    return busy > static_cast<std::size_t>(CPU_COUNT(&usable));
  }
  return model_.plan.shares_pus(worker);
}

WaitMode ParallelRuntime::wait_mode_of(std::size_t worker) const {
  WaitMode mode = model_.options.wait;
  for (std::size_t i = 0; i < model_.wiring.wires.size(); ++i) {
    const auto& override = model_.connectors[i].wait;
    const Wire& wire = model_.wiring.wires[i];
    const bool touches = model_.plan.worker_of[wire.source_component] == worker ||
                         model_.plan.worker_of[wire.target_component] == worker;
    // The most eager mode among the process's and this worker's connectors wins.
    if (touches && override && static_cast<int>(*override) < static_cast<int>(mode))
      mode = *override;
  }
  return mode;
}

void ParallelRuntime::worker_main(std::size_t worker) noexcept {
  // Die with the supervisor, even on its kill -9; checked again in case it died already.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != supervisor_pid_) _exit(1);
  reset_signals_in_child();
  close_inherited_descriptors({});  // the arena is mapped: a worker needs no descriptor
  int code = 1;
  try {
    const WorkerPlan& plan = model_.plan.workers[worker];
    (void)bind_to(model_.machine, plan.cores, plan.numa_node);
    if (!plan.gpus.empty()) {
      setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
      setenv("CUDA_VISIBLE_DEVICES", cuda_visible_devices(model_.machine, plan.gpus).c_str(), 1);
    }
    WorkerControl& me = arena_->worker(worker);
    me.pid = getpid();
    exiting_worker = &me;
    on_exit(on_component_exit, nullptr);
    store_release(me.state, static_cast<std::uint32_t>(WorkerState::ready));
    ArenaHeader& header = arena_->header();
    std::uint32_t go = 0;
    // Acquire pairs with run()'s release of `go`.
    while ((go = load_acquire(header.go)) == 0) {
      futex_wait(&header.go, 0, std::chrono::milliseconds(100));
      if (getppid() != supervisor_pid_) _exit(1);
    }
    if (go == 2) _exit(0);
    store_release(me.state, static_cast<std::uint32_t>(WorkerState::running));
    code = run_worker(worker);
  } catch (...) {
    code = 1;
  }
  std::fflush(nullptr);
  _exit(code);
}

int ParallelRuntime::run_worker(std::size_t worker) {
  Arena& arena = *arena_;
  ArenaHeader& header = arena.header();
  WorkerControl& me = arena.worker(worker);
  const WorkerPlan& plan = model_.plan.workers[worker];
  RunState state;
  state.watch_external(&header.stop, &header.abort);

  // Components of this worker that all wait on each other are not necessarily a deadlock of
  // the process (LocalProcess's rule: every component waiting): the worker goes idle and the
  // supervisor, which sees every worker, decides.
  FiberParkGroup group([](FiberParkGroup&) { return false; });
  std::map<std::size_t, std::unique_ptr<FiberParker>> parkers;  // by component index
  std::vector<std::unique_ptr<RemoteWaker>> wakers(model_.plan.workers.size());
  for (std::size_t c : plan.components) {
    parkers[c] = std::make_unique<FiberParker>(group, model_.components[c]->name());
  }
  // Heavy barriers replace the producers' fences towards workers that spin before they go
  // idle; in `block` mode every wait goes idle at once, and a fence per message is cheaper than
  // a barrier per wait.
  const bool asymmetric = header.asymmetric_barriers != 0;
  const bool registered = asymmetric && register_for_heavy_barriers();
  auto issues_heavy_barriers = [&](std::size_t w) {
    return asymmetric && wait_mode_of(w) != WaitMode::block;
  };
  auto peer_of = [&](std::size_t component) -> Parker* {
    const std::size_t w = model_.plan.worker_of[component];
    if (w == worker) return parkers.at(component).get();
    if (!wakers[w]) {
      wakers[w] =
          std::make_unique<RemoteWaker>(arena.worker(w), !(registered && issues_heavy_barriers(w)));
    }
    return wakers[w].get();
  };

  std::vector<std::unique_ptr<ComponentRunner>> runners;
  std::map<std::size_t, ComponentRunner*> runner_of;
  for (std::size_t c : plan.components) {
    ComponentSlot& slot = arena.component(c);
    runners.push_back(std::make_unique<ComponentRunner>(*model_.components[c], state,
                                                        *parkers.at(c), slot.counters));
    runners.back()->set_status_mirror(&slot.status);
    runners.back()->set_liveness_mirrors(&slot.step_sequence, &slot.waiting_on);
    runner_of[c] = runners.back().get();
  }
  std::vector<RemoteWatch> remote_inputs;
  std::vector<RemoteWatch> remote_outputs;
  for (std::size_t i = 0; i < model_.wiring.wires.size(); ++i) {
    const Wire& wire = model_.wiring.wires[i];
    const bool source_here = model_.plan.worker_of[wire.source_component] == worker;
    const bool target_here = model_.plan.worker_of[wire.target_component] == worker;
    if (!source_here && !target_here) continue;
    ChannelSlot& slot = arena.channel(i);
    const channel::Ring ring =
        channel::Ring::attach(arena.ring_memory(i, channel::Ring::bytes_required(wire.capacity)));
    if (ring.capacity() != wire.capacity) throw Error("arena corrupted: a ring's capacity changed");
    const bool remote = source_here != target_here;
    if (remote) {
      (source_here ? remote_outputs : remote_inputs).push_back({ring, !source_here});
    }
    auto index_of = [](std::span<Port* const> ports, const Port* port) {
      return static_cast<std::size_t>(std::find(ports.begin(), ports.end(), port) - ports.begin());
    };
    if (source_here) {
      Component& c = *model_.components[wire.source_component];
      runner_of[wire.source_component]->add_output(
          index_of(c.outputs(), wire.source),
          {ring, peer_of(wire.target_component), &slot.counters, &wire, false, remote});
    }
    if (target_here) {
      Component& c = *model_.components[wire.target_component];
      runner_of[wire.target_component]->add_input(
          index_of(c.inputs(), wire.target),
          {ring, peer_of(wire.source_component), &slot.counters, &wire, false, remote});
    }
  }

  bool reported = false;
  state.set_wake_all([&] {
    group.wake_all();
    if (!reported) {
      reported = true;
      if (const auto failure = state.failure()) {
        std::uint32_t index = no_component;
        for (std::size_t c : plan.components) {
          if (model_.components[c]->name() == failure->component)
            index = static_cast<std::uint32_t>(c);
        }
        me.failed_component = index;
        copy_text(me.message, sizeof(me.message), failure->message);
        std::uint32_t none = no_worker;
        // Release: the report above is visible to whoever reads failed_worker.
        compare_exchange_acq_rel(header.failed_worker, none, static_cast<std::uint32_t>(worker));
      }
    }
    store_release(header.abort, 1);
    for (std::size_t w = 0; w < model_.plan.workers.size(); ++w) {
      if (w != worker) wake_worker(arena.worker(w));
    }
  });

  // The fiber scheduler's thread_local first, then the guard: thread_local destructors run in
  // reverse order, so the guard's runs first if a component calls exit(), before any fiber ran.
  (void)boost::fibers::context::active();
  static thread_local ExitGuard exit_guard;
  (void)exit_guard;

  for (auto& runner : runners) {
    if (!runner->initialize()) break;
  }

  // Sharing a core, a worker never spins: what it waits for may need this very core.
  const bool shared_core = shares_cores(worker);
  RemoteWaiter waiter(me, group, state, wait_mode_of(worker), shared_core,
                      issues_heavy_barriers(worker), std::move(remote_inputs),
                      std::move(remote_outputs));
  const WaitMode mode = wait_mode_of(worker);
  group.set_remote_wait([&waiter] { waiter.wait(); },
                        mode == WaitMode::block || shared_core ? 0 : direct_spins);
  std::vector<ComponentRunner*> raw;
  raw.reserve(runners.size());
  for (auto& r : runners)
    raw.push_back(r.get());
  run_fibers(raw, group, model_.options.fiber_stack_size, [&](FiberRunDone& done) {
    // Runs when every component here is parked and one of them parked on a local channel
    // (a component that parks on another worker last waits on its own fiber, see
    // FiberParkGroup::set_remote_wait()), and between the components' turns otherwise.
    while (!done.done()) {
      waiter.wait();
      boost::this_fiber::yield();
    }
  });
  group.set_remote_wait({});
  state.set_wake_all({});

  if (state.failure() && reported) {
    store_release(me.state, static_cast<std::uint32_t>(WorkerState::failed));
    return exit_reported_failure;
  }
  store_release(me.state, static_cast<std::uint32_t>(WorkerState::done));
  return 0;
}

}  // namespace patchbay::detail
