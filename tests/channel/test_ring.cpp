#include "channel/ring.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <new>
#include <span>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

using patchbay::channel::FixedRing;
using patchbay::channel::HeapRing;
using patchbay::channel::RecordHeader;
using patchbay::channel::RingFill;
using patchbay::channel::VariableRing;
using HeapVariable = HeapRing<VariableRing>;
using HeapFixed = HeapRing<FixedRing>;
using patchbay::channel::RingHeader;

namespace {

// 64-byte aligned raw memory, so tests can look at where records land and attach views.
class Memory {
 public:
  explicit Memory(std::size_t bytes) : bytes_(bytes), p_(::operator new(bytes, kAlign)) {
    std::memset(p_, 0, bytes);
  }
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  ~Memory() { ::operator delete(p_, kAlign); }
  void* get() const { return p_; }
  std::byte* data_area() const { return static_cast<std::byte*>(p_) + sizeof(RingHeader); }
  std::size_t size() const { return bytes_; }

 private:
  static constexpr std::align_val_t kAlign{64};
  std::size_t bytes_;
  void* p_;
};

struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
};

std::byte pattern(std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>((seq * 131 + i * 7 + (seq >> 8)) & 0xff);
}

void write_pattern(VariableRing& ring, std::uint64_t seq, std::size_t size) {
  const std::span<std::byte> dst = ring.try_reserve(size);
  REQUIRE(dst.data() != nullptr);
  REQUIRE(dst.size() == size);
  for (std::size_t i = 0; i < size; ++i)
    dst[i] = pattern(seq, i);
  ring.commit(size);
}

// The same into a ring of fixed-size records, through its one-call write.
void write_pattern(FixedRing& ring, std::uint64_t seq) {
  const std::size_t size = ring.record_size();
  REQUIRE(ring.try_write([&](std::byte* slot) {
    for (std::size_t i = 0; i < size; ++i)
      slot[i] = pattern(seq, i);
  }));
}

bool matches_pattern(std::span<const std::byte> got, std::uint64_t seq, std::size_t size) {
  if (got.size() != size) return false;
  for (std::size_t i = 0; i < size; ++i)
    if (got[i] != pattern(seq, i)) return false;
  return true;
}

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

// The consumer side of the two-thread stress tests: reads until the producer has closed and
// every record is popped, counting the records and those `intact(record, seq)` rejects.
struct Drained {
  std::uint64_t received = 0;
  std::uint64_t bad = 0;
};
template <class R, class Intact>
Drained drain(R& consumer, Intact intact) {
  Drained out;
  while (!consumer.drained()) {
    auto got = consumer.try_read();
    if (!got) {
      std::this_thread::yield();
      continue;
    }
    if (!intact(*got, out.received)) ++out.bad;
    consumer.pop();
    ++out.received;
  }
  return out;
}

// Moves both indices forward by `bytes` (a multiple of 8) with zero-length records.
void advance(VariableRing& ring, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes / sizeof(RecordHeader); ++i) {
    REQUIRE(ring.try_write({}));
    REQUIRE(ring.try_read().has_value());
    ring.pop();
  }
  REQUIRE(ring.empty());
}

}  // namespace

TEST_CASE("ring header layout", "[ring]") {
  STATIC_REQUIRE(std::is_trivially_copyable_v<RingHeader>);
  STATIC_REQUIRE(std::is_standard_layout_v<RingHeader>);
  STATIC_REQUIRE(sizeof(RingHeader) % 64 == 0);
  STATIC_REQUIRE(alignof(RingHeader) == 64);
  STATIC_REQUIRE(offsetof(RingHeader, write_index) / 64 == 0);
  STATIC_REQUIRE(offsetof(RingHeader, cached_read_index) / 64 == 0);
  STATIC_REQUIRE(offsetof(RingHeader, read_index) / 64 == 1);
  STATIC_REQUIRE(offsetof(RingHeader, capacity) / 64 == 2);
  STATIC_REQUIRE(offsetof(RingHeader, data_offset) / 64 == 2);
  STATIC_REQUIRE(offsetof(RingHeader, closed) / 64 == 2);
  STATIC_REQUIRE(sizeof(RecordHeader) == 8);
  REQUIRE(VariableRing::bytes_required(64) == sizeof(RingHeader) + 64);
  REQUIRE(VariableRing::bytes_required(4096) == sizeof(RingHeader) + 4096);
}

