#include "tasks/task_store.hpp"

#include <patchbay/error.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <new>
#include <string>

#include "shm/atomic.hpp"
#include "shm/cache_line.hpp"
#include "shm/robust_mutex.hpp"

namespace patchbay::detail {

namespace {

constexpr std::uint64_t kMagic = 0x65726f7473626370;       // "pcbstore"
constexpr std::uint64_t kLargeBlock = 0x6b636f6c62677261;  // "arglbock": a large block's header
constexpr std::uint64_t kMostBytes = std::uint64_t{64} << 30;
constexpr std::size_t kLogEntries = 12;

constexpr std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}

enum class BitmapOp : std::uint64_t { none = 0, set = 1, clear = 2 };

// What a size class knows of one slab (a group of kSlabPages pages). Links are slab + 1.
struct SlabMeta {
  std::uint64_t klass;       // the size class + 1; 0 when the group is no slab
  std::uint64_t free_count;  // blocks not handed out (never used ones included)
  std::uint64_t free_head;   // the first block of its free list + 1; 0 when empty
  std::uint64_t bump;        // blocks from here on were never handed out
  std::uint64_t next;        // the class's slabs with free blocks: a list
  std::uint64_t prev;
  std::uint64_t unused[2];
};
static_assert(sizeof(SlabMeta) == 64);

// The page bitmap, one bit per page, 1 = in use.
struct Bitmap {
  std::uint64_t* words;
  std::uint64_t bits;

  // The first bit at or after `i` (and before `end`) that is `value`; `end` when none is.
  [[nodiscard]] std::uint64_t find(std::uint64_t i, std::uint64_t end, bool value) const {
    while (i < end) {
      std::uint64_t word = load_relaxed(words[i / 64]);
      if (!value) word = ~word;
      word >>= i % 64;
      if (word != 0) return std::min(end, i + static_cast<std::uint64_t>(std::countr_zero(word)));
      i = (i / 64 + 1) * 64;
    }
    return end;
  }
  // The first run of `n` clear bits that starts at a multiple of `align` in [from, bits);
  // `bits` when there is none.
  [[nodiscard]] std::uint64_t find_run(std::uint64_t from, std::uint64_t n,
                                       std::uint64_t align) const {
    std::uint64_t i = round_up(from, align);
    while (i + n <= bits) {
      i = round_up(find(i, bits, false), align);
      if (i + n > bits) break;
      const std::uint64_t used = find(i, i + n, true);
      if (used == i + n) return i;
      i = round_up(used + 1, align);
    }
    return bits;
  }
  void set(std::uint64_t first, std::uint64_t n, bool value) const {
    std::uint64_t i = first;
    const std::uint64_t end = first + n;
    while (i < end) {
      const std::uint64_t shift = i % 64;
      const std::uint64_t count = std::min<std::uint64_t>(64 - shift, end - i);
      const std::uint64_t mask = (count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1)
                                 << shift;
      std::uint64_t& word = words[i / 64];
      store_relaxed(word, value ? load_relaxed(word) | mask : load_relaxed(word) & ~mask);
      i += count;
    }
  }
};

}  // namespace

void (*task_store_fault_hook)(std::size_t written) noexcept = nullptr;

struct TaskStore::Header {
  std::uint64_t magic;
  std::uint64_t pages_offset;   // from the base: the first page
  std::uint64_t pages;          // how many
  std::uint64_t bitmap_offset;  // from the base
  std::uint64_t slabs_offset;   // from the base: a SlabMeta per group of kSlabPages pages
  alignas(cache_line_bytes) RobustMutex lock;
  // The redo log of the change being made: valid while its words are being written.
  struct Log {
    std::uint64_t valid;
    std::uint64_t count;
    std::uint64_t bitmap_op;  // BitmapOp
    std::uint64_t bitmap_first;
    std::uint64_t bitmap_pages;
    struct Entry {
      std::uint64_t offset;  // of the word, from the base
      std::uint64_t value;
    } entries[kLogEntries];
  } log;
  // Under the lock, changed through the log.
  std::uint64_t used_pages;            // pages of large blocks and slabs
  std::uint64_t partial[kClasses];     // per class: a slab with free blocks + 1, or 0
  std::uint64_t class_free[kClasses];  // per class: free blocks in its slabs
  std::uint64_t lowest_free;           // no page below it is free: first fit starts here
};

