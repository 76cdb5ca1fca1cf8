// Bounded single-producer / single-consumer ring of variable-length records (docs/ARCHITECTURE.md,
// "The message path", for where the ring sits on a message's way).
//
// The consumer learns that a record is there from the record itself: the producer writes the
// payload, then publishes the record's 8-byte header with a release store, and the consumer
// polls the header at its read position. A small message therefore costs the consumer one
// cache line from the producer (header and payload together), not two (an index, then the
// data). For this to be exact, the header at the consumer's next position must read zero until
// the producer publishes there: create() zeroes the first header slot, and every commit first
// zeroes the slot just past its record (the "terminator"), so a ring keeps 8 bytes free. The
// consumer never looks anywhere else, so the rest of the memory needs no clearing.
//
// A ring of fixed-size records (create() with a record size) needs no terminator: the records
// sit in equal slots, a power-of-two number of them, and a slot's header word is the record's
// sequence number plus one. The consumer of record r waits for r + 1 in its slot; what it finds
// there before is 0 (never written) or the number of the record one lap earlier. The producer
// then touches one cache line per small record, not two when a record ends at a line's end,
// and there is no length or padding to work out on either side. The slot headers must read
// zero at creation, so create() clears them unless the caller vouches for zero-filled memory.
//
// The ring's state lives in caller-provided memory, which may be a shared mapping seen by
// forked processes at different addresses. Hence the shared part (RingHeader + data area)
// holds only integers and offsets; `Ring` is a per-process view that recomputes pointers.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace patchbay::channel {

// Lock-free atomics are address-free, which is what makes atomic_ref on a shared mapping work
// across processes. std::atomic members are avoided because their layout is unspecified.
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= alignof(std::uint64_t));
static_assert(std::atomic_ref<std::uint32_t>::required_alignment <= alignof(std::uint32_t));

/// Shared control block at the start of the ring's memory. Indices are monotonically
/// increasing byte counters, position = index & (capacity - 1); with fixed-size records they
/// count records, slot = index & (slots - 1). Differences stay correct even if a counter wraps,
/// because the capacity (the slot count) divides 2^64.
struct RingHeader {
  // Producer line: written only by the producer. The consumer's hot path never reads it (it
  // polls record headers), so it does not move between cores on every message.
  alignas(64) std::uint64_t write_index;  // bytes committed so far (size, drained, watchers)
  std::uint64_t cached_read_index;        // producer's stale-but-safe copy of read_index
  // Consumer line: written only by the consumer; the producer reads it when its copy runs out.
  alignas(64) std::uint64_t read_index;  // bytes popped so far
  // Constants (set once by create(), published via magic) and the producer's closed flag.
  alignas(64) std::uint64_t magic;
  std::uint64_t capacity;     // data area size in bytes, power of two
  std::uint64_t data_offset;  // from the header's first byte to the data area
  std::uint32_t version;
  std::uint32_t closed;         // 0 or 1; set once by the producer
  std::uint32_t reader_closed;  // 0 or 1; set once by the consumer when it stops reading
  std::uint32_t record_size;    // payload bytes of every record; 0: variable-length records
};

static_assert(std::is_trivially_copyable_v<RingHeader>);
static_assert(std::is_standard_layout_v<RingHeader>);
static_assert(offsetof(RingHeader, write_index) == 0);
static_assert(offsetof(RingHeader, cached_read_index) == 8);
static_assert(offsetof(RingHeader, read_index) == 64);
static_assert(offsetof(RingHeader, magic) == 128);
static_assert(offsetof(RingHeader, record_size) + sizeof(std::uint32_t) <= 192);
static_assert(alignof(RingHeader) == 64);
static_assert(sizeof(RingHeader) == 192 && sizeof(RingHeader) % 64 == 0);

