#include "tasks/task_core.hpp"

#include <patchbay/internal/port_codec.hpp>
#include <patchbay/process_spec.hpp>

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/fiber/operations.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <unordered_map>

#include "fork/fork_protocol.hpp"
#include "local/fiber_scheduling.hpp"
#include "parallel/child_signals.hpp"
#include "parallel/gpu_environment.hpp"
#include "parallel/launcher.hpp"
#include "placement/cpuset_text.hpp"
#include "placement/declared_machine.hpp"
#include "shm/counters.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"
#include "tasks/task_worker.hpp"

namespace patchbay::detail {

namespace {

Runtime* current_runtime = nullptr;  // in a worker: the runtime it belongs to

// The runtimes of this process, by id, for Actor handles.
struct Runtimes {
  std::mutex mutex;
  std::map<std::uint32_t, Runtime*> by_id;
  std::uint32_t next = 1;
};
Runtimes& runtimes() {
  static Runtimes r;
  return r;
}

std::size_t round_up_pow2(std::size_t n, std::size_t at_least) {
  std::size_t p = at_least;
  while (p < n)
    p <<= 1;
  return p;
}

// The prefix of a task's argument bytes: its name (for errors), then the futures it holds.
void write_prefix(ByteWriter& out, const std::string& name,
                  const std::vector<std::shared_ptr<FutureState>>& deps) {
  const auto length = static_cast<std::uint16_t>(std::min<std::size_t>(name.size(), 0xffff));
  out.append_value(length);
  out.append(name.data(), length);
  out.append_value(static_cast<std::uint16_t>(deps.size()));
  for (const auto& d : deps)
    out.append_value(d->ref);
  // The arguments that follow keep the 8-byte alignment they were encoded with (flat vectors
  // are read in place).
  out.align(8);
}

std::string signal_text(int sig) {
  const char* text = strsignal(sig);
  return std::to_string(sig) + (text != nullptr ? std::string(" (") + text + ")" : "");
}

}  // namespace

Prefix read_prefix(ByteReader& in) {
  Prefix p;
  const auto length = in.take_value<std::uint16_t>();
  const auto name = in.take(length);
  p.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
  const auto count = in.take_value<std::uint16_t>();
  for (std::uint16_t i = 0; i < count; ++i)
    p.deps.push_back(in.take_value<FutureRef>());
  in.align(8);
  return p;
}

// ---- setting up ----

TaskCore::TaskCore(const RuntimeOptions& options, Runtime* runtime)
    : options_(options), runtime_(runtime) {
  {
    Runtimes& all = runtimes();
    const std::lock_guard lock(all.mutex);
    id_ = all.next++;
  }
  if (options_.queue_capacity > (std::size_t{1} << 20))
    throw Error("RuntimeOptions::queue_capacity is above 2^20 tasks per worker");
  if (options_.max_futures > (std::size_t{1} << 30))
    throw Error("RuntimeOptions::max_futures is above 2^30");
  topology_ = options_.topology;
  if (topology_.empty()) {
    if (const char* env = std::getenv("PATCHBAY_TOPOLOGY")) topology_ = env;
  }
  machine_ = load_machine(topology_);
  // The machine as the environment declares it (PATCHBAY_NUM_CPUS, PATCHBAY_RESOURCES, ...).
  const MachineResources declared = declared_machine({});
  limit_machine(machine_, declared);
  options_.custom_resources = custom_capacities(options_.custom_resources, declared);
  std::size_t workers = options_.workers;
  if (workers == 0) workers = std::min(machine_.cores.size(), limits::max_workers);
  if (workers > limits::max_workers) {
    throw Error("RuntimeOptions::workers is " + std::to_string(workers) + ", above the limit of " +
                std::to_string(limits::max_workers));
  }
  for (const auto& [name, amount] : options_.custom_resources)
    (void)check_quantity(amount);
  PlacementInput input;
  for (std::size_t w = 0; w < workers; ++w) {
    PlacementRequest r;
    r.component = "w" + std::to_string(w);
    r.type = "task worker";
    r.resources = options_.worker_resources;
    input.components.push_back(r);
  }
  input.workers = workers;
  plan_ = plan_placement(machine_, input);
  arena_ = std::make_shared<TaskArena>(plan_.workers.size(), remote_functions().size(),
                                       round_up_pow2(options_.queue_capacity, 64),
                                       std::max<std::size_t>(options_.max_futures, 64),
                                       options_.store_bytes, options_.max_restartable_actors);
  arena_->header().wait_mode = static_cast<std::uint32_t>(options_.wait);
  alive_ = std::vector<std::atomic<bool>>(plan_.workers.size());
  for (auto& a : alive_)
    a.store(true);
  start_workers();
  monitor_wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (monitor_wake_fd_ < 0) {
    const int error = errno;
    shutdown();
    throw Error(std::string("cannot create the task runtime's monitor: ") + std::strerror(error));
  }
  monitor_ = std::thread([this] { monitor(); });
}

TaskCore::~TaskCore() {
  shutdown();
}

void TaskCore::start_workers() {
  children_.resize(plan_.workers.size());
  // The zygote forks the workers, now and whenever one has to be replaced. With a fork server,
  // the server forks it (this process may run threads by now); otherwise it is forked here,
  // which is safe only while this process has no other thread.
  try {
    if (fork_server_running()) {
      zygote_ = std::make_unique<Zygote>(fork_server_socket(), arena_->fd(), describe());
    } else {
      zygote_ = std::make_unique<Zygote>([this](std::uint32_t w) { worker_main(w); });
    }
  } catch (...) {
    arena_->close_fd();
    throw;
  }
  arena_->close_fd();
  for (std::uint32_t w = 0; w < plan_.workers.size(); ++w) {
    const pid_t pid = zygote_->start(w);
    if (pid < 0) {
      shutdown();
      throw Error("cannot fork task worker " + worker_name(w) +
                  (fork_server_running()
                       ? " through the fork server (its copy of this program must have the same "
                         "remote functions, registered at static initialisation)"
                       : ""));
    }
    children_[w].pid = pid;
  }
}

std::string TaskCore::worker_name(std::uint32_t worker) const {
  return worker < plan_.workers.size() ? plan_.workers[worker].name : "w" + std::to_string(worker);
}

std::string TaskCore::plan_text() const {
  std::string out;
  for (const WorkerPlan& w : plan_.workers) {
    out += w.name + " cpuset " + (w.pus.empty() ? std::string("-") : cpuset_text(w.pus)) +
           " numa " + (w.numa_node < 0 ? std::string("-") : std::to_string(w.numa_node));
    for (std::size_t g = 0; g < w.gpus.size(); ++g)
      out += (g == 0 ? " gpus " : ",") + w.gpus[g];
    out += "\n";
  }
  out += plan_.bound ? "" : "(planned for another machine: workers are not bound)\n";
  return out;
}

// ---- submitting ----

std::uint32_t TaskCore::choose_worker(const TaskOptions& options) const {
  const Resources& r = options.resources;
  for (const auto& [name, amount] : r.custom) {
    const auto found = options_.custom_resources.find(name);
    if (found == options_.custom_resources.end() || found->second < amount) {
      throw Error("no worker can run the task: it asks for " + format_quantity(amount) + " of '" +
                  name + "', and the runtime has " +
                  (found == options_.custom_resources.end() ? std::string("none")
                                                            : format_quantity(found->second)));
    }
  }
  const std::size_t n = plan_.workers.size();
  const std::uint32_t start = next_worker_.load(std::memory_order_relaxed);
  std::optional<std::uint32_t> best;
  std::uint64_t best_depth = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const auto w = static_cast<std::uint32_t>((start + k) % n);
    const WorkerPlan& p = plan_.workers[w];
    if (!alive_[w].load(std::memory_order_relaxed)) continue;
    if (r.cpu > static_cast<double>(std::max<std::size_t>(p.cores.size(), 1)) ||
        r.gpu > static_cast<double>(p.gpus.size())) {
      continue;
    }
    const TaskWorkerBlock& b = arena_->worker(w);
    const std::uint64_t depth = load_relaxed(b.enqueue_index) - load_relaxed(b.dequeue_index);
    if (!best || depth < best_depth) {
      best = w;
      best_depth = depth;
      if (depth == 0) break;
    }
  }
  if (!best) {
    throw Error("no worker can run the task: it asks for " + to_string(r) + "; the workers have " +
                std::to_string(plan_.workers.empty() ? 0 : plan_.workers.front().cores.size()) +
                " core(s) and " +
                std::to_string(plan_.workers.empty() ? 0 : plan_.workers.front().gpus.size()) +
                " GPU(s) each" + (shut_down_.load() ? ", and the runtime is shut down" : ""));
  }
  next_worker_.store(*best + 1, std::memory_order_relaxed);
  return *best;
}

