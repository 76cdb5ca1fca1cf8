#include "local/fiber_stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace patchbay::detail {

namespace {

std::size_t page_bytes() {
  static const std::size_t bytes = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return bytes;
}

// The mapping's bytes for `size` usable bytes: whole pages, and the guard page.
std::size_t mapped_bytes(std::size_t size) {
  const std::size_t page = page_bytes();
  return ((size + page - 1) / page + 1) * page;
}

void unmap(const boost::context::stack_context& context) noexcept {
  ::munmap(static_cast<char*>(context.sp) - context.size, context.size);
}

}  // namespace

StackCache::~StackCache() {
  for (const Kept& kept : free_)
    unmap(kept.context);
}

StackCache& StackCache::local() {
  thread_local StackCache cache;
  return cache;
}

boost::context::stack_context StackCache::allocate(std::size_t size) {
  for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
    if (it->size != size) continue;
    const boost::context::stack_context context = it->context;
    bytes_ -= context.size;
    free_.erase(std::next(it).base());
    return context;
  }
  const std::size_t bytes = mapped_bytes(size);
  void* at = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (at == MAP_FAILED) throw std::bad_alloc();
  // The lowest page is the guard.
  if (::mprotect(at, page_bytes(), PROT_NONE) != 0) {
    ::munmap(at, bytes);
    throw std::bad_alloc();
  }
  boost::context::stack_context context;
  context.size = bytes;
  context.sp = static_cast<char*>(at) + bytes;
  return context;
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
  unmap(context);
}

}  // namespace patchbay::detail
