#include <patchbay/internal/value_codec.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/registry.hpp>
#include <patchbay/resources.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <thread>

#include "channel/ring.hpp"
#include "core/text.hpp"
#include "parallel/parallel_runtime.hpp"
#include "placement/cpuset_text.hpp"
#include "placement/declared_machine.hpp"
#include "run/instantiate.hpp"
#include "run/run_state.hpp"
#include "run/stats.hpp"
#include "serve/replicas.hpp"
#include "serve/replies.hpp"
#include "shm/atomic.hpp"
#include "shm/barrier.hpp"
#include "shm/cache_line.hpp"
#include "shm/futex.hpp"

namespace patchbay {

namespace detail {

namespace {

// How long failed or stopped workers get to unwind before they are killed.
constexpr auto grace_period = std::chrono::milliseconds(500);
// How often the supervisor looks at the workers when none has exited.
constexpr int supervise_poll_ms = 10;

// Stands in the stats for a status word that holds no status: run() reports it.
constexpr Status corrupt_status = Status::failed;

std::string signal_text(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  const char* description = strsignal(signal);
  return std::string(abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal)) +
         " (" + (description ? description : "unknown") + ")";
}

// 1.5 GiB, 640 KiB, 100 bytes.
std::string bytes_text(std::uint64_t bytes) {
  static constexpr const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text,
                unit == 0 || value >= 100 || value == std::trunc(value) ? "%.0f %s" : "%.1f %s",
                value, units[unit]);
  return text;
}

// At most this much, whatever the machine's memory.
constexpr std::uint64_t arena_limit_cap = std::uint64_t{16} << 30;

struct ArenaLimit {
  std::uint64_t bytes;
  std::string why;
};

// PATCHBAY_ARENA_LIMIT when set, else half the machine's memory and at most arena_limit_cap:
// rings take memory as messages reach their pages, so a model may take this much in the end.
ArenaLimit arena_limit() {
  if (const char* text = std::getenv("PATCHBAY_ARENA_LIMIT"); text != nullptr && *text != 0) {
    double bytes = 0;
    try {
      bytes = parse_quantity(text);
    } catch (const ModelError& e) {
      throw ModelError("PATCHBAY_ARENA_LIMIT: " + e.message());
    }
    // Checked before the cast: a double beyond 2^63 does not convert.
    if (bytes < 1 || bytes >= 9.2e18 || std::trunc(bytes) != bytes) {
      throw ModelError("PATCHBAY_ARENA_LIMIT must be a whole number of bytes from 1 to 8Ei, not " +
                       quote(text));
    }
    return {static_cast<std::uint64_t>(bytes), "PATCHBAY_ARENA_LIMIT"};
  }
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  const std::uint64_t half = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) *
                                                         static_cast<std::uint64_t>(page) / 2
                                                   : arena_limit_cap;
  return {std::min(half, arena_limit_cap), "half the machine's memory, at most " +
                                               bytes_text(arena_limit_cap) +
                                               "; PATCHBAY_ARENA_LIMIT sets another"};
}

// Fails with a ModelError, before anything is allocated, when the arena would exceed its limit.
void check_arena_size(const ParallelModel& model) {
  const std::uint64_t total = arena_bytes(model);
  const ArenaLimit limit = arena_limit();
  if (total <= limit.bytes) return;
  const auto& wires = model.wiring.wires;
  std::vector<std::size_t> largest(wires.size());
  for (std::size_t i = 0; i < largest.size(); ++i)
    largest[i] = i;
  const std::size_t shown = std::min<std::size_t>(3, largest.size());
  std::partial_sort(
      largest.begin(), largest.begin() + static_cast<std::ptrdiff_t>(shown), largest.end(),
      [&](std::size_t a, std::size_t b) { return wires[a].capacity > wires[b].capacity; });
  std::string names;
  for (std::size_t k = 0; k < shown; ++k) {
    const Wire& w = wires[largest[k]];
    names += (k == 0 ? "" : ", ") + quote(w.label) + " " + bytes_text(w.capacity);
  }
  throw ModelError("the shared arena would need " + bytes_text(total) + " for " +
                       std::to_string(wires.size()) + " connectors, more than its limit of " +
                       bytes_text(limit.bytes) + " (" + limit.why + "); the largest: " + names +
                       "; lower channel_capacity or these connectors' capacity",
                   shown != 0 ? wires[largest[0]].where : SourceLocation{});
}

// The most step_timeout takes, in seconds: beyond it a duration in nanoseconds would overflow
// long before, and nobody means it.
constexpr double step_timeout_max = 1e6;

void check_step_timeout(double seconds, const std::string& what) {
  if (!(seconds >= 0 && seconds <= step_timeout_max)) {
    char text[64];
    std::snprintf(text, sizeof text, "%g", seconds);
    throw ModelError(what + " must be a number of seconds from 0 (no limit) to 1e6, not " + text);
  }
}

void check_step_timeouts(const ParallelModel& model) {
  check_step_timeout(model.options.step_timeout, "step_timeout");
  for (const auto& [name, seconds] : model.options.step_timeouts) {
    const bool known = std::any_of(model.components.begin(), model.components.end(),
                                   [&name = name](const auto& c) { return c->name() == name; });
    if (!known) throw ModelError("step_timeout for " + quote(name) + ": no component of that name");
    check_step_timeout(seconds, "step_timeout of component " + quote(name));
  }
}

std::string seconds_text(std::int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", static_cast<double>(ns) * 1e-9);
  return text;
}

// Whether process `pid` is stopped by a signal (state T in /proc/PID/stat).
bool process_stopped(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* file = std::fopen(path, "r");
  if (file == nullptr) return false;
  char text[512];
  const std::size_t n = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  text[n] = 0;
  // "pid (name) S ...": the name may hold spaces and parentheses.
  const char* close = std::strrchr(text, ')');
  return close != nullptr && close[1] == ' ' && (close[2] == 'T' || close[2] == 't');
}

}  // namespace

std::uint64_t arena_bytes(const ParallelModel& model) {
  auto rounded = [](std::uint64_t bytes) {  // as Arena::allocate() rounds
    return (bytes + cache_line_bytes - 1) / cache_line_bytes * cache_line_bytes;
  };
  std::uint64_t rings = 0;
  for (const Wire& w : model.wiring.wires)
    rings += rounded(channel::RingBase::bytes_required(w.capacity));
  for (const Wire& w : model.wiring.host_wires)
    rings += rounded(host_ring_bytes(w.capacity));
  return Arena::bytes_needed(model.plan.workers.size(), model.components.size(),
                             model.wiring.wires.size() + model.wiring.host_wires.size(), rings,
                             model.copies.size());
}

