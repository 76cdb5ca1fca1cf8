// What the two ring formats share: the control block at the start of a ring's memory, the
// record header word, and RingBase, a per-process view of both (docs/ARCHITECTURE.md, "The
// message path", for where a ring sits on a message's way).
//
// A ring is a bounded single-producer / single-consumer queue in caller-provided memory, which
// may be a shared mapping seen by forked processes at different addresses. Hence the shared
// part (RingHeader + data area) holds only integers and offsets, and a view recomputes the
// pointers in each process. The consumer learns that a record is there from the record itself:
// the producer writes the payload, then publishes the record's 8-byte header word with a
// release store, and the consumer polls the header at its read position. A small message
// therefore costs the consumer one cache line from the producer (header and payload together),
// not two (an index, then the data).
//
// Two formats, one class each, both fixed when the ring is created:
// - FixedRing (fixed_ring.hpp): records of one size in equal slots; the path of a message
//   between workers whose two ports have the same fixed-size type.
// - VariableRing (variable_ring.hpp): records of any length, packed, with padding at the wrap.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "shm/atomic.hpp"
#include "shm/cache_line.hpp"

namespace patchbay::channel {

/// Shared control block at the start of the ring's memory. Indices increase monotonically:
/// bytes for variable-length records, records for fixed-size ones. Differences stay correct
/// even if a counter wraps, because the capacity (the slot count) divides 2^64.
struct RingHeader {
  // Producer line: written only by the producer. The consumer's hot path never reads it (it
  // polls record headers), so it does not move between cores on every message.
  alignas(detail::cache_line_bytes) std::uint64_t write_index;  // committed so far
  std::uint64_t cached_read_index;  // producer's stale-but-safe copy of read_index
  // Consumer line: written only by the consumer; the producer reads it when its copy runs out.
  alignas(detail::cache_line_bytes) std::uint64_t read_index;  // popped so far
  // Constants (set once by create(), published via magic) and the two sides' closed flags.
  alignas(detail::cache_line_bytes) std::uint64_t magic;
  std::uint64_t capacity;     // data area size in bytes, power of two
  std::uint64_t data_offset;  // from the header's first byte to the data area
  std::uint32_t version;
  std::uint32_t closed;         // 0 or 1; set once by the producer
  std::uint32_t reader_closed;  // 0 or 1; set once by the consumer when it stops reading
  std::uint32_t record_size;    // FixedRing: payload bytes of every record; VariableRing: 0
};

static_assert(std::is_trivially_copyable_v<RingHeader>);
static_assert(std::is_standard_layout_v<RingHeader>);
static_assert(offsetof(RingHeader, write_index) == 0);
static_assert(offsetof(RingHeader, cached_read_index) == 8);
static_assert(offsetof(RingHeader, read_index) == detail::cache_line_bytes);
static_assert(offsetof(RingHeader, magic) == 2 * detail::cache_line_bytes);
static_assert(offsetof(RingHeader, record_size) + sizeof(std::uint32_t) <=
              3 * detail::cache_line_bytes);
static_assert(alignof(RingHeader) == detail::cache_line_bytes);
static_assert(sizeof(RingHeader) == 3 * detail::cache_line_bytes);

/// Precedes every record in the data area; records are padded to a multiple of 8 bytes. Read
/// and written as one 8-byte word, which is what publishes a record. VariableRing: length in
/// the low half, RecordKind in the high half. FixedRing: the whole word is the record's
/// sequence number plus one.
struct RecordHeader {
  std::uint32_t length;  // payload bytes (for padding: bytes covered minus this header)
  std::uint32_t kind;    // RecordKind
};
static_assert(sizeof(RecordHeader) == 8);

/// What create() may assume about the memory it is given.
enum class RingFill : std::uint8_t {
  any,     ///< anything: create() clears what the consumer will poll
  zeroed,  ///< every byte reads zero (a fresh mapping): create() writes only the header
};

/// The view of a ring that both formats share: the control block, the data area, and the
/// operations that do not depend on the records' format (the close flags, drained()). One view
/// per side (producer, consumer) per process; each format's view keeps a little side-local
/// bookkeeping that the other side never needs. Not thread-safe beyond one producer thread plus
/// one consumer thread.
class RingBase {
 public:
  static constexpr std::size_t kAlignment = detail::cache_line_bytes;
  static constexpr std::size_t kMinCapacity = 64;
  // Payload lengths are stored as uint32.
  static constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 32;

  /// Bytes of memory (64-byte aligned) that create() needs for `capacity` data bytes.
  [[nodiscard]] static std::size_t bytes_required(std::size_t capacity) {
    check_capacity(capacity, "bytes_required");
    return sizeof(RingHeader) + capacity;
  }

  /// Payload bytes of every record in the ring at `memory` (a ring create() initialised):
  /// nonzero for a FixedRing, 0 for a VariableRing. Lets a process that did not create the ring
  /// attach the right view.
  [[nodiscard]] static std::size_t record_size_at(void* memory) {
    return attach_header(memory, "record_size_at")->record_size;
  }

  /// Data bytes; what was given to create().
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // ---- producer side ----

  /// Tells the consumer no more records follow. Call after the last commit.
  void close() noexcept {
    // Release pairs with closed()'s acquire: every earlier commit is visible to a reader that
    // sees the flag, which is what makes drained() exact.
    detail::store_release(header_->closed, 1);
  }