bool TaskCore::push(std::uint32_t worker, const TaskCell& task, std::span<const std::byte> args) {
  TaskWorkerBlock& b = arena_->worker(worker);
  const std::uint64_t capacity = arena_->queue_capacity();
  std::uint64_t pos = load_relaxed(b.enqueue_index);
  TaskCell* cell = nullptr;
  unsigned full_polls = 0;
  while (true) {
    cell = &arena_->cell(worker, pos);
    // Acquire pairs with the worker's release of the cell: it has finished reading it.
    const std::uint64_t seq = load_acquire(cell->sequence);
    const auto diff = static_cast<std::int64_t>(seq - cell_free(pos, capacity));
    if (diff == 0) {
      if (compare_exchange_weak_acq_rel(b.enqueue_index, pos, pos + 1)) break;
    } else if (diff < 0) {
      // Full: wait for the worker (which may be asleep with a full queue only if it died).
      if (load_relaxed(arena_->header().shutdown) != 0 || load_relaxed(b.state) == 2) return false;
      if (task_worker_context() != nullptr) {
        // Inside a task: let this worker's loop run meanwhile. The queue may be its own, which
        // only that loop empties; blocking the thread here would wait for ever.
        boost::this_fiber::yield();
      } else if (++full_polls < 1000) {
        spin_pause();
      } else {
        std::this_thread::yield();
      }
      pos = load_relaxed(b.enqueue_index);
    } else {
      pos = load_relaxed(b.enqueue_index);
    }
  }
  // The header (all but the sequence, which publishes it) and the arguments.
  std::memcpy(reinterpret_cast<std::byte*>(cell) + sizeof cell->sequence,
              reinterpret_cast<const std::byte*>(&task) + sizeof task.sequence,
              offsetof(TaskCell, inline_args) - sizeof task.sequence);
  if (task.args_offset != 0) {
    // The caller put them in the store.
    cell->args_offset = task.args_offset;
    cell->args_size = task.args_size;
  } else {
    if (!args.empty()) std::memcpy(cell->inline_args, args.data(), args.size());
    cell->args_offset = 0;
    cell->args_size = static_cast<std::uint32_t>(args.size());
  }
  // Release pairs with the worker's acquire of the sequence: the cell is complete with it.
  store_release(cell->sequence, cell_full(pos, capacity));
  arena_->wake_worker(worker);
  return true;
}

void TaskCore::throw_if_shut_down(const char* call) const {
  // The arena's word, for a task inside a worker (whose copy of this object never sees the
  // host's shutdown); the host's own flag from the moment shutdown() begins.
  if (load_relaxed(arena_->header().shutdown) != 0 || shut_down_.load(std::memory_order_relaxed))
    throw Error(std::string("patchbay: ") + call + " after the runtime was shut down");
}