std::vector<ReplicaCopy> find_copies(std::span<const std::unique_ptr<Component>> components,
                                     const Wiring& wiring) {
  const auto index_of = [](std::span<Port* const> ports, const Port* port) {
    return static_cast<std::size_t>(std::find(ports.begin(), ports.end(), port) - ports.begin());
  };
  std::vector<ReplicaCopy> copies;
  for (std::size_t s = 0; s < components.size(); ++s) {
    const Router* split = router_of(*components[s]);
    if (split == nullptr || split->role() != Router::Role::split) continue;
    const std::size_t first = copies.size();
    copies.resize(first + split->replicas());
    for (std::size_t k = 0; k < split->replicas(); ++k) {
      copies[first + k].split = s;
      copies[first + k].merge = components.size();
      copies[first + k].component = components.size();
    }
    const std::size_t fields = split->fields();
    for (std::size_t i = 0; i < wiring.wires.size(); ++i) {
      const Wire& w = wiring.wires[i];
      if (w.source_component != s || w.event) continue;
      const std::size_t port = index_of(components[s]->outputs(), w.source);
      if (port >= split->replicas() * fields) continue;  // the order, to the merge
      ReplicaCopy& copy = copies[first + port / fields];
      copy.component = w.target_component;
      copy.in_wires.push_back(i);
    }
    for (std::size_t k = first; k < copies.size(); ++k) {
      ReplicaCopy& copy = copies[k];
      if (copy.component == components.size()) continue;
      bool carries_errors = true;
      for (std::size_t i = 0; i < wiring.wires.size(); ++i) {
        const Wire& w = wiring.wires[i];
        if (w.source_component != copy.component || w.event) continue;
        copy.merge = w.target_component;
        copy.out_wires.push_back(i);
        carries_errors = carries_errors && w.errors == WireErrors::forward && w.record_size == 0;
      }
      const Router* merge =
          copy.merge < components.size() ? router_of(*components[copy.merge]) : nullptr;
      copy.restartable = merge != nullptr && merge->role() == Router::Role::merge &&
                         !copy.out_wires.empty() && carries_errors;
    }
  }
  return copies;
}

ParallelModel prepare_parallel_model(std::vector<std::unique_ptr<Component>> components,
                                     std::vector<ConnectorSpec> connectors, ProcessOptions options,
                                     const std::vector<SourceLocation>& locations) {
  ParallelModel model;
  model.components = std::move(components);
  model.connectors = std::move(connectors);
  model.options = std::move(options);
  std::vector<Component*> raw;
  for (auto& c : model.components)
    raw.push_back(c.get());
  model.wiring = build_wiring(raw, model.connectors, model.options, locations);
  model.copies = find_copies(model.components, model.wiring);

  std::string topology = model.options.topology;
  if (topology.empty()) {
    if (const char* env = std::getenv("PATCHBAY_TOPOLOGY")) topology = env;
  }
  model.topology = topology;
  model.machine = load_machine(topology);
  const MachineResources declared = declared_machine(model.options.machine);
  limit_machine(model.machine, declared);
  PlacementInput input;
  for (const auto& c : model.components) {
    input.components.push_back({c->name(), c->type_name(), c->resources(), c->worker_label()});
  }
  for (const Wire& w : model.wiring.wires)
    input.edges.emplace_back(w.source_component, w.target_component);
  if (model.options.workers != 0) input.workers = model.options.workers;
  input.custom_capacities = custom_capacities(model.options.custom_resources, declared);
  model.requests = input.components;
  model.plan = plan_placement(model.machine, input);
  check_arena_size(model);
  check_step_timeouts(model);
  return model;
}

ParallelRuntime::ParallelRuntime(ParallelModel model, const ProcessSpec* spec)
    : model_(std::move(model)) {
  const auto& wires = model_.wiring.wires;
  const std::size_t workers = model_.plan.workers.size();
  const auto& host_wires = model_.wiring.host_wires;
  arena_ = std::make_shared<Arena>(arena_bytes(model_), workers, model_.components.size(),
                                   wires.size() + host_wires.size(), model_.copies.size());
  for (std::size_t i = 0; i < wires.size(); ++i) {
    const std::uint64_t offset =
        arena_->allocate(channel::RingBase::bytes_required(wires[i].capacity));
    // Fixed-size records where the types allow: one cache line per small message across
    // workers. The arena's memory reads zero, so create() writes the ring's header only and
    // the pages of a large ring are taken as messages first reach them.
    void* memory = arena_->at<void>(offset);
    if (wires[i].record_size != 0) {
      (void)channel::FixedRing::create(memory, wires[i].capacity, wires[i].record_size,
                                       channel::RingFill::zeroed);
    } else {
      (void)channel::VariableRing::create(memory, wires[i].capacity, channel::RingFill::zeroed);
    }
    arena_->set_ring_offset(i, offset);
  }
  // The host rings follow, in the channel table after the connectors.
  for (std::size_t h = 0; h < host_wires.size(); ++h) {
    const std::uint64_t offset = arena_->allocate(host_ring_bytes(host_wires[h].capacity));
    (void)create_host_ring(arena_->at<void>(offset), host_wires[h].capacity,
                           host_wires[h].record_size);
    arena_->set_ring_offset(wires.size() + h, offset);
  }
  for (std::size_t c = 0; c < model_.components.size(); ++c) {
    arena_->component(c).worker = static_cast<std::uint32_t>(model_.plan.worker_of[c]);
  }
  arena_->header().asymmetric_barriers = asymmetric_barriers_available() ? 1 : 0;
  for (const auto& c : model_.components) {
    const auto own = model_.options.step_timeouts.find(c->name());
    step_timeouts_.push_back(
        own != model_.options.step_timeouts.end() ? own->second : model_.options.step_timeout);
  }
  make_host_ports();
  start_workers(spec);
}