// One change of the store, made under its lock: reads see the change's own writes; commit()
// writes them through the log.
struct TaskStore::Transaction {
  const TaskStore& store;
  Header& h;
  Header::Log::Entry entries[kLogEntries]{};
  std::size_t count = 0;
  BitmapOp bitmap_op = BitmapOp::none;
  std::uint64_t bitmap_first = 0;
  std::uint64_t bitmap_pages = 0;

  explicit Transaction(const TaskStore& s) : store(s), h(s.header()) {}

  [[nodiscard]] std::uint64_t offset_of(const std::uint64_t& word) const {
    return static_cast<std::uint64_t>(reinterpret_cast<const char*>(&word) - store.base_);
  }
  [[nodiscard]] std::uint64_t read(const std::uint64_t& word) const {
    const std::uint64_t at = offset_of(word);
    for (std::size_t i = count; i > 0; --i)
      if (entries[i - 1].offset == at) return entries[i - 1].value;
    return load_relaxed(word);
  }
  void write(std::uint64_t& word, std::uint64_t value) {
    const std::uint64_t at = offset_of(word);
    for (std::size_t i = 0; i < count; ++i) {
      if (entries[i].offset == at) {
        entries[i].value = value;
        return;
      }
    }
    assert(count < kLogEntries);
    entries[count++] = {at, value};
  }
  void pages(std::uint64_t first, std::uint64_t n, bool in_use) {
    bitmap_op = in_use ? BitmapOp::set : BitmapOp::clear;
    bitmap_first = first;
    bitmap_pages = n;
  }
  void commit() {
    Header::Log& log = h.log;
    for (std::size_t i = 0; i < count; ++i) {
      store_relaxed(log.entries[i].offset, entries[i].offset);
      store_relaxed(log.entries[i].value, entries[i].value);
    }
    store_relaxed(log.count, count);
    store_relaxed(log.bitmap_op, static_cast<std::uint64_t>(bitmap_op));
    store_relaxed(log.bitmap_first, bitmap_first);
    store_relaxed(log.bitmap_pages, bitmap_pages);
    // The log is whole in memory before it reads valid, and valid before any word changes: a
    // holder killed anywhere leaves either nothing applied or a log to apply again.
    std::atomic_thread_fence(std::memory_order_release);
    store_relaxed(log.valid, 1);
    std::atomic_thread_fence(std::memory_order_release);
    store.apply_log();
    std::atomic_thread_fence(std::memory_order_release);
    store_relaxed(log.valid, 0);
  }
};

TaskStore::Header& TaskStore::header() const {
  return *reinterpret_cast<Header*>(base_ + header_);
}

void TaskStore::apply_log() const {
  const Header& h = header();
  const Header::Log& log = h.log;
  const std::uint64_t count = std::min<std::uint64_t>(load_relaxed(log.count), kLogEntries);
  for (std::uint64_t i = 0; i < count; ++i) {
    store_relaxed(*reinterpret_cast<std::uint64_t*>(base_ + load_relaxed(log.entries[i].offset)),
                  load_relaxed(log.entries[i].value));
    if (task_store_fault_hook != nullptr) task_store_fault_hook(i + 1);
  }
  const auto op = static_cast<BitmapOp>(load_relaxed(log.bitmap_op));
  if (op != BitmapOp::none) {
    const Bitmap bitmap{reinterpret_cast<std::uint64_t*>(base_ + h.bitmap_offset), h.pages};
    bitmap.set(load_relaxed(log.bitmap_first), load_relaxed(log.bitmap_pages), op == BitmapOp::set);
  }
}

