// The limits of moving data between two processes, two threads and two fibers; how close the
// raw patchbay ring gets; and the peers patchbay is compared with (pipes, ZeroMQ,
// boost::lockfree::spsc_queue).
//
// Every cross-process benchmark forks a peer: the timed side runs pinned to core 0, the peer
// to core 1, and they talk through an anonymous MAP_SHARED mapping made before the fork. The
// benchmarks between threads pin their two threads to the same cores. All report `preemptions`.
//
//   two_atomic_ping_pong/pauses:P  two cache-line-separated std::atomic<uint64_t> flags: the
//                                  cache-line round trip, the floor for any spinning channel,
//                                  with P pause instructions between two polls (the ring loops
//                                  below and the engine's spin loop have one). The floor is the
//                                  fastest P: on some machines polling back to back slows the
//                                  line's hand-over, and P=1 can be twice P=2
//   two_atomic_ping_pong_threads   the same between two threads of one process
//   futex_ping_pong/think_us:T     both sides sleep in FUTEX_WAIT between messages: the floor
//                                  for a channel whose consumer sleeps. T>0: each side first
//                                  holds its core T us; `excess_ns` is the round trip without it
//   pipe_ping_pong                 8 bytes each way through two pipes, blocking read()
//   zmq_ipc_round_trip             8-byte messages through two ZeroMQ PUSH/PULL pairs, ipc://
//   ring_round_trip                8-byte records through two patchbay::channel::VariableRing,
//                                  spinning
//   ring_round_trip/fixed          the same through two FixedRing (what the engine uses between
//                                  workers for trivially copyable types)
//   ring_round_trip_threads        the same between two threads
//   spsc_queue_round_trip          uint64 through two boost::lockfree::spsc_queue, threads
//                                  (these four spinning round trips each measure the
//                                  two-atomic floor just before their timed loop and report
//                                  `x_two_atomic`, their ratio to it: see PairedFloor)
//   fiber_switch                   Boost.Fiber yield to another fiber and back (two switches)
//   ring_round_trip_fibers         the ring round trip between two fibers of one thread, each
//                                  yielding while its ring is empty
//   ring_throughput/bytes:N        one-way stream of N-byte records; the peer copies each out
//   ring_throughput/fixed/bytes:N  the same through a FixedRing (what the engine uses between
//                                  workers for a trivially copyable type)
//   ring_throughput/in_place/bytes:N  the same stream, each record written in place in the ring
//                                  (filled) and read in place (the peer sums every word): what
//                                  a BufferOutput and a BufferInput do
//   bare_batched_ring/bytes:N      a bare byte ring written for this benchmark, with nothing but
//                                  the stream: the producer publishes its index once per 1 KiB
//                                  (and before it waits), the consumer polls that index and
//                                  frees what it read once per 1 KiB. The limit a design that
//                                  batches small records can reach; the peer copies each out
//   bare_batched_ring/in_place/bytes:N  the same ring written and read in place, as above
//   spsc_queue_throughput/bytes:N  the same through a 256 KiB spsc_queue of bytes, threads
//   zmq_ipc_throughput/bytes:N     the same through ZeroMQ PUSH/PULL over ipc://
//   memcpy_bandwidth/bytes:N       memcpy of N bytes in one process, the bandwidth baseline
//
// The ZeroMQ benchmarks are built only when libzmq and cppzmq are found.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/fiber/all.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include "channel/ring.hpp"
#include "cross_process.hpp"

#if PATCHBAY_BENCH_HAVE_ZMQ
#include <zmq.hpp>
#endif

namespace {

constexpr std::array<std::int64_t, 4> kSizes = {8, 64, 1024, 64 * 1024};

using patchbay::channel::FixedRing;
using patchbay::channel::VariableRing;
using patchbay_bench::kFarCore;
using patchbay_bench::kNearCore;
using patchbay_bench::Peer;
using patchbay_bench::PeerThread;
using patchbay_bench::PinnedToCore;
using patchbay_bench::SharedMemory;
using patchbay_bench::spin_pause;

constexpr const char* kPinnedLabel = "processes pinned to cores 0 and 1";
constexpr const char* kThreadsPinnedLabel = "threads pinned to cores 0 and 1";

template <class PeerKind>
const char* pinned_label() {
  return std::is_same_v<PeerKind, Peer> ? kPinnedLabel : kThreadsPinnedLabel;
}

bool skip_without_two_cores(benchmark::State& state) {
  if (patchbay_bench::has_two_cores()) return false;
  state.SkipWithError("needs cores 0 and 1");
  return true;
}

// ---- two-atomic ping-pong ----

// Untimed round trips first: the peer is scheduled, pinned and has its pages mapped.
constexpr std::uint32_t kWarmUpRoundTrips = 1000;

// The spinning round trips below pair themselves with the two-atomic floor (the fastest poll
// gap) measured on the same cores just before their timed loop: `two_atomic_ns`,
// `two_atomic_pauses` and `x_two_atomic` (round trip / floor). On a machine whose cross-core
// latency changes from one second to the next, only such a pair gives a ratio that holds; the
// standalone two_atomic_ping_pong rows may have run in another placement.
constexpr std::uint64_t kFloorRoundTrips = 20000;

class PairedFloor {
 public:
  explicit PairedFloor(patchbay_bench::TwoAtomicFloor floor) : floor_(floor) {}
  void start() { start_ns_ = patchbay_bench::now_ns(); }
  void report(benchmark::State& state) const {
    const auto took = static_cast<double>(patchbay_bench::now_ns() - start_ns_);
    if (state.iterations() == 0 || floor_.ns <= 0) return;
    state.counters["two_atomic_ns"] = floor_.ns;
    state.counters["two_atomic_pauses"] = floor_.pauses;
    state.counters["x_two_atomic"] = took / static_cast<double>(state.iterations()) / floor_.ns;
  }

