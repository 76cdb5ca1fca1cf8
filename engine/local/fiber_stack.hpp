// The stacks of fibers: guard-paged, kept per thread for the next fiber rather than unmapped,
// and their bounds known to whoever runs on them.
#pragma once

#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <vector>

namespace patchbay::detail {

/// A thread's spare fiber stacks. A stack is mapped with a guard page below it (an overflow
/// faults instead of corrupting a neighbour); when its fiber ends the stack is kept here, with
/// the pages it touched, and the next fiber of the same size on this thread takes it. A short
/// run (a trial, a test, a small model run again and again) then maps, protects and unmaps
/// nothing and faults no page in: before, those were most of a trivial run's time. At most
/// kMaxStacks stacks and kMaxBytes bytes are kept per thread; the rest are unmapped at once, and
/// the kept ones when the thread ends. Not shared between threads, so no lock: a forked child
/// (one thread) keeps the cache of the thread that forked.
class StackCache {
 public:
  static constexpr std::size_t kMaxStacks = 64;
  static constexpr std::size_t kMaxBytes = std::size_t{64} << 20;

  StackCache() = default;
  StackCache(const StackCache&) = delete;
  StackCache& operator=(const StackCache&) = delete;
  ~StackCache();

  /// The calling thread's cache. Not after the thread's thread-local objects began to be
  /// destroyed: take() and give_back() are for fibers, which may end then.
  static StackCache& local();
  /// allocate(`size`) on the calling thread's cache, or a new mapping once the cache is gone.
  static boost::context::stack_context take(std::size_t size);
  /// deallocate() on the calling thread's cache, or an unmapping once the cache is gone: a fiber
  /// scheduler (thread-local too) that outlives the cache releases the fibers that ended last
  /// when the thread ends.
  static void give_back(boost::context::stack_context& context, std::size_t size) noexcept;

  /// A stack of at least `size` usable bytes: a kept one of that size, or a new mapping
  /// (boost::context::protected_fixedsize_stack's). Throws std::bad_alloc when that fails.
  boost::context::stack_context allocate(std::size_t size);
  /// Takes back a stack that allocate(`size`) gave; keeps it or unmaps it.
  void deallocate(boost::context::stack_context& context, std::size_t size) noexcept;

  /// Stacks kept now (for tests).
  [[nodiscard]] std::size_t kept() const { return free_.size(); }

 private:
  struct Kept {
    std::size_t size;
    boost::context::stack_context context;
  };
  std::vector<Kept> free_;
  std::size_t bytes_ = 0;
};

/// A Boost.Context stack allocator on the calling thread's StackCache that records the lowest
/// address of the stack it hands out. The runner needs that address to clear
/// AddressSanitizer's stale poison after an exception unwinds frames on a fiber stack, which
/// ASan cannot do itself for stacks it does not know. Copyable, as Boost.Fiber wants.
class RecordingStack {
 public:
  RecordingStack(std::size_t size, const void** lowest) : size_(size), lowest_(lowest) {}

  boost::context::stack_context allocate() {
    boost::context::stack_context context = StackCache::take(size_);
    *lowest_ = static_cast<const char*>(context.sp) - context.size;
    return context;
  }
  void deallocate(boost::context::stack_context& context) noexcept {
    StackCache::give_back(context, size_);
  }

 private:
  std::size_t size_;
  const void** lowest_;
};

}  // namespace patchbay::detail
