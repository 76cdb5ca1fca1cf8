// The object store of a task runtime (docs/TASKS.md, "The store"): the heap in the runtime's
// shared memory where arguments, results and put() values too large to travel inline live.
//
// Every process of the runtime allocates and frees here, and any worker may be killed at any
// instruction, so no death may leave the heap unusable:
// - One robust lock (shm/robust_mutex.hpp) guards it: a lock whose holder died passes to the
//   next locker instead of staying held.
// - Each change is a transaction: the holder works out every word it will write, writes them
//   to a redo log, marks the log valid, applies it and marks it done. Whoever takes the lock
//   from a holder that died applies a valid log again (the same values: nobody else wrote in
//   between) and so finds the heap as after the dead holder's last change, never half way.
// The heap itself:
// - Pages of 4 KiB in a bitmap (1 = in use). A large block (over 16 KiB with its header) is a
//   run of pages, the first that fits (memory freed last is reused first, often still in
//   the caches); freed runs join by themselves.
// - Ten size classes of small blocks, 32 B to 16 KiB. A class takes a slab of 16 pages
//   (aligned), hands out its blocks (never used ones first, then its free list) and gives the
//   slab back to the pages once all its blocks are free again (keeping one per class).
// Large blocks have a 16-byte header; small ones none. Blocks are 16-byte aligned. Everything is
// addressed by offsets from the arena's base, so the store works wherever a process maps it.
// What a process held when it died (a block it had not yet handed on) stays allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace patchbay::detail {

/// Fault injection for tests: when set, called while a change is being written, after each of
/// its words (with how many are written so far); null otherwise.
extern void (*task_store_fault_hook)(std::size_t written) noexcept;

class TaskStore {
 public:
  static constexpr std::size_t kPageBytes = 4096;
  static constexpr std::size_t kLargeHeaderBytes = 16;
  static constexpr std::size_t kClasses = 10;  // blocks of 32 B << 0 .. 9
  static constexpr std::size_t kSmallestBlock = 32;
  static constexpr std::size_t kLargestSmallBlock = kSmallestBlock << (kClasses - 1);
  static constexpr std::size_t kSlabPages = 16;

  /// Formats the store in the `bytes` at `offset` from `base` (zeroed memory, page-aligned)
  /// and returns a view of it. Throws patchbay::Error when `bytes` is too small or over 64 GiB.
  static TaskStore format(void* base, std::uint64_t offset, std::uint64_t bytes);
  /// A view of the store another process formatted at `offset` in the same memory, mapped at
  /// `base` here.
  static TaskStore attach(void* base, std::uint64_t offset) {
    return TaskStore(static_cast<char*>(base), offset);
  }

  /// `bytes` from the store, as an offset from the base; nullopt when no free piece is large
  /// enough. Any process, any thread.
  [[nodiscard]] std::optional<std::uint64_t> allocate(std::size_t bytes);
  /// Gives back a block allocate() returned (0 is ignored).
  void deallocate(std::uint64_t offset) noexcept;
  /// Bytes the store can hand out in all (its pages).
  [[nodiscard]] std::size_t size() const;
  /// Bytes not handed out: free pages, and the free blocks of the size classes' slabs.
  [[nodiscard]] std::size_t free() const;
  /// How many times a process took the lock from a holder that had died (and repaired).
  [[nodiscard]] std::uint32_t recoveries() const;
  /// Checks the store's bookkeeping against itself (pages counted, slabs listed, free lists
  /// and counts); an empty string when it holds, else what does not. Takes the lock.
  [[nodiscard]] std::string audit() const;

  TaskStore() = default;

 private:
  struct Header;
  struct Transaction;
  TaskStore(char* base, std::uint64_t header) : base_(base), header_(header) {}
  [[nodiscard]] Header& header() const;
  /// Takes the lock, applying again the log of a holder that died.
  void lock() const;
  /// Writes the words and bits of the redo log.
  void apply_log() const;
  /// Under the lock, after a run starting at page `first` was taken: moves the lower bound
  /// of free pages past it when it started there.
  void pages_taken(std::uint64_t first) const;
  void unlock() const;

  std::optional<std::uint64_t> allocate_small(std::size_t klass);
  std::optional<std::uint64_t> allocate_large(std::size_t bytes);
  void free_small(std::uint64_t slab, std::uint64_t offset) noexcept;
  void free_large(std::uint64_t offset) noexcept;

  char* base_ = nullptr;
  std::uint64_t header_ = 0;  // offset of the Header from base_
};

}  // namespace patchbay::detail