TEST_CASE("ring create validates capacity and memory", "[ring]") {
  Memory mem(VariableRing::bytes_required(1024) + 64);
  for (std::size_t bad : {std::size_t{0}, std::size_t{1}, std::size_t{32}, std::size_t{100},
                          std::size_t{96}, std::size_t{1000}}) {
    INFO("capacity " << bad);
    REQUIRE_THROWS_AS(VariableRing::create(mem.get(), bad), std::invalid_argument);
    REQUIRE_THROWS_AS(VariableRing::bytes_required(bad), std::invalid_argument);
  }
  REQUIRE_THROWS_WITH(VariableRing::create(mem.get(), 100), Catch::Contains("power of two"));
  REQUIRE_THROWS_AS(VariableRing::create(nullptr, 64), std::invalid_argument);
  REQUIRE_THROWS_WITH(VariableRing::create(static_cast<std::byte*>(mem.get()) + 8, 64),
                      Catch::Contains("aligned"));
  VariableRing ring = VariableRing::create(mem.get(), 64);
  REQUIRE(ring.capacity() == 64);
  REQUIRE(ring.max_payload() == 16);  // half the capacity, less the header and the terminator
  REQUIRE(VariableRing::create(mem.get(), 1024).max_payload() == 496);
}

TEST_CASE("ring single write and read", "[ring]") {
  HeapVariable heap(256);
  VariableRing& ring = heap.ring();
  REQUIRE(ring.empty());
  const auto msg = bytes_of({1, 2, 3, 4, 5});
  REQUIRE(ring.try_write(msg));
  REQUIRE_FALSE(ring.empty());
  REQUIRE(ring.size_bytes() == 16);  // 8-byte header + 5 bytes rounded up to 8
  auto got = ring.try_read();
  REQUIRE(got.has_value());
  REQUIRE(std::vector<std::byte>(got->begin(), got->end()) == msg);
  auto again = ring.try_read();  // re-reading before pop returns the same record
  REQUIRE(again.has_value());
  REQUIRE(again->data() == got->data());
  ring.pop();
  REQUIRE(ring.empty());
  REQUIRE_FALSE(ring.try_read().has_value());
}

TEST_CASE("a variable ring tells error records from data records", "[ring]") {
  HeapVariable heap(256);
  VariableRing& ring = heap.ring();
  const auto data = bytes_of({1, 2, 3});
  const auto why = bytes_of({'n', 'o'});
  REQUIRE(ring.try_write(data));
  REQUIRE(ring.try_write(why, patchbay::channel::RecordKind::error));
  REQUIRE(ring.try_write(data));
  for (const bool error : {false, true, false}) {
    const auto got = ring.try_read();
    REQUIRE(got.has_value());
    CHECK((ring.front_kind() == patchbay::channel::RecordKind::error) == error);
    CHECK(std::vector<std::byte>(got->begin(), got->end()) == (error ? why : data));
    ring.pop();
  }
  REQUIRE(ring.empty());
}

TEST_CASE("ring empty and misuse", "[ring]") {
  HeapVariable heap(128);
  VariableRing& ring = heap.ring();
  REQUIRE_FALSE(ring.try_read().has_value());
  REQUIRE(ring.size_bytes() == 0);
  REQUIRE_THROWS_AS(ring.pop(), std::logic_error);
  REQUIRE_THROWS_AS(ring.commit(0), std::logic_error);
  (void)ring.try_reserve(10);
  REQUIRE_THROWS_AS(ring.commit(11), std::logic_error);
  ring.commit(10);
  REQUIRE_THROWS_AS(ring.commit(10), std::logic_error);  // the reservation is used up
}