 private:
  patchbay_bench::TwoAtomicFloor floor_;
  std::int64_t start_ns_ = 0;
};

// The peer is a forked process (Peer) or a thread (PeerThread); both are pinned to core 1.
template <class PeerKind>
void two_atomic_ping_pong(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const auto pauses = static_cast<unsigned>(state.range(0));
  SharedMemory memory(sizeof(patchbay_bench::PingPongFlags));
  auto* flags = memory.construct<patchbay_bench::PingPongFlags>();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  PeerKind peer(kFarCore, [flags, pauses] { patchbay_bench::answer_pings(*flags, pauses); });
  std::uint64_t i = 0;
  auto round_trip = [&] { patchbay_bench::ping(*flags, ++i, pauses); };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips; ++warm_up)
    round_trip();
  for (auto _ : state)
    round_trip();
  flags->ping.value.store(patchbay_bench::kPingPongStop, std::memory_order_release);
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  state.SetLabel(std::string("round trip, ") +
                 (pauses == 0 ? std::string("busy loop, ")
                              : std::to_string(pauses) + " pause(s) between polls, ") +
                 pinned_label<PeerKind>());
}

// ---- futex ping-pong ----

void futex_ping_pong(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const std::int64_t think_ns = state.range(0) * 1000;
  SharedMemory memory(sizeof(patchbay_bench::FutexPingWords));
  auto* words = memory.construct<patchbay_bench::FutexPingWords>();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  const std::uint32_t warm_up_round_trips = think_ns > 0 ? 2 : kWarmUpRoundTrips;
  Peer peer(kFarCore, [words, think_ns, warm_up_round_trips] {
    patchbay_bench::answer_futex_pings(*words, think_ns, warm_up_round_trips);
  });
  std::uint32_t i = 0;
  std::int64_t thought = 0;
  auto round_trip = [&] {
    if (think_ns > 0) thought += patchbay_bench::busy_for(think_ns);
    patchbay_bench::futex_round_trip(*words, ++i);
  };
  for (std::uint32_t warm_up = 0; warm_up < warm_up_round_trips; ++warm_up)
    round_trip();
  thought = 0;
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state)
    round_trip();
  const std::int64_t took = patchbay_bench::now_ns() - start;
  patchbay_bench::stop_futex_pings(*words);
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (think_ns > 0) {
    // The round trip without the two sides' work: what the two sleeping hand-offs cost.
    state.counters["excess_ns"] =
        benchmark::Counter(static_cast<double>(took - thought - words->peer_think_ns),
                           benchmark::Counter::kAvgIterations);
  }
  state.SetLabel(std::string("round trip, both sides FUTEX_WAIT") +
                 (think_ns > 0 ? ", each side busy for the think time first, " : ", ") +
                 kPinnedLabel);
}

// ---- raw ring ----

constexpr std::size_t kRoundTripCapacity = std::size_t{64} * 1024;  // the engine's default
constexpr std::size_t kStreamCapacity = std::size_t{256} * 1024;    // max payload 128 KiB - 8

// Two rings (and a result line) laid out in one shared mapping.
struct RingPairLayout {
  static std::size_t size(std::size_t capacity) {
    return 64 + 2 * VariableRing::bytes_required(capacity);
  }
  static std::size_t first(std::size_t) { return 64; }
  static std::size_t second(std::size_t capacity) {
    return 64 + VariableRing::bytes_required(capacity);
  }
};
static_assert(sizeof(patchbay::channel::RingHeader) % 64 == 0);

// Spins until the record is in; false when the consumer stopped reading (it ended or failed).
template <class R>
bool write_spinning(R& ring, std::span<const std::byte> payload) {
  while (!ring.try_write(payload)) {
    if (ring.reader_closed()) return false;
    spin_pause();
  }
  return true;
}