std::shared_ptr<FutureState> TaskCore::submit(
    std::uint64_t function, const TaskOptions& options, std::span<const std::byte> args,
    const std::vector<std::shared_ptr<FutureState>>& deps) {
  throw_if_shut_down("submit()");
  return send(TaskKind::call, function, 0, choose_worker(options), options.retries, options.name,
              args, deps);
}

std::shared_ptr<FutureState> TaskCore::put(std::span<const std::byte> bytes) {
  throw_if_shut_down("put()");
  // A future no worker fills: this thread completes it at once. Its one holder is the handle.
  const std::uint32_t slot = arena_->allocate_slot(0, ~std::uint32_t{0}, 1);
  auto state =
      std::make_shared<FutureState>(arena_, FutureRef{slot, arena_->slot(slot).generation});
  (void)arena_->complete(slot, FutureStatus::ready, bytes);
  if (arena_->status(slot) != FutureStatus::ready) {
    throw Error("patchbay: put() of " + std::to_string(bytes.size()) +
                " bytes: they do not fit the store (" + std::to_string(arena_->store_free()) +
                " of " + std::to_string(arena_->store_size()) +
                " bytes free); raise RuntimeOptions::store_bytes");
  }
  return state;
}

std::shared_ptr<FutureState> TaskCore::put_reserve(std::size_t size, std::byte*& where) {
  throw_if_shut_down("put()");
  const auto offset = arena_->allocate(size);
  if (!offset) {
    throw Error("patchbay: put() of " + std::to_string(size) +
                " bytes: they do not fit the store (" + std::to_string(arena_->store_free()) +
                " of " + std::to_string(arena_->store_size()) +
                " bytes free); raise RuntimeOptions::store_bytes");
  }
  std::uint32_t slot = 0;
  try {
    slot = arena_->allocate_slot(0, ~std::uint32_t{0}, 1);
  } catch (...) {
    arena_->deallocate(*offset);
    throw;
  }
  FutureSlot& f = arena_->slot(slot);
  store_relaxed(f.result_offset, *offset);
  store_relaxed(f.result_size, static_cast<std::uint32_t>(size));
  where = arena_->at<std::byte>(*offset);
  return std::make_shared<FutureState>(arena_, FutureRef{slot, f.generation});
}

void TaskCore::put_publish(const FutureState& state) {
  // Nobody can wait for it yet (its future is not handed out): a release store publishes the
  // bytes written.
  store_release(arena_->slot(state.ref.slot).state,
                static_cast<std::uint32_t>(FutureStatus::ready));
}

std::pair<std::uint64_t, std::uint32_t> TaskCore::create_actor(
    std::uint64_t factory, const TaskOptions& options, std::span<const std::byte> args,
    const std::vector<std::shared_ptr<FutureState>>& deps) {
  throw_if_shut_down("create_actor()");
  const std::uint32_t worker = choose_worker(options);
  const std::uint64_t actor = fetch_add_acq_rel(arena_->header().next_actor, 1) + 1;
  // An actor that may restart has a record; its creation cell names it (in `retries`, which
  // an actor's cells do not use otherwise), for the worker to mark it started.
  std::uint32_t record = 0;
  if (options.max_restarts > 0)
    record = claim_actor_record(actor, worker, options.max_restarts) + 1;
  // Nobody holds the creation's future: a factory's failure shows in the actor's calls.
  try {
    (void)send(TaskKind::actor_create, factory, actor, worker, record, options.name, args, deps);
  } catch (...) {
    // Not sent (the store was full, say): a record still being filled is free again.
    if (record != 0) {
      ActorRecord& r = arena_->actor_record(record - 1);
      auto filling = static_cast<std::uint32_t>(ActorRecordState::filling);
      (void)compare_exchange_acq_rel(r.state, filling,
                                     static_cast<std::uint32_t>(ActorRecordState::free));
    }
    throw;
  }
  return {actor, worker};
}

std::uint32_t TaskCore::claim_actor_record(std::uint64_t actor, std::uint32_t worker,
                                           unsigned restarts) {
  for (std::uint32_t i = 0; i < arena_->actor_records(); ++i) {
    ActorRecord& r = arena_->actor_record(i);
    std::uint32_t expected = static_cast<std::uint32_t>(ActorRecordState::free);
    if (load_relaxed(r.state) != expected ||
        !compare_exchange_acq_rel(r.state, expected,
                                  static_cast<std::uint32_t>(ActorRecordState::filling)))
      continue;
    store_relaxed(r.actor, actor);
    store_relaxed(r.worker, worker);
    store_relaxed(r.restarts_left, restarts);
    store_relaxed(r.started, 0);
    store_relaxed(r.recipe_offset, 0);
    store_relaxed(r.recipe_size, 0);
    return i;  // ready once send() has written its recipe
  }
  throw Error("patchbay: every one of the runtime's " + std::to_string(arena_->actor_records()) +
              " restartable actors exists; kill some, or raise "
              "RuntimeOptions::max_restartable_actors");
}

void TaskCore::write_recipe(std::uint32_t record, const TaskCell& cell,
                            std::span<const std::byte> bytes,
                            const std::vector<std::shared_ptr<FutureState>>& deps) {
  ActorRecord& r = arena_->actor_record(record);
  const auto offset = arena_->allocate(offsetof(TaskCell, inline_args) + bytes.size());
  if (!offset) {
    store_release(r.state, static_cast<std::uint32_t>(ActorRecordState::free));
    throw Error("patchbay: the actor's arguments (" + std::to_string(bytes.size()) +
                " bytes) do not fit the store to be kept for its restarts (" +
                std::to_string(arena_->store_free()) +
                " bytes free); raise "
                "RuntimeOptions::store_bytes");
  }
  auto* recipe = arena_->at<std::byte>(*offset);
  std::memcpy(recipe, &cell, offsetof(TaskCell, inline_args));
  std::memcpy(recipe + offsetof(TaskCell, inline_args), bytes.data(), bytes.size());
  for (const auto& d : deps)
    arena_->add_ref(d->ref.slot);  // the recipe's own hold: each restart needs them again
  store_relaxed(r.recipe_offset, *offset);
  store_relaxed(r.recipe_size, static_cast<std::uint32_t>(bytes.size()));
  store_release(r.state, static_cast<std::uint32_t>(ActorRecordState::ready));
}