TEST_CASE("ring keeps FIFO order of variable-sized records across many wraps", "[ring]") {
  HeapVariable heap(1024);
  VariableRing& ring = heap.ring();
  SplitMix rng{42};
  std::deque<std::pair<std::uint64_t, std::size_t>> expected;
  std::uint64_t next_seq = 0;
  std::size_t bytes_written = 0;
  std::size_t mismatches = 0;
  std::size_t reads = 0;
  for (int op = 0; op < 200000; ++op) {
    const std::uint64_t r = rng.next();
    if (r % 2 == 0) {
      // Mostly small records, sometimes up to max_payload().
      const std::size_t size =
          (r >> 8) % 8 == 0 ? (r >> 16) % (ring.max_payload() + 1) : (r >> 16) % 64;
      const std::span<std::byte> dst = ring.try_reserve(size);
      if (dst.data() == nullptr) continue;
      for (std::size_t i = 0; i < size; ++i)
        dst[i] = pattern(next_seq, i);
      ring.commit(size);
      expected.emplace_back(next_seq++, size);
      bytes_written += size;
    } else {
      auto got = ring.try_read();
      if (!got) {
        REQUIRE(expected.empty());
        continue;
      }
      REQUIRE_FALSE(expected.empty());
      if (!matches_pattern(*got, expected.front().first, expected.front().second)) ++mismatches;
      expected.pop_front();
      ring.pop();
      ++reads;
    }
  }
  REQUIRE(mismatches == 0);
  REQUIRE(bytes_written > 100 * ring.capacity());
  REQUIRE(reads > 10000);
}

TEST_CASE("ring pads at the wrap so a record is contiguous at position 0", "[ring]") {
  Memory mem(VariableRing::bytes_required(256));
  VariableRing ring = VariableRing::create(mem.get(), 256);
  advance(ring, 200);                      // 56 bytes to the end
  REQUIRE(ring.try_write(bytes_of({9})));  // 16 bytes at 200: 40 left at the end
  const std::span<std::byte> dst = ring.try_reserve(64);
  REQUIRE(dst.data() == mem.data_area() + sizeof(RecordHeader));
  for (std::size_t i = 0; i < dst.size(); ++i)
    dst[i] = pattern(7, i);
  ring.commit(64);
  REQUIRE(ring.size_bytes() == 16 + 40 + 72);

  auto first = ring.try_read();
  REQUIRE(first.has_value());
  REQUIRE(first->size() == 1);
  REQUIRE(first->data() == mem.data_area() + 200 + sizeof(RecordHeader));
  ring.pop();
  auto second = ring.try_read();
  REQUIRE(second.has_value());
  REQUIRE(second->data() == mem.data_area() + sizeof(RecordHeader));
  REQUIRE(matches_pattern(*second, 7, 64));
  ring.pop();
  REQUIRE(ring.empty());
}

TEST_CASE("ring commit may shrink a reservation even after padding", "[ring]") {
  Memory mem(VariableRing::bytes_required(256));
  VariableRing ring = VariableRing::create(mem.get(), 256);
  advance(ring, 232);                                      // 24 bytes to the end
  const std::span<std::byte> dst = ring.try_reserve(100);  // does not fit: goes to 0
  REQUIRE(dst.data() == mem.data_area() + sizeof(RecordHeader));
  dst[0] = std::byte{0x5a};
  ring.commit(1);  // would have fit at the end, but the bytes are at 0
  auto got = ring.try_read();
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 1);
  REQUIRE((*got)[0] == std::byte{0x5a});
  ring.pop();
  REQUIRE(ring.empty());
}