// Spins until a record arrives; nullopt once the producer closed and nothing is left.
template <class R>
std::optional<std::span<const std::byte>> read_spinning(R& ring) {
  while (true) {
    if (auto record = ring.try_read()) return record;
    // closed()'s acquire makes every record committed before close() visible to try_read.
    if (ring.closed()) return ring.try_read();
    spin_pause();
  }
}

// A round-trip ring of format R: variable-length records, or fixed-size records of 8 bytes.
template <class R>
R create_round_trip_ring(std::byte* memory) {
  if constexpr (std::is_same_v<R, FixedRing>) {
    return FixedRing::create(memory, kRoundTripCapacity, 8);
  } else {
    return VariableRing::create(memory, kRoundTripCapacity);
  }
}

template <class PeerKind, class R = VariableRing>
void ring_round_trip(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  PairedFloor paired(patchbay_bench::two_atomic_floor<PeerKind>(kFloorRoundTrips));
  SharedMemory memory(RingPairLayout::size(kRoundTripCapacity));
  R there = create_round_trip_ring<R>(memory.bytes() + RingPairLayout::first(kRoundTripCapacity));
  R back = create_round_trip_ring<R>(memory.bytes() + RingPairLayout::second(kRoundTripCapacity));
  std::byte* base = memory.bytes();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  PeerKind peer(kFarCore, [base] {
    R in = R::attach(base + RingPairLayout::first(kRoundTripCapacity));
    R out = R::attach(base + RingPairLayout::second(kRoundTripCapacity));
    std::array<std::byte, 8> value{};
    try {
      while (const auto record = read_spinning(in)) {
        std::memcpy(value.data(), record->data(), value.size());
        in.pop();
        if (!write_spinning(out, value)) break;
      }
    } catch (...) {
      in.close_reader();  // the timed side must not wait for us
      out.close();
      throw;
    }
    out.close();
  });
  std::uint64_t i = 0;
  bool failed = false;
  auto round_trip = [&] {
    ++i;
    const auto record =
        write_spinning(there, std::as_bytes(std::span(&i, 1))) ? read_spinning(back) : std::nullopt;
    if (!record) {
      failed = true;
      return;
    }
    std::uint64_t echoed = 0;
    std::memcpy(&echoed, record->data(), sizeof echoed);
    back.pop();
    failed = failed || echoed != i;
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips && !failed; ++warm_up)
    round_trip();
  paired.start();
  for (auto _ : state) {
    if (failed) break;
    round_trip();
  }
  paired.report(state);
  there.close();
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (failed) state.SkipWithError("the peer failed or echoed a different value");
  state.SetLabel(std::string("round trip, 8-byte records") +
                 (std::is_same_v<R, FixedRing> ? " (fixed-size)" : "") + ", two rings, spinning, " +
                 pinned_label<PeerKind>());
}

struct alignas(64) StreamResult {
  std::uint32_t ready = 0;  // set by the consumer once it is polling
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
};

// What the producer of a stream benchmark sent, and how long the consumer took to see it all.
struct StreamSent {
  std::uint64_t messages;
  std::size_t size;
  std::uint64_t checksum;  // what the consumer's checksum must be
  double seconds;
  double preemptions;
};

// Joins the consumer, checks that it saw the stream sent, and reports it.
void report_stream(benchmark::State& state, Peer& peer, const StreamResult& result,
                   const StreamSent& sent) {
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = sent.preemptions;
  if (result.messages != sent.messages || result.bytes != sent.messages * sent.size ||
      result.checksum != sent.checksum) {
    state.SkipWithError("consumer saw a different stream");
  }
  state.SetIterationTime(sent.seconds);
  state.SetItemsProcessed(static_cast<std::int64_t>(sent.messages));
  state.SetBytesProcessed(static_cast<std::int64_t>(sent.messages * sent.size));
}

// What the in-place benchmarks do with a record: the producer fills it with one byte value, the
// consumer adds up its 8-byte words (so it reads every byte).
void fill_record(std::byte* to, std::size_t size, std::uint64_t n) {
  std::memset(to, static_cast<int>(n & 0xff), size);
}
std::uint64_t sum_record(const std::byte* from, std::size_t size) {
  std::uint64_t sum = 0;
  std::uint64_t word = 0;
  for (std::size_t at = 0; at + 8 <= size; at += 8) {
    std::memcpy(&word, from + at, 8);
    sum += word;
  }
  return sum;
}
// What sum_record() gives for a record fill_record() wrote.
std::uint64_t expected_sum(std::size_t size, std::uint64_t n) {
  return (size / 8) * ((n & 0xff) * 0x0101010101010101ULL);
}

