#include "local/fiber_stack.hpp"

#include <boost/context/protected_fixedsize_stack.hpp>

#include <iterator>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace patchbay::detail {

StackCache::~StackCache() {
  for (Kept& kept : free_)
    boost::context::protected_fixedsize_stack(kept.size).deallocate(kept.context);
}

namespace {

// Set when the calling thread's cache is destroyed (trivially destructible, so it stays valid
// until the thread is gone).
thread_local bool local_cache_ended = false;

struct LocalCache {
  StackCache cache;
  ~LocalCache() { local_cache_ended = true; }
};

}  // namespace

StackCache& StackCache::local() {
  thread_local LocalCache local;
  return local.cache;
}

boost::context::stack_context StackCache::take(std::size_t size) {
  if (local_cache_ended) return boost::context::protected_fixedsize_stack(size).allocate();
  return local().allocate(size);
}

void StackCache::give_back(boost::context::stack_context& context, std::size_t size) noexcept {
  if (!local_cache_ended) {
    local().deallocate(context, size);
    return;
  }
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(context.sp) - context.size, context.size);
#endif
  boost::context::protected_fixedsize_stack(size).deallocate(context);
}

boost::context::stack_context StackCache::allocate(std::size_t size) {
  for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
    if (it->size != size) continue;
    const boost::context::stack_context context = it->context;
    bytes_ -= context.size;
    free_.erase(std::next(it).base());
    return context;
  }
  // Boost's guard-paged mapping: whole pages, and a PROT_NONE page below them.
  return boost::context::protected_fixedsize_stack(size).allocate();
}

void StackCache::deallocate(boost::context::stack_context& context, std::size_t size) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  // ASan keeps the poison of frames that ran on this stack; the next fiber on it (or the next
  // mapping at this address, a ring arena say) would inherit it.
  ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(context.sp) - context.size, context.size);
#endif
  if (free_.size() < kMaxStacks && bytes_ + context.size <= kMaxBytes) {
    try {
      free_.push_back(Kept{size, context});
      bytes_ += context.size;
      return;
    } catch (...) {  // no room to note it: unmapped below
    }
  }
  boost::context::protected_fixedsize_stack(size).deallocate(context);
}

}  // namespace patchbay::detail