void TaskCore::drop_actor_record(std::uint32_t record) noexcept {
  ActorRecord& r = arena_->actor_record(record);
  const std::uint64_t offset = load_relaxed(r.recipe_offset);
  if (offset != 0) {
    try {
      ByteReader in(std::span<const std::byte>(
          arena_->at<const std::byte>(offset) + offsetof(TaskCell, inline_args),
          load_relaxed(r.recipe_size)));
      for (const FutureRef& d : read_prefix(in).deps)
        arena_->release(d.slot);
    } catch (...) {
    }
    arena_->deallocate(offset);
  }
  store_relaxed(r.recipe_offset, 0);
  store_release(r.state, static_cast<std::uint32_t>(ActorRecordState::free));
}

std::optional<std::uint32_t> TaskCore::take_actor_record(std::uint64_t actor) noexcept {
  for (std::uint32_t i = 0; i < arena_->actor_records(); ++i) {
    ActorRecord& r = arena_->actor_record(i);
    while (true) {
      std::uint32_t state = load_acquire(r.state);
      if (state == static_cast<std::uint32_t>(ActorRecordState::busy)) {
        spin_pause();  // the monitor restarts it just now
        continue;
      }
      if (state != static_cast<std::uint32_t>(ActorRecordState::ready) ||
          load_relaxed(r.actor) != actor)
        break;
      if (compare_exchange_acq_rel(r.state, state,
                                   static_cast<std::uint32_t>(ActorRecordState::busy)))
        return i;
    }
  }
  return std::nullopt;
}

std::shared_ptr<FutureState> TaskCore::send_to_actor(
    TaskKind kind, std::uint64_t method, std::uint64_t actor, std::uint32_t worker,
    std::span<const std::byte> args, const std::vector<std::shared_ptr<FutureState>>& deps) {
  throw_if_shut_down("a call to an actor");
  if (worker >= arena_->workers()) throw Error("patchbay: an Actor handle names no worker");
  if (kind == TaskKind::actor_kill) {
    // Killed, it is not restarted.
    if (const auto record = take_actor_record(actor)) drop_actor_record(*record);
  }
  return send(kind, method, actor, worker, 0, "", args, deps);
}

std::shared_ptr<FutureState> TaskCore::send(TaskKind kind, std::uint64_t function,
                                            std::uint64_t actor, std::uint32_t worker,
                                            unsigned retries, const std::string& name,
                                            std::span<const std::byte> args,
                                            const std::vector<std::shared_ptr<FutureState>>& deps) {
  thread_local ByteWriter bytes;
  bytes.clear();
  write_prefix(bytes, name, deps);
  bytes.append(args.data(), args.size());
  TaskCell cell{};
  cell.function = function;
  cell.kind = static_cast<std::uint32_t>(kind);
  cell.actor = actor;
  cell.retries = retries;
  if (bytes.size() > TaskCell::kInlineArgs) {
    const auto offset = arena_->allocate(bytes.size());
    if (!offset) {
      throw Error("patchbay: the task's arguments (" + std::to_string(bytes.size()) +
                  " bytes) do not fit the store (" + std::to_string(arena_->store_free()) + " of " +
                  std::to_string(arena_->store_size()) +
                  " bytes free); raise RuntimeOptions::store_bytes");
    }
    std::memcpy(arena_->at<void>(*offset), bytes.bytes().data(), bytes.size());
    cell.args_offset = *offset;
    cell.args_size = static_cast<std::uint32_t>(bytes.size());
  }
  // Two holders: the future returned, and the task until it has run.
  std::uint32_t slot = 0;
  try {
    slot = arena_->allocate_slot(function, worker, 2);
  } catch (...) {
    arena_->deallocate(cell.args_offset);
    throw;
  }
  for (const auto& d : deps)
    arena_->add_ref(d->ref.slot);  // the task's hold on its arguments
  cell.result_slot = slot;
  cell.result_generation = arena_->slot(slot).generation;
  cell.submitted_ns = steady_now_ns();
  if (kind == TaskKind::actor_create && retries != 0) {
    try {
      write_recipe(retries - 1, cell, bytes.bytes(), deps);
    } catch (...) {
      for (const auto& d : deps)
        arena_->release(d->ref.slot);
      arena_->deallocate(cell.args_offset);
      arena_->release(slot);
      arena_->release(slot);
      throw;
    }
  }
  auto state = std::make_shared<FutureState>(arena_, FutureRef{slot, cell.result_generation});
  if (!push(worker, cell, bytes.bytes())) {
    FailureText failure{name, "worker died", worker_name(worker) + " has ended", ""};
    if (failure.function.empty()) {
      const RemoteFunction* f = find_remote(function);
      failure.function = f != nullptr ? f->name : "?";
    }
    const std::string text = failure.encode();
    (void)arena_->complete(slot, FutureStatus::failed, std::as_bytes(std::span(text)));
    for (const auto& d : deps)
      arena_->release(d->ref.slot);
    arena_->deallocate(cell.args_offset);
    arena_->release(slot);
    if (kind == TaskKind::actor_create && retries != 0) {
      if (const auto record = take_actor_record(actor)) drop_actor_record(*record);
    }
  }
  return state;
}

