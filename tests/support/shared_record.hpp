// What a test component records, readable by the test after the run whatever the engine: an
// append-only log in anonymous shared memory. A ParallelProcess constructs components in the test
// process and runs them in forked workers; memory mapped MAP_SHARED before the fork is the same
// memory in both, so the test reads what the worker wrote (member variables would stay behind in
// the child).
#pragma once

#include <patchbay/internal/value_codec.hpp>
#include <patchbay/value.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace patchbay::test {

/// How a recorded value becomes bytes and back. Trivially copyable types are copied as they are;
/// std::string, patchbay::Value and std::pair of encodable types have their own encodings.
template <class T>
struct RecordCodec {
  static_assert(std::is_trivially_copyable_v<T>, "no RecordCodec for this type");
  static std::size_t size(const T&) { return sizeof(T); }
  static void encode(const T& value, std::byte* out) { std::memcpy(out, &value, sizeof(T)); }
  static T decode(const std::byte* data, std::size_t size) {
    if (size != sizeof(T)) throw std::runtime_error("SharedRecord: record of the wrong size");
    T value;
    std::memcpy(&value, data, sizeof(T));
    return value;
  }
};

template <>
struct RecordCodec<std::string> {
  static std::size_t size(const std::string& s) { return s.size(); }
  static void encode(const std::string& s, std::byte* out) {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
  }
  static std::string decode(const std::byte* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
  }
};

template <>
struct RecordCodec<patchbay::Value> {
  static std::size_t size(const patchbay::Value& v) { return patchbay::detail::encoded_size(v); }
  static void encode(const patchbay::Value& v, std::byte* out) {
    patchbay::detail::encode_value(v, out);
  }
  static patchbay::Value decode(const std::byte* data, std::size_t size) {
    return patchbay::detail::decode_value(data, size);
  }
};

/// A pair: the size of `first` (8 bytes), then `first`, then `second`.
template <class A, class B>
struct RecordCodec<std::pair<A, B>> {
  static std::size_t size(const std::pair<A, B>& p) {
    return sizeof(std::uint64_t) + RecordCodec<A>::size(p.first) + RecordCodec<B>::size(p.second);
  }
  static void encode(const std::pair<A, B>& p, std::byte* out) {
    const std::uint64_t first_size = RecordCodec<A>::size(p.first);
    std::memcpy(out, &first_size, sizeof first_size);
    RecordCodec<A>::encode(p.first, out + sizeof first_size);
    RecordCodec<B>::encode(p.second, out + sizeof first_size + first_size);
  }
  static std::pair<A, B> decode(const std::byte* data, std::size_t size) {
    std::uint64_t first_size = 0;
    if (size < sizeof first_size) throw std::runtime_error("SharedRecord: truncated pair");
    std::memcpy(&first_size, data, sizeof first_size);
    if (first_size > size - sizeof first_size)
      throw std::runtime_error("SharedRecord: truncated pair");
    const std::byte* rest = data + sizeof first_size;
    return {RecordCodec<A>::decode(rest, first_size),
            RecordCodec<B>::decode(rest + first_size, size - sizeof first_size - first_size)};
  }
};