// The stream through a ring of format R. `InPlace` (VariableRing): each record is reserved,
// filled and committed in place, and the consumer sums it where it lies; else it is copied in
// from a buffer and out to one (the first byte checked), as the engine's ports do.
template <class R = VariableRing, bool InPlace = false>
void ring_throughput(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const auto size = static_cast<std::size_t>(state.range(0));
  SharedMemory memory(64 + R::bytes_required(kStreamCapacity));
  auto* result = memory.construct<StreamResult>();
  R ring;
  if constexpr (std::is_same_v<R, FixedRing>) {
    ring = FixedRing::create(memory.bytes() + 64, kStreamCapacity, size);
  } else {
    ring = VariableRing::create(memory.bytes() + 64, kStreamCapacity);
  }
  std::byte* base = memory.bytes();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [base, result, size] {
    R in = R::attach(base + 64);
    std::vector<std::byte> out(size);
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t checksum = 0;
    std::atomic_ref<std::uint32_t>(result->ready).store(1, std::memory_order_release);
    try {
      while (const auto record = read_spinning(in)) {
        if constexpr (InPlace) {
          checksum += sum_record(record->data(), record->size());
        } else {
          std::memcpy(out.data(), record->data(), record->size());
          checksum += static_cast<std::uint8_t>(out.front());
        }
        bytes += record->size();
        ++messages;
        in.pop();
      }
    } catch (...) {
      in.close_reader();  // the producer must not wait for us
      throw;
    }
    result->messages = messages;
    result->bytes = bytes;
    result->checksum = checksum;
  });
  std::vector<std::byte> message(size, std::byte{1});
  std::uint64_t sent = 0;
  std::uint64_t expected = 0;
  while (std::atomic_ref<std::uint32_t>(result->ready).load(std::memory_order_acquire) == 0)
    spin_pause();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if constexpr (InPlace) {
      std::span<std::byte> room = ring.try_reserve(size);
      while (room.data() == nullptr && !ring.reader_closed()) {
        spin_pause();
        room = ring.try_reserve(size);
      }
      if (room.data() == nullptr) break;
      fill_record(room.data(), size, sent);
      ring.commit(size);
      expected += expected_sum(size, sent);
    } else {
      if (!write_spinning(ring, message)) break;
      ++expected;
    }
    ++sent;
  }
  // The stream is done when the consumer has popped everything, not when the last write went
  // in; at most a ring's worth, but with 64 KiB records that is a few messages out of thousands.
  while (!ring.empty() && !ring.reader_closed())
    spin_pause();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  ring.close();
  report_stream(state, peer, *result, {sent, size, expected, took.count(), preemptions.so_far()});
  state.SetLabel(std::string("one way, 256 KiB ring") +
                 (std::is_same_v<R, FixedRing> ? " of fixed-size records" : "") +
                 (InPlace ? ", written and read in place" : ", consumer copies out") +
                 ", spinning, " + kPinnedLabel);
}

// ---- a bare batched ring ----

// A bare single-producer single-consumer byte ring: records of an 8-byte length and the payload
// (padded to 8), a padding record at the wrap; each side publishes its index once per
// kBareBatch bytes, and the producer also before it waits for room. Nothing else: no record
// headers to poll, no close or reader flags beyond the stream's end.
struct alignas(64) BareRing {
  static constexpr std::uint64_t kBatch = 1024;
  static constexpr std::uint64_t kPadding = ~std::uint64_t{0};
  alignas(64) std::atomic<std::uint64_t> write{0};
  alignas(64) std::atomic<std::uint64_t> read{0};
  alignas(64) std::atomic<std::uint32_t> closed{0};

  std::byte* data() { return reinterpret_cast<std::byte*>(this + 1); }
  static std::uint64_t record_bytes(std::size_t size) { return 8 + ((size + 7) & ~std::size_t{7}); }
};

// The producer's side of a BareRing.
class BareWriter {
 public:
  explicit BareWriter(BareRing& ring) : ring_(ring) {}
  // Room for a record of `size` bytes (waiting for it), published by commit().
  std::byte* reserve(std::size_t size) {
    const std::uint64_t need = BareRing::record_bytes(size);
    std::uint64_t pos = w_ % kStreamCapacity;
    const std::uint64_t pad = kStreamCapacity - pos < need ? kStreamCapacity - pos : 0;
    while (w_ + pad + need - cached_read_ > kStreamCapacity) {
      publish();  // about to wait: never hold back what the reader could take
      cached_read_ = ring_.read.load(std::memory_order_acquire);
      if (w_ + pad + need - cached_read_ > kStreamCapacity) spin_pause();
    }
    if (pad != 0) {
      std::memcpy(ring_.data() + pos, &BareRing::kPadding, 8);
      w_ += pad;
      pos = 0;
    }
    const std::uint64_t length = size;
    std::memcpy(ring_.data() + pos, &length, 8);
    return ring_.data() + pos + 8;
  }
  void commit(std::size_t size) {
    w_ += BareRing::record_bytes(size);
    if (w_ - published_ >= BareRing::kBatch) publish();
  }
  void publish() {
    if (published_ == w_) return;
    ring_.write.store(w_, std::memory_order_release);
    published_ = w_;
  }
  void close() {
    publish();
    ring_.closed.store(1, std::memory_order_release);
  }
  [[nodiscard]] bool drained() const { return ring_.read.load(std::memory_order_acquire) == w_; }