std::vector<bool> TaskCore::wait_many(const std::vector<const FutureState*>& states,
                                      std::size_t count, std::chrono::nanoseconds timeout) {
  const auto deadline = timeout == std::chrono::nanoseconds::max()
                            ? std::chrono::steady_clock::time_point::max()
                            : std::chrono::steady_clock::now() + timeout;
  count = std::min(count, states.size());
  std::vector<bool> ready(states.size(), false);
  auto done = [&](std::uint32_t slot) {
    const FutureStatus s = arena_->status(slot);
    return s == FutureStatus::ready || s == FutureStatus::failed;
  };
  bool flagged = false;
  unsigned polls = 0;
  while (true) {
    const std::uint32_t seen = load_seq_cst(arena_->header().host_completions);
    std::size_t n = 0;
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (!ready[i] && done(states[i]->ref.slot)) ready[i] = true;
      n += ready[i] ? 1 : 0;
    }
    if (n >= count) return ready;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return ready;
    if (task_worker_context() != nullptr) {
      // Inside a task: park on the first pending one for a moment, letting the worker run.
      for (std::size_t i = 0; i < states.size(); ++i) {
        if (!ready[i]) {
          (void)arena_->await(states[i]->ref.slot, std::chrono::microseconds(100));
          break;
        }
      }
      continue;
    }
    if (++polls < 2000 && static_cast<WaitMode>(arena_->header().wait_mode) != WaitMode::block) {
      spin_pause();
      continue;
    }
    if (!flagged) {
      // Ask completions of these futures to bump the host's word, then look once more.
      for (std::size_t i = 0; i < states.size(); ++i)
        if (!ready[i]) store_seq_cst(arena_->slot(states[i]->ref.slot).host_waiting, 1);
      flagged = true;
      continue;
    }
    arena_->await_host_completion(
        seen, std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(100)));
  }
}

// ---- the worker ----

void TaskCore::worker_main(std::uint32_t w) noexcept {
  // Die with the zygote (which dies with the host), even on its kill -9; checked again in case
  // it died already.
  const pid_t zygote = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != zygote || zygote == 1) _exit(1);
  reset_signals_in_child();
  close_inherited_descriptors({});
  // Keep what tasks free: a task that builds and returns a large value (a matrix of 8 MiB)
  // would otherwise get fresh pages from the kernel each time, and pay a page fault for every
  // 4 KiB of them (on some virtual machines more than the work itself). Blocks up to 32 MiB
  // come from the heap, and the heap is not trimmed below 256 MiB.
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
  int code = 0;
  try {
    use_engine_scheduling();  // this process's thread is the engine's
    const WorkerPlan& p = plan_.workers[w];
    (void)bind_to(machine_, p.cores, p.numa_node);
    set_gpu_environment(machine_, p.gpus);
    TaskWorkerBlock& me = arena_->worker(w);
    store_relaxed(me.pid, static_cast<std::int32_t>(getpid()));
    store_release(me.state, 1);
    current_runtime = runtime_;
    // The Runtime forked us from inside its constructor, before it held this core: in this
    // process it holds it now (and is never destroyed: the worker leaves with _exit).
    if (!runtime_->core_) runtime_->core_.reset(this);
    run_task_worker(*arena_, w, worker_name(w));
  } catch (...) {
    code = 1;
  }
  std::fflush(nullptr);
  _exit(code);
}

// ---- the host's monitor ----

std::string TaskCore::describe_end(std::uint32_t worker, pid_t pid, int wait_status) const {
  std::string out = "worker " + worker_name(worker) + " (pid " + std::to_string(pid) + ")";
  if (WIFSIGNALED(wait_status))
    return out + " was killed by signal " + signal_text(WTERMSIG(wait_status));
  if (WIFEXITED(wait_status))
    return out + " exited with status " + std::to_string(WEXITSTATUS(wait_status));
  return out + " ended";
}

void TaskCore::fail_cell(std::uint32_t worker, TaskCell& cell, const std::string& why) noexcept {
  try {
    const std::span<const std::byte> all =
        cell.args_offset != 0 ? std::span<const std::byte>(
                                    arena_->at<const std::byte>(cell.args_offset), cell.args_size)
                              : std::span<const std::byte>(cell.inline_args, cell.args_size);
    std::string name;
    try {
      ByteReader in(all);
      Prefix prefix = read_prefix(in);
      name = std::move(prefix.name);
      for (const FutureRef& d : prefix.deps)
        arena_->release(d.slot);
    } catch (...) {
    }
    arena_->deallocate(cell.args_offset);
    const std::uint32_t slot = cell.result_slot;
    FailureText f{name, "worker died", why, worker_name(worker)};
    if (f.function.empty()) {
      if (const RemoteFunction* r = find_remote(arena_->slot(slot).function)) f.function = r->name;
    }
    if (cell.attempts > 1) f.message += " (sent " + std::to_string(cell.attempts) + " times)";
    const std::string text = f.encode();
    (void)arena_->complete(slot, FutureStatus::failed, std::as_bytes(std::span(text)));
    arena_->release(slot);
  } catch (...) {
  }
}

std::vector<TaskCell> TaskCore::take_running(std::uint32_t worker,
                                             std::uint64_t dequeued) noexcept {
  std::vector<TaskCell> out;
  try {
    const std::uint64_t capacity = arena_->queue_capacity();
    TaskWorkerBlock& b = arena_->worker(worker);
    const std::uint64_t used = std::min<std::uint64_t>(load_acquire(b.running_high), capacity);
    for (std::uint64_t i = 0; i < used; ++i) {
      TaskCell& entry = arena_->running(worker, i);
      const std::uint64_t seq = load_acquire(entry.sequence);
      if (seq == 0) continue;
      // Behind the read index: taken, so running. At or past it: the worker died before it
      // moved the index, and the task is still queued for the replacement.
      if (seq - 1 < dequeued) {
        TaskCell copy;
        std::memcpy(&copy, &entry, offsetof(TaskCell, inline_args));
        if (copy.args_offset == 0) std::memcpy(copy.inline_args, entry.inline_args, copy.args_size);
        copy.sequence = seq - 1;
        out.push_back(copy);
      }
      store_relaxed(entry.sequence, 0);
    }
    store_relaxed(b.running_high, 0);
    // A cell behind the read index still full: the worker died between moving the index and
    // freeing it (its task is in the table).
    for (std::uint64_t pos = dequeued > capacity ? dequeued - capacity : 0; pos < dequeued; ++pos) {
      TaskCell& cell = arena_->cell(worker, pos);
      if (load_acquire(cell.sequence) == cell_full(pos, capacity))
        store_release(cell.sequence, cell_free(pos + capacity, capacity));
    }
  } catch (...) {
  }
  return out;
}

