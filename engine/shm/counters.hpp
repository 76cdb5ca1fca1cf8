// Counters with one writer and any number of readers, as plain integers so that they can live
// in shared memory. The writer updates with relaxed stores (count(), store_relaxed()); readers
// use load_relaxed() (shm/atomic.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "shm/atomic.hpp"
#include "shm/cache_line.hpp"

namespace patchbay::detail {

/// Nanoseconds on the steady clock, which every process of the machine shares.
inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A clock for timing steps and waits, which happen millions of times a second: the CPU's
/// time-stamp counter where it runs at a constant rate on every core (about 8 ns a read,
/// against about 20 ns for steady_clock), else the steady clock in nanoseconds. Counters hold
/// ticks; ticks_to_ns() converts them when they are read, in any process of the machine.
#if defined(__x86_64__) || defined(__i386__)
/// Whether ticks_now() reads the TSC (set when the library is loaded).
extern const bool ticks_are_tsc;
#endif
inline std::uint64_t ticks_now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  if (ticks_are_tsc) return __rdtsc();
#endif
  return static_cast<std::uint64_t>(steady_now_ns());
}

/// Nanoseconds in `ticks` of ticks_now().
std::uint64_t ticks_to_ns(std::uint64_t ticks) noexcept;

/// Adds to a counter that only the calling fiber writes.
inline void count(std::uint64_t& counter, std::uint64_t amount = 1) {
  // Single writer: a plain read is exact; the relaxed store only has to be untorn for readers.
  store_relaxed(counter, load_relaxed(counter) + amount);
}

struct ComponentCounters {
  std::uint64_t steps;
  std::uint64_t messages_in;
  std::uint64_t messages_out;
  std::uint64_t bytes_in;
  std::uint64_t bytes_out;
  std::uint64_t run_ticks;     // ticks_now() units: running (steps and channel work)
  std::uint64_t wait_ticks;    // parked
  std::uint64_t failed_steps;  // on a request's way: steps that threw (the request failed)
};

/// The producer's counters and the consumer's sit on separate cache lines: across processes, a
/// shared line would move between the two cores on every message.
struct ChannelCounters {
  alignas(cache_line_bytes) std::uint64_t messages;     // producer
  std::uint64_t bytes;                                  // producer
  std::uint64_t times_full;                             // producer
  alignas(cache_line_bytes) std::uint64_t times_empty;  // consumer
};

static_assert(std::is_trivially_copyable_v<ComponentCounters>);
static_assert(std::is_trivially_copyable_v<ChannelCounters>);

}  // namespace patchbay::detail
