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

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <type_traits>
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

/// A ring in memory of this process, for threads of one process: `R` is FixedRing or
/// VariableRing, and the constructor's arguments after the capacity are those of R::create()
/// (a FixedRing's record size). A VariableRing lies on the heap (create() touches only its
/// first slot); a FixedRing, whose create() would clear every slot's header, in a private
/// anonymous mapping, which reads zero: only the pages the records reach are ever touched.
template <class R>
class HeapRing {
 public:
  template <class... Args>
  explicit HeapRing(std::size_t capacity, Args&&... args)
      : bytes_(RingBase::bytes_required(capacity)), memory_(allocate(bytes_)) {
    try {
      if constexpr (kMapped) {
        ring_ = R::create(memory_, capacity, std::forward<Args>(args)..., RingFill::zeroed);
      } else {
        ring_ = R::create(memory_, capacity, std::forward<Args>(args)...);
      }
    } catch (...) {
      release(memory_, bytes_);
      throw;
    }
  }
  HeapRing(HeapRing&& other) noexcept
      : bytes_(other.bytes_),
        memory_(std::exchange(other.memory_, nullptr)),
        ring_(std::exchange(other.ring_, R{})) {}
  HeapRing& operator=(HeapRing&& other) noexcept {
    HeapRing moved(std::move(other));
    std::swap(bytes_, moved.bytes_);
    std::swap(memory_, moved.memory_);
    std::swap(ring_, moved.ring_);
    return *this;
  }
  HeapRing(const HeapRing&) = delete;
  HeapRing& operator=(const HeapRing&) = delete;
  ~HeapRing() {
    if (memory_ != nullptr) release(memory_, bytes_);
  }

  /// The ring; both sides may use this one view or copies of it.
  [[nodiscard]] R& ring() noexcept { return ring_; }
  /// The memory the ring lives in, for a second view (R::attach).
  [[nodiscard]] void* memory() const noexcept { return memory_; }

 private:
  static constexpr bool kMapped = std::is_same_v<R, FixedRing>;

  static void* allocate(std::size_t bytes) {
    if constexpr (kMapped) {
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      return p;
    } else {
      return ::operator new (bytes, std::align_val_t{RingBase::kAlignment});
    }
  }
  static void release(void* memory, std::size_t bytes) noexcept {
    if constexpr (kMapped) {
      ::munmap(memory, bytes);
    } else {
      ::operator delete (memory, std::align_val_t{RingBase::kAlignment});
    }
  }

  std::size_t bytes_;
  void* memory_;
  R ring_;
};

/// A HeapRing of either format: what a LocalProcess keeps per connector.
class AnyHeapRing {
 public:
  /// A FixedRing of `record_size`-byte records when that is nonzero, else a VariableRing.
  AnyHeapRing(std::size_t capacity, std::size_t record_size) : ring_(make(capacity, record_size)) {}
  /// A view of the ring.
  [[nodiscard]] AnyRing ring() {
    return std::visit([](auto& heap) -> AnyRing { return heap.ring(); }, ring_);
  }

 private:
  using Rings = std::variant<HeapRing<VariableRing>, HeapRing<FixedRing>>;
  static Rings make(std::size_t capacity, std::size_t record_size) {
    if (record_size != 0)
      return Rings(std::in_place_type<HeapRing<FixedRing>>, capacity, record_size);
    return Rings(std::in_place_type<HeapRing<VariableRing>>, capacity);
  }

  Rings ring_;
};

}  // namespace patchbay::channel
