// Counters with one writer and any number of readers, as plain integers so that they can live
// in shared memory. The writer updates with relaxed atomic_ref stores; readers load relaxed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

namespace patchbay::detail {

/// Nanoseconds on the steady clock, which every process of the machine shares.
inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Adds to a counter that only the calling fiber writes.
inline void count(std::uint64_t& counter, std::uint64_t amount = 1) {
  // Single writer: a plain read is exact; the relaxed store only has to be untorn for readers.
  std::atomic_ref<std::uint64_t> ref(counter);
  ref.store(ref.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}

/// Reads a counter from any thread or process.
inline std::uint64_t read_counter(const std::uint64_t& counter) {
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(counter))
      .load(std::memory_order_relaxed);
}

/// Reads a 32-bit word another process writes.
inline std::uint32_t read_counter_word(const std::uint32_t& word) {
  return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(word))
      .load(std::memory_order_acquire);
}

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

struct ComponentCounters {
  std::uint64_t steps;
  std::uint64_t messages_in;
  std::uint64_t messages_out;
  std::uint64_t bytes_in;
  std::uint64_t bytes_out;
  std::uint64_t step_ns;
  std::uint64_t wait_ns;
};

struct ChannelCounters {
  std::uint64_t messages;     // producer
  std::uint64_t bytes;        // producer
  std::uint64_t times_full;   // producer
  std::uint64_t times_empty;  // consumer
};

static_assert(std::is_trivially_copyable_v<ComponentCounters>);
static_assert(std::is_trivially_copyable_v<ChannelCounters>);

}  // namespace patchbay::detail
