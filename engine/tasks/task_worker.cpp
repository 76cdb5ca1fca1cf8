#include "tasks/task_worker.hpp"

#include <patchbay/internal/port_codec.hpp>

#include <cxxabi.h>
#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/operations.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "local/fiber_stack.hpp"
#include "shm/counters.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"
#include "tasks/task_core.hpp"

namespace patchbay::detail {

namespace {

// Stacks for runner fibers, from the thread's StackCache (guard-paged, kept for the next
// runner instead of unmapped). The lowest address of the stack handed out last: a runner,
// dispatched at once, reads it first thing (for unpoison_below_here()).
thread_local const char* last_stack_lowest = nullptr;

constexpr std::size_t task_stack_bytes = std::size_t{256} * 1024;

// A copyable handle to the thread's cache, as Boost.Fiber wants its allocators.
struct CachedStack {
  boost::context::stack_context allocate() {
    boost::context::stack_context c = StackCache::take(task_stack_bytes);
    last_stack_lowest = static_cast<const char*>(c.sp) - c.size;
    return c;
  }
  void deallocate(boost::context::stack_context& c) noexcept {
    StackCache::give_back(c, task_stack_bytes);
  }
};

// After an exception unwound frames on a fiber stack: AddressSanitizer keeps their poison (it
// cleans only stacks it knows), which the next frames there would trip on. Clears everything
// below the caller's frame. Nothing without ASan.
[[gnu::noinline]] void unpoison_below_here([[maybe_unused]] const char* lowest) {
#if defined(__SANITIZE_ADDRESS__)
  const char here = 0;
  if (lowest != nullptr && &here > lowest)
    ASAN_UNPOISON_MEMORY_REGION(lowest, static_cast<std::size_t>(&here - lowest));
#endif
}

// A dependency of a task failed: its text, to make the dependent's failure.
struct DependencyFailed {
  FailureText failure;
};

// An actor call that cannot run: why.
struct ActorUnavailable {
  std::string why;
};

// Boost.Fiber's condition variable wants a lock; the runners and the loop share one thread
// and switch only where they wait, so there is nothing to lock.
struct NoLock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

// Resolves a task's future arguments: parks the task's fiber until each is filled.
class Resolver final : public ArgResolver {
 public:
  explicit Resolver(TaskArena& arena) : arena_(arena) {}
  std::span<const std::byte> resolve(FutureRef ref) override {
    (void)arena_.await(ref.slot, std::chrono::nanoseconds::max());
    if (arena_.status(ref.slot) == FutureStatus::failed) {
      FailureText f = FailureText::decode(arena_.result_bytes(ref.slot));
      if (f.function.empty()) {
        const RemoteFunction* r = find_remote(arena_.slot(ref.slot).function);
        f.function = r != nullptr ? r->name : "?";
      }
      throw DependencyFailed{f};
    }
    return arena_.result_bytes(ref.slot);
  }

 private:
  TaskArena& arena_;
};

// One worker's loop and the state its tasks share.
//
// Tasks run on runner fibers, one task after another: a runner takes the queue's next cell
// into the running table when it starts it (never earlier: a task taken and not started
// would be lost with this worker, where a queued one runs on its replacement), and runs it. A
// task that waits (for a future, for its actor) parks its runner in the middle; the loop then
// starts another runner for the tasks behind it, so no task waits behind a parked one. Most
// tasks never park, so one runner serves them all without a fiber switch between them.
class Worker {
 public:
  Worker(TaskArena& arena, std::uint32_t w, std::string name)
      : arena_(arena),
        me_(arena.worker(w)),
        w_(w),
        name_(std::move(name)),
        capacity_(arena.queue_capacity()) {
    context_.worker = w;
    const auto mode = static_cast<WaitMode>(arena.header().wait_mode);
    idle_budget_ = mode == WaitMode::spin ? ~0u : mode == WaitMode::adaptive ? 20000 : 0;
    for (const RemoteFunction& f : remote_functions())
      by_id_.emplace(f.id, &f);
    for (auto i = static_cast<std::uint32_t>(capacity_); i > 0; --i)
      free_entries_.push_back(i - 1);
  }

