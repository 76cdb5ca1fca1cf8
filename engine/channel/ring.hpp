// Bounded single-producer / single-consumer ring of records in caller-provided memory, possibly
// shared between processes (see ring_base.hpp for what every ring shares; docs/ARCHITECTURE.md,
// "The message path", for where the ring sits on a message's way).
//
// A ring holds one of two record formats, fixed when it is created: FixedRing (every record
// has the same size, and sits in a slot of its own) and VariableRing (records of any length,
// packed). Each is a class of its own, whose every operation is written for its format alone.
// Ring is a view of either, for code that serves both, such as the engine's general message
// path: each call dispatches once on the format. The path of almost every message takes the
// format's own view instead (fixed()), and pays no dispatch.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <utility>

#include "channel/fixed_ring.hpp"
#include "channel/ring_base.hpp"
#include "channel/variable_ring.hpp"

namespace patchbay::channel {

/// Non-owning view of a ring of either record format. One view per side (producer, consumer)
/// per process. Not thread-safe beyond one producer thread plus one consumer thread; the
/// methods are those of FixedRing and VariableRing, which say which side may call them.
class Ring {
 public:
  using Fill = RingBase::Fill;
  static constexpr std::size_t kAlignment = RingBase::kAlignment;

  /// Bytes of memory (cache-line aligned) that create() needs for `capacity` data bytes.
  [[nodiscard]] static std::size_t bytes_required(std::size_t capacity) {
    return RingBase::bytes_required(capacity);
  }
  /// See FixedRing::slot_bytes().
  [[nodiscard]] static constexpr std::size_t slot_bytes(std::size_t record_size) {
    return FixedRing::slot_bytes(record_size);
  }
  /// See FixedRing::slots_for().
  [[nodiscard]] static std::size_t slots_for(std::size_t capacity, std::size_t record_size) {
    return FixedRing::slots_for(capacity, record_size);
  }
  /// See VariableRing::max_payload_for().
  [[nodiscard]] static constexpr std::size_t max_payload_for(std::size_t capacity) noexcept {
    return VariableRing::max_payload_for(capacity);
  }

  /// Initialises an empty ring in `memory` (bytes_required(capacity) bytes, cache-line
  /// aligned): of variable-length records when `record_size` is 0 (VariableRing::create()),
  /// else of records of exactly `record_size` bytes (FixedRing::create(), which reads `fill`).
  [[nodiscard]] static Ring create(void* memory, std::size_t capacity, std::size_t record_size = 0,
                                   Fill fill = Fill::any) {
    if (record_size == 0) return Ring(VariableRing::create(memory, capacity));
    return Ring(FixedRing::create(memory, capacity, record_size, fill));
  }

  /// Views a ring that create() initialised, possibly in another process's mapping.
  [[nodiscard]] static Ring attach(void* memory) {
    // find() checks the constants (and throws) before record_size is read.
    if (RingBase::find(memory)->record_size == 0) return Ring(VariableRing::attach(memory));
    return Ring(FixedRing::attach(memory));
  }

  explicit Ring(const FixedRing& ring) noexcept : fixed_(ring), is_fixed_(true) {}
  explicit Ring(const VariableRing& ring) noexcept : variable_(ring), is_fixed_(false) {}

  /// The view of a ring of fixed-size records. Requires record_size() != 0.
  [[nodiscard]] FixedRing& fixed() noexcept {
    assert(is_fixed_);
    return fixed_;
  }
  /// The view of a ring of variable-length records. Requires record_size() == 0.
  [[nodiscard]] VariableRing& variable() noexcept {
    assert(!is_fixed_);
    return variable_;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return base().capacity(); }
  /// Payload bytes of every record; 0 when records have any length up to max_payload().
  [[nodiscard]] std::size_t record_size() const noexcept {
    return is_fixed_ ? fixed_.record_size() : 0;
  }
  [[nodiscard]] std::size_t max_payload() const noexcept {
    return is_fixed_ ? fixed_.max_payload() : variable_.max_payload();
  }

  // ---- producer side ----

  [[nodiscard]] std::span<std::byte> try_reserve(std::size_t payload_size) {
    return is_fixed_ ? fixed_.try_reserve(payload_size) : variable_.try_reserve(payload_size);
  }
  void commit(std::size_t payload_size) {
    if (is_fixed_) {
      fixed_.commit(payload_size);
    } else {
      variable_.commit(payload_size);
    }
  }
  bool try_write(std::span<const std::byte> payload) {
    return is_fixed_ ? fixed_.try_write(payload) : variable_.try_write(payload);
  }
  void close() { base().close(); }
  [[nodiscard]] bool reader_closed() const { return base().reader_closed(); }

  // ---- consumer side ----

  void close_reader() { base().close_reader(); }
  [[nodiscard]] std::optional<std::span<const std::byte>> try_read() {
    return is_fixed_ ? fixed_.try_read() : variable_.try_read();
  }
  void pop() {
    if (is_fixed_) {
      fixed_.pop();
    } else {
      variable_.pop();
    }
  }
  [[nodiscard]] std::uint64_t front_word() const {
    return is_fixed_ ? fixed_.front_word() : variable_.front_word();
  }
  [[nodiscard]] bool closed() const { return base().closed(); }
  [[nodiscard]] bool drained() const { return base().drained(); }

  // ---- either side (advisory: the other side may change the answer at once) ----

  [[nodiscard]] RingHeader& header() const noexcept { return base().header(); }
  [[nodiscard]] bool empty() const { return size_bytes() == 0; }
  [[nodiscard]] std::size_t size_bytes() const {
    return is_fixed_ ? fixed_.size_bytes() : variable_.size_bytes();
  }

 private:
  friend class HeapRing;

  Ring() noexcept : variable_() {}

  // Both formats start with the same RingBase, which the active one provides.
  [[nodiscard]] const RingBase& base() const noexcept {
    return is_fixed_ ? static_cast<const RingBase&>(fixed_)
                     : static_cast<const RingBase&>(variable_);
  }
  [[nodiscard]] RingBase& base() noexcept {
    return is_fixed_ ? static_cast<RingBase&>(fixed_) : static_cast<RingBase&>(variable_);
  }

  union {
    FixedRing fixed_;        // active when is_fixed_
    VariableRing variable_;  // active otherwise
  };
  bool is_fixed_ = false;
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