TEST_CASE("ring full: reserve fails until the consumer pops", "[ring]") {
  HeapVariable heap(256);
  VariableRing& ring = heap.ring();
  // 32-byte records: 7 fill the ring, which keeps 8 bytes for the terminator.
  std::vector<std::byte> payload(24, std::byte{1});
  for (int i = 0; i < 7; ++i)
    REQUIRE(ring.try_write(payload));
  REQUIRE(ring.size_bytes() == 224);
  REQUIRE(ring.try_reserve(24).data() == nullptr);
  REQUIRE_FALSE(ring.try_write(payload));
  REQUIRE(ring.try_read().has_value());
  REQUIRE(ring.try_reserve(24).data() == nullptr);  // read but not popped: still full
  ring.pop();
  REQUIRE(ring.try_write(payload));
  REQUIRE_FALSE(ring.try_write(payload));
  int count = 0;
  while (ring.try_read()) {
    ring.pop();
    ++count;
  }
  REQUIRE(count == 7);
}

TEST_CASE("ring zero-length records", "[ring]") {
  HeapVariable heap(64);
  VariableRing& ring = heap.ring();
  for (int i = 0; i < 7; ++i)  // 8 bytes each, and 8 for the terminator
    REQUIRE(ring.try_write({}));
  REQUIRE(ring.size_bytes() == 56);
  REQUIRE_FALSE(ring.try_write({}));
  for (int round = 0; round < 20; ++round) {  // wrap many times with empty records
    auto got = ring.try_read();
    REQUIRE(got.has_value());
    REQUIRE(got->empty());
    ring.pop();
    REQUIRE(ring.try_write({}));
  }
  REQUIRE(ring.try_read()->empty());
}

TEST_CASE("ring max_payload fits from every starting position", "[ring]") {
  for (std::size_t capacity : {std::size_t{64}, std::size_t{256}, std::size_t{1024}}) {
    Memory mem(VariableRing::bytes_required(capacity));
    for (std::size_t lap = 0; lap < 2; ++lap) {
      for (std::size_t pos = 0; pos < capacity; pos += 8) {
        INFO("capacity " << capacity << " position " << pos << " lap " << lap);
        VariableRing ring = VariableRing::create(mem.get(), capacity);
        advance(ring, lap * capacity + pos);
        const std::size_t max = ring.max_payload();
        REQUIRE(max == capacity / 2 - 16);
        REQUIRE_THROWS_AS(ring.try_reserve(max + 1), std::length_error);
        write_pattern(ring, pos, max);
        auto got = ring.try_read();
        REQUIRE(got.has_value());
        REQUIRE(got->data() >= mem.data_area());
        REQUIRE(got->data() + got->size() <= mem.data_area() + capacity);
        REQUIRE(matches_pattern(*got, pos, max));
        ring.pop();
        REQUIRE(ring.empty());
      }
    }
  }
}

TEST_CASE("ring close: reader drains what was written before", "[ring]") {
  HeapVariable heap(256);
  VariableRing& ring = heap.ring();
  for (std::uint64_t i = 0; i < 3; ++i)
    write_pattern(ring, i, 10 + i);
  REQUIRE_FALSE(ring.closed());
  ring.close();
  REQUIRE(ring.closed());
  for (std::uint64_t i = 0; i < 3; ++i) {
    REQUIRE_FALSE(ring.drained());
    auto got = ring.try_read();
    REQUIRE(got.has_value());
    REQUIRE(matches_pattern(*got, i, 10 + i));
    ring.pop();
  }
  REQUIRE(ring.drained());
  REQUIRE_FALSE(ring.try_read().has_value());

  HeapVariable fresh(64);
  REQUIRE_FALSE(fresh.ring().drained());
  fresh.ring().close();
  REQUIRE(fresh.ring().drained());
}

TEST_CASE("ring attach sees the same state through a second view", "[ring]") {
  Memory mem(VariableRing::bytes_required(512));
  VariableRing producer = VariableRing::create(mem.get(), 512);
  write_pattern(producer, 1, 30);
  write_pattern(producer, 2, 0);

  VariableRing consumer = VariableRing::attach(mem.get());
  REQUIRE(consumer.capacity() == 512);
  REQUIRE(consumer.size_bytes() == producer.size_bytes());
  auto got = consumer.try_read();
  REQUIRE(got.has_value());
  REQUIRE(matches_pattern(*got, 1, 30));
  consumer.pop();
  REQUIRE(producer.size_bytes() == 8);
  producer.close();
  REQUIRE(consumer.closed());
  REQUIRE(consumer.try_read()->empty());
  consumer.pop();
  REQUIRE(consumer.drained());
  REQUIRE(producer.empty());
}

