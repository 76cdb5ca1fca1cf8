// What both record formats of a ring share: the control block in shared memory, the checks of
// create() and attach(), and the close flags.
//
// A ring is a bounded single-producer / single-consumer queue of records in caller-provided
// memory, which may be a shared mapping seen by forked processes at different addresses. Hence
// the shared part (RingHeader + data area) holds only integers and offsets, and each process
// keeps its own view that recomputes pointers. The consumer learns that a record is there from
// the record itself: the producer writes the payload, then publishes the record's 8-byte header
// with a release store, and the consumer polls the header at its read position. A small message
// therefore costs the consumer one cache line from the producer (header and payload together),
// not two (an index, then the data). How a header says "here" depends on the record format:
// FixedRing (records of one size, in slots) and VariableRing (records of any length) each
// explain theirs; Ring is a view of either.
#pragma once

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

/// Shared control block at the start of the ring's memory. Indices are monotonically
/// increasing counters: of bytes with variable-length records (position = index & (capacity -
/// 1)), of records with fixed-size ones (slot = index & (slots - 1)). Differences stay correct
/// even if a counter wraps, because the capacity (the slot count) divides 2^64.
struct RingHeader {
  // Producer line: written only by the producer. The consumer's hot path never reads it (it
  // polls record headers), so it does not move between cores on every message.
  alignas(detail::cache_line_bytes) std::uint64_t write_index;  // committed so far
  std::uint64_t cached_read_index;  // producer's stale-but-safe copy of read_index
  // Consumer line: written only by the consumer; the producer reads it when its copy runs out.
  alignas(detail::cache_line_bytes) std::uint64_t read_index;  // popped so far
  // Constants (set once by create(), published via magic) and the producer's closed flag.
  alignas(detail::cache_line_bytes) std::uint64_t magic;
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
static_assert(offsetof(RingHeader, read_index) == detail::cache_line_bytes);
static_assert(offsetof(RingHeader, magic) == 2 * detail::cache_line_bytes);
static_assert(offsetof(RingHeader, record_size) + sizeof(std::uint32_t) <=
              3 * detail::cache_line_bytes);
static_assert(alignof(RingHeader) == detail::cache_line_bytes);
static_assert(sizeof(RingHeader) == 3 * detail::cache_line_bytes);

/// Precedes every record in the data area, at an 8-byte aligned position. Read and written as
/// one 8-byte word, which is what publishes a record.
struct RecordHeader {
  std::uint32_t length;  // variable-length records: payload bytes (padding: bytes skipped - 8)
  std::uint32_t kind;    // variable-length records: RecordKind
};
static_assert(sizeof(RecordHeader) == 8);

/// The part of a ring view that does not depend on the record format. Not used alone: the
/// views are FixedRing, VariableRing and Ring. Not thread-safe beyond one producer thread plus
/// one consumer thread; the producer-side and consumer-side methods say which side may call.
class RingBase {
 public:
  static constexpr std::size_t kAlignment = detail::cache_line_bytes;
  static constexpr std::size_t kMinCapacity = 64;
  // Payload lengths are stored as uint32.
  static constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 32;

  /// What create() may assume about the memory it is given.
  enum class Fill : std::uint8_t {
    any,     ///< anything: create() clears what the consumer will poll
    zeroed,  ///< every byte reads zero (a fresh mapping): create() writes only the header
  };