TaskStore TaskStore::format(void* base, std::uint64_t offset, std::uint64_t bytes) {
  const std::uint64_t header_bytes = round_up(sizeof(Header), kPageBytes);
  if (bytes > kMostBytes)
    throw Error("patchbay: a task runtime's store holds at most 64 GiB (store_bytes)");
  auto bitmap_bytes = [](std::uint64_t p) { return round_up((p + 63) / 64 * 8, kPageBytes); };
  auto slabs_bytes = [](std::uint64_t p) {
    return round_up((p + kSlabPages - 1) / kSlabPages * sizeof(SlabMeta), kPageBytes);
  };
  auto total = [&](std::uint64_t p) {
    return header_bytes + bitmap_bytes(p) + slabs_bytes(p) + p * kPageBytes;
  };
  const std::uint64_t least = total(2 * kSlabPages);
  if (bytes < least) {
    throw Error("patchbay: a task runtime's store needs at least " + std::to_string(least) +
                " bytes (store_bytes)");
  }
  std::uint64_t pages = (bytes - header_bytes) / kPageBytes;
  while (total(pages) > bytes)
    --pages;
  auto* memory = static_cast<char*>(base);
  auto* h = ::new (memory + offset) Header{};
  ::new (&h->lock) RobustMutex();
  h->magic = kMagic;
  h->bitmap_offset = offset + header_bytes;
  h->slabs_offset = h->bitmap_offset + bitmap_bytes(pages);
  h->pages_offset = h->slabs_offset + slabs_bytes(pages);
  h->pages = pages;
  // The bits past the last page read as in use, so that no run reaches them.
  auto* words = reinterpret_cast<std::uint64_t*>(memory + h->bitmap_offset);
  if (pages % 64 != 0) words[pages / 64] = ~std::uint64_t{0} << (pages % 64);
  return TaskStore(memory, offset);
}

std::size_t TaskStore::size() const {
  return header().pages * kPageBytes;
}

std::size_t TaskStore::free() const {
  const Header& h = header();
  std::size_t bytes = (h.pages - load_relaxed(h.used_pages)) * kPageBytes;
  for (std::size_t k = 0; k < kClasses; ++k)
    bytes += load_relaxed(h.class_free[k]) * (kSmallestBlock << k);
  return bytes;
}

std::uint32_t TaskStore::recoveries() const {
  return header().lock.recoveries();
}

void TaskStore::lock() const {
  Header& h = header();
  if (!h.lock.lock()) return;
  // Taken from a holder that died: finish the change it was writing, if any.
  if (load_relaxed(h.log.valid) != 0) apply_log();
  store_relaxed(h.log.valid, 0);
  h.lowest_free = 0;  // not logged: it may have missed the dead holder's last change
}

void TaskStore::unlock() const {
  header().lock.unlock();
}

std::string TaskStore::audit() const {
  const Header& h = header();
  const Bitmap bitmap{reinterpret_cast<std::uint64_t*>(base_ + h.bitmap_offset), h.pages};
  const auto* slabs = reinterpret_cast<const SlabMeta*>(base_ + h.slabs_offset);
  std::string out;
  lock();
  std::uint64_t set = 0;
  for (std::uint64_t page = 0; page < h.pages; ++page)
    set += bitmap.find(page, page + 1, true) == page ? 1 : 0;
  if (set != h.used_pages) {
    out +=
        "pages in use " + std::to_string(set) + ", counted " + std::to_string(h.used_pages) + "; ";
  }
  for (std::size_t k = 0; k < kClasses; ++k) {
    const std::uint64_t per_slab = kSlabPages * kPageBytes / (kSmallestBlock << k);
    std::uint64_t free_blocks = 0;
    std::uint64_t prev = 0;
    std::size_t listed = 0;
    for (std::uint64_t s = h.partial[k]; s != 0 && listed <= h.pages; s = slabs[s - 1].next) {
      const SlabMeta& m = slabs[s - 1];
      ++listed;
      const std::string where = "class " + std::to_string(k) + " slab " + std::to_string(s - 1);
      if (m.klass != k + 1) out += where + ": of class " + std::to_string(m.klass) + "; ";
      if (m.prev != prev) out += where + ": links back wrong; ";
      if (bitmap.find((s - 1) * kSlabPages, s * kSlabPages, false) != s * kSlabPages)
        out += where + ": pages not in use; ";
      std::uint64_t chained = 0;
      for (std::uint64_t b = m.free_head; b != 0 && chained <= per_slab; ++chained) {
        b = *reinterpret_cast<const std::uint64_t*>(base_ + h.pages_offset +
                                                    (s - 1) * kSlabPages * kPageBytes +
                                                    (b - 1) * (kSmallestBlock << k));
      }
      if (m.free_count == 0 || chained + (per_slab - m.bump) != m.free_count)
        out += where + ": free blocks " + std::to_string(m.free_count) + " but " +
               std::to_string(chained) + " chained and " + std::to_string(per_slab - m.bump) +
               " never used; ";
      free_blocks += m.free_count;
      prev = s;
    }
    if (free_blocks != h.class_free[k]) {
      out += "class " + std::to_string(k) + ": free blocks " + std::to_string(free_blocks) +
             ", counted " + std::to_string(h.class_free[k]) + "; ";
    }
  }
  unlock();
  return out;
}

