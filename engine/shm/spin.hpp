// The hint a spin-wait loop gives the core between two polls.
#pragma once

namespace patchbay::detail {

/// Tells the core a spin-wait is under way: on x86 a pause, which frees the sibling hyper-thread
/// and avoids the memory-order flush when the polled line changes.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace patchbay::detail