 private:
  BareRing& ring_;
  std::uint64_t w_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t cached_read_ = 0;
};

// Streams records through a BareRing; `InPlace`: filled and summed in place, else copied in
// from a buffer and out to one (the first byte checked), as ring_throughput does.
template <bool InPlace>
void bare_batched_ring(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const auto size = static_cast<std::size_t>(state.range(0));
  SharedMemory memory(64 + sizeof(BareRing) + kStreamCapacity);
  auto* result = memory.construct<StreamResult>();
  auto* ring = memory.construct<BareRing>(64);
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [ring, result, size] {
    std::vector<std::byte> out(size);
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t checksum = 0;
    std::uint64_t r = 0;
    std::uint64_t freed = 0;
    std::uint64_t seen = 0;
    std::atomic_ref<std::uint32_t>(result->ready).store(1, std::memory_order_release);
    while (true) {
      if (r == seen) {
        if (freed != r) {
          ring->read.store(r, std::memory_order_release);
          freed = r;
        }
        seen = ring->write.load(std::memory_order_acquire);
        if (r == seen) {
          if (ring->closed.load(std::memory_order_acquire) != 0 &&
              ring->write.load(std::memory_order_acquire) == r) {
            break;
          }
          spin_pause();
          continue;
        }
      }
      std::uint64_t pos = r % kStreamCapacity;
      std::uint64_t length = 0;
      std::memcpy(&length, ring->data() + pos, 8);
      if (length == BareRing::kPadding) {
        r += kStreamCapacity - pos;
        continue;
      }
      const std::byte* payload = ring->data() + pos + 8;
      if constexpr (InPlace) {
        checksum += sum_record(payload, length);
      } else {
        std::memcpy(out.data(), payload, length);
        checksum += static_cast<std::uint8_t>(out.front());
      }
      bytes += length;
      ++messages;
      r += BareRing::record_bytes(length);
      if (r - freed >= BareRing::kBatch) {
        ring->read.store(r, std::memory_order_release);
        freed = r;
      }
    }
    ring->read.store(r, std::memory_order_release);
    result->messages = messages;
    result->bytes = bytes;
    result->checksum = checksum;
  });
  BareWriter writer(*ring);
  std::vector<std::byte> message(size, std::byte{1});
  std::uint64_t sent = 0;
  std::uint64_t expected = 0;
  while (std::atomic_ref<std::uint32_t>(result->ready).load(std::memory_order_acquire) == 0)
    spin_pause();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::byte* to = writer.reserve(size);
    if constexpr (InPlace) {
      fill_record(to, size, sent);
      expected += expected_sum(size, sent);
    } else {
      std::memcpy(to, message.data(), size);
      expected += 1;
    }
    writer.commit(size);
    ++sent;
  }
  writer.publish();
  while (!writer.drained())
    spin_pause();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  writer.close();
  report_stream(state, peer, *result, {sent, size, expected, took.count(), preemptions.so_far()});
  state.SetLabel(std::string("one way, 256 KiB bare ring, indices published per 1 KiB, ") +
                 (InPlace ? "written and read in place" : "consumer copies out") + ", spinning, " +
                 kPinnedLabel);
}

