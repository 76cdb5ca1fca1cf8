// Atomic access to plain integers that other threads or processes share: the one way the engine
// reads and writes a word in shared memory.
//
// Shared structures hold plain integers, never std::atomic members, whose layout the standard
// leaves unspecified; each access wraps the word in a std::atomic_ref. Lock-free atomics are
// address-free, which is what makes this work across processes that map the memory at
// different addresses. Each helper names its memory order, so that a reader sees at the call
// what the access orders; the comment at each call says what it pairs with.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <type_traits>

namespace patchbay::detail {

/// An integer that can be shared through std::atomic_ref in place: always lock-free (hence
/// address-free) and aligned enough as it is.
template <class T>
concept SharedWord = std::integral<T> && std::atomic_ref<T>::is_always_lock_free &&
                     std::atomic_ref<T>::required_alignment <= alignof(T);

static_assert(SharedWord<std::uint32_t> && SharedWord<std::int32_t> && SharedWord<std::uint64_t>);

/// Loads `word` with no ordering: for a word only this side writes, or a value that is only
/// reported.
template <SharedWord T>
[[nodiscard]] inline T load_relaxed(const T& word) noexcept {
  // The word is never a const object: shared memory is mapped writable.
  return std::atomic_ref<T>(const_cast<T&>(word)).load(std::memory_order_relaxed);
}

/// Loads `word`; what the writer did before its store_release of this value is visible after.
template <SharedWord T>
[[nodiscard]] inline T load_acquire(const T& word) noexcept {
  return std::atomic_ref<T>(const_cast<T&>(word)).load(std::memory_order_acquire);
}

/// Stores to `word` with no ordering: the value needs only to be untorn for its readers.
template <SharedWord T>
inline void store_relaxed(T& word, std::type_identity_t<T> value) noexcept {
  std::atomic_ref<T>(word).store(value, std::memory_order_relaxed);
}

/// Stores to `word` after everything this thread wrote before: a load_acquire that reads the
/// value sees those writes too.
template <SharedWord T>
inline void store_release(T& word, std::type_identity_t<T> value) noexcept {
  std::atomic_ref<T>(word).store(value, std::memory_order_release);
}

/// Loads `word` in the single total order of seq-cst operations: the half of a Dekker
/// handshake that must not pass an earlier store_seq_cst.
template <SharedWord T>
[[nodiscard]] inline T load_seq_cst(const T& word) noexcept {
  return std::atomic_ref<T>(const_cast<T&>(word)).load(std::memory_order_seq_cst);
}

/// Stores to `word` in the single total order of seq-cst operations: the half of a Dekker
/// handshake that must not pass a later load_seq_cst.
template <SharedWord T>
inline void store_seq_cst(T& word, std::type_identity_t<T> value) noexcept {
  std::atomic_ref<T>(word).store(value, std::memory_order_seq_cst);
}

/// Adds to `word` (a negative amount subtracts), acquiring what earlier writers released and
/// releasing what this thread wrote: a reference count, where the last holder frees.
template <SharedWord T>
inline T fetch_add_acq_rel(T& word, std::type_identity_t<T> amount) noexcept {
  return std::atomic_ref<T>(word).fetch_add(amount, std::memory_order_acq_rel);
}

/// Sets bits of `word` in the single total order of seq-cst operations.
template <SharedWord T>
inline T fetch_or_seq_cst(T& word, std::type_identity_t<T> bits) noexcept {
  return std::atomic_ref<T>(word).fetch_or(bits, std::memory_order_seq_cst);
}

/// Adds to `word` in the single total order of seq-cst operations and fences: the half of a
/// Dekker handshake that must not pass a later load.
template <SharedWord T>
inline T fetch_add_seq_cst(T& word, std::type_identity_t<T> amount) noexcept {
  return std::atomic_ref<T>(word).fetch_add(amount, std::memory_order_seq_cst);
}

/// Like compare_exchange_acq_rel, but may fail spuriously: for a retry loop.
template <SharedWord T>
inline bool compare_exchange_weak_acq_rel(T& word, T& expected,
                                          std::type_identity_t<T> desired) noexcept {
  return std::atomic_ref<T>(word).compare_exchange_weak(
      expected, desired, std::memory_order_acq_rel, std::memory_order_acquire);
}

/// Sets `word` to `desired` if it holds `expected` (else loads it into `expected`), acquiring
/// what the previous writer published and releasing what this thread wrote.
template <SharedWord T>
inline bool compare_exchange_acq_rel(T& word, T& expected,
                                     std::type_identity_t<T> desired) noexcept {
  return std::atomic_ref<T>(word).compare_exchange_strong(expected, desired,
                                                          std::memory_order_acq_rel);
}

}  // namespace patchbay::detail