void TaskCore::recover(std::uint32_t worker, const std::string& why, bool retry, bool drain,
                       std::vector<TaskCell>& running) noexcept {
  try {
    TaskWorkerBlock& b = arena_->worker(worker);
    const std::uint64_t capacity = arena_->queue_capacity();
    // Tasks it had taken and not finished.
    for (TaskCell& copy : running) {
      const FutureSlot& slot = arena_->slot(copy.result_slot);
      // Still its task's, and not filled: the worker died before completing it, so before
      // dropping any of its holds. (Filled, it may have dropped some: those are left.)
      const bool unfinished = load_relaxed(slot.generation) == copy.result_generation &&
                              arena_->status(copy.result_slot) == FutureStatus::pending;
      if (!unfinished) continue;
      ++copy.attempts;
      bool sent = false;
      if (retry && copy.retries > 0 && static_cast<TaskKind>(copy.kind) == TaskKind::call) {
        --copy.retries;
        try {
          TaskOptions any;
          const std::uint32_t target = choose_worker(any);
          store_relaxed(arena_->slot(copy.result_slot).worker, target);
          sent = push(target, copy,
                      std::span<const std::byte>(copy.inline_args,
                                                 copy.args_offset == 0 ? copy.args_size : 0));
        } catch (...) {
          sent = false;
        }
      }
      if (!sent) {
        fail_cell(worker, copy,
                  static_cast<TaskKind>(copy.kind) == TaskKind::call
                      ? why
                      : why + "; the call to its actor is lost");
      }
    }
    if (!drain) return;
    // Tasks still queued for it: nobody will run them.
    while (true) {
      const std::uint64_t pos = load_relaxed(b.dequeue_index);
      TaskCell& cell = arena_->cell(worker, pos);
      if (load_acquire(cell.sequence) != cell_full(pos, capacity)) break;
      TaskCell copy;
      std::memcpy(&copy, &cell, offsetof(TaskCell, inline_args));
      if (copy.args_offset == 0) std::memcpy(copy.inline_args, cell.inline_args, copy.args_size);
      store_release(cell.sequence, cell_free(pos + capacity, capacity));
      store_release(b.dequeue_index, pos + 1);
      fail_cell(worker, copy, why);
    }
  } catch (...) {
  }
}

void TaskCore::clear_restart_list(std::uint32_t worker) noexcept {
  TaskWorkerBlock& b = arena_->worker(worker);
  const std::uint64_t list = load_relaxed(b.restart_list);
  if (list == 0) return;
  for (std::uint32_t i = 0; i < load_relaxed(b.restart_count); ++i) {
    // Copied out: the store aligns blocks to 16 bytes, a TaskCell wants 64.
    TaskCell cell;
    std::memcpy(&cell, arena_->at<std::byte>(list) + i * sizeof(TaskCell), sizeof(TaskCell));
    const bool unfinished =
        load_relaxed(arena_->slot(cell.result_slot).generation) == cell.result_generation &&
        arena_->status(cell.result_slot) == FutureStatus::pending;
    if (unfinished) fail_cell(worker, cell, "its worker died before it was constructed again");
  }
  arena_->deallocate(list);
  store_relaxed(b.restart_list, 0);
  store_relaxed(b.restart_count, 0);
}

void TaskCore::prepare_restarts(std::uint32_t worker, const std::string& why) noexcept {
  clear_restart_list(worker);
  std::vector<TaskCell> cells;
  for (std::uint32_t i = 0; i < arena_->actor_records(); ++i) {
    ActorRecord& r = arena_->actor_record(i);
    std::uint32_t state = static_cast<std::uint32_t>(ActorRecordState::ready);
    if (load_relaxed(r.state) != state || load_relaxed(r.worker) != worker ||
        !compare_exchange_acq_rel(r.state, state,
                                  static_cast<std::uint32_t>(ActorRecordState::busy)))
      continue;
    // Its creation still queued: the replacement runs it from there.
    if (load_relaxed(r.worker) != worker || load_acquire(r.started) == 0) {
      store_release(r.state, static_cast<std::uint32_t>(ActorRecordState::ready));
      continue;
    }
    try {
      const auto* recipe = arena_->at<const std::byte>(load_relaxed(r.recipe_offset));
      const std::span<const std::byte> bytes(recipe + offsetof(TaskCell, inline_args),
                                             load_relaxed(r.recipe_size));
      TaskCell cell{};
      std::memcpy(&cell, recipe, offsetof(TaskCell, inline_args));
      ByteReader in(bytes);
      const Prefix prefix = read_prefix(in);
      cell.attempts = 0;
      cell.submitted_ns = steady_now_ns();
      cell.args_offset = 0;
      const bool again = load_relaxed(r.restarts_left) > 0;
      ByteWriter lost;
      std::span<const std::byte> args = bytes;
      if (!again) {
        // A tombstone: calls to it say why it is gone.
        cell.kind = static_cast<std::uint32_t>(TaskKind::actor_lost);
        const std::string text = "it died with its worker (" + why + ") and has no restarts left";
        write_prefix(lost, prefix.name, {});
        lost.append_value(static_cast<std::uint32_t>(text.size()));
        lost.append(text.data(), text.size());
        args = lost.bytes();
      }
      cell.result_slot = arena_->allocate_slot(cell.function, worker, 1);
      cell.result_generation = arena_->slot(cell.result_slot).generation;
      cell.args_size = static_cast<std::uint32_t>(args.size());
      if (args.size() > TaskCell::kInlineArgs) {
        const auto offset = arena_->allocate(args.size());
        if (!offset) {
          arena_->release(cell.result_slot);
          throw Error("the store is full");
        }
        std::memcpy(arena_->at<void>(*offset), args.data(), args.size());
        cell.args_offset = *offset;
      } else {
        std::memcpy(cell.inline_args, args.data(), args.size());
      }
      if (again) {
        for (const FutureRef& d : prefix.deps)
          arena_->add_ref(d.slot);  // the new creation's hold
        store_relaxed(r.restarts_left, load_relaxed(r.restarts_left) - 1);
        store_release(r.state, static_cast<std::uint32_t>(ActorRecordState::ready));
      } else {
        drop_actor_record(i);
      }
      cells.push_back(cell);
    } catch (...) {
      drop_actor_record(i);  // it cannot be constructed again: its calls find no actor
    }
  }
  if (cells.empty()) return;
  const auto list = arena_->allocate(cells.size() * sizeof(TaskCell));
  if (!list) {
    for (TaskCell& cell : cells)
      fail_cell(worker, cell, "the store is full");
    return;
  }
  std::memcpy(arena_->at<void>(*list), cells.data(), cells.size() * sizeof(TaskCell));
  store_relaxed(arena_->worker(worker).restart_list, *list);
  store_relaxed(arena_->worker(worker).restart_count, static_cast<std::uint32_t>(cells.size()));
}