TEST_CASE("ring attach rejects memory that holds no ring", "[ring]") {
  Memory mem(VariableRing::bytes_required(256));
  REQUIRE_THROWS_WITH(VariableRing::attach(mem.get()), Catch::Contains("magic"));
  REQUIRE_THROWS_AS(VariableRing::attach(nullptr), std::invalid_argument);
  (void)VariableRing::create(mem.get(), 256);
  REQUIRE_THROWS_AS(VariableRing::attach(static_cast<std::byte*>(mem.get()) + 16),
                    std::invalid_argument);
  static_cast<RingHeader*>(mem.get())->capacity = 100;
  REQUIRE_THROWS_AS(VariableRing::attach(mem.get()), std::invalid_argument);
}

TEST_CASE("ring never mistakes an earlier lap's bytes for a record", "[ring]") {
  // The consumer finds records by their headers. Payloads made of words that look like valid
  // headers, laid down at every offset over many laps, must never be read as records: the
  // ring must read empty after each record is popped.
  constexpr std::uint64_t fake = std::uint64_t{1} << 32;  // "data record, length 0"
  Memory mem(VariableRing::bytes_required(256));
  // create() needs no cleared memory: start from fake headers everywhere.
  for (std::size_t at = 0; at < 256; at += sizeof fake)
    std::memcpy(mem.data_area() + at, &fake, sizeof fake);
  VariableRing ring = VariableRing::create(mem.get(), 256);
  REQUIRE_FALSE(ring.try_read().has_value());
  SplitMix rng{42};
  for (int i = 0; i < 5000; ++i) {
    const std::size_t size = rng.next() % (ring.max_payload() + 1);
    const std::span<std::byte> dst = ring.try_reserve(size);
    REQUIRE(dst.data() != nullptr);
    for (std::size_t at = 0; at + sizeof fake <= size; at += sizeof fake)
      std::memcpy(dst.data() + at, &fake, sizeof fake);
    ring.commit(size);
    auto got = ring.try_read();
    REQUIRE(got.has_value());
    REQUIRE(got->size() == size);
    ring.pop();
    REQUIRE_FALSE(ring.try_read().has_value());
  }
}

TEST_CASE("ring try_read rejects a corrupt record", "[ring]") {
  Memory mem(VariableRing::bytes_required(128));
  VariableRing ring = VariableRing::create(mem.get(), 128);
  REQUIRE(ring.try_write(bytes_of({1, 2, 3})));
  const RecordHeader bogus{3, 77};
  std::memcpy(mem.data_area(), &bogus, sizeof bogus);
  REQUIRE_THROWS_AS(ring.try_read(), std::runtime_error);
  REQUIRE_THROWS_AS(ring.pop(), std::logic_error);  // nothing was handed out
}

TEST_CASE("HeapVariable is movable", "[ring]") {
  HeapVariable a(128);
  REQUIRE(a.ring().try_write(bytes_of({4, 2})));
  HeapVariable b(std::move(a));
  REQUIRE(b.ring().size_bytes() == 16);
  HeapVariable c(64);
  c = std::move(b);
  REQUIRE(c.ring().capacity() == 128);
  auto got = c.ring().try_read();
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 2);
  c.ring().pop();
}

