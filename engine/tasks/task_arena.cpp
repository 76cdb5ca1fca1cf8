#include "tasks/task_arena.hpp"

#include <patchbay/process_spec.hpp>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

#include <patchbay/error.hpp>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "shm/futex.hpp"
#include "shm/spin.hpp"

namespace patchbay::detail {

namespace {

constexpr std::uint64_t kMagic = 0x6b73617462686370;  // "pchbtask"

constexpr std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}

[[noreturn]] void fail(const std::string& what) {
  throw Error("cannot " + what + " the task runtime's shared memory: " + std::strerror(errno));
}

}  // namespace

TaskArena::TaskArena(std::size_t workers, std::size_t functions, std::size_t queue_capacity,
                     std::size_t future_slots, std::size_t store_bytes, std::size_t actor_records,
                     int attach_to)
    : workers_(workers),
      functions_(functions),
      queue_capacity_(queue_capacity),
      future_slots_(static_cast<std::uint32_t>(future_slots)),
      actor_records_(actor_records) {
  std::uint64_t next = round_up(sizeof(TaskArenaHeader), 4096);
  auto table = [&](std::uint64_t bytes) {
    const std::uint64_t at = next;
    next = round_up(next + bytes, cache_line_bytes);
    return at;
  };
  workers_offset_ = table(workers * sizeof(TaskWorkerBlock));
  cells_offset_ = table(std::uint64_t{workers} * queue_capacity * sizeof(TaskCell));
  running_offset_ = table(std::uint64_t{workers} * queue_capacity * sizeof(TaskCell));
  slots_offset_ = table(std::uint64_t{future_slots} * sizeof(FutureSlot));
  counters_offset_ =
      table(std::uint64_t{workers} * (functions == 0 ? 1 : functions) * sizeof(TaskCounters));
  holds_offset_ = table(std::uint64_t{workers} * future_slots * sizeof(std::uint32_t));
  actors_offset_ = table(std::uint64_t{actor_records} * sizeof(ActorRecord));
  store_offset_ = round_up(next, 4096);
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  size_ = round_up(store_offset_ + store_bytes, page);

  const bool attach = attach_to >= 0;
  const int memfd = attach ? attach_to : memfd_create("patchbay-tasks", MFD_CLOEXEC);
  if (memfd < 0) fail("create");
  if (attach) {
    struct stat s {};
    if (fstat(memfd, &s) != 0 || static_cast<std::size_t>(s.st_size) != size_) {
      close(memfd);
      throw Error("the task runtime's shared memory does not have the size its options give");
    }
  } else if (fchmod(memfd, 0600) != 0 || ftruncate(memfd, static_cast<off_t>(size_)) != 0) {
    const int error = errno;
    close(memfd);
    errno = error;
    fail("size");
  }
  base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (base_ == MAP_FAILED) {
    const int error = errno;
    base_ = nullptr;
    close(memfd);
    errno = error;
    fail("map");
  }
  // The mapping is kept; the descriptor only until a fork server has been sent it (workers
  // forked here inherit the mapping).
  memfd_ = memfd;
  if (attach) {
    if (header().magic != kMagic || header().workers != workers ||
        header().functions != functions) {
      munmap(base_, size_);
      close(memfd);
      throw Error("the task runtime's shared memory does not match its options");
    }
    store_ = TaskStore::attach(base_, store_offset_);
    return;
  }

  auto* h = ::new (base_) TaskArenaHeader{};
  h->magic = kMagic;
  h->workers = static_cast<std::uint32_t>(workers);
  h->functions = static_cast<std::uint32_t>(functions);
  h->queue_capacity = queue_capacity;
  h->future_slots = future_slots;
  // The worker blocks, the queues (see cell_free) and the future slots are ready as the
  // memfd's zeroes: a new arena touches only the pages its first tasks reach.
  h->free_head = 0;
  h->next_unused = 0;
  try {
    store_ = TaskStore::format(base_, store_offset_, size_ - store_offset_);
  } catch (...) {
    munmap(base_, size_);
    close(memfd_);
    throw;
  }
}

void TaskArena::close_fd() noexcept {
  if (memfd_ >= 0) close(memfd_);
  memfd_ = -1;
}

TaskArena::~TaskArena() {
  close_fd();
  if (base_ != nullptr) munmap(base_, size_);
}

std::optional<std::uint64_t> TaskArena::allocate(std::size_t bytes) {
  return store_.allocate(bytes);
}

void TaskArena::deallocate(std::uint64_t offset) noexcept {
  store_.deallocate(offset);
}

std::size_t TaskArena::store_size() const {
  return store_.size();
}

std::size_t TaskArena::store_free() const {
  return store_.free();
}

TaskWorkerContext*& task_worker_context() noexcept {
  thread_local TaskWorkerContext* context = nullptr;
  return context;
}