void TaskCore::on_worker_end(std::uint32_t worker, pid_t pid, int wait_status) noexcept {
  if (worker >= children_.size() || children_[worker].pid != pid) return;
  const std::string why = describe_end(worker, pid, wait_status);
  {
    const std::lock_guard lock(children_mutex_);
    children_[worker].ended = true;
  }
  alive_[worker].store(false);
  TaskWorkerBlock& b = arena_->worker(worker);
  store_release(b.state, 2);
  // A replacement at the same index takes the tasks still queued; what the dead one was
  // running goes to any worker while it has retries.
  // Where the dead worker stopped reading: the cells behind it that are still full are what
  // it was running. Read before its replacement starts reading on from there.
  const std::uint64_t dequeued = load_acquire(b.dequeue_index);
  // What it held (futures its tasks and actors kept) goes, before a replacement counts anew;
  // what it was running is taken out of its table, which the replacement finds empty.
  arena_->release_holds(worker);
  std::vector<TaskCell> running = take_running(worker, dequeued);
  pid_t replacement = -1;
  if (!shut_down_.load()) {
    prepare_restarts(worker, why);
    store_relaxed(b.sleeping, 0);
    store_release(b.state, 0);
    replacement = zygote_->start(worker);
  }
  if (replacement > 0) {
    {
      const std::lock_guard lock(children_mutex_);
      children_[worker].pid = replacement;
      children_[worker].ended = false;
      ++children_[worker].replacements;
    }
    alive_[worker].store(true);
  } else {
    store_release(b.state, 2);
  }
  recover(worker, why, true, replacement <= 0, running);
}

void TaskCore::monitor() noexcept {
  while (!shut_down_.load()) {
    pollfd fds[2] = {{zygote_->fd(), POLLIN, 0}, {monitor_wake_fd_, POLLIN, 0}};
    (void)poll(fds, 2, -1);
    if (shut_down_.load()) break;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    bool gone = false;
    for (const Zygote::Ended& e : zygote_->take_ended(false, gone))
      on_worker_end(e.worker, e.pid, e.wait_status);
    if (gone) {
      // The zygote itself ended (killed): no worker can be replaced; those alive go on.
      break;
    }
  }
}

// ---- shutting down ----

void TaskCore::shutdown() noexcept {
  if (shut_down_.exchange(true)) return;
  if (arena_ == nullptr) return;
  store_seq_cst(arena_->header().shutdown, 1);
  for (std::uint32_t w = 0; w < arena_->workers(); ++w) {
    TaskWorkerBlock& b = arena_->worker(w);
    (void)fetch_add_seq_cst(b.wake_sequence, 1);
    futex_wake_all(&b.wake_sequence);
  }
  if (monitor_.joinable()) {
    const std::uint64_t one = 1;
    (void)!write(monitor_wake_fd_, &one, sizeof one);
    monitor_.join();
  }
  // The zygote gives the workers a moment to leave between tasks, kills what is left, reaps
  // all and ends.
  if (zygote_) {
    for (const Zygote::Ended& e : zygote_->stop(std::chrono::seconds(1))) {
      if (e.worker < children_.size() && children_[e.worker].pid == e.pid) {
        const std::lock_guard lock(children_mutex_);
        children_[e.worker].ended = true;
      }
    }
  }
  {
    const std::lock_guard lock(children_mutex_);
    for (std::uint32_t w = 0; w < children_.size(); ++w) {
      children_[w].ended = true;
      alive_[w].store(false);
    }
  }
  for (std::uint32_t w = 0; w < children_.size(); ++w) {
    store_release(arena_->worker(w).state, 2);
    std::vector<TaskCell> running = take_running(w, load_acquire(arena_->worker(w).dequeue_index));
    recover(w, "the runtime was shut down", false, true, running);
  }
  if (monitor_wake_fd_ >= 0) close(monitor_wake_fd_);
  monitor_wake_fd_ = -1;
}

// ---- stats ----

