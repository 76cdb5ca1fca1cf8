// A host ring: the ring between a host's threads and an Ingress or Egress component, and the
// words beside it that both sides wait on. What the component's side needs (its runner, its
// worker); the host's side is HostPort (host_port.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "channel/ring.hpp"
#include "run/parker.hpp"
#include "shm/cache_line.hpp"

namespace patchbay::detail {

/// The words beside a host ring, shared by the host's threads and the component's worker.
struct alignas(cache_line_bytes) HostRingControl {
  /// Ingress only: host_writing while a host thread writes a record, host_closed once no more
  /// may be written (the host closed the ingress, or the component did on a drain). Each side
  /// sets its bit by a compare-and-swap from 0, so a close never lands inside a write.
  std::uint32_t state;
  /// Host threads asleep on `sequence`, which the component's side bumps when it is not 0.
  /// On a line of its own: the component's side reads it after every record, and the host's
  /// writes of `state` (two per push) would otherwise take the line away each time.
  alignas(cache_line_bytes) std::uint32_t sleepers;
  std::uint32_t sequence;
};
static_assert(std::is_trivially_copyable_v<HostRingControl>);
inline constexpr std::uint32_t host_writing = 1;
inline constexpr std::uint32_t host_closed = 2;

/// Bytes of a host ring of `capacity` data bytes and its control block, which follows it.
[[nodiscard]] std::size_t host_ring_bytes(std::size_t capacity);
/// The control block of the host ring at `memory`.
[[nodiscard]] HostRingControl& host_control_at(void* memory, std::size_t capacity);
/// Creates the ring (fixed-size records when `record_size` is not 0) and its control block in
/// `memory` (host_ring_bytes(capacity), 64-byte aligned, zeroed).
channel::AnyRing create_host_ring(void* memory, std::size_t capacity, std::size_t record_size);

/// The component's side: the peer of its host channel end. Wakes the host threads asleep on
/// the ring after each record the component takes (ingress) or writes (egress).
class HostWaker final : public Parker {
 public:
  explicit HostWaker(HostRingControl& control) : control_(control) {}
  void park(const WaitReason&) override {}  // the host never parks as a component

 protected:
  void wake() override;

 private:
  HostRingControl& control_;
};

/// Ingress, component side, on a drain: closes the ring to the host unless a host thread is
/// writing a record (then its commit wakes the component, which tries again). Whether the ring
/// is closed now.
bool close_host_ring_for_drain(HostRingControl& control, channel::RingBase& ring) noexcept;

}  // namespace patchbay::detail