  void run();

 private:
  // The actors living here, by id. Each call holds its actor's fiber lock, which queues the
  // calls that arrive meanwhile in order (Boost.Fiber's mutex is FIFO).
  struct ActorEntry {
    boost::fibers::mutex lock;
    void* instance = nullptr;  // null before construction, after a failed one, once killed
    ActorDestroy destroy = nullptr;
    std::string name;
    std::string unavailable = "it is not constructed yet";
  };
  // A task started: its cell (in the running table, or in the restart list's copy) and its
  // entry in the table (kNoEntry for a restart).
  struct Started {
    const TaskCell* cell;
    std::uint32_t entry;
  };
  static constexpr std::uint32_t kNoEntry = ~std::uint32_t{0};

  [[nodiscard]] bool has_next() const;
  bool take_next(Started& next);
  void hand_out();
  void runner(const char* stack_lowest);
  void run_task(const TaskCell& cell, std::uint32_t entry, const char* stack_lowest,
                ByteWriter& out);
  void invoke(const TaskCell& cell, const RemoteFunction* fn, ByteReader& in,
              const std::string& function, ByteWriter& out);
  void finish(const TaskCell& cell, std::uint32_t entry);
  void sleep_until_news();

  TaskArena& arena_;
  TaskWorkerBlock& me_;
  const std::uint32_t w_;
  const std::string name_;
  const std::uint64_t capacity_;
  TaskWorkerContext context_;
  std::unordered_map<std::uint64_t, std::unique_ptr<ActorEntry>> actors_;
  // The registered functions by id, without the registry's lock: one look-up a task.
  std::unordered_map<std::uint64_t, const RemoteFunction*> by_id_;
  // Entries of this worker's running table not in use (the host empties the table before a
  // replacement starts).
  std::vector<std::uint32_t> free_entries_;
  unsigned idle_budget_ = 0;  // polls of an empty queue before sleeping, by wait mode
  bool polled_ = false;       // a runner spent the budget polling since the loop last ran
  std::size_t live_ = 0;      // tasks started and not finished
  std::size_t idle_ = 0;      // runners waiting for work, not yet woken
  std::size_t wakeups_ = 0;   // runners woken, not yet running
  boost::fibers::condition_variable_any work_;
  std::vector<TaskCell> restarts_;      // the restart list's cells, copied out (never resized)
  std::size_t restarts_started_ = 0;    // of them, started
  std::uint32_t restarts_running_ = 0;  // of them, not yet finished
};

void Worker::run() {
  task_worker_context() = &context_;
  // A replacement first constructs again the actors that lived on its predecessor: they start
  // before any queued call, so their entries exist, locked, before any call to them starts.
  if (const std::uint64_t list = load_acquire(me_.restart_list); list != 0) {
    const std::uint32_t count = load_relaxed(me_.restart_count);
    restarts_running_ = count;
    // Copied out before any runs: the last to finish frees the list.
    restarts_.resize(count);
    std::memcpy(restarts_.data(), arena_.at<std::byte>(list), count * sizeof(TaskCell));
  }
  unsigned idle = 0;
  while (load_acquire(arena_.header().shutdown) == 0) {
    const bool work = has_next();
    if (work) hand_out();
    // The runners go on (a woken one starts here).
    if (work || live_ != 0) boost::this_fiber::yield();
    if (work || live_ > context_.fibers_waiting) {
      idle = 0;
      continue;
    }
    // A runner that found nothing to do polled the queue for the whole budget already.
    if (std::exchange(polled_, false)) idle = idle_budget_;
    if (idle < idle_budget_) {
      ++idle;
      spin_pause();
      continue;
    }
    sleep_until_news();
    idle = 0;
  }
  store_release(me_.state, 2);
}

// A task is waiting to start: a restart, or a queued cell (if the running table has room:
// a full table waits for a task to end).
bool Worker::has_next() const {
  if (restarts_started_ < restarts_.size()) return true;
  if (free_entries_.empty() || load_acquire(arena_.header().shutdown) != 0) return false;
  const std::uint64_t pos = load_relaxed(me_.dequeue_index);
  return load_acquire(arena_.cell(w_, pos).sequence) == cell_full(pos, capacity_);
}

// Takes the next task to start, if there is one. A shutdown leaves what is still queued to
// fail: looked at before each cell.
bool Worker::take_next(Started& next) {
  if (restarts_started_ < restarts_.size()) {
    next = {&restarts_[restarts_started_++], kNoEntry};
    return true;
  }
  if (free_entries_.empty() || load_acquire(arena_.header().shutdown) != 0) return false;
  const std::uint64_t pos = load_relaxed(me_.dequeue_index);
  TaskCell& cell = arena_.cell(w_, pos);
  // Acquire pairs with push()'s release: the cell is complete.
  if (load_acquire(cell.sequence) != cell_full(pos, capacity_)) return false;
  // Into the running table: the header and the arguments the cell holds (the rest of its 256
  // bytes is not read). Then the read index moves and the cell is free: a task that runs long
  // never holds up the queue. If this worker dies, the host finds in the table what it was
  // running (an entry whose position is behind the read index), to retry it.
  const std::uint32_t entry = free_entries_.back();
  free_entries_.pop_back();
  if (entry >= load_relaxed(me_.running_high)) store_relaxed(me_.running_high, entry + 1);
  TaskCell& task = arena_.running(w_, entry);
  std::memcpy(reinterpret_cast<std::byte*>(&task) + sizeof task.sequence,
              reinterpret_cast<const std::byte*>(&cell) + sizeof cell.sequence,
              offsetof(TaskCell, inline_args) - sizeof cell.sequence);
  if (task.args_offset == 0 && task.args_size <= TaskCell::kInlineArgs)
    std::memcpy(task.inline_args, cell.inline_args, task.args_size);
  store_release(task.sequence, pos + 1);
  store_release(me_.dequeue_index, pos + 1);
  // Release pairs with push()'s acquire: the cell may be reused, a lap later.
  store_release(cell.sequence, cell_free(pos + capacity_, capacity_));
  next = {&task, entry};
  return true;
}

// A task waits to start: it needs a runner. Every runner is waiting for work (idle), woken
// and about to run, or parked inside a task (the loop runs only when they all wait or yield).
// The first two take tasks in order; if there are none, a new runner starts at once.
void Worker::hand_out() {
  if (wakeups_ != 0) return;
  if (idle_ != 0) {
    --idle_;
    ++wakeups_;
    work_.notify_one();
    return;
  }
  boost::fibers::fiber(boost::fibers::launch::dispatch, std::allocator_arg, CachedStack{}, [this] {
    runner(last_stack_lowest);
  }).detach();
}

void Worker::runner(const char* stack_lowest) {
  ByteWriter out;  // this runner's result buffer, kept from task to task
  NoLock none;
  Started next{};
  while (true) {
    for (unsigned n = 1; take_next(next); ++n) {
      ++live_;
      out.clear();
      // What frames unwound by exceptions (or left by fiber switches) poisoned on this stack
      // must not trip the task's own frames.
      unpoison_below_here(stack_lowest);
      run_task(*next.cell, next.entry, stack_lowest, out);
      --live_;
      // Parked tasks look at their futures when the others yield: now and then.
      if (n % 64 == 0 && live_ != 0) boost::this_fiber::yield();
    }
    if (live_ == 0 && !has_next()) {
      // Nothing parked: this runner is all the worker does. It polls the queue itself, so that
      // the next task starts here without a switch to the loop and back.
      unsigned polls = 0;
      while (polls < idle_budget_ && load_acquire(arena_.header().shutdown) == 0 && !has_next()) {
        ++polls;
        spin_pause();
      }
      if (has_next()) continue;
      polled_ = true;
    }
    // One runner stays for the next batch; the others end (their stacks go back to the cache).
    if (idle_ + wakeups_ != 0 || load_acquire(arena_.header().shutdown) != 0) return;
    ++idle_;
    work_.wait(none, [this] { return wakeups_ != 0; });
    --wakeups_;
  }
}

void Worker::run_task(const TaskCell& cell, std::uint32_t entry, const char* stack_lowest,
                      ByteWriter& out) {
  const std::int64_t start = steady_now_ns();
  const std::span<const std::byte> all =
      cell.args_offset != 0
          ? std::span<const std::byte>(arena_.at<const std::byte>(cell.args_offset), cell.args_size)
          : std::span<const std::byte>(cell.inline_args, cell.args_size);
  const auto known = by_id_.find(cell.function);
  const RemoteFunction* fn = known != by_id_.end() ? known->second : nullptr;
  FailureText failure;
  bool ok = false;
  Prefix prefix;
  std::exception_ptr thrown;  // classified below, once the unwound frames are clean
  try {
    ByteReader in(all);
    prefix = read_prefix(in);
    failure.function = !prefix.name.empty() ? prefix.name : fn != nullptr ? fn->name : "?";
    invoke(cell, fn, in, failure.function, out);
    ok = true;
  } catch (...) {
    thrown = std::current_exception();
  }
  if (thrown) {
    unpoison_below_here(stack_lowest);
    failure.worker = name_;
    try {
      std::rethrow_exception(thrown);
    } catch (const ActorUnavailable& a) {
      failure.type = "actor unavailable";
      failure.message = "the actor cannot take calls: " + a.why;
    } catch (const DependencyFailed& d) {
      failure.type = d.failure.type;
      failure.message = std::string("an argument's task failed: ") + d.failure.to_error().what();
    } catch (const std::exception& e) {
      failure.type = demangle(typeid(e).name());
      failure.message = e.what();
    } catch (...) {
      const std::type_info* t = abi::__cxa_current_exception_type();
      failure.type = t != nullptr ? demangle(t->name()) : "unknown";
      failure.message = "(an exception that is not a std::exception)";
    }
    if (static_cast<TaskKind>(cell.kind) == TaskKind::actor_create) {
      if (const auto found = actors_.find(cell.actor); found != actors_.end()) {
        found->second->unavailable = "its factory '" + failure.function +
                                     "' failed: " + failure.type + ": " + failure.message;
      }
    }
  }
  // Counted before the result is published: whoever sees the result sees it counted.
  const std::int64_t end = steady_now_ns();
  const auto add = [&](TaskCounters& c) {
    store_relaxed(c.calls, c.calls + 1);
    if (!ok) store_relaxed(c.failures, c.failures + 1);
    store_relaxed(c.run_ns, c.run_ns + static_cast<std::uint64_t>(end - start));
    store_relaxed(c.queued_ns, c.queued_ns + static_cast<std::uint64_t>(std::max<std::int64_t>(
                                                 0, start - cell.submitted_ns)));
  };
  add(me_.counters);
  if (fn != nullptr && fn->index < arena_.functions()) add(arena_.function_counters(w_, fn->index));
  if (ok) {
    (void)arena_.complete(cell.result_slot, FutureStatus::ready, out.bytes());
  } else {
    const std::string text = failure.encode();
    (void)arena_.complete(cell.result_slot, FutureStatus::failed, std::as_bytes(std::span(text)));
  }
  for (const FutureRef& d : prefix.deps)
    arena_.release(d.slot);
  finish(cell, entry);
}

// Inlined into run_task(), inside its try block, on purpose: an exception from the task then
// lands in run_task()'s catch without passing through a cleanup of this frame, whose resume
// makes AddressSanitizer look at the stack below, still poisoned by the thrower's frames on a
// fiber stack it cannot clean.
[[gnu::always_inline]] inline void Worker::invoke(const TaskCell& cell, const RemoteFunction* fn,
                                                  ByteReader& in, const std::string& function,
                                                  ByteWriter& out) {
  const auto kind = static_cast<TaskKind>(cell.kind);
  if (fn == nullptr && kind != TaskKind::actor_kill && kind != TaskKind::actor_lost)
    throw Error("the function is not registered in this worker");
  Resolver resolver(arena_);
  switch (kind) {
    case TaskKind::call:
      fn->invoker(in, resolver, out);
      return;
    case TaskKind::actor_create: {
      // The entry exists, locked, before the factory runs: calls that arrive meanwhile queue on
      // its lock, in order.
      auto& entry = actors_[cell.actor];
      entry = std::make_unique<ActorEntry>();
      const std::unique_lock lock(entry->lock);
      entry->name = function;
      entry->destroy = fn->destroy;
      if (cell.retries != 0) {
        // It may restart: from now on its creation is no longer queued.
        ActorRecord& record = arena_.actor_record(cell.retries - 1);
        if (load_relaxed(record.actor) == cell.actor) store_release(record.started, 1);
      }
      // A factory that throws leaves the entry without an instance; run_task() writes the
      // failure into it.
      entry->instance = fn->create(in, resolver);
      return;
    }
    case TaskKind::actor_lost: {
      // An actor that lived on this worker's predecessor and does not come back.
      auto& entry = actors_[cell.actor];
      entry = std::make_unique<ActorEntry>();
      const auto length = in.take_value<std::uint32_t>();
      const auto why = in.take(length);
      entry->unavailable.assign(reinterpret_cast<const char*>(why.data()), why.size());
      return;
    }
    case TaskKind::actor_call:
    case TaskKind::actor_kill: {
      const auto found = actors_.find(cell.actor);
      if (found == actors_.end()) {
        throw ActorUnavailable{
            "it is not on this worker (an actor dies with its worker unless created with "
            "TaskOptions::max_restarts)"};
      }
      ActorEntry& entry = *found->second;
      const std::unique_lock lock(entry.lock);
      if (entry.instance == nullptr) throw ActorUnavailable{entry.unavailable};
      if (kind == TaskKind::actor_kill) {
        void* instance = std::exchange(entry.instance, nullptr);
        entry.unavailable = "it was killed";
        entry.destroy(instance);
      } else {
        fn->method(entry.instance, in, resolver, out);
      }
      return;
    }
  }
}

// The task's result is published: its arguments and its entry go.
void Worker::finish(const TaskCell& cell, std::uint32_t entry) {
  arena_.deallocate(cell.args_offset);
  arena_.release(cell.result_slot);
  if (entry != kNoEntry) {
    // Done with the entry (`cell` is it: not read past here).
    store_release(arena_.running(w_, entry).sequence, 0);
    free_entries_.push_back(entry);
  } else if (--restarts_running_ == 0) {
    // The restart list is done with: the host looks at it only if this worker dies.
    const std::uint64_t list = load_relaxed(me_.restart_list);
    store_relaxed(me_.restart_list, 0);
    store_relaxed(me_.restart_count, 0);
    arena_.deallocate(list);
  }
}

// Nothing to run: sleeps until a push or a completion wakes this worker (Dekker with
// TaskArena::wake_worker).
void Worker::sleep_until_news() {
  store_seq_cst(me_.sleeping, 1);
  const std::uint32_t seen = load_seq_cst(me_.wake_sequence);
  const std::uint64_t pos = load_relaxed(me_.dequeue_index);
  const bool news = load_acquire(arena_.cell(w_, pos).sequence) == cell_full(pos, capacity_) ||
                    load_acquire(arena_.header().shutdown) != 0 || context_.fibers_waiting != 0;
  // A fiber waits on a future: wake up now and then to let it look (a completion also wakes
  // this worker directly).
  if (!news || context_.fibers_waiting != 0) {
    futex_wait(&me_.wake_sequence, seen,
               context_.fibers_waiting != 0 ? std::chrono::milliseconds(1)
                                            : std::chrono::milliseconds(100));
  }
  store_relaxed(me_.sleeping, 0);
}

}  // namespace

void run_task_worker(TaskArena& arena, std::uint32_t worker, std::string name) {
  // Never destroyed: the process ends with _exit() after this returns, and fibers may still
  // wait on its actors' locks and on its runners' condition variable, which must not be
  // destroyed under them.
  auto* worker_loop = new Worker(arena, worker, std::move(name));
  worker_loop->run();
}

}  // namespace patchbay::detail
