// A ring of fixed-size records: what the engine uses between components for trivially copyable
// types, the path of almost every message.
//
// The records sit in equal slots, a power-of-two number of them, and a slot's header word is
// the record's sequence number plus one. The consumer of record r waits for r + 1 in its slot;
// what it finds there before is 0 (never written) or the number of the record one lap earlier.
// The producer then touches one cache line per small record, not two when a record ends at a
// line's end, and there is no length or padding to work out on either side. The slot headers
// must read zero at creation, so create() clears them unless the caller vouches for zero-filled
// memory. Indices count records.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "channel/ring_base.hpp"

namespace patchbay::channel {

/// View of a ring whose records all have record_size() payload bytes. One view per side
/// (producer, consumer) per process; each keeps a little side-local bookkeeping (the open
/// reservation, the record being read) that the other side does not need.
class FixedRing : public RingBase {
 public:
  /// Bytes one record of `record_size` payload bytes takes: its slot.
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

  /// Initialises an empty ring of records of `record_size` (> 0) payload bytes in `memory`
  /// (bytes_required(capacity) bytes, cache-line aligned); at least one slot must fit. Clears
  /// every slot's header unless `fill` says the memory is zeroed.
  [[nodiscard]] static FixedRing create(void* memory, std::size_t capacity, std::size_t record_size,
                                        Fill fill = Fill::any) {
    std::byte* data = data_area(memory, capacity);
    const std::size_t slots = record_size == 0 ? 0 : slots_for(capacity, record_size);
    if (slots == 0) {
      fail<std::invalid_argument>("create", "a record of " + std::to_string(record_size) +
                                                " bytes does not fit capacity " +
                                                std::to_string(capacity));
    }
    if (fill == Fill::any) {
      for (std::size_t i = 0; i < slots; ++i)
        std::memset(data + i * slot_bytes(record_size), 0, sizeof(RecordHeader));
    }
    return FixedRing(publish(memory, capacity, record_size));
  }

  /// Views a ring of fixed-size records that create() initialised, possibly in another
  /// process's mapping.
  [[nodiscard]] static FixedRing attach(void* memory) {
    RingHeader* h = find(memory);
    if (h->record_size == 0)
      fail<std::invalid_argument>("attach", "the ring holds variable-length records");
    if (slots_for(h->capacity, h->record_size) == 0)
      fail<std::invalid_argument>("attach", "record size does not fit the capacity");
    return FixedRing(h);
  }

  /// Payload bytes of every record.
  [[nodiscard]] std::size_t record_size() const noexcept { return record_size_; }
  /// The largest payload, which is the only one: record_size().
  [[nodiscard]] std::size_t max_payload() const noexcept { return record_size_; }

  // ---- producer side ----

  /// `write(slot)` writes record_size() bytes at `slot`, and the record is committed; false
  /// (and `write` not called) when the ring is full right now. try_reserve() and commit() in
  /// one, with no reservation to track: the path of a message between workers. Not while a
  /// reservation is open.
  template <class Write>
  bool try_push(Write&& write) {
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    if (!slot_free(w)) return false;
    const std::size_t pos = slot_position(w);
    std::forward<Write>(write)(data_ + pos + sizeof(RecordHeader));
    // Release pairs with the consumer's acquire of the header: the payload is visible with it.
    detail::store_release(record_word(pos), w + 1);
    // For size_bytes(), drained() and watchers in other processes; the consumer does not poll it.
    detail::store_release(h.write_index, w + 1);
    return true;
  }

  /// Writable space for the next record, whose size must be record_size(), or a span with
  /// data() == nullptr when the ring is full right now. Nothing is visible to the consumer
  /// until commit(). A second try_reserve replaces an uncommitted reservation.
  [[nodiscard]] std::span<std::byte> try_reserve(std::size_t payload_size) {
    if (payload_size != record_size_) [[unlikely]]
      wrong_size("try_reserve", payload_size);
    const std::uint64_t w = detail::load_relaxed(header_->write_index);  // own index
    if (!slot_free(w)) return {};
    reserved_ = true;
    return {data_ + slot_position(w) + sizeof(RecordHeader), record_size_};
  }

  /// Publishes the reserved record. Throws std::logic_error without an open reservation or
  /// when `payload_size` is not record_size() (a record cannot shrink).
  void commit(std::size_t payload_size) {
    if (!reserved_ || payload_size != record_size_) [[unlikely]]
      throw std::logic_error("patchbay::channel::Ring::commit: no reservation of that size");
    RingHeader& h = *header_;
    const std::uint64_t w = detail::load_relaxed(h.write_index);  // own index
    // Release pairs with the consumer's acquire of the header: the payload is visible with it.
    detail::store_release(record_word(slot_position(w)), w + 1);
    reserved_ = false;
    detail::store_release(h.write_index, w + 1);
  }

  /// Copies `payload` (record_size() bytes) in as one record; false when there is no room
  /// right now.
  bool try_write(std::span<const std::byte> payload) {
    if (payload.size() != record_size_) [[unlikely]]
      wrong_size("try_write", payload.size());
    reserved_ = false;  // replaces an open reservation, as try_reserve() does
    return try_push([&](std::byte* slot) { std::memcpy(slot, payload.data(), payload.size()); });
  }