// ---- futures ----
//
// The free list is a Treiber stack of slot numbers plus one, with a tag in the high half of
// the head that every pop bumps, so that a slot popped and pushed back between another
// process's load and CAS is not mistaken for the same head (ABA).

std::uint32_t TaskArena::allocate_slot(std::uint64_t function, std::uint32_t worker,
                                       std::uint32_t refs) {
  TaskArenaHeader& h = header();
  std::uint64_t head = load_acquire(h.free_head);
  std::uint32_t s = 0;
  while (true) {
    const auto top = static_cast<std::uint32_t>(head);
    if (top == 0) {
      // Nothing freed to reuse: a slot never used yet.
      s = fetch_add_acq_rel(h.next_unused, 1);
      if (s < future_slots_) break;
      throw Error("patchbay: every one of the runtime's " + std::to_string(future_slots_) +
                  " futures is in use; drop futures sooner or raise RuntimeOptions::max_futures");
    }
    s = top - 1;
    // Relaxed: a stale value fails the CAS below (the tag moved), and is then read again.
    const std::uint32_t next = load_relaxed(slot(s).next_free);
    const std::uint64_t tag = (head >> 32) + 1;
    if (compare_exchange_weak_acq_rel(h.free_head, head, (tag << 32) | next)) break;
  }
  FutureSlot& f = slot(s);
  store_relaxed(f.generation, f.generation + 1);
  store_relaxed(f.refs, refs);
  store_relaxed(f.host_waiting, 0);
  store_relaxed(f.worker_waiters, 0);
  store_relaxed(f.worker, worker);
  store_relaxed(f.result_size, 0);
  store_relaxed(f.result_offset, 0);
  store_relaxed(f.function, function);
  // Release pairs with the acquire of status(): the fields above are set once it reads pending.
  store_release(f.state, static_cast<std::uint32_t>(FutureStatus::pending));
  return s;
}

void TaskArena::add_ref(std::uint32_t s) noexcept {
  (void)fetch_add_acq_rel(slot(s).refs, 1);
}

void TaskArena::release(std::uint32_t s) noexcept {
  FutureSlot& f = slot(s);
  // Acq-rel: the last holder sees every other holder's reads finished before it frees.
  if (fetch_add_acq_rel(f.refs, static_cast<std::uint32_t>(-1)) != 1) return;
  const std::uint64_t offset = load_relaxed(f.result_offset);
  if (offset != 0) deallocate(offset);
  store_relaxed(f.result_offset, 0);
  store_release(f.state, static_cast<std::uint32_t>(FutureStatus::free));
  TaskArenaHeader& h = header();
  std::uint64_t head = load_acquire(h.free_head);
  do {
    store_relaxed(f.next_free, static_cast<std::uint32_t>(head));
  } while (!compare_exchange_weak_acq_rel(h.free_head, head,
                                          (head & ~std::uint64_t{0xffffffff}) | (s + 1)));
}

void TaskArena::note_hold(std::uint32_t s) noexcept {
  if (const TaskWorkerContext* c = task_worker_context()) {
    std::uint32_t& n = at<std::uint32_t>(holds_offset_)[c->worker * future_slots_ + s];
    store_relaxed(n, n + 1);  // only this worker writes its row
  }
}

void TaskArena::drop_hold(std::uint32_t s) noexcept {
  if (const TaskWorkerContext* c = task_worker_context()) {
    std::uint32_t& n = at<std::uint32_t>(holds_offset_)[c->worker * future_slots_ + s];
    store_relaxed(n, n - 1);
  }
}

void TaskArena::release_holds(std::uint32_t w) noexcept {
  // Slots past the high-water mark were never handed out: their rows are not even touched.
  const std::uint32_t used = std::min(load_acquire(header().next_unused), future_slots_);
  std::uint32_t* row = at<std::uint32_t>(holds_offset_) + std::uint64_t{w} * future_slots_;
  for (std::uint32_t s = 0; s < used; ++s) {
    for (std::uint32_t n = load_relaxed(row[s]); n > 0; --n)
      release(s);
    store_relaxed(row[s], 0);
  }
}

