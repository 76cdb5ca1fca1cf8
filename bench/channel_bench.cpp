// The limits of moving data between two processes, and how close the raw patchbay ring gets.
//
// Every cross-process benchmark forks a peer: the timed side runs pinned to core 0, the peer
// to core 1, and they talk through an anonymous MAP_SHARED mapping made before the fork.
//
//   two_atomic_ping_pong/pause:P   two cache-line-separated std::atomic<uint64_t> flags: the
//                                  cache-line round trip, the floor for any spinning channel
//                                  (P=1: a pause instruction in the spin loops, as the ring
//                                  loops below and the engine's spin loop have)
//   futex_ping_pong/think_us:T     both sides sleep in FUTEX_WAIT between messages: the floor
//                                  for a channel whose consumer sleeps. T>0: each side first
//                                  holds its core T us; `excess_ns` is the round trip without it
//   ring_round_trip                8-byte records through two patchbay::channel::Ring, spinning
//   ring_throughput/bytes:N        one-way stream of N-byte records; the peer copies each out
//   memcpy_bandwidth/bytes:N       memcpy of N bytes in one process, the bandwidth baseline
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "channel/ring.hpp"
#include "cross_process.hpp"

namespace {

using patchbay::channel::Ring;
using patchbay_bench::cpu_relax;
using patchbay_bench::kFarCore;
using patchbay_bench::kNearCore;
using patchbay_bench::Peer;
using patchbay_bench::PinnedToCore;
using patchbay_bench::SharedMemory;

constexpr const char* kPinnedLabel = "processes pinned to cores 0 and 1";

bool skip_without_two_cores(benchmark::State& state) {
  if (patchbay_bench::has_two_cores()) return false;
  state.SkipWithError("needs cores 0 and 1");
  return true;
}

// ---- two-atomic ping-pong ----

// Each flag on its own cache line: one line moves per message, which is the whole cost.
struct alignas(64) Flag {
  std::atomic<std::uint64_t> value{0};
};
struct Flags {
  Flag ping;  // written by the timed side
  Flag pong;  // written by the peer
};
static_assert(sizeof(Flags) == 128);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);  // address-free across processes

constexpr std::uint64_t kStop = ~std::uint64_t{0};
// Untimed round trips first: the peer is scheduled, pinned and has its pages mapped.
constexpr std::uint32_t kWarmUpRoundTrips = 1000;

void two_atomic_ping_pong(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const bool pause = state.range(0) != 0;
  SharedMemory memory(sizeof(Flags));
  Flags* flags = memory.construct<Flags>();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [flags, pause] {
    std::uint64_t seen = 0;
    while (true) {
      std::uint64_t v;
      // Acquire/release pairs with the other side's store: nothing else is published, but the
      // orders are those a real channel needs, so the baseline pays what a channel must.
      while ((v = flags->ping.value.load(std::memory_order_acquire)) == seen) {
        if (pause) cpu_relax();
      }
      if (v == kStop) return;
      seen = v;
      flags->pong.value.store(v, std::memory_order_release);
    }
  });
  std::uint64_t i = 0;
  auto round_trip = [&] {
    flags->ping.value.store(++i, std::memory_order_release);
    while (flags->pong.value.load(std::memory_order_acquire) != i) {
      if (pause) cpu_relax();
    }
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips; ++warm_up)
    round_trip();
  for (auto _ : state)
    round_trip();
  flags->ping.value.store(kStop, std::memory_order_release);
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  state.SetLabel(std::string("round trip, ") + (pause ? "pause in spin loop, " : "busy loop, ") +
                 kPinnedLabel);
}

// ---- futex ping-pong ----

struct alignas(64) Word {
  std::uint32_t value = 0;
};
struct FutexWords {
  Word ping;                                   // written by the timed side
  Word pong;                                   // written by the peer
  alignas(64) std::int64_t peer_think_ns = 0;  // the peer's total, read after join()
};