TEST_CASE("ring two-thread stress delivers every record exactly once in order", "[ring]") {
  constexpr std::uint64_t kRecords = 1'000'000;
  HeapVariable heap(4096);
  VariableRing producer = heap.ring();  // each thread gets its own view of the same ring
  VariableRing consumer = heap.ring();

  // Payload: [seq: 8][filler][checksum of the preceding bytes: 4]; sizes 12..139.
  auto size_of = [](std::uint64_t seq) {
    SplitMix rng{seq};
    return std::size_t{12} + rng.next() % 128;
  };
  auto checksum = [](const std::byte* p, std::size_t n) {
    std::uint32_t h = 2166136261u;
    for (std::size_t i = 0; i < n; ++i)
      h = (h ^ std::to_integer<std::uint32_t>(p[i])) * 16777619u;
    return h;
  };

  std::thread writer([&] {
    for (std::uint64_t seq = 0; seq < kRecords; ++seq) {
      const std::size_t size = size_of(seq);
      std::span<std::byte> dst;
      while ((dst = producer.try_reserve(size)).data() == nullptr)
        std::this_thread::yield();
      std::memcpy(dst.data(), &seq, sizeof seq);
      for (std::size_t i = 8; i < size - 4; ++i)
        dst[i] = static_cast<std::byte>(seq + i);
      const std::uint32_t sum = checksum(dst.data(), size - 4);
      std::memcpy(dst.data() + size - 4, &sum, sizeof sum);
      producer.commit(size);
    }
    producer.close();
  });

  const Drained got = drain(consumer, [&](std::span<const std::byte> record, std::uint64_t n) {
    std::uint64_t seq = 0;
    std::uint32_t sum = 0;
    if (record.size() >= 12) {
      std::memcpy(&seq, record.data(), sizeof seq);
      std::memcpy(&sum, record.data() + record.size() - 4, sizeof sum);
    }
    return seq == n && record.size() == size_of(n) &&
           sum == checksum(record.data(), record.size() - 4);
  });
  writer.join();
  REQUIRE(got.bad == 0);
  REQUIRE(got.received == kRecords);
}

TEST_CASE("ring close_reader is seen by the producer's view and not confused with close",
          "[ring]") {
  Memory mem(VariableRing::bytes_required(256));
  VariableRing producer = VariableRing::create(mem.get(), 256);
  VariableRing consumer = VariableRing::attach(mem.get());
  REQUIRE_FALSE(producer.reader_closed());
  REQUIRE(producer.try_write(std::as_bytes(std::span("abc"))));
  consumer.close_reader();
  REQUIRE(producer.reader_closed());
  REQUIRE_FALSE(consumer.closed());
  REQUIRE_FALSE(consumer.drained());
}

// ---- fixed-size records ----

TEST_CASE("fixed-size ring: slots, limits and the record size through attach", "[ring][fixed]") {
  REQUIRE(FixedRing::slot_bytes(8) == 16);
  REQUIRE(FixedRing::slot_bytes(28) == 40);       // header plus payload, rounded up to 8
  REQUIRE(FixedRing::slots_for(4096, 28) == 64);  // 102 slots fit: the power of two below
  REQUIRE(FixedRing::slots_for(64, 8) == 4);
  REQUIRE(FixedRing::slots_for(64, 57) == 0);
  REQUIRE(FixedRing::slots_for(64, 0) == 0);
  Memory mem(FixedRing::bytes_required(4096));
  REQUIRE_THROWS_WITH(FixedRing::create(mem.get(), 64, 57), Catch::Contains("does not fit"));
  REQUIRE_THROWS_AS(FixedRing::create(mem.get(), 64, 0), std::invalid_argument);
  FixedRing producer = FixedRing::create(mem.get(), 4096, 28);
  REQUIRE(producer.record_size() == 28);
  REQUIRE(producer.max_payload() == 28);
  REQUIRE(producer.slots() == 64);
  REQUIRE(patchbay::channel::RingBase::record_size_at(mem.get()) == 28);
  const FixedRing consumer = FixedRing::attach(mem.get());
  REQUIRE(consumer.record_size() == 28);
  // The other format's view refuses the ring; attach_ring() picks the right one.
  REQUIRE_THROWS_WITH(VariableRing::attach(mem.get()), Catch::Contains("fixed-size"));
  REQUIRE(std::holds_alternative<FixedRing>(patchbay::channel::attach_ring(mem.get())));
  const std::vector<std::byte> short_record(27);
  const std::vector<std::byte> long_record(29);
  REQUIRE_THROWS_AS(producer.try_write(short_record), std::length_error);
  REQUIRE_THROWS_AS(producer.try_write(long_record), std::length_error);
  REQUIRE(producer.try_write(std::vector<std::byte>(28)));
  REQUIRE(producer.size_bytes() == 40);
  REQUIRE(consumer.size_bytes() == 40);
  (void)VariableRing::create(mem.get(), 4096);
  REQUIRE(patchbay::channel::RingBase::record_size_at(mem.get()) == 0);
  REQUIRE_THROWS_WITH(FixedRing::attach(mem.get()), Catch::Contains("variable-length"));
  REQUIRE(std::holds_alternative<VariableRing>(patchbay::channel::attach_ring(mem.get())));
}