  /// Whether the consumer has stopped reading (it finished or failed): further records would
  /// never be read, so a producer drops them instead of waiting for space.
  [[nodiscard]] bool reader_closed() const noexcept {
    // Acquire pairs with close_reader()'s release; it orders nothing else, but keeps the
    // producer from acting on a flag it could see before the consumer's last pop.
    return detail::load_acquire(header_->reader_closed) != 0;
  }

  // ---- consumer side ----

  /// Tells the producer that nothing more will be read.
  void close_reader() noexcept { detail::store_release(header_->reader_closed, 1); }

  [[nodiscard]] bool closed() const noexcept {
    // Acquire pairs with close()'s release: see close().
    return detail::load_acquire(header_->closed) != 0;
  }

  /// True once the producer closed and every record was popped; nothing more will come.
  [[nodiscard]] bool drained() const noexcept {
    if (!closed()) return false;  // must come first: it is what orders the index load below
    // Relaxed: the acquire in closed() already made the final write_index visible.
    return detail::load_relaxed(header_->read_index) == detail::load_relaxed(header_->write_index);
  }

  // ---- either side (advisory: the other side may change the answer at once) ----

  /// The shared control block, for a watcher in another process that waits for the other side
  /// to move (the producer's write_index and closed, the consumer's read_index and
  /// reader_closed) without reading records.
  [[nodiscard]] RingHeader& header() const noexcept { return *header_; }

  /// Records (FixedRing) or bytes (VariableRing) committed and not yet popped.
  [[nodiscard]] std::uint64_t pending() const noexcept {
    // Acquire pairs with the consumer's release of read_index: it only pops up to a write
    // index it has seen, so that write index happens-before the load below and w >= r.
    const std::uint64_t r = detail::load_acquire(header_->read_index);
    // Relaxed: the value is advisory; reads and writes synchronise on their own.
    const std::uint64_t w = detail::load_relaxed(header_->write_index);
    return w - r;
  }

 protected:
  static constexpr std::uint64_t kMagic = 0x676e6972'62686370;  // "pchbring"
  static constexpr std::uint32_t kVersion = 3;

  RingBase() = default;
  explicit RingBase(RingHeader* h) noexcept
      : header_(h),
        data_(reinterpret_cast<std::byte*>(h) + h->data_offset),
        capacity_(static_cast<std::size_t>(h->capacity)) {}

  /// Bytes a record of `payload` bytes covers, header included: records are 8-byte aligned.
  static constexpr std::size_t record_bytes(std::size_t payload) {
    return (sizeof(RecordHeader) + payload + 7) & ~std::size_t{7};
  }

  /// Writes the control block of a new ring and publishes it. The caller has prepared the data
  /// area the consumer polls first.
  static RingHeader* create_header(void* memory, std::size_t capacity, std::size_t record_size) {
    auto* h = ::new (memory) RingHeader{};
    h->capacity = capacity;
    h->data_offset = sizeof(RingHeader);
    h->version = kVersion;
    h->record_size = static_cast<std::uint32_t>(record_size);
    // Release pairs with attach_header()'s acquire: the constants are visible once magic is.
    detail::store_release(h->magic, kMagic);
    return h;
  }

  /// The control block create_header() published in `memory`, checked.
  static RingHeader* attach_header(void* memory, const char* where) {
    check_memory(memory, where);
    auto* h = std::launder(static_cast<RingHeader*>(memory));
    // Acquire pairs with create_header()'s release of magic: the constants are initialised.
    if (detail::load_acquire(h->magic) != kMagic)
      fail<std::invalid_argument>(where, "memory does not hold a ring (bad magic)");
    if (h->version != kVersion) fail<std::invalid_argument>(where, "unsupported version");
    check_capacity(h->capacity, where);
    if (h->data_offset != sizeof(RingHeader))
      fail<std::invalid_argument>(where, "unexpected data offset");
    return h;
  }

  // Record headers sit at 8-byte aligned positions of a 64-byte aligned area.
  [[nodiscard]] std::uint64_t& word_at(std::size_t pos) const noexcept {
    return *reinterpret_cast<std::uint64_t*>(data_ + pos);
  }

  // The failures are out of line and cold, so that the operations on a message's path stay
  // small enough to inline and keep no string building among their instructions.
  template <class E>
  [[noreturn, gnu::cold, gnu::noinline]] static void fail(const char* where,
                                                          const std::string& what) {
    throw E(std::string("patchbay::channel::Ring::") + where + ": " + what);
  }
  template <class E>
  [[noreturn, gnu::cold, gnu::noinline]] static void fail(const char* where, const char* what) {
    fail<E>(where, std::string(what));
  }
  /// A record of `size` bytes where at most (exactly, for a FixedRing) `limit` fit.
  [[noreturn, gnu::cold, gnu::noinline]] static void wrong_size(const char* where, std::size_t size,
                                                                std::size_t limit, bool exact) {
    fail<std::length_error>(where,
                            "record of " + std::to_string(size) + " bytes " +
                                (exact ? "in a ring of " + std::to_string(limit) + "-byte records"
                                       : "exceeds max_payload() = " + std::to_string(limit)));
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void corrupt(const char* where) {
    fail<std::runtime_error>(where, "corrupt record in shared memory");
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
  std::byte* data_ = nullptr;  // this process's address of the data area
  std::size_t capacity_ = 0;   // copy of the constant, to keep the header's line cold
};

}  // namespace patchbay::channel