/// Precedes every record in the data area; records are padded to a multiple of 8 bytes. Read
/// and written as one 8-byte word (length in the low half), which is what publishes a record.
struct RecordHeader {
  std::uint32_t length;  // payload bytes (for padding: bytes covered minus this header)
  std::uint32_t kind;    // RecordKind
};
static_assert(sizeof(RecordHeader) == 8);

// Zero is deliberately not a kind: a zero header is "nothing here yet".
enum class RecordKind : std::uint32_t { data = 1, padding = 2 };

/// Non-owning view of a ring. One view per side (producer, consumer) per process; each view
/// keeps a little side-local bookkeeping (the open reservation / the record being read), none
/// of which the other side needs. Not thread-safe beyond one producer thread plus one consumer
/// thread.
class Ring {
 public:
  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kMinCapacity = 64;
  // Payload lengths are stored as uint32.
  static constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 32;

  /// Bytes a ring of variable-length records keeps free for the terminator (see the top of
  /// this file).
  static constexpr std::size_t kTerminator = 8;

  /// What create() may assume about the memory it is given.
  enum class Fill : std::uint8_t {
    any,     ///< anything: create() clears what the consumer will poll
    zeroed,  ///< every byte reads zero (a fresh mapping): create() writes only the header
  };

  /// Bytes of memory (64-byte aligned) that create() needs for `capacity` data bytes.
  [[nodiscard]] static std::size_t bytes_required(std::size_t capacity) {
    check_capacity(capacity, "bytes_required");
    return sizeof(RingHeader) + capacity;
  }

  /// Bytes one record of `record_size` payload bytes takes in a ring of fixed-size records.
  [[nodiscard]] static constexpr std::size_t slot_bytes(std::size_t record_size) {
    return record_bytes(record_size);
  }
  /// Records a ring of `capacity` bytes holds when they all have `record_size` payload bytes:
  /// the largest power of two of slots that fits, 0 when not even one does.
  [[nodiscard]] static std::size_t slots_for(std::size_t capacity, std::size_t record_size) {
    if (record_size > capacity) return 0;
    const std::size_t slot = slot_bytes(record_size);
    return slot > capacity ? 0 : std::bit_floor(capacity / slot);
  }

  /// Initialises an empty ring in `memory` (bytes_required(capacity) bytes, 64-byte aligned).
  /// `record_size` 0: records of any length up to max_payload(); create() touches only the
  /// header and the first record slot, so pages the ring never reaches stay unallocated.
  /// `record_size` > 0: every record has exactly that many payload bytes (at least one slot
  /// must fit); create() clears every slot's header unless `fill` says the memory is zeroed.
  [[nodiscard]] static Ring create(void* memory, std::size_t capacity, std::size_t record_size = 0,
                                   Fill fill = Fill::any) {
    check_memory(memory, "create");
    check_capacity(capacity, "create");
    std::byte* data = static_cast<std::byte*>(memory) + sizeof(RingHeader);
    if (record_size == 0) {
      std::memset(data, 0, sizeof(RecordHeader));
    } else {
      const std::size_t slots = slots_for(capacity, record_size);
      if (slots == 0) {
        fail<std::invalid_argument>("create", "a record of " + std::to_string(record_size) +
                                                  " bytes does not fit capacity " +
                                                  std::to_string(capacity));
      }
      if (fill == Fill::any) {
        for (std::size_t i = 0; i < slots; ++i)
          std::memset(data + i * slot_bytes(record_size), 0, sizeof(RecordHeader));
      }
    }
    auto* h = ::new (memory) RingHeader{};
    h->capacity = capacity;
    h->data_offset = sizeof(RingHeader);
    h->version = kVersion;
    h->record_size = static_cast<std::uint32_t>(record_size);
    // Release pairs with attach()'s acquire: the constants above are visible once magic is.
    store(h->magic, kMagic, std::memory_order_release);
    return Ring(h);
  }

