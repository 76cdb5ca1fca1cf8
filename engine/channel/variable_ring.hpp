// A ring of variable-length records (see ring_base.hpp for what every ring shares).
//
// Records are packed, each an 8-byte header word and its payload padded to 8 bytes; a record
// never straddles the end of the data area: a padding record fills the rest and the record
// starts again at position 0, so a reader always gets one contiguous span. For the consumer's
// poll to be exact, the header at its next position must read zero until the producer
// publishes there: create() zeroes the first header slot, and every commit first zeroes the
// slot just past its record (the "terminator"), so a ring keeps 8 bytes free. The consumer
// never looks anywhere else, so the rest of the memory needs no clearing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "channel/ring_base.hpp"

namespace patchbay::channel {

// Zero is deliberately not a kind: a zero header is "nothing here yet". An error record stands
// for a message that could not be made (a step that threw on a request's way): its payload says
// why, and the consumer learns the kind from front_kind().
enum class RecordKind : std::uint32_t { data = 1, padding = 2, error = 3 };

/// View of a ring of records of any length up to max_payload().
class VariableRing : public RingBase {
 public:
  /// Bytes the ring keeps free for the terminator (see the top of this file).
  static constexpr std::size_t kTerminator = 8;

  /// max_payload() of a ring of `capacity` bytes.
  [[nodiscard]] static constexpr std::size_t max_payload_for(std::size_t capacity) noexcept {
    return capacity / 2 - sizeof(RecordHeader) - kTerminator;
  }

  /// An empty view, to be assigned a created or attached one.
  VariableRing() = default;

  /// Initialises an empty ring in `memory` (bytes_required(capacity) bytes, 64-byte aligned).
  /// Touches only the header and the first record slot, so pages the ring never reaches stay
  /// unallocated; `fill` changes nothing.
  [[nodiscard]] static VariableRing create(void* memory, std::size_t capacity,
                                           RingFill /*fill*/ = RingFill::any) {
    check_memory(memory, "create");
    check_capacity(capacity, "create");
    std::memset(static_cast<std::byte*>(memory) + sizeof(RingHeader), 0, sizeof(RecordHeader));
    return VariableRing(create_header(memory, capacity, 0));
  }

  /// Views a ring of variable-length records that create() initialised, possibly in another
  /// process's mapping.
  [[nodiscard]] static VariableRing attach(void* memory) {
    RingHeader* h = attach_header(memory, "attach");
    if (h->record_size != 0)
      fail<std::invalid_argument>("attach", "the ring holds fixed-size records");
    return VariableRing(h);
  }

  /// The largest payload. A record of at most capacity/2 - 8 bytes (header included) always
  /// fits once the consumer has drained: the padding needed to skip the end of the ring is
  /// smaller than the record, so padding, record and terminator never exceed the capacity and
  /// a producer can never wait forever.
  [[nodiscard]] std::size_t max_payload() const noexcept { return max_payload_for(capacity_); }

  // ---- producer side ----

  /// Writable space for a payload of exactly `payload_size` bytes, contiguous, or a span with
  /// data() == nullptr when the ring is too full right now. Nothing is visible to the consumer
  /// until commit(). A second try_reserve replaces an uncommitted reservation. Throws
  /// std::length_error above max_payload().
  [[nodiscard]] std::span<std::byte> try_reserve(std::size_t payload_size) {
    if (payload_size > max_payload()) [[unlikely]] {
      wrong_size("try_reserve", payload_size, max_payload(), false);
    }
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    const std::size_t pos = w & (capacity_ - 1);
    const std::size_t pad = padding_before(pos, record_bytes(payload_size));
    const std::uint64_t need = pad + record_bytes(payload_size) + kTerminator;
    if (w + need - h.cached_read_index > capacity_) {
      // Acquire pairs with pop(): the consumer is done reading the bytes we will overwrite.
      h.cached_read_index = detail::load_acquire(h.read_index);
      if (w + need - h.cached_read_index > capacity_) return {};
    }
    reserved_ = payload_size;
    return {data_ + ((pos + pad) & (capacity_ - 1)) + sizeof(RecordHeader), payload_size};
  }