TEST_CASE("fixed-size ring keeps order across many laps and is full at its slot count",
          "[ring][fixed]") {
  constexpr std::size_t kSize = 12;
  HeapFixed heap(256, kSize);  // 16 slots of 24 bytes would not fit: 8 of them
  FixedRing& ring = heap.ring();
  const std::size_t slots = FixedRing::slots_for(256, kSize);
  REQUIRE(slots == 8);
  std::uint64_t written = 0;
  std::uint64_t read = 0;
  SplitMix rng{7};
  for (int round = 0; round < 2000; ++round) {
    // Fill a random number of records (all when the draw says so), then drain some; reads
    // alternate at random between the one-call read and try_read()/pop().
    const std::uint64_t want = rng.next() % (slots + 1);
    for (std::uint64_t i = 0; i < want; ++i) {
      if (written - read == slots) {
        bool called = false;
        REQUIRE_FALSE(ring.try_write([&](std::byte*) { called = true; }));
        REQUIRE_FALSE(called);  // full: the copy never runs
        break;
      }
      write_pattern(ring, written++);
    }
    REQUIRE(ring.size_bytes() == (written - read) * FixedRing::slot_bytes(kSize));
    const std::uint64_t take = rng.next() % (written - read + 1);
    for (std::uint64_t i = 0; i < take; ++i) {
      if (rng.next() % 2 == 0) {
        bool intact = false;
        REQUIRE(ring.try_read([&](const std::byte* record) {
          intact = matches_pattern(std::span(record, kSize), read, kSize);
        }));
        REQUIRE(intact);
        ++read;
      } else {
        auto got = ring.try_read();
        REQUIRE(got.has_value());
        REQUIRE(matches_pattern(*got, read++, kSize));
        ring.pop();
      }
    }
    if (written == read) {
      REQUIRE_FALSE(ring.try_read().has_value());
      bool called = false;
      REQUIRE_FALSE(ring.try_read([&](const std::byte*) { called = true; }));
      REQUIRE_FALSE(called);                            // empty: the copy never runs
      REQUIRE_THROWS_AS(ring.pop(), std::logic_error);  // nothing is being read
    }
  }
  REQUIRE(written > 1000 * slots / 4);  // many laps
}

TEST_CASE("fixed-size ring never reads an earlier lap's record or uncleared memory",
          "[ring][fixed]") {
  constexpr std::uint64_t kSize = 8;
  Memory mem(FixedRing::bytes_required(64));
  // Memory that looks like records 1, 2, 3...: create() (RingFill::any) must clear the headers.
  for (std::uint64_t at = 0; at < 64; at += 8) {
    const std::uint64_t fake = at / 16 + 1;
    std::memcpy(mem.data_area() + at, &fake, sizeof fake);
  }
  FixedRing ring = FixedRing::create(mem.get(), 64, kSize);
  REQUIRE_FALSE(ring.try_read().has_value());
  REQUIRE(ring.front_word() == 0);
  for (std::uint64_t i = 0; i < 100; ++i) {
    // Payloads equal to the header the next lap's record will carry.
    const std::uint64_t payload = i + 1 + 4;
    REQUIRE(ring.try_write(std::as_bytes(std::span(&payload, 1))));
    REQUIRE(ring.front_word() == i + 1);
    auto got = ring.try_read();
    REQUIRE(got.has_value());
    std::uint64_t value = 0;
    std::memcpy(&value, got->data(), sizeof value);
    REQUIRE(value == payload);
    ring.pop();
    REQUIRE_FALSE(ring.try_read().has_value());
    REQUIRE(ring.front_word() == 0);
  }
}