void memcpy_bandwidth(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> from(size, std::byte{1});
  std::vector<std::byte> to(size);
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  for (auto _ : state) {
    benchmark::DoNotOptimize(from.data());
    std::memcpy(to.data(), from.data(), size);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.counters["preemptions"] = preemptions.so_far();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  state.SetLabel("one process, core 0, buffers hot in cache");
}

// ---- between two fibers on one thread ----

// Two fibers hand the core to each other: one iteration is two switches (there and back), the
// floor for any exchange between fibers of one thread (LocalProcess, or one worker).
void fiber_switch(benchmark::State& state) {
  bool stop = false;
  std::uint64_t switches = 0;
  boost::fibers::fiber other([&stop, &switches] {
    while (!stop) {
      ++switches;
      boost::this_fiber::yield();
    }
  });
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state)
    boost::this_fiber::yield();
  const std::int64_t took = patchbay_bench::now_ns() - start;
  stop = true;
  other.join();
  if (switches < static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("the other fiber did not run");
  state.counters["ns_per_switch"] =
      static_cast<double>(took) / (2.0 * static_cast<double>(state.iterations()));
  state.SetLabel("Boost.Fiber yield there and back (two switches), one thread");
}

// The ring round trip with both sides as fibers of the calling thread: a side that finds its
// ring empty yields, as a LocalProcess fiber parks. Per round trip: two switches, two records.
void ring_round_trip_fibers(benchmark::State& state) {
  patchbay::channel::HeapRing<VariableRing> there_memory(kRoundTripCapacity);
  patchbay::channel::HeapRing<VariableRing> back_memory(kRoundTripCapacity);
  VariableRing& there = there_memory.ring();
  VariableRing& back = back_memory.ring();
  boost::fibers::fiber echo([&there, &back] {
    while (true) {
      auto record = there.try_read();
      if (!record) {
        if (there.closed() && !(record = there.try_read())) return;
        if (!record) {
          boost::this_fiber::yield();
          continue;
        }
      }
      std::array<std::byte, 8> value{};
      std::memcpy(value.data(), record->data(), value.size());
      there.pop();
      while (!back.try_write(value))
        boost::this_fiber::yield();
    }
  });
  std::uint64_t i = 0;
  bool failed = false;
  auto round_trip = [&] {
    ++i;
    while (!there.try_write(std::as_bytes(std::span(&i, 1))))
      boost::this_fiber::yield();
    std::optional<std::span<const std::byte>> record;
    while (!(record = back.try_read()))
      boost::this_fiber::yield();
    std::uint64_t echoed = 0;
    std::memcpy(&echoed, record->data(), sizeof echoed);
    back.pop();
    failed = failed || echoed != i;
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips; ++warm_up)
    round_trip();
  for (auto _ : state)
    round_trip();
  there.close();
  echo.join();
  if (failed) state.SkipWithError("the other fiber echoed a different value");
  state.SetLabel("round trip, 8-byte records, two heap rings, two fibers on one thread");
}

// ---- boost::lockfree::spsc_queue between two threads ----

void spsc_queue_round_trip(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  using Queue = boost::lockfree::spsc_queue<std::uint64_t, boost::lockfree::capacity<1024>>;
  PairedFloor paired(patchbay_bench::two_atomic_floor<PeerThread>(kFloorRoundTrips));
  auto there = std::make_unique<Queue>();
  auto back = std::make_unique<Queue>();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  PeerThread peer(kFarCore, [&there, &back] {
    while (true) {
      std::uint64_t v = 0;
      while (!there->pop(v))
        spin_pause();
      if (v == patchbay_bench::kPingPongStop) return;
      while (!back->push(v))
        spin_pause();
    }
  });
  std::uint64_t i = 0;
  bool failed = false;
  auto round_trip = [&] {
    ++i;
    while (!there->push(i))
      spin_pause();
    std::uint64_t echoed = 0;
    while (!back->pop(echoed))
      spin_pause();
    failed = failed || echoed != i;
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips; ++warm_up)
    round_trip();
  paired.start();
  for (auto _ : state)
    round_trip();
  paired.report(state);
  while (!there->push(patchbay_bench::kPingPongStop))
    spin_pause();
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (failed) state.SkipWithError("the peer echoed a different value");
  state.SetLabel(std::string("round trip, uint64 elements, two queues, spinning, ") +
                 kThreadsPinnedLabel);
}

// A byte queue as large as the ring's stream (256 KiB); a message is `size` bytes pushed and
// popped in bulk, with no framing (both sides know the size), so the queue does less than the
// ring, which frames and aligns every record.
void spsc_queue_throughput(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const auto size = static_cast<std::size_t>(state.range(0));
  using Queue = boost::lockfree::spsc_queue<std::byte, boost::lockfree::capacity<kStreamCapacity>>;
  auto queue = std::make_unique<Queue>();
  std::atomic<bool> ready{false};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> done_ns{0};
  std::uint64_t messages = 0;
  std::uint64_t checksum = 0;
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  PeerThread peer(kFarCore, [&, size] {
    std::vector<std::byte> out(size);
    ready.store(true, std::memory_order_release);
    while (true) {
      std::size_t have = 0;
      while (have < size) {
        const std::size_t got = queue->pop(out.data() + have, size - have);
        have += got;
        if (got == 0) {
          // Acquire pairs with the producer's release of stop: everything pushed is visible.
          if (have == 0 && stop.load(std::memory_order_acquire) && queue->read_available() == 0) {
            done_ns.store(patchbay_bench::now_ns(), std::memory_order_release);
            return;
          }
          spin_pause();
        }
      }
      checksum += static_cast<std::uint8_t>(out.front());
      ++messages;
    }
  });
  std::vector<std::byte> message(size, std::byte{1});
  std::uint64_t sent = 0;
  while (!ready.load(std::memory_order_acquire))
    spin_pause();
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state) {
    std::size_t pushed = 0;
    while (pushed < size) {
      const std::size_t put = queue->push(message.data() + pushed, size - pushed);
      pushed += put;
      if (put == 0) spin_pause();
    }
    ++sent;
  }
  stop.store(true, std::memory_order_release);
  if (!peer.join()) state.SkipWithError("peer failed");
  const double took = static_cast<double>(done_ns.load(std::memory_order_acquire) - start) * 1e-9;
  state.counters["preemptions"] = preemptions.so_far();
  if (messages != sent || checksum != sent) state.SkipWithError("consumer saw a different stream");
  state.SetIterationTime(took);
  state.SetItemsProcessed(static_cast<std::int64_t>(sent));
  state.SetBytesProcessed(static_cast<std::int64_t>(sent * size));
  state.SetLabel(std::string("one way, 256 KiB byte queue, consumer copies out, spinning, ")
                     .append(kThreadsPinnedLabel));
}