  /// Publishes the reserved record with its first `payload_size` bytes (at most the reserved
  /// size), as a record of `kind` (data or error). Throws std::logic_error without an open
  /// reservation that large.
  void commit(std::size_t payload_size, RecordKind kind = RecordKind::data) {
    if (reserved_ == kNone || payload_size > reserved_)
      fail<std::logic_error>("commit", "no reservation of that size");
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    const std::size_t pos = w & (capacity_ - 1);
    // Placement follows the reserved size, which is what try_reserve decided on.
    const std::size_t pad = padding_before(pos, record_bytes(reserved_));
    const std::uint64_t end = w + pad + record_bytes(payload_size);
    // The terminator: the consumer's next position reads zero until the next commit. Ordered
    // before the consumer can get there by the release below.
    detail::store_relaxed(word_at(end & (capacity_ - 1)), 0);
    // Release pairs with the consumer's acquire of the header: the payload is visible with it.
    detail::store_release(word_at((pos + pad) & (capacity_ - 1)), header_word(kind, payload_size));
    if (pad != 0) {
      // After the record it skips to, so a consumer that sees the padding finds the record.
      detail::store_release(word_at(pos),
                            header_word(RecordKind::padding, pad - sizeof(RecordHeader)));
    }
    reserved_ = kNone;
    // For pending(), drained() and watchers in other processes; the consumer does not poll it.
    detail::store_release(h.write_index, end);
  }

  /// Copies `payload` in as one record; false when there is no room right now.
  bool try_write(std::span<const std::byte> payload, RecordKind kind = RecordKind::data) {
    const std::span<std::byte> dst = try_reserve(payload.size());
    if (dst.data() == nullptr) return false;
    if (!payload.empty()) std::memcpy(dst.data(), payload.data(), payload.size());
    commit(payload.size(), kind);
    return true;
  }

  // ---- consumer side ----

  /// The oldest record not yet popped, or nullopt when the ring is empty. The span stays valid
  /// until pop(); calling try_read() again before pop() returns the same record, and
  /// front_kind() says whether it is data or an error. Throws std::runtime_error if the shared
  /// memory holds an impossible record.
  [[nodiscard]] std::optional<std::span<const std::byte>> try_read() {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);  // own index
    std::size_t pos = r & (capacity_ - 1);
    // Acquire pairs with commit()'s release of the header: the payload is visible with it.
    std::uint64_t word = detail::load_acquire(word_at(pos));
    if (word == 0) return std::nullopt;
    std::uint64_t start = r;
    if (kind_of(word) == RecordKind::padding) {
      // Published after the record it skips to; no need to pop it alone.
      if (length_of(word) != capacity_ - pos - sizeof(RecordHeader)) corrupt("try_read");
      start += capacity_ - pos;
      pos = 0;
      word = detail::load_acquire(word_at(0));
    }
    const std::size_t length = length_of(word);
    front_kind_ = kind_of(word);
    if ((front_kind_ != RecordKind::data && front_kind_ != RecordKind::error) ||
        length > max_payload() || pos + record_bytes(length) > capacity_) {
      corrupt("try_read");
    }
    front_end_ = start + record_bytes(length);
    return std::span<const std::byte>(data_ + pos + sizeof(RecordHeader), length);
  }

  /// The kind of the record the last try_read() returned: data or error.
  [[nodiscard]] RecordKind front_kind() const noexcept { return front_kind_; }

  /// Frees the record try_read() returned (and any padding before it). Throws
  /// std::logic_error when no record is being read.
  void pop() {
    if (front_end_ == kNone) fail<std::logic_error>("pop", "no record read");
    // Release pairs with try_reserve()'s acquire: our reads finish before the producer reuses
    // the space.
    detail::store_release(header_->read_index, front_end_);
    front_end_ = kNone;
  }

  /// The header word at the consumer's position: zero while the ring is empty. A watcher in the
  /// consumer's process can poll it for news without touching the producer's line.
  [[nodiscard]] std::uint64_t front_word() const noexcept {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);
    return detail::load_acquire(word_at(r & (capacity_ - 1)));
  }

  // ---- either side (advisory) ----

  [[nodiscard]] bool empty() const noexcept { return pending() == 0; }
  /// Bytes in use, record headers and padding included.
  [[nodiscard]] std::size_t size_bytes() const noexcept {
    return static_cast<std::size_t>(pending());
  }

 private:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  explicit VariableRing(RingHeader* h) : RingBase(h) {}

  std::size_t padding_before(std::size_t pos, std::size_t record) const noexcept {
    const std::size_t to_end = capacity_ - pos;
    return to_end < record ? to_end : 0;
  }

  static std::uint64_t header_word(RecordKind kind, std::size_t length) noexcept {
    return (static_cast<std::uint64_t>(kind) << 32) | static_cast<std::uint32_t>(length);
  }
  static RecordKind kind_of(std::uint64_t word) noexcept {
    return static_cast<RecordKind>(word >> 32);
  }
  static std::size_t length_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word);
  }

  std::size_t reserved_ = kNone;     // producer: payload size of the open reservation
  std::uint64_t front_end_ = kNone;  // consumer: read index just past the record being read
  RecordKind front_kind_ = RecordKind::data;  // consumer: the kind of that record
};

}  // namespace patchbay::channel
