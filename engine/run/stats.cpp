#include "run/stats.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "shm/atomic.hpp"

namespace patchbay::detail {

namespace {

bool invariant_tsc() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  // CPUID 0x80000007, EDX bit 8: the TSC ticks at a constant rate in every power state, and
  // the kernel keeps it in step across cores.
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1U << 8)) != 0;
#else
  return false;
#endif
}

// A point on both clocks, taken when the library is loaded; forked workers inherit it, which is
// right because the TSC is one counter for the whole machine.
struct TickOrigin {
  std::uint64_t ticks;
  std::int64_t ns;
};

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
const bool ticks_are_tsc = invariant_tsc();
#endif

namespace {
const TickOrigin tick_origin{ticks_now(), steady_now_ns()};
}  // namespace

std::uint64_t ticks_to_ns(std::uint64_t ticks) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  if (!ticks_are_tsc) return ticks;
  // The rate is measured over everything since the library was loaded, so it is as exact as
  // the counters it converts are long (a counter never exceeds that span). Wait out the first
  // microseconds, where two clock reads would not yet give a rate.
  std::uint64_t t = 0;
  std::int64_t ns = 0;
  do {
    t = ticks_now();
    ns = steady_now_ns();
  } while (ns - tick_origin.ns < 10'000);
  const double per_tick =
      static_cast<double>(ns - tick_origin.ns) / static_cast<double>(t - tick_origin.ticks);
  return static_cast<std::uint64_t>(static_cast<double>(ticks) * per_tick);
#else
  return ticks;
#endif
}

ComponentStats snapshot(const Component& component, Status status, const ComponentCounters& k) {
  ComponentStats s;
  s.name = component.name();
  s.type = component.type_name();
  s.status = status;
  s.steps = load_relaxed(k.steps);
  s.messages_in = load_relaxed(k.messages_in);
  s.messages_out = load_relaxed(k.messages_out);
  s.bytes_in = load_relaxed(k.bytes_in);
  s.bytes_out = load_relaxed(k.bytes_out);
  s.failed_steps = load_relaxed(k.failed_steps);
  s.time_in_step = std::chrono::nanoseconds(ticks_to_ns(load_relaxed(k.run_ticks)));
  s.time_waiting = std::chrono::nanoseconds(ticks_to_ns(load_relaxed(k.wait_ticks)));
  return s;
}

ChannelStats snapshot(const Wire& wire, const ChannelCounters& k) {
  ChannelStats s;
  s.source = wire.source->owner().name() + "." + wire.source->name();
  s.target = wire.target->owner().name() + "." + wire.target->name();
  if (wire.source == wire.target) {  // a host wire (Wiring::host_wires): one end is the host
    (host_inbound(wire) ? s.source : s.target) = "host";
  }
  s.capacity = wire.capacity;
  s.messages = load_relaxed(k.messages);
  s.bytes = load_relaxed(k.bytes);
  s.times_full = load_relaxed(k.times_full);
  s.times_empty = load_relaxed(k.times_empty);
  return s;
}

}  // namespace patchbay::detail
