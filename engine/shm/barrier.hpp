// Asymmetric memory barriers between worker processes, with membarrier(2).
//
// A producer that changes a ring must learn whether its consumer is going to sleep, and the
// consumer must see the change if the producer did not see it announce sleep: each side stores,
// then loads what the other stored (Dekker). On x86 and ARM that needs a full fence on both
// sides, and the producer's side runs on every message, where a fence waits for the ring's line
// to be owned before the producer can go on. The consumer goes idle rarely (after thousands of
// empty polls), so the cost moves to it: MEMBARRIER_CMD_GLOBAL_EXPEDITED makes every CPU that
// runs a process registered for it execute a full barrier before the call returns, which is the
// producers' fence, paid only when a consumer goes idle. A producer may skip its fence when it
// is registered and its consumer issues this barrier before it reads the rings.
#pragma once

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace patchbay::detail {

inline long membarrier(int command, unsigned flags = 0) {
  return syscall(__NR_membarrier, command, flags, 0);
}

/// Whether the kernel offers global expedited barriers and the registration for them. The
/// environment variable PATCHBAY_ASYMMETRIC_BARRIERS=0 turns them off (every producer fences).
bool asymmetric_barriers_available();

/// Makes this process a target of heavy_barrier(). False when the kernel refuses.
inline bool register_for_heavy_barriers() {
  return membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
}

/// A full memory barrier on every CPU running a registered process, this one included. Returns
/// the errno of a failure, 0 on success.
inline int heavy_barrier() {
  return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 ? 0 : errno;
}

}  // namespace patchbay::detail