  /// Bytes of memory (cache-line aligned) that create() needs for `capacity` data bytes.
  [[nodiscard]] static std::size_t bytes_required(std::size_t capacity) {
    check_capacity(capacity, "bytes_required");
    return sizeof(RingHeader) + capacity;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // ---- producer side ----

  /// Tells the consumer no more records follow. Call after the last commit.
  void close() {
    // Release pairs with closed()'s acquire: every earlier commit is visible to a reader
    // that sees the flag, which is what makes drained() exact.
    detail::store_release(header_->closed, 1);
  }

  /// Whether the consumer has stopped reading (it finished or failed): further records would
  /// never be read, so a producer drops them instead of waiting for space.
  [[nodiscard]] bool reader_closed() const {
    // Acquire pairs with close_reader()'s release; it orders nothing else, but keeps the
    // producer from acting on a flag it could see before the consumer's last pop().
    return detail::load_acquire(header_->reader_closed) != 0;
  }

  // ---- consumer side ----

  /// Tells the producer that nothing more will be read.
  void close_reader() { detail::store_release(header_->reader_closed, 1); }

  [[nodiscard]] bool closed() const {
    // Acquire pairs with close()'s release: see close().
    return detail::load_acquire(header_->closed) != 0;
  }

  /// True once the producer closed and every record was popped; nothing more will come.
  [[nodiscard]] bool drained() const {
    if (!closed()) return false;  // must come first: it is what orders the index load below
    // Relaxed: the acquire in closed() already made the final write_index visible.
    return detail::load_relaxed(header_->read_index) == detail::load_relaxed(header_->write_index);
  }

  // ---- either side (advisory: the other side may change the answer at once) ----

  /// The shared control block, for a watcher in another process that waits for the other side
  /// to move (the producer's write_index and closed, the consumer's read_index and
  /// reader_closed) without reading records.
  [[nodiscard]] RingHeader& header() const noexcept { return *header_; }

 protected:
  friend class Ring;  // attach() asks find() which format to view

  static constexpr std::uint64_t kMagic = 0x676e6972'62686370;  // "pchbring"
  static constexpr std::uint32_t kVersion = 3;
  static constexpr std::size_t kNone = ~std::size_t{0};

  RingBase() = default;
  explicit RingBase(RingHeader* h)
      : header_(h),
        data_(reinterpret_cast<std::byte*>(h) + h->data_offset),
        capacity_(static_cast<std::size_t>(h->capacity)) {}

  /// Bytes a record of `payload` bytes covers, header included: records are 8-byte aligned.
  static constexpr std::size_t record_bytes(std::size_t payload) {
    return (sizeof(RecordHeader) + payload + 7) & ~std::size_t{7};
  }

  /// The data area of a ring about to be created, once `memory` and `capacity` are checked.
  static std::byte* data_area(void* memory, std::size_t capacity) {
    check_memory(memory, "create");
    check_capacity(capacity, "create");
    return static_cast<std::byte*>(memory) + sizeof(RingHeader);
  }

  /// create()'s last step, once the format has cleared what its consumer will poll: writes the
  /// control block and publishes it.
  static RingHeader* publish(void* memory, std::size_t capacity, std::size_t record_size) {
    auto* h = ::new (memory) RingHeader{};
    h->capacity = capacity;
    h->data_offset = sizeof(RingHeader);
    h->version = kVersion;
    h->record_size = static_cast<std::uint32_t>(record_size);
    // Release pairs with find()'s acquire: the constants above, and the data area the format
    // cleared, are visible once magic is.
    detail::store_release(h->magic, kMagic);
    return h;
  }

  /// attach()'s first step: the control block of a ring that create() published in `memory`,
  /// its constants checked. The format checks record_size.
  static RingHeader* find(void* memory) {
    check_memory(memory, "attach");
    auto* h = std::launder(static_cast<RingHeader*>(memory));
    // Acquire pairs with publish()'s release of magic: the constants are then initialised.
    if (detail::load_acquire(h->magic) != kMagic)
      fail<std::invalid_argument>("attach", "memory does not hold a ring (bad magic)");
    if (h->version != kVersion) fail<std::invalid_argument>("attach", "unsupported version");
    check_capacity(h->capacity, "attach");
    if (h->data_offset != sizeof(RingHeader))
      fail<std::invalid_argument>("attach", "unexpected data offset");
    return h;
  }

  /// The header word of the record at `pos`: records sit at 8-byte aligned positions of a
  /// cache-line aligned area.
  [[nodiscard]] std::uint64_t& record_word(std::size_t pos) const {
    return *reinterpret_cast<std::uint64_t*>(data_ + pos);
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
  std::byte* data_ = nullptr;  // this process's address of the data area
  std::size_t capacity_ = 0;   // copy of the constant, to keep the header's line cold
};

}  // namespace patchbay::channel