  /// Views a ring that create() initialised, possibly in another process's mapping.
  [[nodiscard]] static Ring attach(void* memory) {
    check_memory(memory, "attach");
    auto* h = std::launder(static_cast<RingHeader*>(memory));
    // Acquire pairs with create()'s release of magic: the constants are then initialised.
    if (load(h->magic, std::memory_order_acquire) != kMagic)
      fail<std::invalid_argument>("attach", "memory does not hold a ring (bad magic)");
    if (h->version != kVersion) fail<std::invalid_argument>("attach", "unsupported version");
    check_capacity(h->capacity, "attach");
    if (h->data_offset != sizeof(RingHeader))
      fail<std::invalid_argument>("attach", "unexpected data offset");
    if (h->record_size != 0 && slots_for(h->capacity, h->record_size) == 0)
      fail<std::invalid_argument>("attach", "record size does not fit the capacity");
    return Ring(h);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  /// Payload bytes of every record; 0 when records have any length up to max_payload().
  [[nodiscard]] std::size_t record_size() const noexcept { return record_size_; }
  /// The largest payload: record_size() for fixed-size records. For variable-length records,
  /// a record of at most capacity/2 - 8 bytes (header included) always fits once the consumer
  /// has drained: the padding needed to skip the end of the ring is smaller than the record, so
  /// padding, record and terminator never exceed the capacity and a producer can never wait
  /// forever.
  [[nodiscard]] std::size_t max_payload() const noexcept {
    if (slot_bytes_ != 0) return record_size_;
    return max_payload_for(capacity_);
  }
  /// max_payload() of a ring of variable-length records of `capacity` bytes.
  [[nodiscard]] static constexpr std::size_t max_payload_for(std::size_t capacity) noexcept {
    return capacity / 2 - sizeof(RecordHeader) - kTerminator;
  }

  // ---- producer side ----

  /// Writable space for a payload of exactly `payload_size` bytes, contiguous, or a span with
  /// data() == nullptr when the ring is too full right now. Nothing is visible to the consumer
  /// until commit(). A second try_reserve replaces an uncommitted reservation. With fixed-size
  /// records the size must be record_size().
  [[nodiscard]] std::span<std::byte> try_reserve(std::size_t payload_size) {
    if (slot_bytes_ != 0) return reserve_slot(payload_size);
    if (payload_size > max_payload()) {
      fail<std::length_error>(
          "try_reserve", "payload of " + std::to_string(payload_size) +
                             " bytes exceeds max_payload() = " + std::to_string(max_payload()));
    }
    RingHeader& h = *header_;
    // Relaxed: only this side writes write_index.
    const std::uint64_t w = load(h.write_index, std::memory_order_relaxed);
    const std::size_t pos = w & (capacity_ - 1);
    const std::size_t pad = padding_before(pos, record_bytes(payload_size));
    const std::uint64_t need = pad + record_bytes(payload_size) + kTerminator;
    if (w + need - h.cached_read_index > capacity_) {
      // Acquire pairs with pop(): the consumer is done reading the bytes we will overwrite.
      h.cached_read_index = load(h.read_index, std::memory_order_acquire);
      if (w + need - h.cached_read_index > capacity_) return {};
    }
    reserved_ = payload_size;
    return {data_ + ((pos + pad) & (capacity_ - 1)) + sizeof(RecordHeader), payload_size};
  }

  /// Publishes the reserved record with its first `payload_size` bytes (at most the reserved
  /// size; exactly record_size() with fixed-size records). Throws std::logic_error without an
  /// open reservation of that size.
  void commit(std::size_t payload_size) {
    if (reserved_ == kNone || payload_size > reserved_ ||
        (slot_bytes_ != 0 && payload_size != reserved_))
      throw std::logic_error("patchbay::channel::Ring::commit: no reservation of that size");
    RingHeader& h = *header_;
    const std::uint64_t w = load(h.write_index, std::memory_order_relaxed);  // own index
    if (slot_bytes_ != 0) {
      // Release pairs with the consumer's acquire of the header: the payload is visible with it.
      put_word(slot_position(w), w + 1, std::memory_order_release);
      reserved_ = kNone;
      store(h.write_index, w + 1, std::memory_order_release);
      return;
    }
    const std::size_t pos = w & (capacity_ - 1);
    // Placement follows the reserved size, which is what try_reserve decided on.
    const std::size_t pad = padding_before(pos, record_bytes(reserved_));
    const std::uint64_t end = w + pad + record_bytes(payload_size);
    // The terminator: the consumer's next position reads zero until the next commit. Ordered
    // before the consumer can get there by the release below.
    put_word(end & (capacity_ - 1), 0, std::memory_order_relaxed);
    // Release pairs with the consumer's acquire of the header: the payload is visible with it.
    put_word((pos + pad) & (capacity_ - 1), header_word(RecordKind::data, payload_size),
             std::memory_order_release);
    if (pad != 0) {
      // After the record it skips to, so a consumer that sees the padding finds the record.
      put_word(pos, header_word(RecordKind::padding, pad - sizeof(RecordHeader)),
               std::memory_order_release);
    }
    reserved_ = kNone;
    // For size_bytes(), drained() and watchers in other processes; the consumer does not poll it.
    store(h.write_index, end, std::memory_order_release);
  }

  /// Copies `payload` in as one record; false when there is no room right now.
  bool try_write(std::span<const std::byte> payload) {
    const std::span<std::byte> dst = try_reserve(payload.size());
    if (dst.data() == nullptr) return false;
    if (!payload.empty()) std::memcpy(dst.data(), payload.data(), payload.size());
    commit(payload.size());
    return true;
  }

  /// Fixed-size records only: `copy(slot)` writes record_size() bytes at `slot`, and the
  /// record is committed; false (and `copy` not called) when the ring is full right now.
  /// try_reserve() and commit() in one, with no reservation to track: the path of a message
  /// between workers. Not while a reservation is open.
  template <class Copy>
  bool try_write_fixed(Copy&& copy) {
    if (slot_bytes_ == 0) [[unlikely]]
      fail<std::logic_error>("try_write_fixed", "the ring holds variable-length records");
    RingHeader& h = *header_;
    const std::uint64_t w = load(h.write_index, std::memory_order_relaxed);  // own index
    if (!slot_free(w)) return false;
    const std::size_t pos = slot_position(w);
    std::forward<Copy>(copy)(data_ + pos + sizeof(RecordHeader));
    // Release: the payload is visible before the header word that announces it.
    put_word(pos, w + 1, std::memory_order_release);
    store(h.write_index, w + 1, std::memory_order_release);
    return true;
  }

  /// Tells the consumer no more records follow. Call after the last commit().
  void close() {
    // Release pairs with closed()'s acquire: every earlier commit is visible to a reader
    // that sees the flag, which is what makes drained() exact.
    store(header_->closed, std::uint32_t{1}, std::memory_order_release);
  }

  /// Whether the consumer has stopped reading (it finished or failed): further records would
  /// never be read, so a producer drops them instead of waiting for space.
  [[nodiscard]] bool reader_closed() const {
    // Acquire pairs with close_reader()'s release; it orders nothing else, but keeps the
    // producer from acting on a flag it could see before the consumer's last pop().
    return load(header_->reader_closed, std::memory_order_acquire) != 0;
  }

  // ---- consumer side ----

  /// Tells the producer that nothing more will be read.
  void close_reader() {
    store(header_->reader_closed, std::uint32_t{1}, std::memory_order_release);
  }

  /// The oldest data record not yet popped, or nullopt when the ring is empty. The span stays
  /// valid until pop(); calling try_read again before pop() returns the same record.
  /// Throws std::runtime_error if the shared memory holds an impossible record.
  [[nodiscard]] std::optional<std::span<const std::byte>> try_read() {
    const std::uint64_t r = load(header_->read_index, std::memory_order_relaxed);  // own index
    if (slot_bytes_ != 0) return read_slot(r);
    std::size_t pos = r & (capacity_ - 1);
    // Acquire pairs with commit()'s release of the header: the payload is visible with it.
    std::uint64_t word = get_word(pos);
    if (word == 0) return std::nullopt;
    std::uint64_t start = r;
    if (kind_of(word) == RecordKind::padding) {
      // Published after the record it skips to; no need to pop it alone.
      if (length_of(word) != capacity_ - pos - sizeof(RecordHeader)) corrupt();
      start += capacity_ - pos;
      pos = 0;
      word = get_word(0);
    }
    const std::size_t length = length_of(word);
    if (kind_of(word) != RecordKind::data || length > max_payload() ||
        pos + record_bytes(length) > capacity_) {
      corrupt();
    }
    front_end_ = start + record_bytes(length);
    return std::span<const std::byte>(data_ + pos + sizeof(RecordHeader), length);
  }

  /// The header word at the consumer's position: zero while the ring is empty. A watcher in the
  /// consumer's process can poll it for news without touching the producer's line.
  [[nodiscard]] std::uint64_t front_word() const {
    const std::uint64_t r = load(header_->read_index, std::memory_order_relaxed);
    if (slot_bytes_ != 0) {
      const std::uint64_t word = get_word(slot_position(r));
      return word == r + 1 ? word : 0;
    }
    return get_word(r & (capacity_ - 1));
  }

  /// Fixed-size records only: when the oldest record not yet popped is there, `copy(record)` reads
  /// its record_size() bytes and the record is popped; false (and `copy` not called) when
  /// the ring is empty. try_read() and pop() in one. Not between those two.
  template <class Copy>
  bool try_read_fixed(Copy&& copy) {
    if (slot_bytes_ == 0) [[unlikely]]
      fail<std::logic_error>("try_read_fixed", "the ring holds variable-length records");
    const std::uint64_t r = load(header_->read_index, std::memory_order_relaxed);  // own index
    const std::size_t pos = slot_position(r);
    // Acquire pairs with the producer's release of the header: the payload is visible with it.
    const std::uint64_t word = get_word(pos);
    if (word != r + 1) {
      check_before_arrival(r, word);
      return false;
    }
    std::forward<Copy>(copy)(static_cast<const std::byte*>(data_ + pos + sizeof(RecordHeader)));
    store(header_->read_index, r + 1, std::memory_order_release);
    return true;
  }

  /// Frees the record try_read() returned (and any padding before it). Throws
  /// std::logic_error when no record is being read.
  void pop() {
    if (front_end_ == kNone) throw std::logic_error("patchbay::channel::Ring::pop: no record read");
    // Release pairs with try_reserve()'s acquire: our reads finish before the producer reuses
    // the space.
    store(header_->read_index, front_end_, std::memory_order_release);
    front_end_ = kNone;
  }

  [[nodiscard]] bool closed() const {
    // Acquire pairs with close()'s release: see close().
    return load(header_->closed, std::memory_order_acquire) != 0;
  }

  /// True once the producer closed and every record was popped; nothing more will come.
  [[nodiscard]] bool drained() const {
    if (!closed()) return false;  // must come first: it is what orders the index load below
    // Relaxed: the acquire in closed() already made the final write_index visible.
    return load(header_->read_index, std::memory_order_relaxed) ==
           load(header_->write_index, std::memory_order_relaxed);
  }

  // ---- either side (advisory: the other side may change the answer at once) ----

  /// The shared control block, for a watcher in another process that waits for the other side
  /// to move (the producer's write_index and closed, the consumer's read_index and
  /// reader_closed) without reading records.
  [[nodiscard]] RingHeader& header() const noexcept { return *header_; }

  [[nodiscard]] bool empty() const { return size_bytes() == 0; }

  /// Bytes in use, record headers and padding included (whole slots for fixed-size records).
  [[nodiscard]] std::size_t size_bytes() const {
    // Acquire pairs with pop(): the consumer only pops up to a write index it has
    // seen, so that write index happens-before the load below and w >= r is guaranteed.
    const std::uint64_t r = load(header_->read_index, std::memory_order_acquire);
    // Relaxed: the value is advisory; try_read/try_reserve synchronise on their own.
    const std::uint64_t w = load(header_->write_index, std::memory_order_relaxed);
    return static_cast<std::size_t>(w - r) * (slot_bytes_ != 0 ? slot_bytes_ : 1);
  }

 private:
  friend class HeapRing;

  static constexpr std::uint64_t kMagic = 0x676e6972'62686370;  // "pchbring"
  static constexpr std::uint32_t kVersion = 3;
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  Ring() = default;
  explicit Ring(RingHeader* h)
      : header_(h),
        data_(reinterpret_cast<std::byte*>(h) + h->data_offset),
        capacity_(static_cast<std::size_t>(h->capacity)),
        record_size_(h->record_size),
        slot_bytes_(h->record_size != 0 ? slot_bytes(h->record_size) : 0),
        slot_mask_(h->record_size != 0 ? slots_for(capacity_, h->record_size) - 1 : 0) {}

  template <class T>
  static T load(T& v, std::memory_order order) {
    return std::atomic_ref<T>(v).load(order);
  }
  template <class T>
  static void store(T& v, T value, std::memory_order order) {
    std::atomic_ref<T>(v).store(value, order);
  }

  static constexpr std::size_t record_bytes(std::size_t payload) {
    return (sizeof(RecordHeader) + payload + 7) & ~std::size_t{7};
  }

  // ---- fixed-size records: record i sits in slot i mod slots, its header word is i + 1 ----

  [[nodiscard]] std::size_t slot_position(std::uint64_t index) const {
    return static_cast<std::size_t>(index & slot_mask_) * slot_bytes_;
  }

  // Producer: whether record w's slot is free, looking at the consumer's index only when the
  // cached copy says the ring is full.
  bool slot_free(std::uint64_t w) {
    RingHeader& h = *header_;
    if (w - h.cached_read_index <= slot_mask_) return true;
    // Acquire pairs with the consumer's release: it is done reading the slot we will overwrite.
    h.cached_read_index = load(h.read_index, std::memory_order_acquire);
    return w - h.cached_read_index <= slot_mask_;
  }

  std::span<std::byte> reserve_slot(std::size_t payload_size) {
    if (payload_size != record_size_) {
      fail<std::length_error>("try_reserve", "payload of " + std::to_string(payload_size) +
                                                 " bytes in a ring of " +
                                                 std::to_string(record_size_) + "-byte records");
    }
    const std::uint64_t w = load(header_->write_index, std::memory_order_relaxed);  // own index
    if (!slot_free(w)) return {};
    reserved_ = payload_size;
    return {data_ + slot_position(w) + sizeof(RecordHeader), payload_size};
  }

  // Before record r arrives its slot holds 0 (never written) or record r - slots.
  void check_before_arrival(std::uint64_t r, std::uint64_t word) const {
    if (word != (r > slot_mask_ ? r - slot_mask_ : 0)) corrupt();
  }

  std::optional<std::span<const std::byte>> read_slot(std::uint64_t r) {
    const std::size_t pos = slot_position(r);
    // Acquire pairs with commit()'s release of the header: the payload is visible with it.
    const std::uint64_t word = get_word(pos);
    if (word != r + 1) {
      check_before_arrival(r, word);
      return std::nullopt;
    }
    front_end_ = r + 1;
    return std::span<const std::byte>(data_ + pos + sizeof(RecordHeader), record_size_);
  }

  // ---- variable-length records ----

  // A record never straddles the wrap, so readers always get one contiguous span.
  std::size_t padding_before(std::size_t pos, std::size_t record) const {
    const std::size_t to_end = capacity_ - pos;
    return to_end < record ? to_end : 0;
  }

  static std::uint64_t header_word(RecordKind kind, std::size_t length) {
    return (static_cast<std::uint64_t>(kind) << 32) | static_cast<std::uint32_t>(length);
  }
  static RecordKind kind_of(std::uint64_t word) { return static_cast<RecordKind>(word >> 32); }
  static std::size_t length_of(std::uint64_t word) { return static_cast<std::uint32_t>(word); }
  // Headers sit at 8-byte aligned positions of a 64-byte aligned area.
  void put_word(std::size_t pos, std::uint64_t word, std::memory_order order) {
    std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(data_ + pos))
        .store(word, order);
  }
  [[nodiscard]] std::uint64_t get_word(std::size_t pos) const {
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(data_ + pos))
        .load(std::memory_order_acquire);
  }

  template <class E>
  [[noreturn]] static void fail(const char* where, const std::string& what) {
    throw E(std::string("patchbay::channel::Ring::") + where + ": " + what);
  }
  [[noreturn]] static void corrupt() {
    fail<std::runtime_error>("try_read", "corrupt record in shared memory");
  }
  static void check_memory(void* memory, const char* where) {
    if (memory == nullptr) fail<std::invalid_argument>(where, "memory is null");
    if (reinterpret_cast<std::uintptr_t>(memory) % kAlignment != 0)
      fail<std::invalid_argument>(where, "memory is not 64-byte aligned");
  }
  static void check_capacity(std::uint64_t capacity, const char* where) {
    if (!std::has_single_bit(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity) {
      fail<std::invalid_argument>(
          where, "capacity " + std::to_string(capacity) + " must be a power of two in [64, 2^32]");
    }
  }

  RingHeader* header_ = nullptr;
  std::byte* data_ = nullptr;        // this process's address of the data area
  std::size_t capacity_ = 0;         // copy of the constant, to keep the header's line cold
  std::size_t record_size_ = 0;      // copies of the constants of fixed-size records
  std::size_t slot_bytes_ = 0;       // 0: variable-length records
  std::uint64_t slot_mask_ = 0;      // slots - 1
  std::size_t reserved_ = kNone;     // producer: payload size of the open reservation
  std::uint64_t front_end_ = kNone;  // consumer: read index just past the record being read
};