  // ---- consumer side ----

  /// When the oldest record is there, `read(record)` reads its record_size() bytes and the
  /// record is popped; false (and `read` not called) when the ring is empty. try_read() and
  /// pop() in one. Not between those two.
  template <class Read>
  bool try_pop(Read&& read) {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);  // own index
    const std::size_t pos = slot_position(r);
    // Acquire pairs with the producer's release of the header: the payload is visible with it.
    const std::uint64_t word = detail::load_acquire(record_word(pos));
    if (word != r + 1) {
      check_before_arrival(r, word);
      return false;
    }
    std::forward<Read>(read)(static_cast<const std::byte*>(data_ + pos + sizeof(RecordHeader)));
    // Release pairs with the producer's acquire in slot_free(): our read of the slot finishes
    // before the producer reuses it.
    detail::store_release(header_->read_index, r + 1);
    return true;
  }

  /// The oldest record not yet popped, or nullopt when the ring is empty. The span stays valid
  /// until pop(); calling try_read again before pop() returns the same record. Throws
  /// std::runtime_error if the shared memory holds an impossible record.
  [[nodiscard]] std::optional<std::span<const std::byte>> try_read() {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);  // own index
    const std::size_t pos = slot_position(r);
    // Acquire pairs with the producer's release of the header: the payload is visible with it.
    const std::uint64_t word = detail::load_acquire(record_word(pos));
    if (word != r + 1) {
      check_before_arrival(r, word);
      return std::nullopt;
    }
    front_end_ = r + 1;
    return std::span<const std::byte>(data_ + pos + sizeof(RecordHeader), record_size_);
  }

  /// Frees the record try_read() returned. Throws std::logic_error when no record is being
  /// read.
  void pop() {
    if (front_end_ == kNone) [[unlikely]]
      throw std::logic_error("patchbay::channel::Ring::pop: no record read");
    // Release pairs with the producer's acquire in slot_free(): our reads finish before the
    // producer reuses the slot.
    detail::store_release(header_->read_index, front_end_);
    front_end_ = kNone;
  }

  /// The header word at the consumer's position when the next record is there, else zero. A
  /// watcher in the consumer's process can poll it for news without touching the producer's
  /// line.
  [[nodiscard]] std::uint64_t front_word() const {
    const std::uint64_t r = detail::load_relaxed(header_->read_index);
    const std::uint64_t word = detail::load_acquire(record_word(slot_position(r)));
    return word == r + 1 ? word : 0;
  }

  // ---- either side (advisory: the other side may change the answer at once) ----

  [[nodiscard]] bool empty() const { return size_bytes() == 0; }

  /// Bytes in use: whole slots.
  [[nodiscard]] std::size_t size_bytes() const {
    // Acquire pairs with pop(): the consumer only pops up to a write index it has seen, so
    // that write index happens-before the load below and w >= r is guaranteed.
    const std::uint64_t r = detail::load_acquire(header_->read_index);
    // Relaxed: the value is advisory; the reads and writes synchronise on their own.
    const std::uint64_t w = detail::load_relaxed(header_->write_index);
    return static_cast<std::size_t>(w - r) * slot_bytes_;
  }

 private:
  friend class Ring;

  FixedRing() = default;
  explicit FixedRing(RingHeader* h)
      : RingBase(h),
        record_size_(h->record_size),
        slot_bytes_(slot_bytes(h->record_size)),
        slot_mask_(slots_for(capacity_, h->record_size) - 1) {}

  // Record i sits in slot i mod slots.
  [[nodiscard]] std::size_t slot_position(std::uint64_t index) const {
    return static_cast<std::size_t>(index & slot_mask_) * slot_bytes_;
  }

  // Producer: whether record w's slot is free, looking at the consumer's index only when the
  // cached copy says the ring is full.
  bool slot_free(std::uint64_t w) {
    RingHeader& h = *header_;
    if (w - h.cached_read_index <= slot_mask_) return true;
    // Acquire pairs with the consumer's release of read_index: it is done reading the slot we
    // will overwrite.
    h.cached_read_index = detail::load_acquire(h.read_index);
    return w - h.cached_read_index <= slot_mask_;
  }

  [[noreturn]] void wrong_size(const char* where, std::size_t payload_size) const {
    fail<std::length_error>(where, "payload of " + std::to_string(payload_size) +
                                       " bytes in a ring of " + std::to_string(record_size_) +
                                       "-byte records");
  }

  // Before record r arrives its slot holds 0 (never written) or record r - slots.
  void check_before_arrival(std::uint64_t r, std::uint64_t word) const {
    if (word != (r > slot_mask_ ? r - slot_mask_ : 0)) corrupt();
  }

  std::size_t record_size_ = 0;  // copies of the constants, to keep the header's line cold
  std::size_t slot_bytes_ = 0;
  std::uint64_t slot_mask_ = 0;      // slots - 1
  std::uint64_t front_end_ = kNone;  // consumer: read index just past the record being read
  bool reserved_ = false;            // producer: a reservation is open
};

}  // namespace patchbay::channel