std::optional<std::uint64_t> TaskStore::allocate(std::size_t bytes) {
  if (bytes > size()) return std::nullopt;
  if (bytes <= kLargestSmallBlock) {
    std::size_t klass = 0;
    while ((kSmallestBlock << klass) < bytes)
      ++klass;
    return allocate_small(klass);
  }
  return allocate_large(bytes);
}

std::optional<std::uint64_t> TaskStore::allocate_small(std::size_t klass) {
  Header& h = header();
  auto* slabs = reinterpret_cast<SlabMeta*>(base_ + h.slabs_offset);
  const std::uint64_t block_bytes = kSmallestBlock << klass;
  const std::uint64_t per_slab = kSlabPages * kPageBytes / block_bytes;
  auto block_offset = [&](std::uint64_t slab, std::uint64_t block) {
    return h.pages_offset + slab * kSlabPages * kPageBytes + block * block_bytes;
  };
  lock();
  Transaction tx(*this);
  std::uint64_t slab = tx.read(h.partial[klass]);
  std::uint64_t block = 0;
  std::optional<std::uint64_t> taken;  // the slab's first page, when a new one
  if (slab == 0) {
    // A new slab: its first block is this one, the others never used yet.
    const Bitmap bitmap{reinterpret_cast<std::uint64_t*>(base_ + h.bitmap_offset), h.pages};
    const std::uint64_t first = bitmap.find_run(h.lowest_free, kSlabPages, kSlabPages);
    if (first == h.pages) {
      unlock();
      return std::nullopt;
    }
    slab = first / kSlabPages;
    SlabMeta& m = slabs[slab];
    tx.write(m.klass, klass + 1);
    tx.write(m.free_count, per_slab - 1);
    tx.write(m.free_head, 0);
    tx.write(m.bump, 1);
    tx.write(m.next, 0);
    tx.write(m.prev, 0);
    tx.write(h.partial[klass], slab + 1);
    tx.write(h.class_free[klass], tx.read(h.class_free[klass]) + per_slab - 1);
    tx.write(h.used_pages, tx.read(h.used_pages) + kSlabPages);
    tx.pages(first, kSlabPages, true);
    taken = first;
  } else {
    slab -= 1;
    SlabMeta& m = slabs[slab];
    if (const std::uint64_t head = tx.read(m.free_head); head != 0) {
      block = head - 1;
      // A free block's first word links to the next.
      tx.write(m.free_head,
               load_relaxed(*reinterpret_cast<std::uint64_t*>(base_ + block_offset(slab, block))));
    } else {
      block = tx.read(m.bump);
      tx.write(m.bump, block + 1);
    }
    const std::uint64_t left = tx.read(m.free_count) - 1;
    tx.write(m.free_count, left);
    tx.write(h.class_free[klass], tx.read(h.class_free[klass]) - 1);
    if (left == 0) {
      // Full: off the class's list (it is the list's head).
      const std::uint64_t next = tx.read(m.next);
      tx.write(h.partial[klass], next);
      if (next != 0) tx.write(slabs[next - 1].prev, 0);
      tx.write(m.next, 0);
    }
  }
  tx.commit();
  if (taken) pages_taken(*taken);
  unlock();
  return block_offset(slab, block);
}

