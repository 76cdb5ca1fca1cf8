#include "serve/host_port.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>
#include <typeinfo>

#include "core/port_access.hpp"
#include "core/text.hpp"
#include "core/value_scratch.hpp"
#include "shm/atomic.hpp"
#include "shm/counters.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"

namespace patchbay::detail {

namespace {

// Polls a host thread makes before it sleeps, in adaptive mode (as a worker's waiter).
constexpr unsigned host_adaptive_spins = 4096;
// Longest single sleep, so that a lost wake costs at most this much.
constexpr auto host_longest_sleep = std::chrono::milliseconds(20);

}  // namespace

// A Value converted to a port's type (arithmetic, string: the types with a Value form; Value
// itself needs no conversion).
class HostPort::Converted {
 public:
  const void* from(const Value& value, const HostPort& port) {
    const PortType& type = port.type();
    const void* storage = scratch_.assign(value, type);
    if (storage == nullptr) {
      throw Error(std::string(port.inbound() ? "ingress " : "egress ") + quote(port.component()) +
                  ": value " + quote(value.to_string()) + " (" +
                  std::string(kind_name(value.kind())) + ") does not fit its type " + type.name);
    }
    return storage;
  }

 private:
  ValueScratch scratch_;
};

HostPort::HostPort(HostPortSetup setup)
    : setup_(std::move(setup)),
      ring_(channel::attach_ring(setup_.memory)),
      control_(host_control_at(setup_.memory, setup_.capacity)),
      component_(*setup_.worker, true),
      codec_(PortAccess::codec(*setup_.port)) {}

void HostPort::claim(Use use) {
  const auto wanted = static_cast<std::uint8_t>(1 + static_cast<unsigned>(use));
  std::uint8_t current = 0;
  if (use_.compare_exchange_strong(current, wanted) || (current == wanted && use == Use::shared)) {
    return;
  }
  const std::string kind = setup_.inbound ? "ingress " : "egress ";
  throw Error(kind + quote(setup_.component) +
              (current == 1 + static_cast<unsigned>(Use::client)
                   ? " belongs to a Client: no other handle may use it"
                   : " has handles already: a Client needs its ports for itself"));
}

void HostPort::release(Use use) noexcept {
  auto held = static_cast<std::uint8_t>(1 + static_cast<unsigned>(use));
  (void)use_.compare_exchange_strong(held, 0);
}

bool HostPort::wait_for_end(std::int64_t timeout_ns) {
  const std::int64_t deadline = steady_now_ns() + timeout_ns;
  const ChannelOp op = wait_for(
      [&]() -> std::optional<ChannelOp> {
        if (ended_.load(std::memory_order_acquire)) return ChannelOp::closed;
        return std::nullopt;
      },
      deadline, WaitMode::block);  // the end of a run is not worth spinning for
  return op == ChannelOp::closed;
}

bool HostPort::lock(std::int64_t deadline_ns) {
  if (deadline_ns < 0) {
    mutex_.lock();
    return true;
  }
  if (mutex_.try_lock()) return true;
  const std::int64_t left = deadline_ns - steady_now_ns();
  return left > 0 && mutex_.try_lock_for(std::chrono::nanoseconds(left));
}

// Runs `attempt` until it gives an outcome, between tries polling (as the process's wait mode
// says) and then sleeping on the control block's sequence, which the component's side bumps
// after each record when someone sleeps (HostWaker), and end() bumps too.
template <class Try>
ChannelOp HostPort::wait_for(Try&& attempt, std::int64_t deadline_ns, WaitMode mode) {
  auto expired = [&] { return deadline_ns >= 0 && steady_now_ns() >= deadline_ns; };
  const unsigned spins = mode == WaitMode::spin       ? UINT_MAX
                         : mode == WaitMode::adaptive ? host_adaptive_spins
                                                      : 0;
  for (unsigned i = 0; i < spins; ++i) {
    if (const auto outcome = attempt()) return *outcome;
    // A clock read every 64 polls: a poll is a few nanoseconds, the clock 25.
    if ((i & 63) == 63 && expired()) return ChannelOp::timeout;
    spin_pause();
  }
  while (true) {
    fetch_add_seq_cst(control_.sleepers, 1);
    const std::uint32_t seen = load_seq_cst(control_.sequence);
    if (const auto outcome = attempt()) {
      fetch_add_seq_cst(control_.sleepers, static_cast<std::uint32_t>(-1));
      return *outcome;
    }
    std::chrono::nanoseconds sleep = host_longest_sleep;
    if (deadline_ns >= 0) {
      const std::int64_t left = deadline_ns - steady_now_ns();
      if (left <= 0) {
        fetch_add_seq_cst(control_.sleepers, static_cast<std::uint32_t>(-1));
        return ChannelOp::timeout;
      }
      sleep = std::min(sleep, std::chrono::nanoseconds(left));
    }
    futex_wait(&control_.sequence, seen, sleep);
    fetch_add_seq_cst(control_.sleepers, static_cast<std::uint32_t>(-1));
  }
}

std::optional<ChannelOp> HostPort::try_push(const void* value,
                                            const std::function<void()>& before) {
  if (ended_.load(std::memory_order_acquire)) return ChannelOp::closed;
  std::uint32_t expected = 0;
  if (!compare_exchange_acq_rel(control_.state, expected, host_writing)) return ChannelOp::closed;
  // Released once the record is out (or not written): a drain's close waits for it.
  struct Leave {
    std::uint32_t& state;
    ~Leave() { store_release(state, 0); }
  } leave{control_.state};
  const channel::RingBase& base = channel::base_of(ring_);
  if (load_acquire(*setup_.drain_word) != 0 || base.reader_closed()) return ChannelOp::closed;
  bool written = false;
  if (auto* fixed = std::get_if<channel::FixedRing>(&ring_)) {
    written = fixed->try_write([&](std::byte* slot) {
      codec_.encode(value, slot);
      if (before) before();
    });
  } else {
    auto& ring = std::get<channel::VariableRing>(ring_);
    const std::size_t size = codec_.encoded_size(value);
    if (size > ring.max_payload()) {
      throw Error("ingress " + quote(setup_.component) + ": a message of " + std::to_string(size) +
                  " bytes does not fit its channel (at most " + std::to_string(ring.max_payload()) +
                  " bytes with capacity " + std::to_string(ring.capacity()) +
                  "); raise the ingress's capacity");
    }
    const std::span<std::byte> slot = ring.try_reserve(size);
    if (slot.data() != nullptr) {
      codec_.encode(value, slot.data());
      if (before) before();
      ring.commit(size);
      written = true;
    }
  }
  if (!written) return std::nullopt;
  component_.notify();
  if (setup_.counters != nullptr) {  // host threads push one at a time, under the lock
    count(setup_.counters->messages);
    count(setup_.counters->bytes, codec_.encoded_size(value));
  }
  return ChannelOp::success;
}

ChannelOp HostPort::push(const void* value, const PortType& type, std::int64_t timeout_ns,
                         const std::function<void()>& before_publish) {
  // A Value for a port of another type: converted here, before the lock.
  Converted converted;
  if (!type.same_as(this->type())) value = converted.from(*static_cast<const Value*>(value), *this);
  const std::int64_t deadline = timeout_ns < 0 ? -1 : steady_now_ns() + timeout_ns;
  if (!lock(timeout_ns == 0 ? 0 : deadline)) return ChannelOp::timeout;
  std::lock_guard guard(mutex_, std::adopt_lock);
  if (timeout_ns == 0) return try_push(value, before_publish).value_or(ChannelOp::full);
  return wait_for([&] { return try_push(value, before_publish); }, deadline, setup_.wait);
}

std::optional<ChannelOp> HostPort::try_take(void* value, bool to_value, Failed& failed) {
  auto decode = [&](const std::byte* data, std::size_t size) {
    if (to_value) {
      *static_cast<Value*>(value) = codec_.decode_value(data, size);
    } else {
      codec_.decode(data, size, value);
    }
  };
  bool taken = false;
  if (auto* fixed = std::get_if<channel::FixedRing>(&ring_)) {
    taken = fixed->try_read([&](const std::byte* record) { decode(record, fixed->record_size()); });
  } else {
    auto& ring = std::get<channel::VariableRing>(ring_);
    if (const auto record = ring.try_read()) {
      if (ring.front_kind() == channel::RecordKind::error) [[unlikely]] {
        // The component's name, a zero byte, the message (ComponentRunner::write_error).
        const std::string_view text(reinterpret_cast<const char*>(record->data()), record->size());
        const std::size_t zero = text.find('\0');
        failed.failed = true;
        failed.component = text.substr(0, zero);
        failed.message =
            zero == std::string_view::npos ? std::string_view() : text.substr(zero + 1);
      } else {
        decode(record->data(), record->size());
      }
      ring.pop();
      taken = true;
    }
  }
  if (taken) {
    component_.notify();
    return ChannelOp::success;
  }
  // drained() reads `closed` before emptiness: a record published before the close is taken.
  if (channel::base_of(ring_).drained()) return ChannelOp::closed;
  // The run ended without the egress closing its ring (a worker died, or a stop): what is in
  // the ring was taken above; nothing more will come.
  if (ended_.load(std::memory_order_acquire) && channel::base_of(ring_).pending() == 0) {
    return ChannelOp::closed;
  }
  return std::nullopt;
}

ChannelOp HostPort::take(void* value, const PortType& type, std::int64_t timeout_ns,
                         Failed& failed) {
  const bool to_value = !type.same_as(this->type());
  const std::int64_t deadline = timeout_ns < 0 ? -1 : steady_now_ns() + timeout_ns;
  if (!lock(timeout_ns == 0 ? 0 : deadline)) return ChannelOp::timeout;
  std::lock_guard guard(mutex_, std::adopt_lock);
  if (timeout_ns == 0) return try_take(value, to_value, failed).value_or(ChannelOp::empty);
  return wait_for([&] { return try_take(value, to_value, failed); }, deadline, setup_.wait);
}

void HostPort::close() {
  std::lock_guard guard(mutex_);
  std::uint32_t expected = 0;
  // Under the mutex no host thread writes: the state is 0, or closed already by a drain.
  (void)compare_exchange_acq_rel(control_.state, expected, host_closed);
  channel::base_of(ring_).close();
  component_.notify();
}

void HostPort::end(const std::string& reason) noexcept {
  {
    std::lock_guard guard(reason_mutex_);
    if (ended_.load(std::memory_order_relaxed)) return;
    try {
      end_reason_ = reason;
    } catch (...) {
      end_reason_.clear();  // out of memory: the reply's error says less
    }
    ended_.store(true, std::memory_order_release);
  }
  fetch_add_seq_cst(control_.sequence, 1);
  futex_wake_all(&control_.sequence);
}

std::string HostPort::end_reason() const {
  std::lock_guard guard(reason_mutex_);
  return end_reason_;
}

std::string HostPort::reply_mismatch(const std::string& ingress) const {
  for (const auto& [name, why] : setup_.replies) {
    if (name == ingress) return why;
  }
  return "it is not downstream of it";
}

std::string run_end_reason(const std::optional<Failure>& failure, bool stopped) {
  if (failure) {
    return "the run failed: " +
           (failure->component.empty() ? std::string()
                                       : "component " + quote(failure->component) + ": ") +
           failure->message;
  }
  return stopped ? "the process was stopped" : "the run ended";
}

std::shared_ptr<HostPort> HostPorts::find(std::string_view component) const {
  for (const auto& port : ports_) {
    if (port->component() == component) return port;
  }
  return nullptr;
}

void HostPorts::end_all(const std::string& reason) noexcept {
  for (const auto& port : ports_)
    port->end(reason);
}

// ---- the handles' entry points (include/patchbay/serve.hpp) ----

ChannelOp host_push(HostPort& port, const void* value, const PortType& type,
                    std::int64_t timeout_ns) {
  return port.push(value, type, timeout_ns);
}

ChannelOp host_take(HostPort& port, void* value, const PortType& type, std::int64_t timeout_ns) {
  HostPort::Failed failed;
  const ChannelOp op = port.take(value, type, timeout_ns, failed);
  if (failed.failed) throw RequestError(std::move(failed.component), failed.message);
  return op;
}

void host_close(HostPort& port) {
  port.close();
}

const std::string& host_component(const HostPort& port) {
  return port.component();
}

std::shared_ptr<HostPort> open_host_port(std::shared_ptr<HostPort> port, std::string_view name,
                                         const PortType& type, bool inbound, bool client) {
  const char* kind = inbound ? "Ingress" : "Egress";
  if (port == nullptr || port->inbound() != inbound) {
    throw Error("no " + std::string(kind) + " component named " + quote(name) + " in the model");
  }
  // A Value handle converts to and from the port's type, where that type has a Value form.
  const PortCodec& codec = PortAccess::codec(port->type());
  const bool converts = type.is_dynamic && (inbound ? codec.assign_from_value != nullptr
                                                    : codec.decode_value != nullptr);
  if (!port->type().same_as(type) && !converts) {
    throw Error(std::string(kind) + " " + quote(name) + " carries " + port->type().name + ", not " +
                type.name);
  }
  // A Client claims its ports once it has checked the pair (make_client_core()).
  if (!client) port->claim(HostPort::Use::shared);
  return port;
}

}  // namespace patchbay::detail

namespace patchbay {

RequestError::RequestError(std::string component, const std::string& message)
    : ReplyError("the request failed in component " + detail::quote(component) + ": " + message),
      component_(std::move(component)) {}

std::string_view to_string(ChannelOp op) {
  switch (op) {
    case ChannelOp::success:
      return "success";
    case ChannelOp::full:
      return "full";
    case ChannelOp::empty:
      return "empty";
    case ChannelOp::timeout:
      return "timeout";
    case ChannelOp::closed:
      return "closed";
  }
  return "unknown";
}

}  // namespace patchbay
