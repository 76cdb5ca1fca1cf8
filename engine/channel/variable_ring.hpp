// A ring of variable-length records: what the engine uses for strings, lists and other types
// whose encoding varies in length.
//
// Records are packed one after the other, each padded to a multiple of 8 bytes, and never
// straddle the end of the data area: a padding record skips to its start instead. For the
// consumer's poll to be exact, the header at its next position must read zero until the
// producer publishes there: create() zeroes the first header slot, and every commit first zeroes
// the slot just past its record (the "terminator"), so a ring keeps 8 bytes free. The consumer
// never looks anywhere else, so the rest of the memory needs no clearing, and pages the ring
// never reaches stay unallocated. Indices count bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "channel/ring_base.hpp"

namespace patchbay::channel {

/// RecordHeader::kind of a variable-length record. Zero is deliberately not a kind: a zero
/// header is "nothing here yet".
enum class RecordKind : std::uint32_t { data = 1, padding = 2 };

/// View of a ring whose records have any length up to max_payload(). One view per side
/// (producer, consumer) per process; each keeps a little side-local bookkeeping (the open
/// reservation, the record being read) that the other side does not need.
class VariableRing : public RingBase {
 public:
  /// Bytes the ring keeps free for the terminator (see the top of this file).
  static constexpr std::size_t kTerminator = 8;

  /// Initialises an empty ring in `memory` (bytes_required(capacity) bytes, cache-line
  /// aligned). Touches only the control block and the first record header.
  [[nodiscard]] static VariableRing create(void* memory, std::size_t capacity) {
    std::memset(data_area(memory, capacity), 0, sizeof(RecordHeader));
    return VariableRing(publish(memory, capacity, 0));
  }

  /// Views a ring of variable-length records that create() initialised, possibly in another
  /// process's mapping.
  [[nodiscard]] static VariableRing attach(void* memory) {
    RingHeader* h = find(memory);
    if (h->record_size != 0)
      fail<std::invalid_argument>("attach", "the ring holds fixed-size records");
    return VariableRing(h);
  }

  /// The largest payload: a record of at most capacity/2 - 8 bytes (header included) always
  /// fits once the consumer has drained: the padding needed to skip the end of the ring is
  /// smaller than the record, so padding, record and terminator never exceed the capacity and
  /// a producer can never wait forever.
  [[nodiscard]] std::size_t max_payload() const noexcept { return max_payload_for(capacity_); }
  /// max_payload() of a ring of `capacity` bytes.
  [[nodiscard]] static constexpr std::size_t max_payload_for(std::size_t capacity) noexcept {
    return capacity / 2 - sizeof(RecordHeader) - kTerminator;
  }

  // ---- producer side ----

  /// Writable space for a payload of exactly `payload_size` bytes, contiguous, or a span with
  /// data() == nullptr when the ring is too full right now. Nothing is visible to the consumer
  /// until commit(). A second try_reserve replaces an uncommitted reservation. Throws
  /// std::length_error above max_payload().
  [[nodiscard]] std::span<std::byte> try_reserve(std::size_t payload_size) {
    if (payload_size > max_payload()) [[unlikely]] {
      fail<std::length_error>(
          "try_reserve", "payload of " + std::to_string(payload_size) +
                             " bytes exceeds max_payload() = " + std::to_string(max_payload()));
    }
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    const std::size_t pos = w & (capacity_ - 1);
    const std::size_t pad = padding_before(pos, record_bytes(payload_size));
    const std::uint64_t need = pad + record_bytes(payload_size) + kTerminator;
    if (w + need - h.cached_read_index > capacity_) {
      // Acquire pairs with pop()'s release: the consumer is done reading the bytes we will
      // overwrite.
      h.cached_read_index = detail::load_acquire(h.read_index);
      if (w + need - h.cached_read_index > capacity_) return {};
    }
    reserved_ = payload_size;
    return {data_ + ((pos + pad) & (capacity_ - 1)) + sizeof(RecordHeader), payload_size};
  }

  /// Publishes the reserved record with its first `payload_size` bytes (at most the reserved
  /// size). Throws std::logic_error without an open reservation of that size.
  void commit(std::size_t payload_size) {
    if (reserved_ == kNone || payload_size > reserved_) [[unlikely]]
      throw std::logic_error("patchbay::channel::Ring::commit: no reservation of that size");
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    const std::size_t pos = w & (capacity_ - 1);
    // Placement follows the reserved size, which is what try_reserve decided on.
    const std::size_t pad = padding_before(pos, record_bytes(reserved_));
    const std::uint64_t end = w + pad + record_bytes(payload_size);
    // The terminator: the consumer's next position reads zero until the next commit. Ordered
    // before the consumer can get there by the release below.
    detail::store_relaxed(record_word(end & (capacity_ - 1)), 0);
    // Release pairs with the consumer's acquire of the header: the payload is visible with it.
    detail::store_release(record_word((pos + pad) & (capacity_ - 1)),
                          header_word(RecordKind::data, payload_size));
    if (pad != 0) {
      // After the record it skips to, so a consumer that sees the padding finds the record.
      detail::store_release(record_word(pos),
                            header_word(RecordKind::padding, pad - sizeof(RecordHeader)));
    }
    reserved_ = kNone;
    // For size_bytes(), drained() and watchers in other processes; the consumer does not poll it.
    detail::store_release(h.write_index, end);
  }