void TaskStore::free_small(std::uint64_t slab, std::uint64_t offset) noexcept {
  Header& h = header();
  auto* slabs = reinterpret_cast<SlabMeta*>(base_ + h.slabs_offset);
  SlabMeta& m = slabs[slab];
  try {
    lock();
  } catch (...) {
    return;  // the lock is broken: the block stays in use
  }
  Transaction tx(*this);
  const std::uint64_t klass = tx.read(m.klass) - 1;
  const std::uint64_t block_bytes = kSmallestBlock << klass;
  const std::uint64_t per_slab = kSlabPages * kPageBytes / block_bytes;
  const std::uint64_t slab_offset = h.pages_offset + slab * kSlabPages * kPageBytes;
  const std::uint64_t block = (offset - slab_offset) / block_bytes;
  const std::uint64_t free_count = tx.read(m.free_count) + 1;
  bool released = false;
  const bool only_one = tx.read(h.partial[klass]) == slab + 1 && tx.read(m.next) == 0;
  if (free_count == per_slab && !only_one) {
    // Every block free again: the slab goes back to the pages (it is on the list, since it
    // had free blocks before this one).
    const std::uint64_t prev = tx.read(m.prev);
    const std::uint64_t next = tx.read(m.next);
    if (prev != 0) {
      tx.write(slabs[prev - 1].next, next);
    } else {
      tx.write(h.partial[klass], next);
    }
    if (next != 0) tx.write(slabs[next - 1].prev, prev);
    tx.write(m.klass, 0);
    tx.write(h.class_free[klass], tx.read(h.class_free[klass]) - (per_slab - 1));
    tx.write(h.used_pages, tx.read(h.used_pages) - kSlabPages);
    tx.pages(slab * kSlabPages, kSlabPages, false);
    released = true;
  } else {
    tx.write(*reinterpret_cast<std::uint64_t*>(base_ + slab_offset + block * block_bytes),
             tx.read(m.free_head));
    tx.write(m.free_head, block + 1);
    tx.write(m.free_count, free_count);
    tx.write(h.class_free[klass], tx.read(h.class_free[klass]) + 1);
    if (free_count == 1) {
      // It was full: back on the class's list, at its head.
      const std::uint64_t head = tx.read(h.partial[klass]);
      tx.write(m.next, head);
      tx.write(m.prev, 0);
      if (head != 0) tx.write(slabs[head - 1].prev, slab + 1);
      tx.write(h.partial[klass], slab + 1);
    }
  }
  tx.commit();
  if (released) h.lowest_free = std::min(h.lowest_free, slab * kSlabPages);
  unlock();
}

void TaskStore::pages_taken(std::uint64_t first) const {
  Header& h = header();
  if (first != h.lowest_free) return;
  const Bitmap bitmap{reinterpret_cast<std::uint64_t*>(base_ + h.bitmap_offset), h.pages};
  h.lowest_free = bitmap.find(first, h.pages, false);
}

std::optional<std::uint64_t> TaskStore::allocate_large(std::size_t bytes) {
  Header& h = header();
  const std::uint64_t pages = (bytes + kLargeHeaderBytes + kPageBytes - 1) / kPageBytes;
  const Bitmap bitmap{reinterpret_cast<std::uint64_t*>(base_ + h.bitmap_offset), h.pages};
  lock();
  // First fit: the memory freed last is soonest reused, often still in the caches.
  const std::uint64_t first = bitmap.find_run(h.lowest_free, pages, 1);
  if (first == h.pages) {
    unlock();
    return std::nullopt;
  }
  Transaction tx(*this);
  tx.write(h.used_pages, tx.read(h.used_pages) + pages);
  tx.pages(first, pages, true);
  tx.commit();
  pages_taken(first);
  unlock();
  const std::uint64_t at = h.pages_offset + first * kPageBytes;
  auto* header_words = reinterpret_cast<std::uint64_t*>(base_ + at);
  header_words[0] = kLargeBlock;
  header_words[1] = pages;
  return at + kLargeHeaderBytes;
}

void TaskStore::free_large(std::uint64_t offset) noexcept {
  Header& h = header();
  const std::uint64_t at = offset - kLargeHeaderBytes;
  const auto* header_words = reinterpret_cast<const std::uint64_t*>(base_ + at);
  if (header_words[0] != kLargeBlock) {
    assert(!"TaskStore::deallocate: not a block of this store");
    return;
  }
  const std::uint64_t pages = header_words[1];
  try {
    lock();
  } catch (...) {
    return;  // the lock is broken: the run stays in use
  }
  Transaction tx(*this);
  tx.write(h.used_pages, tx.read(h.used_pages) - pages);
  tx.pages((at - h.pages_offset) / kPageBytes, pages, false);
  tx.commit();
  h.lowest_free = std::min(h.lowest_free, (at - h.pages_offset) / kPageBytes);
  unlock();
}

void TaskStore::deallocate(std::uint64_t offset) noexcept {
  if (offset == 0) return;
  const Header& h = header();
  // A live block's group cannot change between slab and pages meanwhile: the block holds it.
  const std::uint64_t slab = (offset - h.pages_offset) / (kSlabPages * kPageBytes);
  const auto* slabs = reinterpret_cast<const SlabMeta*>(base_ + h.slabs_offset);
  if (load_relaxed(slabs[slab].klass) != 0) {
    free_small(slab, offset);
  } else {
    free_large(offset);
  }
}

}  // namespace patchbay::detail
