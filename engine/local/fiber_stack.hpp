// The stack of a component's fiber: guard-paged, and its bounds known to the runner.
#pragma once

#include <boost/context/protected_fixedsize_stack.hpp>
#include <boost/context/stack_context.hpp>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace patchbay::detail {

/// A Boost.Context stack allocator (mmap with a guard page, so an overflow faults instead of
/// corrupting a neighbour) that records the lowest address of the stack it hands out.
/// The runner needs that address to clear AddressSanitizer's stale poison after an exception
/// unwinds frames on a fiber stack, which ASan cannot do itself for stacks it does not know.
class RecordingStack {
 public:
  RecordingStack(std::size_t size, const void** lowest) : inner_(size), lowest_(lowest) {}

  boost::context::stack_context allocate() {
    boost::context::stack_context context = inner_.allocate();
    *lowest_ = static_cast<const char*>(context.sp) - context.size;
    return context;
  }
  void deallocate(boost::context::stack_context& context) noexcept {
#if defined(__SANITIZE_ADDRESS__)
    // ASan keeps the poison of frames that ran on this stack after it is unmapped; the next
    // mapping at this address (a ring arena, say) would inherit it.
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(context.sp) - context.size, context.size);
#endif
    inner_.deallocate(context);
  }

 private:
  boost::context::protected_fixedsize_stack inner_;
  const void** lowest_;
};

}  // namespace patchbay::detail