// ---- pipes between two processes ----

class Pipe {
 public:
  Pipe() {
    if (pipe(fds_) != 0) throw std::runtime_error("pipe failed");
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  [[nodiscard]] int read_end() const { return fds_[0]; }
  [[nodiscard]] int write_end() const { return fds_[1]; }
  void close_read() { close_fd(fds_[0]); }
  void close_write() { close_fd(fds_[1]); }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fds_[2] = {-1, -1};
};

// Reads exactly `bytes`; false at end of file or on an error.
bool read_all(int fd, void* to, std::size_t bytes) {
  auto* p = static_cast<char*>(to);
  while (bytes > 0) {
    const ssize_t got = ::read(fd, p, bytes);
    if (got <= 0) return false;
    p += got;
    bytes -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const void* from, std::size_t bytes) {
  const auto* p = static_cast<const char*>(from);
  while (bytes > 0) {
    const ssize_t put = ::write(fd, p, bytes);
    if (put <= 0) return false;
    p += put;
    bytes -= static_cast<std::size_t>(put);
  }
  return true;
}

void pipe_ping_pong(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  Pipe there;
  Pipe back;
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [&there, &back] {
    there.close_write();  // or the read below never sees end of file
    back.close_read();
    std::uint64_t v = 0;
    while (read_all(there.read_end(), &v, sizeof v)) {
      if (!write_all(back.write_end(), &v, sizeof v)) throw std::runtime_error("write failed");
    }
  });
  there.close_read();
  back.close_write();
  std::uint64_t i = 0;
  bool failed = false;
  auto round_trip = [&] {
    ++i;
    std::uint64_t echoed = 0;
    failed = failed || !write_all(there.write_end(), &i, sizeof i) ||
             !read_all(back.read_end(), &echoed, sizeof echoed) || echoed != i;
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips && !failed; ++warm_up)
    round_trip();
  for (auto _ : state) {
    if (failed) break;
    round_trip();
  }
  there.close_write();  // the peer reads end of file and exits
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (failed) state.SkipWithError("the peer failed or echoed a different value");
  state.SetLabel(std::string("round trip, 8 bytes, two pipes, blocking read(), ") + kPinnedLabel);
}

// ---- ZeroMQ ipc:// PUSH/PULL between two processes ----

#if PATCHBAY_BENCH_HAVE_ZMQ
// Abstract-namespace socket names (Linux): nothing is created in the file system.
std::string zmq_address(const char* what) {
  return std::string("ipc://@patchbay-bench-")
      .append(std::to_string(getpid()))
      .append("-")
      .append(what);
}

zmq::socket_t zmq_socket(zmq::context_t& context, zmq::socket_type type) {
  zmq::socket_t socket(context, type);
  socket.set(zmq::sockopt::linger, 0);
  return socket;
}

void zmq_ipc_round_trip(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const std::string there_address = zmq_address("there");
  const std::string back_address = zmq_address("back");
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  // Each process makes its own context after the fork: a context owns I/O threads.
  Peer peer(kFarCore, [&there_address, &back_address] {
    zmq::context_t context;
    zmq::socket_t in = zmq_socket(context, zmq::socket_type::pull);
    zmq::socket_t out = zmq_socket(context, zmq::socket_type::push);
    in.connect(there_address);
    out.connect(back_address);
    while (true) {
      zmq::message_t message;
      if (!in.recv(message, zmq::recv_flags::none)) throw std::runtime_error("recv failed");
      if (message.size() == 0) return;  // the stop message
      out.send(message, zmq::send_flags::none);
    }
  });
  zmq::context_t context;
  zmq::socket_t there = zmq_socket(context, zmq::socket_type::push);
  zmq::socket_t back = zmq_socket(context, zmq::socket_type::pull);
  there.bind(there_address);
  back.bind(back_address);
  std::uint64_t i = 0;
  bool failed = false;
  auto round_trip = [&] {
    ++i;
    there.send(zmq::buffer(&i, sizeof i), zmq::send_flags::none);
    zmq::message_t echoed;
    std::uint64_t v = 0;
    if (!back.recv(echoed, zmq::recv_flags::none) || echoed.size() != sizeof v) {
      failed = true;
      return;
    }
    std::memcpy(&v, echoed.data(), sizeof v);
    failed = failed || v != i;
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips && !failed; ++warm_up)
    round_trip();
  for (auto _ : state) {
    if (failed) break;
    round_trip();
  }
  there.send(zmq::message_t(), zmq::send_flags::none);
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (failed) state.SkipWithError("the peer failed or echoed a different value");
  state.SetLabel(std::string("round trip, 8-byte messages, two PUSH/PULL pairs over ipc://, ") +
                 kPinnedLabel);
}

void zmq_ipc_throughput(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string address = zmq_address("stream");
  SharedMemory memory(sizeof(StreamResult) + 64);
  auto* result = memory.construct<StreamResult>();
  auto* done_ns = memory.construct<std::int64_t>(sizeof(StreamResult));
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [&address, result, done_ns, size] {
    zmq::context_t context;
    zmq::socket_t in = zmq_socket(context, zmq::socket_type::pull);
    in.connect(address);
    std::vector<std::byte> out(size);
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t checksum = 0;
    zmq::message_t message;
    // The first message only says the connection is up.
    if (!in.recv(message, zmq::recv_flags::none)) throw std::runtime_error("recv failed");
    std::atomic_ref<std::uint32_t>(result->ready).store(1, std::memory_order_release);
    while (true) {
      if (!in.recv(message, zmq::recv_flags::none)) throw std::runtime_error("recv failed");
      if (message.size() == 0) break;  // the stop message
      std::memcpy(out.data(), message.data(), message.size());
      checksum += static_cast<std::uint8_t>(out.front());
      bytes += message.size();
      ++messages;
    }
    *done_ns = patchbay_bench::now_ns();
    result->messages = messages;
    result->bytes = bytes;
    result->checksum = checksum;
  });
  zmq::context_t context;
  zmq::socket_t out = zmq_socket(context, zmq::socket_type::push);
  out.bind(address);
  out.send(zmq::buffer("up", 2), zmq::send_flags::none);
  while (std::atomic_ref<std::uint32_t>(result->ready).load(std::memory_order_acquire) == 0)
    spin_pause();
  std::vector<std::byte> message(size, std::byte{1});
  std::uint64_t sent = 0;
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state) {
    out.send(zmq::buffer(message), zmq::send_flags::none);
    ++sent;
  }
  out.send(zmq::message_t(), zmq::send_flags::none);
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (result->messages != sent || result->bytes != sent * size || result->checksum != sent)
    state.SkipWithError("consumer saw a different stream");
  state.SetIterationTime(static_cast<double>(*done_ns - start) * 1e-9);
  state.SetItemsProcessed(static_cast<std::int64_t>(sent));
  state.SetBytesProcessed(static_cast<std::int64_t>(sent * size));
  state.SetLabel(
      std::string("one way, PUSH/PULL over ipc://, consumer copies out, ").append(kPinnedLabel));
}
#endif

}  // namespace