/// An append-only log of records of up to `capacity` bytes in all, in memory shared with every
/// process forked after its construction. Any process may append (concurrently: space is
/// reserved atomically, each record published by its own flag); read-back sees the records
/// published so far, in the order their space was reserved. Append throws std::length_error
/// when the log is full, so that a too-small capacity fails the recording component loudly
/// instead of losing records. Not copyable; the mapping is released in the destructor.
class SharedRecord {
 public:
  explicit SharedRecord(std::size_t capacity = std::size_t{64} * 1024) : capacity_(capacity) {
    bytes_ = round_up(sizeof(Header)) + capacity_;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "SharedRecord");
    header_ = new (p) Header{};
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
                  "records across processes need lock-free atomics");
  }
  ~SharedRecord() { munmap(header_, bytes_); }
  SharedRecord(const SharedRecord&) = delete;
  SharedRecord& operator=(const SharedRecord&) = delete;

  /// Appends one record; thread- and process-safe.
  template <class T>
  void append(const T& value) {
    const std::size_t size = RecordCodec<T>::size(value);
    const std::size_t total = sizeof(RecordHeader) + round_up(size);
    const std::uint64_t at = header_->reserved.fetch_add(total, std::memory_order_relaxed);
    if (at + total > capacity_) {
      header_->overflowed.store(true, std::memory_order_relaxed);
      throw std::length_error("SharedRecord: capacity of " + std::to_string(capacity_) +
                              " bytes exceeded; give the recording component a larger one");
    }
    std::byte* slot = data() + at;
    auto* record = new (slot) RecordHeader{};
    record->size = size;
    RecordCodec<T>::encode(value, slot + sizeof(RecordHeader));
    // Release pairs with the reader's acquire: a published record is complete.
    record->published.store(1, std::memory_order_release);
    header_->count.fetch_add(1, std::memory_order_release);
  }
  /// Appends a record without content: an event to count.
  void mark() { append(std::uint8_t{0}); }

  /// The records published so far, decoded as T.
  template <class T>
  [[nodiscard]] std::vector<T> read() const {
    std::vector<T> out;
    const std::uint64_t end =
        std::min<std::uint64_t>(header_->reserved.load(std::memory_order_acquire), capacity_);
    std::uint64_t at = 0;
    while (at + sizeof(RecordHeader) <= end) {
      const auto* record = reinterpret_cast<const RecordHeader*>(data() + at);
      if (record->published.load(std::memory_order_acquire) == 0) break;  // still being written
      out.push_back(RecordCodec<T>::decode(data() + at + sizeof(RecordHeader), record->size));
      at += sizeof(RecordHeader) + round_up(record->size);
    }
    return out;
  }
  /// The last record, decoded as T, or `otherwise` when there is none.
  template <class T>
  [[nodiscard]] T last_or(T otherwise) const {
    auto all = read<T>();
    return all.empty() ? otherwise : all.back();
  }
  /// How many records were published.
  [[nodiscard]] std::uint64_t count() const {
    return header_->count.load(std::memory_order_acquire);
  }
  [[nodiscard]] bool empty() const { return count() == 0; }
  /// Whether an append found the log full.
  [[nodiscard]] bool overflowed() const {
    return header_->overflowed.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  struct Header {
    std::atomic<std::uint64_t> reserved{0};  ///< bytes of data reserved by appends
    std::atomic<std::uint64_t> count{0};     ///< records published
    std::atomic<bool> overflowed{false};
  };
  struct RecordHeader {
    std::uint64_t size = 0;  ///< payload bytes
    std::atomic<std::uint32_t> published{0};
  };
  static constexpr std::size_t align = alignof(std::max_align_t);
  static std::size_t round_up(std::size_t n) { return (n + align - 1) / align * align; }
  [[nodiscard]] std::byte* data() const {
    return reinterpret_cast<std::byte*>(header_) + round_up(sizeof(Header));
  }

  std::size_t capacity_;
  std::size_t bytes_ = 0;
  Header* header_ = nullptr;
};

/// One counter in memory shared with every process forked after its construction.
class SharedCounter {
 public:
  SharedCounter() {
    void* p =
        mmap(nullptr, sizeof(Word), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "SharedCounter");
    word_ = new (p) Word{0};
  }
  ~SharedCounter() { munmap(word_, sizeof(Word)); }
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;

  std::int64_t operator++() { return word_->fetch_add(1, std::memory_order_acq_rel) + 1; }
  SharedCounter& operator=(std::int64_t value) {
    word_->store(value, std::memory_order_release);
    return *this;
  }
  [[nodiscard]] std::int64_t load() const { return word_->load(std::memory_order_acquire); }

 private:
  using Word = std::atomic<std::int64_t>;
  static_assert(Word::is_always_lock_free, "counters across processes need lock-free atomics");
  Word* word_ = nullptr;
};

}  // namespace patchbay::test