std::atomic_ref<std::uint32_t> word(Word& w) {
  return std::atomic_ref<std::uint32_t>(w.value);
}

constexpr std::uint32_t kFutexStop = ~std::uint32_t{0};

void futex_ping_pong(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const std::int64_t think_ns = state.range(0) * 1000;
  SharedMemory memory(sizeof(FutexWords));
  FutexWords* words = memory.construct<FutexWords>();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  const std::uint32_t warm_up_round_trips = think_ns > 0 ? 2 : kWarmUpRoundTrips;
  Peer peer(kFarCore, [words, think_ns, warm_up_round_trips] {
    std::uint32_t seen = 0;
    std::int64_t thought = 0;
    while (true) {
      std::uint32_t v;
      // Acquire pairs with the timed side's release store of ping.
      while ((v = word(words->ping).load(std::memory_order_acquire)) == seen)
        patchbay_bench::futex_wait(&words->ping.value, seen);
      if (v == kFutexStop) break;
      seen = v;
      if (think_ns > 0) {
        const std::int64_t took = patchbay_bench::busy_for(think_ns);
        if (v > warm_up_round_trips) thought += took;  // only the timed round trips count
      }
      word(words->pong).store(v, std::memory_order_release);
      patchbay_bench::futex_wake(&words->pong.value);
    }
    words->peer_think_ns = thought;  // read after join()
  });
  std::uint32_t i = 0;
  std::int64_t thought = 0;
  auto round_trip = [&] {
    if (think_ns > 0) thought += patchbay_bench::busy_for(think_ns);
    word(words->ping).store(++i, std::memory_order_release);
    patchbay_bench::futex_wake(&words->ping.value);
    std::uint32_t v;
    while ((v = word(words->pong).load(std::memory_order_acquire)) != i)
      patchbay_bench::futex_wait(&words->pong.value, v);
  };
  for (std::uint32_t warm_up = 0; warm_up < warm_up_round_trips; ++warm_up)
    round_trip();
  thought = 0;
  const std::int64_t start = patchbay_bench::now_ns();
  for (auto _ : state)
    round_trip();
  const std::int64_t took = patchbay_bench::now_ns() - start;
  word(words->ping).store(kFutexStop, std::memory_order_release);
  patchbay_bench::futex_wake(&words->ping.value);
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
  static std::size_t size(std::size_t capacity) { return 64 + 2 * Ring::bytes_required(capacity); }
  static std::size_t first(std::size_t) { return 64; }
  static std::size_t second(std::size_t capacity) { return 64 + Ring::bytes_required(capacity); }
};
static_assert(sizeof(patchbay::channel::RingHeader) % 64 == 0);

// Spins until the record is in; false when the consumer stopped reading (it ended or failed).
bool write_spinning(Ring& ring, std::span<const std::byte> payload) {
  while (!ring.try_write(payload)) {
    if (ring.reader_closed()) return false;
    cpu_relax();
  }
  return true;
}

// Spins until a record arrives; nullopt once the producer closed and nothing is left.
std::optional<std::span<const std::byte>> read_spinning(Ring& ring) {
  while (true) {
    if (auto record = ring.try_read()) return record;
    // closed()'s acquire makes every record committed before close() visible to try_read.
    if (ring.closed()) return ring.try_read();
    cpu_relax();
  }
}