// The same sizes for every throughput benchmark.
void sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("bytes");
  for (const std::int64_t size : kSizes)
    b->Arg(size);
}

BENCHMARK(two_atomic_ping_pong<Peer>)
    ->Name("two_atomic_ping_pong")
    ->ArgName("pauses")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->UseRealTime();
BENCHMARK(two_atomic_ping_pong<PeerThread>)
    ->Name("two_atomic_ping_pong_threads")
    ->ArgName("pauses")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->UseRealTime();
BENCHMARK(futex_ping_pong)->ArgName("think_us")->Arg(0)->Arg(1000)->UseRealTime();
BENCHMARK(pipe_ping_pong)->UseRealTime();
#if PATCHBAY_BENCH_HAVE_ZMQ
BENCHMARK(zmq_ipc_round_trip)->UseRealTime();
#endif
BENCHMARK(ring_round_trip<Peer>)->Name("ring_round_trip")->UseRealTime();
BENCHMARK(ring_round_trip<Peer, FixedRing>)->Name("ring_round_trip/fixed")->UseRealTime();
BENCHMARK(ring_round_trip<PeerThread>)->Name("ring_round_trip_threads")->UseRealTime();
BENCHMARK(spsc_queue_round_trip)->UseRealTime();
BENCHMARK(fiber_switch);
BENCHMARK(ring_round_trip_fibers);
BENCHMARK(ring_throughput<>)->Name("ring_throughput")->Apply(sizes)->UseManualTime();
BENCHMARK(ring_throughput<FixedRing>)
    ->Name("ring_throughput/fixed")
    ->ArgName("bytes")
    ->Arg(8)
    ->Arg(64)
    ->UseManualTime();
BENCHMARK(ring_throughput<VariableRing, true>)
    ->Name("ring_throughput/in_place")
    ->Apply(sizes)
    ->UseManualTime();
BENCHMARK(bare_batched_ring<false>)->Name("bare_batched_ring")->Apply(sizes)->UseManualTime();
BENCHMARK(bare_batched_ring<true>)
    ->Name("bare_batched_ring/in_place")
    ->Apply(sizes)
    ->UseManualTime();
BENCHMARK(spsc_queue_throughput)->Apply(sizes)->UseManualTime();
#if PATCHBAY_BENCH_HAVE_ZMQ
BENCHMARK(zmq_ipc_throughput)->Apply(sizes)->UseManualTime();
#endif
BENCHMARK(memcpy_bandwidth)->Apply(sizes);

BENCHMARK_MAIN();