void ParallelRuntime::make_host_ports() {
  std::vector<Component*> raw;
  for (const auto& c : model_.components)
    raw.push_back(c.get());
  const auto& wiring = model_.wiring;
  for (std::size_t h = 0; h < wiring.host_wires.size(); ++h) {
    const Wire& wire = wiring.host_wires[h];
    HostPortSetup setup;
    setup.component = model_.components[wire.source_component]->name();
    setup.port = wire.source;
    setup.inbound = host_inbound(wire);
    setup.capacity = wire.capacity;
    setup.memory = arena_->ring_memory(wiring.wires.size() + h, host_ring_bytes(wire.capacity));
    setup.worker = &arena_->worker(model_.plan.worker_of[wire.source_component]);
    setup.drain_word = &arena_->header().drain;
    setup.wait = model_.options.wait;
    setup.counters = &arena_->channel(wiring.wires.size() + h).counters;
    setup.replies = replies_of(raw, wiring, wire);
    setup.keep_alive = arena_;
    host_ports_.add(std::make_shared<HostPort>(std::move(setup)));
  }
}

ParallelRuntime::ParallelRuntime(ParallelModel model, std::shared_ptr<Arena> attached)
    : model_(std::move(model)), arena_(std::move(attached)), supervisor_pid_(getpid()) {}

std::unique_ptr<ForkLauncher> ParallelRuntime::make_fork_launcher(std::function<void()> in_child) {
  supervisor_pid_ = getpid();
  return std::make_unique<ForkLauncher>([this, in_child = std::move(in_child)](std::size_t worker) {
    if (in_child) in_child();
    worker_main(worker);
  });
}

void ParallelRuntime::start_workers(const ProcessSpec* spec) {
  children_.resize(model_.plan.workers.size());
  std::vector<std::size_t> busy;
  for (std::size_t w = 0; w < children_.size(); ++w) {
    if (!model_.plan.workers[w].components.empty()) busy.push_back(w);
  }
  const bool restartable = std::any_of(model_.copies.begin(), model_.copies.end(),
                                       [](const ReplicaCopy& copy) { return copy.restartable; });
  if (spec != nullptr && fork_server_running()) {
    launcher_ = make_server_launcher({spec, &model_.plan, model_.topology, arena_.get()});
  } else if (restartable && model_.options.replica_restarts > 0) {
    // Copies whose worker dies are started again, perhaps while the host runs threads: a
    // zygote forked now forks every worker (see cut_copies()).
    launcher_ = std::make_unique<ZygoteLauncher>([this](std::size_t worker) {
      supervisor_pid_ = getppid();
      worker_main(worker);
    });
  } else {
    launcher_ = make_fork_launcher();
  }
  const std::vector<pid_t> pids = launcher_->start(busy);
  for (std::size_t i = 0; i < busy.size(); ++i)
    children_[busy[i]].pid = pids[i];
}

ParallelRuntime::~ParallelRuntime() {
  host_ports_.end_all("the process was destroyed");
  const bool any_alive = std::any_of(children_.begin(), children_.end(),
                                     [](const Child& c) { return c.pid > 0 && !c.reaped; });
  if (any_alive) {
    // Never run (or run() threw): tell the workers to leave, then reap them.
    store_release(arena_->header().go, static_cast<std::uint32_t>(Go::leave));
    futex_wake_all(&arena_->header().go);
    abort_workers();
    reap_all_after_grace();
  }
}

void ParallelRuntime::wake_workers() noexcept {
  for (std::size_t w = 0; w < children_.size(); ++w)
    wake_worker(arena_->worker(w));
}

void ParallelRuntime::stop() noexcept {
  // Async-signal-safe: a lock-free store, a store to the arena and futex wakes.
  stop_requested_.store(true, std::memory_order_release);
  store_release(arena_->header().stop, 1);
  wake_workers();
}

void ParallelRuntime::drain() noexcept {
  // Async-signal-safe, as stop(). Sources look at it between steps, and a source parks only
  // for room in an output, which its reader makes: only the workers of Ingress components,
  // which may wait for their host, are woken.
  store_release(arena_->header().drain, 1);
  for (const Wire& wire : model_.wiring.host_wires) {
    if (host_inbound(wire))
      wake_worker(arena_->worker(model_.plan.worker_of[wire.source_component]));
  }
}

void ParallelRuntime::abort_workers() noexcept {
  store_release(arena_->header().abort, 1);
  wake_workers();
}

bool ParallelRuntime::reap(std::size_t worker, bool block) {
  Child& child = children_[worker];
  if (child.pid <= 0 || child.reaped) return true;
  const std::optional<int> status = launcher_->try_reap(worker, block);
  if (!status) return false;
  // Host threads read children_ (worker_stats(), worker_pids()) under the mutex.
  const std::lock_guard<std::mutex> lock(progress_mutex_);
  child.reaped = true;
  child.wait_status = *status;
  return true;
}