  /// Copies `payload` in as one record; false when there is no room right now.
  bool try_write(std::span<const std::byte> payload) {
    const std::span<std::byte> dst = try_reserve(payload.size());
    if (dst.data() == nullptr) return false;
    if (!payload.empty()) std::memcpy(dst.data(), payload.data(), payload.size());
    commit(payload.size());
    return true;
  }

  // ---- consumer side ----

  /// The oldest record not yet popped, or nullopt when the ring is empty. The span stays valid
  /// until pop(); calling try_read again before pop() returns the same record. Throws
  /// std::runtime_error if the shared memory holds an impossible record.
  [[nodiscard]] std::optional<std::span<const std::byte>> try_read() {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);  // own index
    std::size_t pos = r & (capacity_ - 1);
    // Acquire pairs with commit()'s release of the header: the payload is visible with it.
    std::uint64_t word = detail::load_acquire(record_word(pos));
    if (word == 0) return std::nullopt;
    std::uint64_t start = r;
    if (kind_of(word) == RecordKind::padding) {
      // Published after the record it skips to; no need to pop it alone.
      if (length_of(word) != capacity_ - pos - sizeof(RecordHeader)) corrupt();
      start += capacity_ - pos;
      pos = 0;
      word = detail::load_acquire(record_word(0));
    }
    const std::size_t length = length_of(word);
    if (kind_of(word) != RecordKind::data || length > max_payload() ||
        pos + record_bytes(length) > capacity_) {
      corrupt();
    }
    front_end_ = start + record_bytes(length);
    return std::span<const std::byte>(data_ + pos + sizeof(RecordHeader), length);
  }

  /// Frees the record try_read() returned (and any padding before it). Throws
  /// std::logic_error when no record is being read.
  void pop() {
    if (front_end_ == kNone) [[unlikely]]
      throw std::logic_error("patchbay::channel::Ring::pop: no record read");
    // Release pairs with try_reserve()'s acquire: our reads finish before the producer reuses
    // the space.
    detail::store_release(header_->read_index, front_end_);
    front_end_ = kNone;
  }

  /// The header word at the consumer's position: zero while the ring is empty. A watcher in the
  /// consumer's process can poll it for news without touching the producer's line.
  [[nodiscard]] std::uint64_t front_word() const {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);
    return detail::load_acquire(record_word(r & (capacity_ - 1)));
  }

  // ---- either side (advisory: the other side may change the answer at once) ----

  [[nodiscard]] bool empty() const { return size_bytes() == 0; }

  /// Bytes in use, record headers and padding included.
  [[nodiscard]] std::size_t size_bytes() const {
    // Acquire pairs with pop(): the consumer only pops up to a write index it has seen, so
    // that write index happens-before the load below and w >= r is guaranteed.
    const std::uint64_t r = detail::load_acquire(header_->read_index);
    // Relaxed: the value is advisory; the reads and writes synchronise on their own.
    const std::uint64_t w = detail::load_relaxed(header_->write_index);
    return static_cast<std::size_t>(w - r);
  }

 private:
  friend class Ring;

  VariableRing() = default;
  explicit VariableRing(RingHeader* h) : RingBase(h) {}

  // A record never straddles the wrap, so readers always get one contiguous span.
  std::size_t padding_before(std::size_t pos, std::size_t record) const {
    const std::size_t to_end = capacity_ - pos;
    return to_end < record ? to_end : 0;
  }

  // The header word: the kind in the high half, the length in the low half.
  static std::uint64_t header_word(RecordKind kind, std::size_t length) {
    return (static_cast<std::uint64_t>(kind) << 32) | static_cast<std::uint32_t>(length);
  }
  static RecordKind kind_of(std::uint64_t word) { return static_cast<RecordKind>(word >> 32); }
  static std::size_t length_of(std::uint64_t word) { return static_cast<std::uint32_t>(word); }

  std::size_t reserved_ = kNone;     // producer: payload size of the open reservation
  std::uint64_t front_end_ = kNone;  // consumer: read index just past the record being read
};

}  // namespace patchbay::channel
