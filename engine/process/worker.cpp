// The worker side of a ParallelProcess: what a forked child does until it exits.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "channel/ring.hpp"
#include "process/component_runner.hpp"
#include "process/fiber_parker.hpp"
#include "process/fiber_run.hpp"
#include "process/parallel_runtime.hpp"
#include "shm/futex.hpp"

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
// Adaptive mode: polls for another worker's progress this many times before sleeping.
constexpr unsigned adaptive_spins = 4096;
// Upper bound of one sleep, so a worker re-checks the stop and abort words even if a wake is lost.
constexpr auto longest_sleep = std::chrono::milliseconds(20);

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void copy_text(char* out, std::size_t size, const std::string& text) {
  const std::size_t n = std::min(size - 1, text.size());
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

/// Stands for a component in another worker: notify() tells that worker something changed.
class RemoteWaker final : public Parker {
 public:
  explicit RemoteWaker(WorkerControl& peer) : peer_(peer) {}
  void park(WaitReason) override {}  // never: a remote component parks in its own worker
  void notify() override {
    // Seq-cst pairs with the sleeper's seq-cst store of `sleeping` then re-load of the
    // sequence (Dekker): we either see it asleep and wake it, or it sees our increment.
    atomic_word(peer_.wake_sequence).fetch_add(1, std::memory_order_seq_cst);
    if (atomic_word(peer_.sleeping).load(std::memory_order_seq_cst) != 0) {
      futex_wake_all(&peer_.wake_sequence);
    }
  }

 private:
  WorkerControl& peer_;
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
  // The host's signal handlers make sense in the host only (a test framework's or a crash
  // reporter's would report the worker's death as the host's): a worker starts from defaults.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Ctrl-C reaches the whole process group; the supervisor turns it into an orderly stop.
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
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
    atomic_word(me.state).store(static_cast<std::uint32_t>(WorkerState::ready),
                                std::memory_order_release);
    ArenaHeader& header = arena_->header();
    std::uint32_t go = 0;
    // Acquire pairs with run()'s release of `go`.
    while ((go = atomic_word(header.go).load(std::memory_order_acquire)) == 0) {
      futex_wait(&header.go, 0, std::chrono::milliseconds(100));
      if (getppid() != supervisor_pid_) _exit(1);
    }
    if (go == 2) _exit(0);
    atomic_word(me.state).store(static_cast<std::uint32_t>(WorkerState::running),
                                std::memory_order_release);
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
  auto peer_of = [&](std::size_t component) -> Parker* {
    const std::size_t w = model_.plan.worker_of[component];
    if (w == worker) return parkers.at(component).get();
    if (!wakers[w]) wakers[w] = std::make_unique<RemoteWaker>(arena.worker(w));
    return wakers[w].get();
  };

  std::vector<std::unique_ptr<ComponentRunner>> runners;
  std::map<std::size_t, ComponentRunner*> runner_of;
  for (std::size_t c : plan.components) {
    ComponentSlot& slot = arena.component(c);
    runners.push_back(std::make_unique<ComponentRunner>(*model_.components[c], state,
                                                        *parkers.at(c), slot.counters));
    runners.back()->set_status_mirror(&slot.status);
    runner_of[c] = runners.back().get();
  }
  for (std::size_t i = 0; i < model_.wiring.wires.size(); ++i) {
    const Wire& wire = model_.wiring.wires[i];
    const bool source_here = model_.plan.worker_of[wire.source_component] == worker;
    const bool target_here = model_.plan.worker_of[wire.target_component] == worker;
    if (!source_here && !target_here) continue;
    ChannelSlot& slot = arena.channel(i);
    const channel::Ring ring = channel::Ring::attach(arena.at<void>(slot.ring_offset));
    const bool remote = source_here != target_here;
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
        copy_text(me.component, sizeof(me.component), failure->component);
        copy_text(me.type, sizeof(me.type), failure->type);
        copy_text(me.message, sizeof(me.message), failure->message);
        std::uint32_t none = no_worker;
        // Release: the report above is visible to whoever reads failed_worker.
        atomic_word(header.failed_worker)
            .compare_exchange_strong(none, static_cast<std::uint32_t>(worker),
                                     std::memory_order_acq_rel);
      }
    }
    atomic_word(header.abort).store(1, std::memory_order_release);
    for (std::size_t w = 0; w < model_.plan.workers.size(); ++w) {
      if (w != worker) RemoteWaker(arena.worker(w)).notify();
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

  const WaitMode mode = wait_mode_of(worker);
  const std::uint32_t first_seen = atomic_word(me.wake_sequence).load(std::memory_order_acquire);
  std::vector<ComponentRunner*> raw;
  raw.reserve(runners.size());
  for (auto& r : runners)
    raw.push_back(r.get());
  run_fibers(raw, group, model_.options.fiber_stack_size, [&](FiberRunDone& done) {
    // Read before any component fiber ran (below): a wake that arrives after a fiber parks but
    // before this fiber first runs must still count as new.
    std::uint32_t seen = first_seen;
    unsigned spins = 0;
    bool woke_for_stop = false;
    bool published_idle = false;
    while (!done.done()) {
      count(me.heartbeat);
      if (!woke_for_stop && state.stopping()) {
        woke_for_stop = true;
        group.wake_all();
      }
      // Acquire pairs with the peers' increments: their ring updates are visible.
      const std::uint32_t now = atomic_word(me.wake_sequence).load(std::memory_order_acquire);
      // Published in every wait mode, for the supervisor's deadlock check: idle with the same
      // sequence everywhere, twice in a row, means nobody can make progress.
      const bool idle = now == seen && group.all_parked();
      if (idle != published_idle) {
        published_idle = idle;
        atomic_word(me.idle_sequence).store(seen, std::memory_order_relaxed);
        atomic_word(me.idle).store(idle ? 1 : 0, std::memory_order_release);
      }
      if (now != seen) {
        seen = now;
        spins = 0;
        group.wake_remote();
      } else if (group.all_parked()) {
        if (mode == WaitMode::spin || (mode == WaitMode::adaptive && ++spins < adaptive_spins)) {
          spin_pause();
        } else {
          // Every component here waits for another worker: sleep until one of them wakes us.
          atomic_word(me.sleeping).store(1, std::memory_order_seq_cst);
          if (atomic_word(me.wake_sequence).load(std::memory_order_seq_cst) == seen &&
              !state.stopping()) {
            const auto slept_from = std::chrono::steady_clock::now();
            futex_wait(&me.wake_sequence, seen, longest_sleep);
            count(me.wait_ns,
                  static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 std::chrono::steady_clock::now() - slept_from)
                                                 .count()));
          }
          atomic_word(me.sleeping).store(0, std::memory_order_relaxed);
          spins = 0;
        }
      }
      boost::this_fiber::yield();
    }
  });
  state.set_wake_all({});

  if (state.failure() && reported) {
    atomic_word(me.state).store(static_cast<std::uint32_t>(WorkerState::failed),
                                std::memory_order_release);
    return exit_reported_failure;
  }
  atomic_word(me.state).store(static_cast<std::uint32_t>(WorkerState::done),
                              std::memory_order_release);
  return 0;
}

}  // namespace patchbay::detail