std::vector<TaskWorkerStats> TaskCore::worker_stats() const {
  std::vector<TaskWorkerStats> out;
  const std::lock_guard lock(children_mutex_);
  for (std::uint32_t w = 0; w < plan_.workers.size(); ++w) {
    const TaskWorkerBlock& b = arena_->worker(w);
    TaskWorkerStats s;
    s.name = worker_name(w);
    s.alive = !children_[w].ended;
    s.pid = s.alive ? children_[w].pid : 0;
    s.replacements = children_[w].replacements;
    s.cpuset = plan_.bound ? cpuset_text(plan_.workers[w].pus) : "";
    s.calls = load_relaxed(b.counters.calls);
    s.failures = load_relaxed(b.counters.failures);
    s.time_running = std::chrono::nanoseconds(load_relaxed(b.counters.run_ns));
    s.time_queued = std::chrono::nanoseconds(load_relaxed(b.counters.queued_ns));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<FunctionStats> TaskCore::function_stats() const {
  std::vector<FunctionStats> out;
  const auto& functions = remote_functions();
  for (std::size_t f = 0; f < arena_->functions() && f < functions.size(); ++f) {
    FunctionStats s;
    s.name = functions[f].name;
    for (std::uint32_t w = 0; w < arena_->workers(); ++w) {
      const TaskCounters& c = arena_->function_counters(w, f);
      s.calls += load_relaxed(c.calls);
      s.failures += load_relaxed(c.failures);
      s.time_running += std::chrono::nanoseconds(load_relaxed(c.run_ns));
      s.time_queued += std::chrono::nanoseconds(load_relaxed(c.queued_ns));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- the public face ----

FutureRef ref_of(const FutureState& state) {
  return state.ref;
}

std::optional<std::span<const std::byte>> await_result(const FutureState& state,
                                                       std::chrono::nanoseconds timeout) {
  TaskArena& arena = *state.arena;
  if (!arena.await(state.ref.slot, timeout)) return std::nullopt;
  if (arena.status(state.ref.slot) == FutureStatus::failed) {
    FailureText f = FailureText::decode(arena.result_bytes(state.ref.slot));
    if (f.function.empty()) {
      const RemoteFunction* r = find_remote(arena.slot(state.ref.slot).function);
      f.function = r != nullptr ? r->name : "?";
    }
    throw f.to_error();
  }
  return arena.result_bytes(state.ref.slot);
}

bool result_ready(const FutureState& state) {
  const FutureStatus s = state.arena->status(state.ref.slot);
  return s == FutureStatus::ready || s == FutureStatus::failed;
}

ByteWriter& argument_buffer() {
  thread_local ByteWriter buffer;
  return buffer;
}

}  // namespace patchbay::detail

namespace patchbay {

Runtime::Runtime(RuntimeOptions options) {
  // Assigned, not initialised: the workers are forked inside TaskCore's constructor, and each
  // finds core_ empty in its copy of this object (see TaskCore::worker_main).
  core_ = std::make_unique<detail::TaskCore>(options, this);
  detail::Runtimes& all = detail::runtimes();
  const std::lock_guard lock(all.mutex);
  all.by_id[core_->id()] = this;
}

Runtime::Runtime(Shell) noexcept {}

Runtime::~Runtime() {
  if (!core_) return;
  {
    detail::Runtimes& all = detail::runtimes();
    const std::lock_guard lock(all.mutex);
    all.by_id.erase(core_->id());
  }
  core_->shutdown();
}

std::uint32_t Runtime::id() const {
  return core_->id();
}

Runtime& Runtime::with_id(std::uint32_t id) {
  if (detail::task_worker_context() != nullptr) {
    Runtime& here = current();
    if (here.id() != id) throw Error("patchbay: an Actor handle of another runtime");
    return here;
  }
  detail::Runtimes& all = detail::runtimes();
  const std::lock_guard lock(all.mutex);
  const auto found = all.by_id.find(id);
  if (found == all.by_id.end()) throw Error("patchbay: a call on an Actor whose runtime is gone");
  return *found->second;
}

std::pair<std::uint64_t, std::uint32_t> Runtime::create_encoded(
    std::uint64_t factory, const TaskOptions& options, std::span<const std::byte> args,
    const std::vector<std::shared_ptr<detail::FutureState>>& deps) {
  return core_->create_actor(factory, options, args, deps);
}

std::shared_ptr<detail::FutureState> Runtime::submit_actor(
    std::uint64_t kind, std::uint64_t function, std::uint64_t actor, std::uint32_t worker,
    std::span<const std::byte> args,
    const std::vector<std::shared_ptr<detail::FutureState>>& deps) {
  return core_->send_to_actor(static_cast<detail::TaskKind>(kind), function, actor, worker, args,
                              deps);
}

std::shared_ptr<detail::FutureState> Runtime::submit_encoded(
    std::uint64_t function, const TaskOptions& options, std::span<const std::byte> args,
    const std::vector<std::shared_ptr<detail::FutureState>>& deps) {
  return core_->submit(function, options, args, deps);
}

std::shared_ptr<detail::FutureState> Runtime::put_encoded(std::span<const std::byte> bytes) {
  return core_->put(bytes);
}

std::shared_ptr<detail::FutureState> Runtime::put_reserve(std::size_t size, std::byte*& where) {
  return core_->put_reserve(size, where);
}

void Runtime::put_publish(const detail::FutureState& state) {
  core_->put_publish(state);
}

Runtime::StoreUsage Runtime::store_usage() const {
  const detail::TaskArena& arena = core_->arena();
  return {arena.store_size(), arena.store_free(), arena.store_repairs()};
}

std::vector<bool> Runtime::wait_states(const std::vector<const detail::FutureState*>& states,
                                       std::size_t count, std::chrono::nanoseconds timeout) {
  return core_->wait_many(states, count, timeout);
}

void Runtime::shutdown() noexcept {
  core_->shutdown();
}

std::size_t Runtime::worker_count() const {
  return core_->worker_count();
}

std::vector<TaskWorkerStats> Runtime::worker_stats() const {
  return core_->worker_stats();
}

std::vector<FunctionStats> Runtime::function_stats() const {
  return core_->function_stats();
}

std::string Runtime::plan() const {
  return core_->plan_text();
}

Runtime& Runtime::current() {
  if (detail::current_runtime == nullptr || detail::task_worker_context() == nullptr)
    throw Error("patchbay: Runtime::current() outside a task");
  return *detail::current_runtime;
}

}  // namespace patchbay
