// A ring of fixed-size records (see ring_base.hpp for what every ring shares).
//
// The records sit in equal slots, a power-of-two number of them, and a slot's header word is
// the record's sequence number plus one. The consumer of record r waits for r + 1 in its slot;
// what it finds there before is 0 (never written) or the number of the record one lap earlier.
// Unlike a ring of variable-length records this needs no terminator: the producer touches one
// cache line per small record, not two when a record ends at a line's end, and there is no
// length or padding to work out on either side. The slot headers must read zero at creation,
// so create() clears them unless the caller vouches for zero-filled memory.
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "channel/ring_base.hpp"

namespace patchbay::channel {

/// View of a ring whose records all have record_size() payload bytes.
class FixedRing : public RingBase {
 public:
  /// Bytes one record of `record_size` payload bytes takes, header included.
  [[nodiscard]] static constexpr std::size_t slot_bytes(std::size_t record_size) {
    return record_bytes(record_size);
  }
  /// Records a ring of `capacity` bytes holds when they all have `record_size` payload bytes:
  /// the largest power of two of slots that fits, 0 when not even one does.
  [[nodiscard]] static std::size_t slots_for(std::size_t capacity, std::size_t record_size) {
    if (record_size == 0 || record_size > capacity) return 0;
    const std::size_t slot = slot_bytes(record_size);
    return slot > capacity ? 0 : std::bit_floor(capacity / slot);
  }

  /// An empty view, to be assigned a created or attached one.
  FixedRing() = default;

  /// Initialises an empty ring in `memory` (bytes_required(capacity) bytes, 64-byte aligned)
  /// whose records have exactly `record_size` (> 0) payload bytes; at least one slot must fit.
  /// Clears every slot's header unless `fill` says the memory is zeroed.
  [[nodiscard]] static FixedRing create(void* memory, std::size_t capacity, std::size_t record_size,
                                        RingFill fill = RingFill::any) {
    check_memory(memory, "create");
    check_capacity(capacity, "create");
    const std::size_t slots = slots_for(capacity, record_size);
    if (slots == 0) {
      fail<std::invalid_argument>("create", "a record of " + std::to_string(record_size) +
                                                " bytes does not fit capacity " +
                                                std::to_string(capacity));
    }
    if (fill == RingFill::any) {
      std::byte* data = static_cast<std::byte*>(memory) + sizeof(RingHeader);
      for (std::size_t i = 0; i < slots; ++i)
        std::memset(data + i * slot_bytes(record_size), 0, sizeof(RecordHeader));
    }
    return FixedRing(create_header(memory, capacity, record_size));
  }

  /// Views a ring of fixed-size records that create() initialised, possibly in another
  /// process's mapping.
  [[nodiscard]] static FixedRing attach(void* memory) {
    RingHeader* h = attach_header(memory, "attach");
    if (h->record_size == 0)
      fail<std::invalid_argument>("attach", "the ring holds variable-length records");
    if (slots_for(h->capacity, h->record_size) == 0)
      fail<std::invalid_argument>("attach", "record size does not fit the capacity");
    return FixedRing(h);
  }

  /// Payload bytes of every record.
  [[nodiscard]] std::size_t record_size() const noexcept { return record_size_; }
  /// The largest payload: record_size().
  [[nodiscard]] std::size_t max_payload() const noexcept { return record_size_; }
  /// Records the ring holds at once.
  [[nodiscard]] std::size_t slots() const noexcept { return slot_mask_ + 1; }

  // ---- producer side ----

  /// `copy(slot)` writes record_size() bytes at `slot`, and the record is published; false (and
  /// `copy` not called) when the ring is full right now.
  template <std::invocable<std::byte*> Copy>
  bool try_write(Copy&& copy) {
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    if (!slot_free(w)) return false;
    const std::size_t pos = slot_position(w);
    std::forward<Copy>(copy)(data_ + pos + sizeof(RecordHeader));
    // Release pairs with the consumer's acquire of the header: the payload is visible with it.
    detail::store_release(word_at(pos), w + 1);
    // For pending(), drained() and watchers in other processes; the consumer does not poll it.
    detail::store_release(h.write_index, w + 1);
    return true;
  }

  /// Copies `record` (record_size() bytes) in; false when the ring is full right now. Throws
  /// std::length_error for a record of another size.
  bool try_write(std::span<const std::byte> record) {
    if (record.size() != record_size_) [[unlikely]] {
      wrong_size("try_write", record.size(), record_size_, true);
    }
    return try_write([&](std::byte* slot) { std::memcpy(slot, record.data(), record.size()); });
  }