void ParallelRuntime::reap_all_after_grace() {
  const auto deadline = std::chrono::steady_clock::now() + grace_period;
  for (std::size_t w = 0; w < children_.size(); ++w) {
    while (!reap(w, false)) {
      if (std::chrono::steady_clock::now() > deadline) {
        launcher_->kill_all();
        reap(w, true);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

std::string ParallelRuntime::describe_worker(std::size_t worker) const {
  const WorkerPlan& plan = model_.plan.workers[worker];
  return "worker " + plan.name + " (pid " + std::to_string(children_[worker].pid) + ", cpuset " +
         cpuset_text(plan.pus) + ")";
}

std::optional<Status> ParallelRuntime::status_of(std::size_t component) const {
  const std::uint32_t word = load_acquire(arena_->component(component).status);
  if (word > static_cast<std::uint32_t>(Status::stopped)) return std::nullopt;
  return static_cast<Status>(word);
}

std::string ParallelRuntime::crash_message(std::size_t worker, int wait_status,
                                           std::string& component, std::string& type) const {
  std::string cause;
  if (WIFSIGNALED(wait_status)) {
    cause = "died of " + signal_text(WTERMSIG(wait_status));
  } else if (exited_with(wait_status, WorkerExit::component_exit)) {
    // What exit() was given, as the worker wrote it: -1 when unknown, else 0 to 255.
    const std::int32_t code = load_relaxed(arena_->worker(worker).exit_status);
    cause = code >= 0 && code <= 255 ? "exited with code " + std::to_string(code) + " "
            : code == -1
                ? std::string("exited ")
                : "exited (arena corrupted: its exit status reads " + std::to_string(code) + ") ";
    cause += "(a component called exit())";
  } else {
    cause = "exited with code " + std::to_string(WEXITSTATUS(wait_status));
  }
  // The component that was stepping (or initialising) when its worker went down.
  std::string names;
  for (std::size_t c : model_.plan.workers[worker].components) {
    const std::optional<Status> status = status_of(c);
    if (component.empty() && (status == Status::running || status == Status::init)) {
      component = model_.components[c]->name();
      type = model_.components[c]->type_name();
    }
    names += (names.empty() ? "'" : ", '") + model_.components[c]->name() + "'";
  }
  if (component.empty()) {
    const std::size_t first = model_.plan.workers[worker].components.front();
    component = model_.components[first]->name();
    type = model_.components[first]->type_name();
  }
  return describe_worker(worker) + " " + cause + " while running '" + component +
         "' (its components: " + names + ")";
}

Failure ParallelRuntime::reported_failure(std::uint32_t reporter) const {
  const auto corrupted = [](const std::string& what) {
    return Failure{FailureKind::corrupted, "", "", "arena corrupted: " + what};
  };
  if (reporter >= children_.size() || children_[reporter].pid <= 0) {
    return corrupted("the failed worker's index reads " + std::to_string(reporter) +
                     ", but this process has " +
                     std::to_string(std::count_if(children_.begin(), children_.end(),
                                                  [](const Child& c) { return c.pid > 0; })) +
                     " workers");
  }
  const WorkerControl& control = arena_->worker(reporter);
  const std::uint32_t index = load_relaxed(control.failed_component);
  // The report is the worker's own text, up to its array's size whether or not it ends there.
  const std::string message =
      one_line(std::string_view(control.message, strnlen(control.message, sizeof control.message)));
  if (index == no_component) return {FailureKind::engine, "", "", message};
  if (index >= model_.components.size() || model_.plan.worker_of[index] != reporter) {
    return corrupted(describe_worker(reporter) + " reported a failure of component number " +
                     std::to_string(index) + ", which it does not run");
  }
  const Component& c = *model_.components[index];
  return {FailureKind::component, c.name(), c.type_name(),
          message + " (in " + describe_worker(reporter) + ")"};
}

bool ParallelRuntime::deadlocked(std::vector<std::uint32_t>& last_sequences) const {
  bool all_idle = true;
  bool any_live = false;
  std::vector<std::uint32_t> sequences(children_.size(), 0);
  for (std::size_t w = 0; w < children_.size(); ++w) {
    const Child& c = children_[w];
    if (c.pid <= 0 || c.reaped) continue;
    any_live = true;
    WorkerControl& control = arena_->worker(w);
    const std::uint32_t sequence = load_acquire(control.wake_sequence);
    sequences[w] = sequence;
    const bool idle =
        load_acquire(control.idle) != 0 && load_acquire(control.idle_sequence) == sequence;
    all_idle = all_idle && idle;
  }
  // Idle everywhere twice in a row with nothing woken in between: nobody can make progress.
  const bool stuck = any_live && all_idle && sequences == last_sequences;
  last_sequences = all_idle ? sequences : std::vector<std::uint32_t>{};
  return stuck;
}

void ParallelRuntime::run() {
  const std::int64_t now = lifecycle_.begin();
  {
    const std::lock_guard<std::mutex> lock(progress_mutex_);
    const std::size_t components = model_.components.size();
    progress_.step_sequence.assign(components, 0);
    progress_.status.assign(components, 0);
    progress_.component_since.assign(components, now);
    progress_.heartbeat.assign(children_.size(), 0);
    progress_.worker_since.assign(children_.size(), now);
  }
  ArenaHeader& header = arena_->header();
  // Release pairs with the workers' acquire on `go`: the arena is fully formatted.
  store_release(header.go, static_cast<std::uint32_t>(Go::run));
  futex_wake_all(&header.go);
  supervise();
}

void ParallelRuntime::supervise() {
  Supervision round;
  while (reap_exited(round)) {
    if (load_acquire(arena_->header().failed_worker) != no_worker) {
      begin_abort(round);
    }

    const std::int64_t now = steady_now_ns();
    observe_progress(now);
    check_step_timeouts(round, now);
    check_stop(round, now);
    check_deadlock(round);
    if (round.kill_deadline && std::chrono::steady_clock::now() > *round.kill_deadline) {
      launcher_->kill_all();
    }
    wait_for_workers();
  }
  lifecycle_.ended();
  try {
    settle(std::move(round.failure));
  } catch (const std::exception& e) {
    host_ports_.end_all(std::string("the run failed: ") + e.what());
    throw;
  }
  host_ports_.end_all(run_end_reason(std::nullopt, stop_requested_.load()));
}

void ParallelRuntime::begin_abort(Supervision& round) noexcept {
  if (round.kill_deadline) return;
  abort_workers();
  round.kill_deadline = std::chrono::steady_clock::now() + grace_period;
}

bool ParallelRuntime::reap_exited(Supervision& round) {
  bool any_live = false;
  for (std::size_t w = 0; w < children_.size(); ++w) {
    Child& c = children_[w];
    if (c.pid <= 0 || c.reaped) continue;
    if (!reap(w, false)) {
      any_live = true;
      continue;
    }
    const int st = c.wait_status;
    const bool reported = exited_with(st, WorkerExit::reported_failure);
    if (exited_with(st, WorkerExit::done) || reported) {
      if (reported) begin_abort(round);
      continue;
    }
    on_crash(round, w, st);
  }
  if (!round.restarting.empty()) restart_settled(round, any_live);
  return any_live || !round.restarting.empty();
}

void ParallelRuntime::on_crash(Supervision& round, std::size_t worker, int wait_status) {
  if (cut_copies(round, worker, wait_status)) return;
  // Died without a report: a signal, or exit() from a component.
  Failure f{FailureKind::crash, "", "", ""};
  f.message = crash_message(worker, wait_status, f.component, f.type);
  if (!round.failure && load_acquire(arena_->header().failed_worker) == no_worker) {
    round.failure = f;
  }
  // Its components cannot say so themselves: the one it was running failed, others stopped.
  for (std::size_t c : model_.plan.workers[worker].components) {
    auto& slot = arena_->component(c).status;
    if (const auto status = status_of(c); status && is_final(*status)) continue;
    const bool culprit = model_.components[c]->name() == f.component && !round.kill_deadline;
    store_relaxed(slot, static_cast<std::uint32_t>(culprit ? Status::failed : Status::stopped));
  }
  begin_abort(round);
}

// ---- replicas: a copy's worker started again ----
//
// A worker that runs nothing but copies of replicated components on a request's way (each
// between its split and its merge, docs/SERVING.md, "Replicas") is started again when it dies,
// up to ProcessOptions::replica_restarts times per copy. In order:
// 1. cut_copies(): the reason goes into each copy's slot, `cut` goes up, and the copy's rings
//    from its split are closed for reading, so that the split gives it nothing more. The split
//    and the merge are woken.
// 2. The merge answers every message the copy held (taken from its ring, being stepped, or
//    still waiting in the ring from the split) with an error record naming the copy and why,
//    in its place among the replies: in the split's order, once the copy's ring to it has
//    nothing more. Once the split has let go of the copy (its `writing` word down after the
//    close, seq-cst on both sides), `sent` is final and `settle` tells an unordered merge to
//    answer what is missing.
// 3. restart_settled(): once the merge has answered all the split sent (`answered` ==
//    `sent`), neither touches the copy's rings. Its rings from the split are emptied (the
//    reader's index moves to the writer's; what was there was answered), its rings to the merge
//    start where the merge reads, its slot and its worker's block are reset, the worker is
//    started again (through the launcher, which can fork at any time), and the rings from the
//    split are opened for reading again.
std::vector<std::size_t> ParallelRuntime::copies_of(std::size_t worker) const {
  std::vector<std::size_t> out;
  for (std::size_t c : model_.plan.workers[worker].components) {
    const auto found = std::find_if(model_.copies.begin(), model_.copies.end(),
                                    [c](const ReplicaCopy& copy) { return copy.component == c; });
    if (found == model_.copies.end() || !found->restartable) return {};
    out.push_back(static_cast<std::size_t>(found - model_.copies.begin()));
  }
  return out;
}

bool ParallelRuntime::cut_copies(Supervision& round, std::size_t worker, int wait_status) {
  if (round.kill_deadline || stop_requested_.load(std::memory_order_acquire) ||
      load_acquire(arena_->header().failed_worker) != no_worker || !launcher_->can_restart()) {
    return false;
  }
  const std::vector<std::size_t> copies = copies_of(worker);
  if (copies.empty()) return false;
  for (std::size_t i : copies) {
    if (load_relaxed(arena_->replica(i).restarts) >= model_.options.replica_restarts) return false;
  }
  const std::string reason =
      "its worker " + model_.plan.workers[worker].name + " (pid " +
      std::to_string(children_[worker].pid) + ") " +
      (WIFSIGNALED(wait_status) ? "died of " + signal_text(WTERMSIG(wait_status))
                                : "exited with code " + std::to_string(WEXITSTATUS(wait_status))) +
      " while it held this request; the copy is started again";
  for (std::size_t i : copies) {
    ReplicaSlot& slot = arena_->replica(i);
    const std::size_t size = std::min(reason.size(), sizeof slot.reason);
    std::memcpy(slot.reason, reason.data(), size);
    store_relaxed(slot.reason_size, static_cast<std::uint32_t>(size));
    store_release(slot.cut, 1);
    for (std::size_t w : model_.copies[i].in_wires) {
      // Seq-cst: the Dekker with the split's `writing` (ComponentRunner::give_to_copy()).
      store_seq_cst(ring_header(w).reader_closed, 1);
    }
    const ReplicaCopy& copy = model_.copies[i];
    // Not in a step (no step timeout runs for it) and waiting to come back.
    store_relaxed(arena_->component(copy.component).step_sequence, 0);
    store_release(arena_->component(copy.component).status,
                  static_cast<std::uint32_t>(Status::waiting));
    wake_worker(arena_->worker(model_.plan.worker_of[copy.split]));
    wake_worker(arena_->worker(model_.plan.worker_of[copy.merge]));
  }
  round.restarting.push_back(worker);
  return true;
}

// Whether the split and the merge of every copy of `worker` have let go of it.
bool ParallelRuntime::settled(std::size_t worker) const {
  bool all = true;
  for (std::size_t i : copies_of(worker)) {
    ReplicaSlot& slot = arena_->replica(i);
    if (load_seq_cst(slot.writing) != 0) {
      all = false;
      continue;
    }
    if (load_acquire(slot.settle) == 0) {
      store_release(slot.settle, 1);
      wake_worker(arena_->worker(model_.plan.worker_of[model_.copies[i].merge]));
    }
    all = all && load_acquire(slot.answered) == load_acquire(slot.sent);
  }
  return all;
}

void ParallelRuntime::restart_settled(Supervision& round, bool others_alive) {
  if (round.kill_deadline || stop_requested_.load(std::memory_order_acquire) || !others_alive) {
    // The run is ending (or nothing is left to settle with): the copies stay down.
    if (!others_alive && !round.kill_deadline && !round.failure &&
        !stop_requested_.load(std::memory_order_acquire)) {
      round.failure = Failure{FailureKind::crash, "", "",
                              describe_worker(round.restarting.front()) +
                                  " died, and the run ended before it was started again"};
    }
    for (std::size_t worker : round.restarting) {
      for (std::size_t i : copies_of(worker)) {
        store_release(arena_->component(model_.copies[i].component).status,
                      static_cast<std::uint32_t>(Status::stopped));
      }
    }
    round.restarting.clear();
    return;
  }
  for (auto it = round.restarting.begin(); it != round.restarting.end();) {
    if (!settled(*it)) {
      ++it;
      continue;
    }
    try {
      restart(*it);
    } catch (const std::exception& e) {
      if (!round.failure) {
        round.failure = Failure{FailureKind::engine, "", "",
                                "cannot start " + describe_worker(*it) + " again: " + e.what()};
      }
      begin_abort(round);
      round.restarting.clear();
      return;
    }
    it = round.restarting.erase(it);
  }
}

channel::RingHeader& ParallelRuntime::ring_header(std::size_t wire) const {
  return *static_cast<channel::RingHeader*>(arena_->ring_memory(
      wire, channel::RingBase::bytes_required(model_.wiring.wires[wire].capacity)));
}

void ParallelRuntime::restart(std::size_t worker) {
  const std::vector<std::size_t> copies = copies_of(worker);
  for (std::size_t i : copies) {
    const ReplicaCopy& copy = model_.copies[i];
    // What waited for the dead copy was answered: its reader starts at the writer.
    for (std::size_t w : copy.in_wires) {
      channel::RingHeader& ring = ring_header(w);
      store_release(ring.read_index, load_acquire(ring.write_index));
    }
    // Its writer starts where the merge reads: the record there, if any, would be one the
    // merge never expects.
    for (std::size_t w : copy.out_wires) {
      channel::RingHeader& ring = ring_header(w);
      const channel::VariableRing view = channel::VariableRing::attach(&ring);
      if (view.front_word() != 0) {
        throw Error("the ring from copy " + quote(model_.components[copy.component]->name()) +
                    " holds a record its merge did not take");
      }
      const std::uint64_t read = load_acquire(ring.read_index);
      store_relaxed(ring.cached_read_index, read);
      store_release(ring.write_index, read);
    }
    ReplicaSlot& slot = arena_->replica(i);
    store_relaxed(slot.settle, 0);
    store_relaxed(slot.restarts, load_relaxed(slot.restarts) + 1);
    store_release(slot.cut, 0);
    ComponentSlot& component = arena_->component(copy.component);
    store_relaxed(component.step_sequence, 0);
    store_relaxed(component.waiting_on, waiting_on_nothing);
    store_release(component.status, static_cast<std::uint32_t>(Status::created));
  }
  WorkerControl& control = arena_->worker(worker);
  store_relaxed(control.idle, 0);
  store_relaxed(control.attention, 0);
  store_relaxed(control.exit_status, 0);
  store_release(control.state, static_cast<std::uint32_t>(WorkerState::forked));
  {
    const std::lock_guard<std::mutex> lock(progress_mutex_);
    const std::int64_t now = steady_now_ns();
    for (std::size_t i : copies) {
      const std::size_t c = model_.copies[i].component;
      progress_.step_sequence[c] = 0;
      progress_.status[c] = static_cast<std::uint32_t>(Status::created);
      progress_.component_since[c] = now;
    }
    progress_.worker_since[worker] = now;
  }
  const pid_t pid = launcher_->restart(worker);
  {
    const std::lock_guard<std::mutex> lock(progress_mutex_);
    children_[worker] = Child{pid, false, 0};
  }
  for (std::size_t i : copies) {
    const ReplicaCopy& copy = model_.copies[i];
    for (std::size_t w : copy.in_wires)
      store_release(ring_header(w).reader_closed, 0);
    wake_worker(arena_->worker(model_.plan.worker_of[copy.split]));
  }
}

void ParallelRuntime::check_step_timeouts(Supervision& round, std::int64_t now) {
  if (round.kill_deadline) return;
  std::size_t stuck = 0;
  auto late = timed_out(now, stuck);
  if (!late) return;
  round.failure = std::move(late);
  begin_abort(round);
  // It will not unwind (its step does not return, or its process is stopped): the other
  // workers get the grace period, this one would only make the run wait it out.
  if (children_[stuck].pid > 0 && !children_[stuck].reaped) kill(children_[stuck].pid, SIGKILL);
}

void ParallelRuntime::check_stop(Supervision& round, std::int64_t now) {
  if (!round.stop_deadline && stop_requested_.load(std::memory_order_acquire)) {
    round.stop_deadline = now + std::chrono::nanoseconds(grace_period).count();
  } else if (round.stop_deadline && now > *round.stop_deadline && *round.stop_deadline != 0) {
    // A worker that does not heed a stop (a step that never returns, a stopped process)
    // must not hold the run: kill it, and say what it was doing.
    if (!round.failure)
      round.failure = Failure{FailureKind::unresponsive, "", "", stuck_report(now)};
    launcher_->kill_all();
    round.stop_deadline = 0;
  }
}

void ParallelRuntime::check_deadlock(Supervision& round) {
  // With host ports, every worker idle is a service waiting for its host, or for it to take.
  if (!model_.wiring.host_wires.empty()) return;
  if (round.kill_deadline || !deadlocked(round.idle_sequences)) return;
  // Components that only handle events and wait for one: none can come now. They end (see
  // RunState::quiet()), and what they close may let the others finish.
  if (load_acquire(arena_->header().quiet) == 0) {
    for (std::size_t c = 0; c < model_.components.size(); ++c) {
      const std::uint32_t on = load_acquire(arena_->component(c).waiting_on);
      const auto inputs = model_.components[c]->inputs();
      if (status_of(c) == Status::waiting && on != waiting_on_nothing && (on & 0x80000000u) == 0 &&
          on - 1 < inputs.size() && inputs[on - 1]->is_event()) {
        store_release(arena_->header().quiet, 1);
        wake_workers();
        round.idle_sequences.clear();
        return;
      }
    }
  }
  std::string waits;
  for (std::size_t c = 0; c < model_.components.size(); ++c) {
    if (status_of(c) != Status::waiting) continue;
    waits += (waits.empty() ? "'" : "; '") + model_.components[c]->name() + "' in " +
             model_.plan.workers[model_.plan.worker_of[c]].name;
  }
  round.failure = Failure{FailureKind::deadlock, "", "",
                          "deadlock: every component is waiting (" + waits +
                              "); raise the capacity of a connector on the cycle or give "
                              "fewer initial values"};
  begin_abort(round);
}

void ParallelRuntime::wait_for_workers() {
  std::vector<pollfd> fds;
  for (int fd : launcher_->wait_fds())
    fds.push_back({fd, POLLIN, 0});
  if (fds.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(supervise_poll_ms));
  } else {
    poll(fds.data(), fds.size(), supervise_poll_ms);
  }
}

void ParallelRuntime::settle(std::optional<Failure> failure) {
  // A worker's own report is the most precise account, except of a deadlock, which no worker
  // can see and whose report comes from workers made to stop by it.
  const std::uint32_t reporter = load_acquire(arena_->header().failed_worker);
  if (reporter != no_worker && !(failure && failure->kind == FailureKind::deadlock)) {
    failure = reported_failure(reporter);
  }
  bool any_stopped = false;
  for (std::size_t c = 0; c < model_.components.size(); ++c) {
    const std::optional<Status> s = status_of(c);
    if (!s && !failure) {
      failure =
          Failure{FailureKind::corrupted, "", "",
                  "arena corrupted: the status word of component '" + model_.components[c]->name() +
                      "' reads " + std::to_string(load_acquire(arena_->component(c).status))};
    }
    any_stopped = any_stopped || s == Status::stopped;
  }
  lifecycle_.settle(failure, any_stopped);
}

std::vector<ComponentStats> ParallelRuntime::component_stats() const {
  std::vector<ComponentStats> out;
  for (std::size_t i = 0; i < model_.components.size(); ++i) {
    const Component& c = *model_.components[i];
    const ComponentSlot& slot = arena_->component(i);
    out.push_back(snapshot(c, status_of(i).value_or(corrupt_status), slot.counters));
  }
  for (std::size_t i = 0; i < model_.copies.size(); ++i) {
    if (model_.copies[i].component < out.size())
      out[model_.copies[i].component].restarts = load_relaxed(arena_->replica(i).restarts);
  }
  return out;
}

std::map<std::string, Value::Map> ParallelRuntime::exports() const {
  std::map<std::string, Value::Map> out;
  for (std::size_t w = 0; w < model_.plan.workers.size(); ++w) {
    // Any process that maps the arena can write here: every length and index is checked.
    const std::byte* slot = arena_->exports(w);
    WorkerExports header{};
    std::memcpy(&header, slot, sizeof header);
    const std::string worker = "worker " + quote(model_.plan.workers[w].name);
    if (header.truncated != 0) {
      throw Error("what the components of " + worker + " exported is more than the " +
                  std::to_string(limits::max_worker_exports_bytes) +
                  " bytes a worker may export (limits::max_worker_exports_bytes)");
    }
    if (header.used > limits::max_worker_exports_bytes)
      throw Error("arena corrupted: the exports of " + worker + " overrun their slot");
    const std::byte* records = slot + sizeof header;
    std::size_t at = 0;
    while (at < header.used) {
      std::uint32_t index = 0;
      std::uint32_t size = 0;
      if (header.used - at < 8) throw Error("arena corrupted: the exports of " + worker);
      std::memcpy(&index, records + at, 4);
      std::memcpy(&size, records + at + 4, 4);
      at += 8;
      if (index >= model_.components.size() || size > header.used - at)
        throw Error("arena corrupted: the exports of " + worker);
      Value value = decode_value(records + at, size);
      if (!value.is_map()) throw Error("arena corrupted: the exports of " + worker);
      out[model_.components[index]->name()] = value.as_map();
      at += size;
    }
  }
  return out;
}

std::vector<ChannelStats> ParallelRuntime::channel_stats() const {
  std::vector<ChannelStats> out;
  for (std::size_t i = 0; i < model_.wiring.wires.size(); ++i) {
    const Wire& wire = model_.wiring.wires[i];
    const ChannelCounters& k = arena_->channel(i).counters;
    out.push_back(snapshot(wire, k));
  }
  const std::size_t first_host = model_.wiring.wires.size();
  for (std::size_t h = 0; h < model_.wiring.host_wires.size(); ++h)
    out.push_back(snapshot(model_.wiring.host_wires[h], arena_->channel(first_host + h).counters));
  return out;
}

std::vector<WorkerStats> ParallelRuntime::worker_stats() const {
  std::vector<WorkerStats> out;
  for (std::size_t w = 0; w < model_.plan.workers.size(); ++w) {
    const WorkerPlan& plan = model_.plan.workers[w];
    if (plan.components.empty()) continue;
    WorkerStats s;
    s.name = plan.name;
    s.cpuset = cpuset_text(plan.pus);
    s.numa_node = plan.numa_node;
    s.gpus = plan.gpus;
    std::uint64_t busy = 0;
    for (std::size_t c : plan.components) {
      s.components.push_back(model_.components[c]->name());
      s.steps += load_relaxed(arena_->component(c).counters.steps);
      busy += load_relaxed(arena_->component(c).counters.run_ticks);
    }
    s.time_busy = std::chrono::nanoseconds(ticks_to_ns(busy));
    s.time_waiting = std::chrono::nanoseconds(load_relaxed(arena_->worker(w).wait_ns));
    {
      const std::lock_guard<std::mutex> lock(progress_mutex_);
      const std::int64_t now = steady_now_ns();
      s.pid = children_[w].pid > 0 ? children_[w].pid : 0;
      s.activity = activity(w, now, &s.component);
      if (!progress_.worker_since.empty() && !children_[w].reaped) {
        s.since_progress = std::chrono::nanoseconds(now - progress_.worker_since[w]);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

void ParallelRuntime::observe_progress(std::int64_t now) {
  const std::lock_guard<std::mutex> lock(progress_mutex_);
  for (std::size_t w = 0; w < children_.size(); ++w) {
    const Child& child = children_[w];
    if (child.pid <= 0 || child.reaped) continue;
    const std::uint64_t beat = load_relaxed(arena_->worker(w).heartbeat);
    if (beat != progress_.heartbeat[w]) {
      progress_.heartbeat[w] = beat;
      progress_.worker_since[w] = now;
    }
    for (std::size_t c : model_.plan.workers[w].components) {
      const ComponentSlot& slot = arena_->component(c);
      const std::uint64_t sequence = load_relaxed(slot.step_sequence);
      const std::uint32_t status = load_acquire(slot.status);
      if (sequence != progress_.step_sequence[c] || status != progress_.status[c]) {
        progress_.step_sequence[c] = sequence;
        progress_.status[c] = status;
        progress_.component_since[c] = now;
        progress_.worker_since[w] = now;
      }
    }
  }
}

std::optional<Failure> ParallelRuntime::timed_out(std::int64_t now, std::size_t& stuck) const {
  const std::lock_guard<std::mutex> lock(progress_mutex_);
  for (std::size_t w = 0; w < children_.size(); ++w) {
    const Child& child = children_[w];
    if (child.pid <= 0 || child.reaped) continue;
    double worker_limit = 0;  // the smallest of its components' step_timeout
    bool in_step = false;
    for (std::size_t c : model_.plan.workers[w].components) {
      const double limit = step_timeouts_[c];
      if (limit > 0 && (worker_limit == 0 || limit < worker_limit)) worker_limit = limit;
      const std::uint64_t sequence = progress_.step_sequence[c];
      if (sequence % 2 == 0) continue;
      in_step = true;
      const std::int64_t took = now - progress_.component_since[c];
      if (limit <= 0 || static_cast<double>(took) * 1e-9 <= limit) continue;
      const Component& component = *model_.components[c];
      stuck = w;
      return Failure{FailureKind::step_timeout, component.name(), component.type_name(),
                     "step " + std::to_string(sequence / 2 + 1) + " has run for " +
                         seconds_text(took) + ", longer than its step_timeout of " +
                         seconds_text(static_cast<std::int64_t>(limit * 1e9)) + " (in " +
                         describe_worker(w) +
                         (process_stopped(child.pid) ? ", whose process is stopped)" : ")")};
    }
    // Start-up (forking, init()) is timed too: a worker stopped before its first step must not
    // hold the run either.
    if (worker_limit <= 0 || in_step) continue;
    const std::int64_t quiet = now - progress_.worker_since[w];
    if (static_cast<double>(quiet) * 1e-9 <= worker_limit) continue;
    std::string component;
    const std::string doing = activity(w, now, &component);
    stuck = w;
    return Failure{FailureKind::step_timeout, "", "",
                   describe_worker(w) + " has shown no progress for " + seconds_text(quiet) +
                       ", longer than its step_timeout of " +
                       seconds_text(static_cast<std::int64_t>(worker_limit * 1e9)) + ": " + doing};
  }
  return std::nullopt;
}

std::string ParallelRuntime::activity(std::size_t worker, std::int64_t now,
                                      std::string* component) const {
  const Child& child = children_[worker];
  if (child.pid <= 0) return "no components";
  if (child.reaped) return "ended";
  if (progress_.worker_since.empty()) return "not started";
  std::string waiting;
  const auto& wiring = model_.wiring.components;
  for (std::size_t c : model_.plan.workers[worker].components) {
    const std::string& name = model_.components[c]->name();
    const std::string since = seconds_text(now - progress_.component_since[c]);
    if (progress_.step_sequence[c] % 2 == 1) {
      if (component != nullptr) *component = name;
      waiting = "in step " + std::to_string(progress_.step_sequence[c] / 2 + 1) + " of " +
                quote(name) + " for " + since;
      break;
    }
    if (progress_.status[c] != static_cast<std::uint32_t>(Status::waiting)) continue;
    // What it waits on, as its runner wrote it, checked against the wiring.
    const std::uint32_t on = load_acquire(arena_->component(c).waiting_on);
    std::vector<std::size_t> wires;
    if (on != waiting_on_nothing && (on & 0x80000000u) == 0 && on - 1 < wiring[c].inputs.size()) {
      wires = wiring[c].inputs[on - 1];
    } else if ((on & 0x80000000u) != 0) {
      const std::size_t field = (on >> 16) & 0x7fff;
      const std::size_t channel = on & 0xffff;
      if (field < wiring[c].outputs.size() && channel < wiring[c].outputs[field].size())
        wires = {wiring[c].outputs[field][channel]};
    }
    std::string labels;
    for (std::size_t i : wires)
      labels += (labels.empty() ? "" : " or ") + quote(model_.wiring.wires[i].label);
    if (component != nullptr && component->empty()) *component = name;
    waiting += (waiting.empty() ? "" : "; ") + quote(name) + " waiting on " +
               (labels.empty() ? std::string("a channel") : labels) + " for " + since;
  }
  if (waiting.empty()) waiting = "between steps";
  if (process_stopped(child.pid)) waiting += " (its process is stopped)";
  return waiting;
}

std::string ParallelRuntime::stuck_report(std::int64_t now) const {
  const std::lock_guard<std::mutex> lock(progress_mutex_);
  std::string report;
  for (std::size_t w = 0; w < children_.size(); ++w) {
    const Child& child = children_[w];
    if (child.pid <= 0 || child.reaped) continue;
    report += (report.empty() ? "" : "; ") + describe_worker(w) + ": " + activity(w, now, nullptr);
  }
  return "stopped, but these workers did not stop within " +
         seconds_text(std::chrono::nanoseconds(grace_period).count()) +
         " and were killed: " + report;
}

std::vector<int> ParallelRuntime::worker_pids() const {
  const std::lock_guard<std::mutex> lock(progress_mutex_);
  std::vector<int> out;
  for (const Child& c : children_) {
    if (c.pid > 0 && !c.reaped) out.push_back(c.pid);
  }
  return out;
}

}  // namespace detail

namespace {
// The process's options, with the components' own step_timeout.
detail::ParallelModel prepare_spec_model(const ProcessSpec& spec, const Registry& registry) {
  detail::Instantiated built = detail::instantiate(spec, registry);
  return detail::prepare_parallel_model(std::move(built.components), std::move(built.connectors),
                                        std::move(built.options), built.locations);
}
}  // namespace

ParallelProcess::ParallelProcess(std::vector<std::unique_ptr<Component>> components,
                                 std::vector<ConnectorSpec> connectors, ProcessOptions options) {
  set_spec(describe(components, connectors, options), ProcessKind::parallel);
  runtime_ = std::make_unique<detail::ParallelRuntime>(detail::prepare_parallel_model(
      std::move(components), std::move(connectors), std::move(options), {}));
}

ParallelProcess::ParallelProcess(const ProcessSpec& spec)
    : ParallelProcess(spec, Registry::global()) {}

ParallelProcess::ParallelProcess(const ProcessSpec& spec, const Registry& registry)
    : runtime_(std::make_unique<detail::ParallelRuntime>(
          prepare_spec_model(spec, registry),
          // A fork server knows only the global registry (and the plugins the model names).
          &registry == &Registry::global() ? &spec : nullptr)) {
  set_spec(spec, ProcessKind::parallel);
}

ParallelProcess::~ParallelProcess() {
  end_background();
}
void ParallelProcess::run() {
  runtime_->run();
}
void ParallelProcess::stop() noexcept {
  runtime_->stop();
}
void ParallelProcess::drain() noexcept {
  runtime_->drain();
}
std::shared_ptr<detail::HostPort> ParallelProcess::host_port(std::string_view component) const {
  return runtime_->host_port(component);
}
Status ParallelProcess::status() const {
  return runtime_->status();
}
std::vector<ComponentStats> ParallelProcess::component_stats() const {
  return runtime_->component_stats();
}
std::map<std::string, Value::Map> ParallelProcess::exports() const {
  return runtime_->exports();
}
std::vector<ChannelStats> ParallelProcess::channel_stats() const {
  return runtime_->channel_stats();
}
std::chrono::nanoseconds ParallelProcess::elapsed() const {
  return runtime_->elapsed();
}
std::string ParallelProcess::plan() const {
  return runtime_->plan_text();
}
std::vector<WorkerStats> ParallelProcess::worker_stats() const {
  return runtime_->worker_stats();
}
std::vector<int> ParallelProcess::worker_pids() const {
  return runtime_->worker_pids();
}

std::string plan_placement_text(const ProcessSpec& spec) {
  ProcessSpec parallel = spec;
  parallel.kind = ProcessKind::parallel;
  return validate(parallel).plan;
}

}  // namespace patchbay
