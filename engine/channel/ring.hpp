// The rings: bounded single-producer / single-consumer queues of records in shared memory, one
// class per record format over a shared control block (ring_base.hpp): FixedRing
// (fixed_ring.hpp) and VariableRing (variable_ring.hpp). This header adds what code that serves
// both formats needs, AnyRing, and HeapRing, a ring on the heap for threads of one process.
//
// Each format's operations are written once, in its class, with no branch on the format: code
// that knows the format of its ring (a message path of one type, a benchmark) calls the class
// itself; code that holds rings of either (a component's channels, a worker's watchers)
// chooses once per call, at its own level.
#pragma once

#include <cstddef>
#include <new>
#include <utility>
#include <variant>

#include "channel/fixed_ring.hpp"
#include "channel/ring_base.hpp"
#include "channel/variable_ring.hpp"

namespace patchbay::channel {

/// A view of a ring of either format.
using AnyRing = std::variant<VariableRing, FixedRing>;

/// Views the ring create() initialised in `memory`, in the format it was created with.
[[nodiscard]] inline AnyRing attach_ring(void* memory) {
  if (RingBase::record_size_at(memory) != 0) return FixedRing::attach(memory);
  return VariableRing::attach(memory);
}

/// What both formats share, of a view of either.
[[nodiscard]] inline RingBase& base_of(AnyRing& ring) noexcept {
  return std::visit([](RingBase& r) -> RingBase& { return r; }, ring);
}
[[nodiscard]] inline const RingBase& base_of(const AnyRing& ring) noexcept {
  return std::visit([](const RingBase& r) -> const RingBase& { return r; }, ring);
}

/// A ring on the heap, for threads of one process: `R` is FixedRing or VariableRing, and the
/// constructor's arguments after the capacity are those of R::create() (a FixedRing's record
/// size).
template <class R>
class HeapRing {
 public:
  template <class... Args>
  explicit HeapRing(std::size_t capacity, Args&&... args)
      : memory_(::operator new (RingBase::bytes_required(capacity),
                                std::align_val_t{RingBase::kAlignment})) {
    try {
      ring_ = R::create(memory_, capacity, std::forward<Args>(args)...);
    } catch (...) {
      ::operator delete (memory_, std::align_val_t{RingBase::kAlignment});
      throw;
    }
  }
  HeapRing(HeapRing&& other) noexcept
      : memory_(std::exchange(other.memory_, nullptr)), ring_(std::exchange(other.ring_, R{})) {}
  HeapRing& operator=(HeapRing&& other) noexcept {
    HeapRing moved(std::move(other));
    std::swap(memory_, moved.memory_);
    std::swap(ring_, moved.ring_);
    return *this;
  }
  HeapRing(const HeapRing&) = delete;
  HeapRing& operator=(const HeapRing&) = delete;
  ~HeapRing() {
    if (memory_ != nullptr) ::operator delete (memory_, std::align_val_t{RingBase::kAlignment});
  }

  /// The ring; both sides may use this one view or copies of it.
  [[nodiscard]] R& ring() noexcept { return ring_; }
  /// The memory the ring lives in, for a second view (R::attach).
  [[nodiscard]] void* memory() const noexcept { return memory_; }

 private:
  void* memory_;
  R ring_;
};

}  // namespace patchbay::channel