void ring_round_trip(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  SharedMemory memory(RingPairLayout::size(kRoundTripCapacity));
  Ring there =
      Ring::create(memory.bytes() + RingPairLayout::first(kRoundTripCapacity), kRoundTripCapacity);
  Ring back =
      Ring::create(memory.bytes() + RingPairLayout::second(kRoundTripCapacity), kRoundTripCapacity);
  std::byte* base = memory.bytes();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [base] {
    Ring in = Ring::attach(base + RingPairLayout::first(kRoundTripCapacity));
    Ring out = Ring::attach(base + RingPairLayout::second(kRoundTripCapacity));
    std::array<std::byte, 8> value{};
    try {
      while (const auto record = read_spinning(in)) {
        std::memcpy(value.data(), record->data(), value.size());
        in.release();
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
    back.release();
    failed = failed || echoed != i;
  };
  for (std::uint32_t warm_up = 0; warm_up < kWarmUpRoundTrips && !failed; ++warm_up)
    round_trip();
  for (auto _ : state) {
    if (failed) break;
    round_trip();
  }
  there.close();
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (failed) state.SkipWithError("the peer failed or echoed a different value");
  state.SetLabel(std::string("round trip, 8-byte records, two rings, spinning, ") + kPinnedLabel);
}

struct alignas(64) StreamResult {
  std::uint32_t ready = 0;  // set by the consumer once it is polling
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
};

void ring_throughput(benchmark::State& state) {
  if (skip_without_two_cores(state)) return;
  const auto size = static_cast<std::size_t>(state.range(0));
  SharedMemory memory(64 + Ring::bytes_required(kStreamCapacity));
  auto* result = memory.construct<StreamResult>();
  Ring ring = Ring::create(memory.bytes() + 64, kStreamCapacity);
  std::byte* base = memory.bytes();
  const patchbay_bench::PreemptionCount preemptions;
  PinnedToCore pinned(kNearCore);
  Peer peer(kFarCore, [base, result, size] {
    Ring in = Ring::attach(base + 64);
    // The consumer copies every record out, as the engine does when it decodes into a port.
    std::vector<std::byte> out(size);
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t checksum = 0;
    std::atomic_ref<std::uint32_t>(result->ready).store(1, std::memory_order_release);
    try {
      while (const auto record = read_spinning(in)) {
        std::memcpy(out.data(), record->data(), record->size());
        checksum += static_cast<std::uint8_t>(out.front());
        bytes += record->size();
        ++messages;
        in.release();
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
  while (std::atomic_ref<std::uint32_t>(result->ready).load(std::memory_order_acquire) == 0)
    cpu_relax();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (!write_spinning(ring, message)) break;
    ++sent;
  }
  // The stream is done when the consumer has released everything, not when the last write went
  // in; at most a ring's worth, but with 64 KiB records that is a few messages out of thousands.
  while (!ring.empty() && !ring.reader_closed())
    cpu_relax();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  ring.close();
  if (!peer.join()) state.SkipWithError("peer failed");
  state.counters["preemptions"] = preemptions.so_far();
  if (result->messages != sent || result->bytes != sent * size || result->checksum != sent)
    state.SkipWithError("consumer saw a different stream");
  state.SetIterationTime(took.count());
  state.SetItemsProcessed(static_cast<std::int64_t>(sent));
  state.SetBytesProcessed(static_cast<std::int64_t>(sent * size));
  state.SetLabel(
      std::string("one way, 256 KiB ring, consumer copies out, spinning, ").append(kPinnedLabel));
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

constexpr std::array<std::int64_t, 4> kSizes = {8, 64, 1024, 64 * 1024};

}  // namespace

BENCHMARK(two_atomic_ping_pong)->ArgName("pause")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(futex_ping_pong)->ArgName("think_us")->Arg(0)->Arg(1000)->UseRealTime();
BENCHMARK(ring_round_trip)->UseRealTime();
BENCHMARK(ring_throughput)
    ->ArgName("bytes")
    ->Arg(kSizes[0])
    ->Arg(kSizes[1])
    ->Arg(kSizes[2])
    ->Arg(kSizes[3])
    ->UseManualTime();
BENCHMARK(memcpy_bandwidth)
    ->ArgName("bytes")
    ->Arg(kSizes[0])
    ->Arg(kSizes[1])
    ->Arg(kSizes[2])
    ->Arg(kSizes[3]);

BENCHMARK_MAIN();