TEST_CASE("fixed-size ring: a zero-filled mapping needs no clearing; a bad header is corrupt",
          "[ring][fixed]") {
  Memory mem(FixedRing::bytes_required(128));  // zeroed by the fixture
  FixedRing ring = FixedRing::create(mem.get(), 128, 8, RingFill::zeroed);
  REQUIRE_FALSE(ring.try_read().has_value());
  const std::uint64_t v = 5;
  REQUIRE(ring.try_write(std::as_bytes(std::span(&v, 1))));
  const std::uint64_t bogus = 77;  // neither 1 (record 0) nor 0 (nothing yet)
  std::memcpy(mem.data_area(), &bogus, sizeof bogus);
  REQUIRE_THROWS_AS(ring.try_read(), std::runtime_error);
  REQUIRE_THROWS_AS(ring.try_read([](const std::byte*) {}), std::runtime_error);
}

TEST_CASE("fixed-size ring: close and drained, close_reader", "[ring][fixed]") {
  HeapFixed heap(128, 8);
  FixedRing producer = heap.ring();
  FixedRing consumer = heap.ring();
  const std::uint64_t v = 9;
  REQUIRE(producer.try_write(std::as_bytes(std::span(&v, 1))));
  producer.close();
  REQUIRE(consumer.closed());
  REQUIRE_FALSE(consumer.drained());
  REQUIRE(consumer.try_read().has_value());
  consumer.pop();
  REQUIRE(consumer.drained());
  consumer.close_reader();
  REQUIRE(producer.reader_closed());
}

TEST_CASE("fixed-size ring two-thread stress delivers every record exactly once in order",
          "[ring][fixed]") {
  constexpr std::uint64_t kRecords = 1'000'000;
  constexpr std::size_t kSize = 28;  // 40-byte slots: slots straddle cache lines
  HeapFixed heap(4096, kSize);
  FixedRing producer = heap.ring();
  FixedRing consumer = heap.ring();
  std::thread writer([&] {
    for (std::uint64_t seq = 0; seq < kRecords; ++seq) {
      while (!producer.try_write([&](std::byte* slot) {
        for (std::size_t i = 0; i < kSize; ++i)
          slot[i] = pattern(seq, i);
      }))
        std::this_thread::yield();
    }
    producer.close();
  });
  const Drained got = drain(consumer, [&](std::span<const std::byte> record, std::uint64_t n) {
    return matches_pattern(record, n, kSize);
  });
  writer.join();
  REQUIRE(got.bad == 0);
  REQUIRE(got.received == kRecords);
}

TEST_CASE("fixed-size ring: one-call write and read across two threads, exactly once in order",
          "[ring][fixed]") {
  constexpr std::uint64_t kRecords = 1'000'000;
  HeapFixed heap(256, sizeof(std::uint64_t));  // 16 slots: the producer often finds it full
  FixedRing producer = heap.ring();
  FixedRing consumer = heap.ring();
  std::thread writer([&] {
    for (std::uint64_t seq = 0; seq < kRecords; ++seq) {
      while (!producer.try_write([&](std::byte* slot) { std::memcpy(slot, &seq, sizeof seq); }))
        std::this_thread::yield();
    }
    producer.close();
  });
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  while (!consumer.drained()) {
    std::uint64_t value = 0;
    if (!consumer.try_read(
            [&](const std::byte* record) { std::memcpy(&value, record, sizeof value); })) {
      // As drain() does: on a loaded machine both threads may share one core, and a consumer
      // that spins through its time slice lets the producer write 16 records per slice.
      std::this_thread::yield();
      continue;
    }
    out_of_order += value != received ? 1 : 0;
    ++received;
  }
  writer.join();
  REQUIRE(out_of_order == 0);
  REQUIRE(received == kRecords);
}
