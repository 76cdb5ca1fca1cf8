#include "serve/host_ring.hpp"

#include <atomic>
#include <new>

#include "shm/atomic.hpp"
#include "shm/futex.hpp"

namespace patchbay::detail {

std::size_t host_ring_bytes(std::size_t capacity) {
  return channel::RingBase::bytes_required(capacity) + sizeof(HostRingControl);
}

HostRingControl& host_control_at(void* memory, std::size_t capacity) {
  return *reinterpret_cast<HostRingControl*>(static_cast<std::byte*>(memory) +
                                             channel::RingBase::bytes_required(capacity));
}

channel::AnyRing create_host_ring(void* memory, std::size_t capacity, std::size_t record_size) {
  ::new (&host_control_at(memory, capacity)) HostRingControl{};
  if (record_size != 0) {
    return channel::FixedRing::create(memory, capacity, record_size, channel::RingFill::zeroed);
  }
  return channel::VariableRing::create(memory, capacity, channel::RingFill::zeroed);
}

void HostWaker::wake() {
  // Dekker with HostPort::wait_for(): our ring update, fence, read of `sleepers` against its
  // increment of `sleepers`, then its look at the ring. Either it sees the update or we see it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (load_relaxed(control_.sleepers) == 0) return;
  fetch_add_seq_cst(control_.sequence, 1);
  futex_wake_all(&control_.sequence);
}

bool close_host_ring_for_drain(HostRingControl& control, channel::RingBase& ring) noexcept {
  std::uint32_t expected = 0;
  if (!compare_exchange_acq_rel(control.state, expected, host_closed)) {
    if ((expected & host_closed) == 0) return false;  // a host thread is writing
  }
  ring.close();
  return true;
}

}  // namespace patchbay::detail