bool TaskArena::complete(std::uint32_t s, FutureStatus status,
                         std::span<const std::byte> bytes) noexcept {
  FutureSlot& f = slot(s);
  // Claim the slot first, so that only one party (its worker, or the host failing a lost
  // worker's tasks) writes the result.
  std::uint32_t expected = static_cast<std::uint32_t>(FutureStatus::pending);
  if (!compare_exchange_acq_rel(f.state, expected,
                                static_cast<std::uint32_t>(FutureStatus::completing)))
    return false;
  std::string full;  // the failure that replaces a result the store cannot hold
  if (bytes.size() > FutureSlot::kInlineResult) {
    auto offset = allocate(bytes.size());
    if (!offset) {
      // Failure text (see FailureText): function and worker are left for the reader.
      status = FutureStatus::failed;
      try {
        full = std::string(1, '\0') + "store full" + '\0' + "a result of " +
               std::to_string(bytes.size()) + " bytes does not fit the store (" +
               std::to_string(store_free()) + " of " + std::to_string(store_size()) +
               " bytes free); raise RuntimeOptions::store_bytes" + '\0';
        offset = allocate(full.size());
      } catch (...) {
        offset.reset();
      }
      bytes = offset ? std::as_bytes(std::span(full)) : std::span<const std::byte>();
    }
    if (offset) {
      std::memcpy(at<void>(*offset), bytes.data(), bytes.size());
      store_relaxed(f.result_offset, *offset);
    }
  } else if (!bytes.empty()) {
    std::memcpy(f.inline_result, bytes.data(), bytes.size());
  }
  store_relaxed(f.result_size, static_cast<std::uint32_t>(bytes.size()));
  // Seq-cst (Dekker with await): the state is stored before the waiter words are read, and a
  // waiter stores its word before it reads the state: one of the two sees the other. It is
  // also a release: the result is visible with the state.
  store_seq_cst(f.state, static_cast<std::uint32_t>(status));
  if (load_seq_cst(f.host_waiting) != 0) {
    (void)fetch_add_seq_cst(header().host_completions, 1);
    futex_wake_all(&f.state);
    futex_wake_all(&header().host_completions);
  }
  const std::uint64_t waiters = load_seq_cst(f.worker_waiters);
  if (waiters != 0) {
    for (std::uint32_t w = 0; w < workers_; ++w) {
      if ((waiters >> (w % 64)) & 1) wake_worker(w);
    }
  }
  return true;
}

FutureStatus TaskArena::status(std::uint32_t s) const {
  // Acquire pairs with complete()'s publication: the result is visible once it reads done.
  return static_cast<FutureStatus>(load_acquire(slot(s).state));
}

std::span<const std::byte> TaskArena::result_bytes(std::uint32_t s) const {
  const FutureSlot& f = slot(s);
  const std::uint32_t size = load_relaxed(f.result_size);
  const std::uint64_t offset = load_relaxed(f.result_offset);
  if (offset != 0) return {at<const std::byte>(offset), size};
  return {f.inline_result, size};
}

namespace {

bool done(FutureStatus s) {
  return s == FutureStatus::ready || s == FutureStatus::failed;
}

// Polls before sleeping, by wait mode: spin polls until the deadline, block not at all.
unsigned spin_polls(std::uint32_t mode) {
  switch (static_cast<WaitMode>(mode)) {
    case WaitMode::spin:
      return ~0u;
    case WaitMode::adaptive:
      return 20000;
    case WaitMode::block:
      return 0;
  }
  return 0;
}

}  // namespace

bool TaskArena::await(std::uint32_t s, std::chrono::nanoseconds timeout) {
  if (done(status(s))) return true;
  const auto deadline = timeout == std::chrono::nanoseconds::max()
                            ? std::chrono::steady_clock::time_point::max()
                            : std::chrono::steady_clock::now() + timeout;
  FutureSlot& f = slot(s);
  TaskWorkerContext* worker = task_worker_context();
  if (worker != nullptr &&
      !boost::fibers::context::active()->is_context(boost::fibers::type::main_context)) {
    // A task's fiber: let the worker run its other fibers and its queue meanwhile; a
    // completion wakes the worker if it has gone to sleep.
    (void)fetch_or_seq_cst(f.worker_waiters, std::uint64_t{1} << (worker->worker % 64));
    ++worker->fibers_waiting;
    while (!done(status(s))) {
      if (std::chrono::steady_clock::now() >= deadline) {
        --worker->fibers_waiting;
        return false;
      }
      boost::this_fiber::yield();
    }
    --worker->fibers_waiting;
    return true;
  }
  const unsigned polls = spin_polls(load_relaxed(header().wait_mode));
  for (unsigned i = 0; i < polls; ++i) {
    if (done(status(s))) return true;
    if ((i & 1023) == 1023 && std::chrono::steady_clock::now() >= deadline) return false;
    spin_pause();
  }
  store_seq_cst(f.host_waiting, 1);
  while (true) {
    const std::uint32_t state = load_seq_cst(f.state);
    if (done(static_cast<FutureStatus>(state))) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    futex_wait(&f.state, state,
               std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(100)));
  }
}

void TaskArena::await_host_completion(std::uint32_t seen, std::chrono::nanoseconds timeout) {
  futex_wait(&header().host_completions, seen, timeout);
}

void TaskArena::wake_worker(std::uint32_t w) noexcept {
  TaskWorkerBlock& b = worker(w);
  // Seq-cst fence (Dekker with the worker's sleep): what the caller published is ordered
  // before the read of `sleeping`; a worker that stores `sleeping` then re-checks sees it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (load_relaxed(b.sleeping) != 0) {
    (void)fetch_add_seq_cst(b.wake_sequence, 1);
    futex_wake_all(&b.wake_sequence);
  }
}

}  // namespace patchbay::detail