/// A ring on the heap, for threads of one process.
class HeapRing {
 public:
  /// `record_size`: as for Ring::create().
  explicit HeapRing(std::size_t capacity, std::size_t record_size = 0)
      : memory_(
            ::operator new (Ring::bytes_required(capacity), std::align_val_t{Ring::kAlignment})) {
    try {
      ring_ = Ring::create(memory_, capacity, record_size);
    } catch (...) {
      ::operator delete (memory_, std::align_val_t{Ring::kAlignment});
      throw;
    }
  }
  HeapRing(HeapRing&& other) noexcept
      : memory_(std::exchange(other.memory_, nullptr)), ring_(std::exchange(other.ring_, Ring{})) {}
  HeapRing& operator=(HeapRing&& other) noexcept {
    HeapRing moved(std::move(other));
    std::swap(memory_, moved.memory_);
    std::swap(ring_, moved.ring_);
    return *this;
  }
  HeapRing(const HeapRing&) = delete;
  HeapRing& operator=(const HeapRing&) = delete;
  ~HeapRing() {
    if (memory_ != nullptr) ::operator delete (memory_, std::align_val_t{Ring::kAlignment});
  }

  /// The ring; both sides may use this one view or copies of it.
  [[nodiscard]] Ring& ring() noexcept { return ring_; }

 private:
  void* memory_;
  Ring ring_;
};

}  // namespace patchbay::channel