  // ---- consumer side ----

  /// When the oldest record not yet popped is there, `copy(record)` reads its record_size()
  /// bytes and the record is popped; false (and `copy` not called) when the ring is empty.
  /// Not between try_read() and pop(). Throws std::runtime_error if the shared memory holds an
  /// impossible record.
  template <std::invocable<const std::byte*> Copy>
  bool try_read(Copy&& copy) {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);  // own index
    const std::size_t pos = slot_position(r);
    // Acquire pairs with the producer's release of the header: the payload is visible with it.
    const std::uint64_t word = detail::load_acquire(word_at(pos));
    if (word != r + 1) {
      check_before_arrival(r, word);
      return false;
    }
    std::forward<Copy>(copy)(static_cast<const std::byte*>(data_ + pos + sizeof(RecordHeader)));
    // Release pairs with slot_free()'s acquire: our reads finish before the slot is reused.
    detail::store_release(header_->read_index, r + 1);
    return true;
  }

  /// The oldest record not yet popped, in place, or nullopt when the ring is empty. The span
  /// stays valid until pop(); calling try_read() again before pop() returns the same record.
  [[nodiscard]] std::optional<std::span<const std::byte>> try_read() {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);  // own index
    const std::size_t pos = slot_position(r);
    // Acquire pairs with the producer's release of the header: the payload is visible with it.
    const std::uint64_t word = detail::load_acquire(word_at(pos));
    if (word != r + 1) {
      check_before_arrival(r, word);
      return std::nullopt;
    }
    front_end_ = r + 1;
    return std::span<const std::byte>(data_ + pos + sizeof(RecordHeader), record_size_);
  }

  /// Frees the record try_read() returned. Throws std::logic_error when none is being read.
  void pop() {
    if (front_end_ == kNone) fail<std::logic_error>("pop", "no record read");
    // Release pairs with slot_free()'s acquire: our reads finish before the slot is reused.
    detail::store_release(header_->read_index, front_end_);
    front_end_ = kNone;
  }

  /// The header word at the consumer's position when the record there has arrived, else zero. A
  /// watcher in the consumer's process can poll it for news without touching the producer's
  /// line.
  [[nodiscard]] std::uint64_t front_word() const noexcept {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);
    const std::uint64_t word = detail::load_acquire(word_at(slot_position(r)));
    return word == r + 1 ? word : 0;
  }

  // ---- either side (advisory) ----

  [[nodiscard]] bool empty() const noexcept { return pending() == 0; }
  /// Bytes in use: whole slots.
  [[nodiscard]] std::size_t size_bytes() const noexcept {
    return static_cast<std::size_t>(pending()) * slot_bytes_;
  }

 private:
  static constexpr std::uint64_t kNone = std::numeric_limits<std::uint64_t>::max();

  explicit FixedRing(RingHeader* h)
      : RingBase(h),
        record_size_(h->record_size),
        slot_bytes_(slot_bytes(h->record_size)),
        slot_mask_(slots_for(capacity_, h->record_size) - 1) {}

  // Record i sits in slot i mod slots.
  [[nodiscard]] std::size_t slot_position(std::uint64_t index) const noexcept {
    return static_cast<std::size_t>(index & slot_mask_) * slot_bytes_;
  }

  // Producer: whether record w's slot is free, looking at the consumer's index only when the
  // cached copy says the ring is full.
  bool slot_free(std::uint64_t w) noexcept {
    RingHeader& h = *header_;
    if (w - h.cached_read_index <= slot_mask_) return true;
    // Acquire pairs with the consumer's release: it is done reading the slot we will overwrite.
    h.cached_read_index = detail::load_acquire(h.read_index);
    return w - h.cached_read_index <= slot_mask_;
  }

  // Before record r arrives its slot holds 0 (never written) or record r - slots.
  void check_before_arrival(std::uint64_t r, std::uint64_t word) const {
    if (word != (r > slot_mask_ ? r - slot_mask_ : 0)) corrupt("try_read");
  }

  std::size_t record_size_ = 0;
  std::size_t slot_bytes_ = 0;
  std::uint64_t slot_mask_ = 0;      // slots - 1
  std::uint64_t front_end_ = kNone;  // consumer: read index past the record try_read() returned
};

}  // namespace patchbay::channel
