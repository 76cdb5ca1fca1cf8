#include "run/component_runner.hpp"

#include <patchbay/event.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string_view>

#include "core/component_access.hpp"
#include "core/port_access.hpp"
#include "serve/host_ring.hpp"
#include "shm/arena.hpp"
#include "shm/atomic.hpp"
#include "shm/spin.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace patchbay::detail {

namespace {

// Copies a value of a fixed-size type to or from a ring of fixed-size records: the common
// sizes as single moves, instead of a call to memcpy or through the port type's codec.
inline void copy_fixed(void* to, const void* from, std::size_t size) {
  // Branches, not a switch: a jump table is an indirect jump on the message's path.
  if (size == 8) {
    std::memcpy(to, from, 8);
  } else if (size == 4) {
    std::memcpy(to, from, 4);
  } else if (size == 16) {
    std::memcpy(to, from, 16);
  } else {
    std::memcpy(to, from, size);
  }
}

}  // namespace

[[gnu::always_inline]] inline void ComponentRunner::clock_parked() {
  if (clock_.time_this_park()) clock_.parked(ticks_now());
}

[[gnu::always_inline]] inline void ComponentRunner::clock_resumed() {
  if (clock_.time_this_resume()) clock_.resumed(ticks_now());
}

// The path of almost every message: a field with one channel, of fixed-size records of the
// port's own type. It is inlined into the loops that look for messages and into send_all(),
// with no codec: between a message's arrival and the reply leaving, every call and indirect
// jump shows in the round trip between workers (see BENCHMARKS.md).
[[gnu::always_inline]] inline bool ComponentRunner::take_fixed(InputField& field, ChannelEnd& end) {
  // The field's wiring chose this end's format; only its format's code runs here.
  channel::FixedRing& ring = *end.fixed();
  const std::size_t size = ring.record_size();
  void* to = PortAccess::storage(*field.port);
  if (!ring.try_read([&](const std::byte* record) { copy_fixed(to, record, size); })) return false;
  end.peer->notify();
  ++tally_.messages_in;
  tally_.bytes_in += size;
  return true;
}

// A closed reader or a full ring take the general path, write().
[[gnu::always_inline]] inline bool ComponentRunner::write_fixed(OutputField& field) {
  ChannelEnd& end = field.channels.front();
  channel::FixedRing& ring = *end.fixed();
  const std::size_t size = ring.record_size();
  const void* from = PortAccess::storage(*field.port);
  if (!ring.reader_closed() &&
      ring.try_write([&](std::byte* slot) { copy_fixed(slot, from, size); })) {
    end.peer->notify();
    ++end.sent;
    end.sent_bytes += size;
    ++tally_.messages_out;
    tally_.bytes_out += size;
    return true;
  }
  return write(end, field.full.front(), size, *field.port, false);
}

ComponentRunner::ComponentRunner(Component& component, RunState& state, Parker& parker,
                                 ComponentCounters& counters)
    : component_(component),
      state_(state),
      parker_(parker),
      counters_(counters),
      router_(router_of(component)) {
  static const std::string events = "events";
  const auto ports_in = component.inputs();
  for (std::size_t i = 0; i < ports_in.size(); ++i) {
    auto& list = ports_in[i]->is_event() ? event_inputs_ : inputs_;
    input_slot_.push_back(list.size());
    InputField& field = list.emplace_back();
    field.port = ports_in[i];
    field.port_index = i;
    field.empty = {WaitReason::Kind::input, &field.port->name(), false};
    field.in_place = PortAccess::in_place(*field.port);
    in_place_inputs_ |= field.in_place;
    if (auto it = component.initial_values().find(field.port->name());
        it != component.initial_values().end()) {
      field.initial.assign(it->second.begin(), it->second.end());
    }
  }
  const auto ports_out = component.outputs();
  for (std::size_t i = 0; i < ports_out.size(); ++i) {
    auto& list = ports_out[i]->is_event() ? event_outputs_ : outputs_;
    output_slot_.push_back(list.size());
    OutputField& field = list.emplace_back();
    field.port = ports_out[i];
    field.port_index = i;
    field.in_place = PortAccess::in_place(*field.port);
    if (field.in_place) {
      in_place_outputs_ = true;
      static_cast<OutBuffer*>(PortAccess::storage(*field.port))->hooks = {this, &loan_hook,
                                                                          &commit_hook};
    }
  }
  event_driven_ = inputs_.empty() && !event_inputs_.empty();
  events_empty_ = {WaitReason::Kind::events, &events, false};
  ComponentAccess::set_stop_probe(
      component_,
      [](const void* run) noexcept { return static_cast<const RunState*>(run)->stopping(); },
      &state_);
}

ComponentRunner::~ComponentRunner() {
  for (const OutputField& field : outputs_) {
    if (field.in_place) static_cast<OutBuffer*>(PortAccess::storage(*field.port))->hooks = {};
  }
}

void ComponentRunner::add_input(std::size_t port_index, ChannelEnd end) {
  end.converts = !end.wire->source->type().same_as(end.wire->target->type());
  serves_ |= end.host != nullptr || end.wire->errors != WireErrors::none;
  InputField& field =
      (component_.inputs()[port_index]->is_event() ? event_inputs_
                                                   : inputs_)[input_slot_.at(port_index)];
  field.remote |= end.remote;
  events_empty_.remote |= field.port->is_event() && end.remote;
  field.host_fed |= end.host != nullptr;
  field.single_fixed = field.channels.empty() && end.fixed() != nullptr && router_ == nullptr;
  field.empty = {WaitReason::Kind::input, &field.port->name(), field.remote};
  field.channels.push_back(end);
}

void ComponentRunner::add_output(std::size_t port_index, ChannelEnd end) {
  OutputField& field =
      (component_.outputs()[port_index]->is_event() ? event_outputs_
                                                    : outputs_)[output_slot_.at(port_index)];
  field.single_fixed = field.channels.empty() && end.fixed() != nullptr && router_ == nullptr;
  field.full.push_back({WaitReason::Kind::output, &end.wire->label, end.remote});
  field.channels.push_back(end);
}

void ComponentRunner::set_status(Status status) noexcept {
  ComponentAccess::set_status(component_, status);
  if (status_mirror_ != nullptr) {
    // Relaxed: the supervisor only reports it; the worker's exit orders the final value.
    store_relaxed(*status_mirror_, static_cast<std::uint32_t>(status));
  }
}

void ComponentRunner::forget_unwound_frames() const noexcept {
#if defined(__SANITIZE_ADDRESS__)
  // The frames an exception unwound on a fiber stack keep their poison (ASan only cleans
  // stacks it knows); clear everything below this frame before it is reused.
  if (stack_lowest_ == nullptr) return;
  const char here = 0;
  const char* low = static_cast<const char*>(stack_lowest_);
  if (&here > low) ASAN_UNPOISON_MEMORY_REGION(low, static_cast<std::size_t>(&here - low));
#endif
}

template <class Body>
void ComponentRunner::guarded(Body&& body) noexcept {
  try {
    body();
  } catch (const Stopped&) {
    forget_unwound_frames();
    final_status_ = Status::stopped;
  } catch (const std::exception& e) {
    forget_unwound_frames();
    final_status_ = Status::failed;
    state_.fail({FailureKind::component, component_.name(), component_.type_name(), e.what()});
  } catch (...) {
    forget_unwound_frames();
    final_status_ = Status::failed;
    state_.fail(
        {FailureKind::component, component_.name(), component_.type_name(), "unknown exception"});
  }
}

bool ComponentRunner::initialize() noexcept {
  guarded([this] {
    set_status(Status::init);
    check_stop();
    component_.init();
    set_status(Status::running);
    initialized_ = true;
  });
  return initialized_;
}

void ComponentRunner::run() noexcept {
  if (initialized_) {
    clock_.start(ticks_now());
    guarded([this] {
      if (router_ != nullptr) {
        router_->role() == Router::Role::split ? route_split() : route_merge();
        return;
      }
      const bool source = inputs_.empty() && event_inputs_.empty();
      const bool events = !event_inputs_.empty() || !event_outputs_.empty();
      while (true) {
        check_stop();
        // drain(): a source ends here, between steps, as if it had closed; the others follow
        // once they have consumed what it sent.
        if (source && state_.drain_requested()) break;
        // An input closed or every reader gone because a stop is under way (its peers
        // stopped first) ends this component STOPPED too, as where it checks first.
        if (event_driven_) [[unlikely]] {
          if (!receive_event()) {
            check_stop();
            break;
          }
        } else if (!source && !receive_all()) {
          check_stop();
          break;
        }
        // What came before the step is handled before it.
        if (!event_inputs_.empty() && !event_driven_) [[unlikely]]
          (void)handle_events();
        if (serves_) [[unlikely]] {
          if (!request_failed_) request_failed_ = step_serving();
          if (in_place_inputs_) release_views();
          if (request_failed_) {
            request_failed_ = false;
            if (!send_failure()) {
              check_stop();
              break;
            }
            continue;
          }
        } else {
          step();
          if (in_place_inputs_) release_views();
        }
        if (component_.is_closed()) break;
        if (events) [[unlikely]]
          (void)publish_events();
        if (!send_all()) {
          check_stop();
          break;
        }
        if (component_.stop_published()) [[unlikely]] {
          published_stop();
          break;
        }
        // Fair stepping: a whole slice on the thread, and it lets the others step.
        if (slice_epoch_ != nullptr && load_relaxed(*slice_epoch_) - slice_mark_ >= 2) [[unlikely]]
          give_way();
        // After the send: a message's way through this component does not wait for it.
        if (steps_unpublished_ >= 64) publish();
      }
    });
    (void)clock_.finished(ticks_now());
    publish();
  } else if (final_status_ == Status::completed) {
    final_status_ = Status::stopped;  // never started: another component's init() failed
  }
  finish();
  const Status ended = final_status_;
  guarded([this] { component_.teardown(final_status_); });
  // A teardown that throws after a stop or a failure changes nothing; after completion it fails.
  if (ended != Status::completed) final_status_ = ended;
  set_status(final_status_);
}

void ComponentRunner::throw_stopped() {
  throw Stopped{};
}

// The components of this thread that are ready step before it steps again.
void ComponentRunner::give_way() {
  publish();
  parker_.yield();
  slice_mark_ = load_relaxed(*slice_epoch_);
}

void ComponentRunner::step() {
  if (in_place_outputs_) [[unlikely]] {
    for (const OutputField& field : outputs_) {
      if (field.in_place)
        static_cast<OutBuffer*>(PortAccess::storage(*field.port))->state = OutBuffer::State::none;
    }
  }
  store_relaxed(*step_sequence_, 2 * tally_.steps + 1);
  component_.step();
  ++tally_.steps;
  ++steps_unpublished_;
  store_relaxed(*step_sequence_, 2 * tally_.steps);
}

// A step on a request's way: an exception fails the request (true), and the component goes on.
bool ComponentRunner::step_serving() {
  try {
    step();
    return false;
  } catch (const std::exception& e) {
    forget_unwound_frames();
    store_relaxed(*step_sequence_, 2 * tally_.steps);
    ++tally_.failed_steps;
    failed_component_ = component_.name();
    failure_message_ = e.what();
    return true;
  }
}

// Instead of the step's messages: the request's error on every wire that carries it on, and the
// last value on a wire that closes a cycle (WireErrors::repeat). Returns as send_all() does.
bool ComponentRunner::send_failure() {
  bool any_channel = false;
  bool any_reader = false;
  for (auto& field : outputs_) {
    for (std::size_t k = 0; k < field.channels.size(); ++k) {
      any_channel = true;
      ChannelEnd& end = field.channels[k];
      if (end.wire->errors == WireErrors::repeat) {
        const PortCodec& codec = PortAccess::codec(*field.port);
        const std::size_t size = codec.fixed_size != 0
                                     ? codec.fixed_size
                                     : codec.encoded_size(PortAccess::storage(*field.port));
        any_reader |= write(end, field.full[k], size, *field.port, false);
      } else {
        any_reader |= write_error(end, field.full[k]);
      }
    }
  }
  return !any_channel || any_reader;
}

// An error record: the failed component's name, a zero byte, and the message (cut to fit).
bool ComponentRunner::write_error(ChannelEnd& end, const WaitReason& full) {
  if (end.base().reader_closed()) return false;
  auto& ring = std::get<channel::VariableRing>(end.ring);  // WireErrors::forward: see Wire
  const std::size_t size =
      std::min(failed_component_.size() + 1 + failure_message_.size(), ring.max_payload());
  const std::span<std::byte> slot = reserve(end, full, size);
  if (slot.data() == nullptr) return false;
  std::string record = failed_component_;
  record.push_back('\0');
  record += failure_message_;
  std::memcpy(slot.data(), record.data(), size);
  ring.commit(size, channel::RecordKind::error);
  sent(end, size);
  return true;
}

// Room for a record of `size` bytes in `end`'s variable-length ring, waiting for it; an empty
// span when the reader has gone. Throws Error when the record can never fit.
std::span<std::byte> ComponentRunner::reserve(ChannelEnd& end, const WaitReason& full,
                                              std::size_t size) {
  auto& ring = std::get<channel::VariableRing>(end.ring);
  if (size > ring.max_payload()) {
    throw Error("connector '" + end.wire->label + "': a message of " + std::to_string(size) +
                " bytes does not fit its channel (at most " + std::to_string(ring.max_payload()) +
                " bytes with capacity " + std::to_string(ring.capacity()) +
                "); raise the connector's capacity");
  }
  std::span<std::byte> slot = ring.try_reserve(size);
  while (slot.data() == nullptr) {
    count(end.counters->times_full);
    wait(full);
    if (ring.reader_closed()) return {};
    slot = ring.try_reserve(size);
  }
  return slot;
}

// Writes a fixed-size record from `from` into `end`'s ring, waiting for room; false when the
// reader has gone.
bool ComponentRunner::write_fixed_waiting(ChannelEnd& end, const WaitReason& full, const void* from,
                                          std::size_t size) {
  channel::FixedRing& fixed = *end.fixed();
  while (!fixed.try_write([&](std::byte* slot) { copy_fixed(slot, from, size); })) {
    count(end.counters->times_full);
    wait(full);
    if (fixed.reader_closed()) return false;
  }
  return true;
}

// The accounting of a record of `size` bytes committed to `end`, and its reader's wake-up.
void ComponentRunner::sent(ChannelEnd& end, std::size_t size) {
  ++end.sent;
  end.sent_bytes += size;
  ++tally_.messages_out;
  tally_.bytes_out += size;
  end.peer->notify();
}

// An input's error record: the step is skipped and the first error goes on (see run()).
void ComponentRunner::take_error(std::span<const std::byte> record) {
  ++tally_.messages_in;
  tally_.bytes_in += record.size();
  if (request_failed_) return;
  request_failed_ = true;
  const std::string_view text(reinterpret_cast<const char*>(record.data()), record.size());
  const std::size_t zero = text.find('\0');
  failed_component_ = text.substr(0, zero);
  failure_message_ = zero == std::string_view::npos ? std::string() : text.substr(zero + 1);
}

// Which field (and channel) `reason` belongs to; looked up only when parking.
std::uint32_t ComponentRunner::waiting_on(const WaitReason& reason) const {
  for (const InputField& field : inputs_) {
    if (&field.empty == &reason) return waiting_on_input(field.port_index);
  }
  if (&reason == &events_empty_) return waiting_on_input(event_inputs_.front().port_index);
  for (const auto* list : {&outputs_, &event_outputs_}) {
    for (const OutputField& field : *list) {
      for (std::size_t k = 0; k < field.full.size(); ++k) {
        if (&field.full[k] == &reason) return waiting_on_output(field.port_index, k);
      }
    }
  }
  return waiting_on_nothing;
}

// The clock is read around sampled waits only (see RunClock), not around every step or wait.
void ComponentRunner::wait(const WaitReason& reason) {
  check_stop();
  if (waiting_on_ != nullptr) {
    store_relaxed(*waiting_on_, waiting_on(reason));
  }
  set_status(Status::waiting);
  clock_parked();
  publish();
  parker_.park(reason);
  if (slice_epoch_ != nullptr) slice_mark_ = load_relaxed(*slice_epoch_);
  clock_resumed();
  set_status(Status::running);
  check_stop();
}

// Instead of parking, polls the field's channels for a record itself, as long as nothing else in
// this thread can run (see Parker::spin_budget()); the component stays RUNNING meanwhile. Taking
// the record in the loop that polls for it reads its cache line once, as soon as it arrives.
// `took`: delivered; `ended`: every channel closed or a stop came (the caller looks again);
// `spun`: the budget ran out.
ComponentRunner::Spin ComponentRunner::spin_take(InputField& field, unsigned budget) {
  clock_parked();
  Spin outcome = Spin::spun;
  for (unsigned i = 0; i < budget; ++i) {
    if (field.single_fixed ? take_fixed(field, field.channels.front()) : try_take(field)) {
      outcome = Spin::took;
      break;
    }
    // Closes and stops are rare: looked for every 16 polls and before giving up, so that a
    // poll stays a few instructions.
    if ((i & 15) == 15 || i + 1 == budget) {
      bool all_closed = true;
      for (const ChannelEnd& end : field.channels)
        all_closed = all_closed && end.base().closed();
      if (all_closed || state_.stopping()) {
        outcome = Spin::ended;
        break;
      }
    }
    spin_pause();
  }
  clock_resumed();
  return outcome;
}

void ComponentRunner::publish() {
  steps_unpublished_ = 0;
  const RunClock::Totals totals = clock_.totals();
  store_relaxed(counters_.run_ticks, totals.ran);
  store_relaxed(counters_.wait_ticks, totals.waited);
  store_relaxed(counters_.steps, tally_.steps);
  store_relaxed(counters_.messages_in, tally_.messages_in);
  store_relaxed(counters_.bytes_in, tally_.bytes_in);
  store_relaxed(counters_.messages_out, tally_.messages_out);
  store_relaxed(counters_.bytes_out, tally_.bytes_out);
  store_relaxed(counters_.failed_steps, tally_.failed_steps);
  for (const auto* list : {&outputs_, &event_outputs_}) {
    for (const OutputField& field : *list) {
      for (const ChannelEnd& end : field.channels) {
        store_relaxed(end.counters->messages, end.sent);
        store_relaxed(end.counters->bytes, end.sent_bytes);
      }
    }
  }
  for (const auto* list : {&inputs_, &event_inputs_}) {
    for (const InputField& field : *list) {
      for (const ChannelEnd& end : field.channels)
        store_relaxed(end.counters->times_empty, end.empties);
    }
  }
}

bool ComponentRunner::receive_all() {
  for (auto& field : inputs_) {
    if (!receive(field)) return false;
  }
  return true;
}

bool ComponentRunner::receive(InputField& field) {
  if (!field.initial.empty()) {
    // Validation converted every initial value once already, so this cannot fail.
    PortAccess::codec(*field.port)
        .assign_from_value(field.initial.front(), PortAccess::storage(*field.port));
    field.initial.pop_front();
    return true;
  }
  while (true) {
    if (try_take(field)) return true;
    if (field.host_fed && state_.drain_requested()) [[unlikely]] {
      close_host_rings(field);
      if (try_take(field)) return true;  // written by a host thread before the close
    }
    // drained() reads `closed` before emptiness, so a record published before close is seen.
    bool open = false;
    for (auto& end : field.channels) {
      if (!end.base().drained()) {
        open = true;
        ++end.empties;
      }
    }
    if (!open) return false;
    // Events that come while it waits are handled now: they came before the step.
    if (!event_inputs_.empty()) [[unlikely]] {
      if (handle_events()) continue;
    }
    const unsigned budget = field.remote ? parker_.spin_budget() : 0;
    if (budget != 0) {
      const Spin outcome = spin_take(field, budget);
      if (outcome == Spin::took) return true;
      if (outcome == Spin::ended) {
        check_stop();
        continue;
      }
    }
    wait(field.empty);
  }
}

// drain() ends an Ingress as its host's close would: what host threads pushed is taken, and
// nothing after. A host thread that is writing a record keeps the ring open; its commit wakes
// this component, which tries again.
void ComponentRunner::close_host_rings(InputField& field) {
  for (ChannelEnd& end : field.channels) {
    if (end.host != nullptr) (void)close_host_ring_for_drain(*end.host, end.base());
  }
}

bool ComponentRunner::try_take(InputField& field) {
  if (field.single_fixed) return take_fixed(field, field.channels.front());
  const std::size_t n = field.channels.size();
  if (n == 1) return take_from(field, field.channels.front());
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t index = field.next_channel + k;
    if (index >= n) index -= n;
    if (take_from(field, field.channels[index])) {
      field.next_channel = index + 1 == n ? 0 : index + 1;
      return true;
    }
  }
  return false;
}

bool ComponentRunner::take_from(InputField& field, ChannelEnd& end) {
  if (router_ != nullptr) [[unlikely]]
    return take_raw(field, end);
  if (end.fixed() != nullptr) return take_fixed(field, end);  // same type: see Wire
  auto& ring = std::get<channel::VariableRing>(end.ring);
  const auto record = ring.try_read();
  if (!record) return false;
  if (ring.front_kind() == channel::RecordKind::error) [[unlikely]] {
    take_error(*record);
  } else if (field.in_place) {
    // Read where it lies: freed when the step returns (release_views()).
    auto& view = *static_cast<InView*>(PortAccess::storage(*field.port));
    view.data = record->data();
    view.bytes = record->size();
    field.held = &end;
    ++tally_.messages_in;
    tally_.bytes_in += record->size();
    return true;
  } else {
    deliver(field, end, *record);
  }
  ring.pop();
  end.peer->notify();
  return true;
}

void ComponentRunner::deliver(InputField& field, ChannelEnd& end,
                              std::span<const std::byte> record) {
  Port& port = *field.port;
  if (!end.converts) {
    PortAccess::codec(port).decode(record.data(), record.size(), PortAccess::storage(port));
  } else {
    const Value v = PortAccess::codec(*end.wire->source).decode_value(record.data(), record.size());
    if (!PortAccess::codec(port).assign_from_value(v, PortAccess::storage(port))) {
      // The value itself is data (perhaps a file's): only its kind goes into the message.
      throw Error("connector '" + end.wire->label + "': a " + std::string(kind_name(v.kind())) +
                  " value does not fit input type " + port.type().name);
    }
  }
  ++tally_.messages_in;
  tally_.bytes_in += record.size();
}

bool ComponentRunner::send_all() {
  bool any_channel = false;
  bool any_reader = false;
  for (auto& field : outputs_) {
    if (field.channels.empty()) continue;
    any_channel = true;
    if (field.single_fixed) {
      any_reader |= write_fixed(field);
      continue;
    }
    if (field.in_place) [[unlikely]] {
      any_reader |= send_buffer(field);
      continue;
    }
    const PortCodec& codec = PortAccess::codec(*field.port);
    const std::size_t size = codec.fixed_size != 0
                                 ? codec.fixed_size
                                 : codec.encoded_size(PortAccess::storage(*field.port));
    if (field.channels.size() > 1) {
      // Fan-out: encode once, copy into each channel.
      scratch_.resize(size);
      codec.encode(PortAccess::storage(*field.port), scratch_.data());
    }
    const bool from_scratch = field.channels.size() > 1;
    for (std::size_t k = 0; k < field.channels.size(); ++k)
      any_reader |= write(field.channels[k], field.full[k], size, *field.port, from_scratch);
  }
  return !any_channel || any_reader;
}

bool ComponentRunner::write(ChannelEnd& end, const WaitReason& full, std::size_t size,
                            const Port& port, bool from_scratch) {
  if (end.base().reader_closed()) return false;
  if (end.fixed() != nullptr) {
    // Same type at both ends, so `size` is the ring's record size (see Wire).
    const void* from = from_scratch ? scratch_.data() : PortAccess::storage(port);
    if (!write_fixed_waiting(end, full, from, size)) return false;
  } else {
    const std::span<std::byte> slot = reserve(end, full, size);
    if (slot.data() == nullptr) return false;
    if (from_scratch) {
      if (size != 0) std::memcpy(slot.data(), scratch_.data(), size);
    } else {
      PortAccess::codec(port).encode(PortAccess::storage(port), slot.data());
    }
    std::get<channel::VariableRing>(end.ring).commit(size);
  }
  sent(end, size);
  return true;
}

// An event's value from a queue (EventOutput), not from the port.
bool ComponentRunner::write_value(ChannelEnd& end, const WaitReason& full, const PortCodec& codec,
                                  const void* value) {
  if (end.base().reader_closed()) return false;
  const std::size_t size = codec.fixed_size != 0 ? codec.fixed_size : codec.encoded_size(value);
  if (end.fixed() != nullptr) {
    if (!write_fixed_waiting(end, full, value, size)) return false;
  } else {
    const std::span<std::byte> slot = reserve(end, full, size);
    if (slot.data() == nullptr) return false;
    codec.encode(value, slot.data());
    std::get<channel::VariableRing>(end.ring).commit(size);
  }
  sent(end, size);
  return true;
}

// ---- buffers in place (buffer.hpp) ----

std::span<std::byte> ComponentRunner::loan_hook(void* runner, Port& port, std::size_t bytes) {
  auto& self = *static_cast<ComponentRunner*>(runner);
  return self.loan(self.output_field_of(port), bytes);
}

void ComponentRunner::commit_hook(void* runner, Port& port, std::size_t bytes) {
  auto& self = *static_cast<ComponentRunner*>(runner);
  static_cast<OutBuffer*>(PortAccess::storage(port))->bytes = bytes;
  (void)self.send_buffer(self.output_field_of(port));
}

ComponentRunner::OutputField& ComponentRunner::output_field_of(const Port& port) {
  for (OutputField& field : outputs_) {
    if (field.port == &port) return field;
  }
  throw std::logic_error("buffer '" + port.name() + "' is not an output of component '" +
                         component_.name() + "'");
}

// Room for the step's message in the first channel's ring, waiting for it, or in the port's
// scratch where no reader will read it. A loan already open is given up: the ring's new
// reservation replaces it.
std::span<std::byte> ComponentRunner::loan(OutputField& field, std::size_t bytes) {
  auto& buffer = *static_cast<OutBuffer*>(PortAccess::storage(*field.port));
  buffer.state = OutBuffer::State::none;
  std::span<std::byte> room;
  if (!field.channels.empty() && !field.channels.front().base().reader_closed())
    room = reserve(field.channels.front(), field.full.front(), bytes);
  buffer.in_channel = room.data() != nullptr;
  if (!buffer.in_channel) {
    buffer.scratch.resize(bytes);
    room = std::span<std::byte>(buffer.scratch.data(), bytes);
  }
  buffer.data = room.data();
  buffer.bytes = bytes;
  buffer.state = OutBuffer::State::open;
  return room;
}

// Sends the step's buffer: copies into the channels after the first, then commits the loan in
// the first (an empty buffer when the step loaned nothing). Returns as send_all() does for the
// field: whether some reader is still there.
bool ComponentRunner::send_buffer(OutputField& field) {
  auto& buffer = *static_cast<OutBuffer*>(PortAccess::storage(*field.port));
  bool any_reader = false;
  if (buffer.state == OutBuffer::State::sent) {
    for (const ChannelEnd& end : field.channels)
      any_reader |= !end.base().reader_closed();
    return any_reader;
  }
  if (buffer.state == OutBuffer::State::none) (void)loan(field, 0);
  // The copies first, while the loan is still the step's alone (the port's codec reads it).
  for (std::size_t k = 1; k < field.channels.size(); ++k)
    any_reader |= write(field.channels[k], field.full[k], buffer.bytes, *field.port, false);
  if (buffer.in_channel) {
    ChannelEnd& end = field.channels.front();
    std::get<channel::VariableRing>(end.ring).commit(buffer.bytes);
    sent(end, buffer.bytes);
    any_reader |= !end.base().reader_closed();
  }
  buffer.state = OutBuffer::State::sent;
  return any_reader;
}

// Frees the records the step read in place.
void ComponentRunner::release_views() {
  for (InputField& field : inputs_) {
    if (field.held == nullptr) continue;
    std::get<channel::VariableRing>(field.held->ring).pop();
    field.held->peer->notify();
    field.held = nullptr;
  }
}

// ---- events (event.hpp) ----

// One event from `end` into `event`'s port, and its handler run; false when there is none.
bool ComponentRunner::take_event(InputField& event, ChannelEnd& end) {
  if (!take_from(event, end)) return false;
  static_cast<EventPort*>(event.port)->handle(end.wire->source->owner().name());
  return true;
}

// Handles every event that had come when it looked, publisher by publisher, then sends what
// the handlers published. Whether there was any.
bool ComponentRunner::handle_events() {
  bool any = false;
  for (InputField& event : event_inputs_) {
    for (ChannelEnd& end : event.channels) {
      // The events there when it looks, and no more: a publisher that never stops (in another
      // worker, faster than the handler) must not keep the step from running. Read and write
      // indices count in the same unit (records or bytes), and a write index is always a
      // record's end.
      const channel::RingHeader& ring = end.base().header();
      const std::uint64_t until = load_acquire(ring.write_index);
      while (load_relaxed(ring.read_index) < until && take_event(event, end))
        any = true;
    }
  }
  if (any) (void)publish_events();
  return any;
}

// A component whose only inputs are events: the next event, from whichever publisher has one
// (in turn), handled. False once none can come: every publisher has finished, or the whole run
// waits (RunState::quiet()).
bool ComponentRunner::receive_event() {
  std::size_t total = 0;
  for (const InputField& event : event_inputs_)
    total += event.channels.size();
  while (true) {
    for (std::size_t n = 0; n < total; ++n) {
      std::size_t flat = next_event_ + n;
      if (flat >= total) flat -= total;
      std::size_t i = 0;
      std::size_t k = flat;
      while (k >= event_inputs_[i].channels.size()) {
        k -= event_inputs_[i].channels.size();
        ++i;
      }
      if (take_event(event_inputs_[i], event_inputs_[i].channels[k])) {
        next_event_ = flat + 1 == total ? 0 : flat + 1;
        (void)publish_events();
        return true;
      }
    }
    bool open = false;
    for (InputField& event : event_inputs_) {
      for (ChannelEnd& end : event.channels) {
        if (!end.base().drained()) {
          open = true;
          ++end.empties;
        }
      }
    }
    if (!open || state_.quiet()) return false;
    wait(events_empty_);
  }
}

// Sends what a step or a handler published, in order, to every subscriber still there (one
// that has finished misses it). Whether any was sent.
bool ComponentRunner::publish_events() {
  bool any = false;
  for (OutputField& field : event_outputs_) {
    auto& port = *static_cast<EventPort*>(field.port);
    const std::size_t count = port.queued();
    if (count == 0) continue;
    const PortCodec& codec = PortAccess::codec(port);
    for (std::size_t i = 0; i < count; ++i) {
      for (std::size_t k = 0; k < field.channels.size(); ++k)
        any |= write_value(field.channels[k], field.full[k], codec, port.queued_at(i));
    }
    port.clear_queue();
  }
  return any;
}

// Component::publish_stop(): Plugboard's StopEvent. This component completes (its step's
// messages are sent), every source ends at its next step boundary, and the rest follow.
void ComponentRunner::published_stop() {
  state_.drain_from_component();
}

// ---- routers: a replicated component's split and merge (serve/replicas.hpp) ----

// A record as bytes into a router's port: a converting connector's value in the port's type.
bool ComponentRunner::take_raw(InputField& field, ChannelEnd& end) {
  RawRecord& record = Router::record(*field.port);
  std::size_t size = 0;
  if (channel::FixedRing* fixed = end.fixed()) {
    size = fixed->record_size();
    if (!fixed->try_read([&](const std::byte* r) { record.bytes.assign(r, r + size); })) {
      return false;
    }
    record.error = false;
  } else {
    auto& ring = std::get<channel::VariableRing>(end.ring);
    const auto taken = ring.try_read();
    if (!taken) return false;
    size = taken->size();
    record.error = ring.front_kind() == channel::RecordKind::error;
    if (end.converts && !record.error) {
      const Value v = PortAccess::codec(*end.wire->source).decode_value(taken->data(), size);
      const void* value = scratch_value_.assign(v, field.port->type());
      if (value == nullptr) {
        throw Error("connector '" + end.wire->label + "': a " + std::string(kind_name(v.kind())) +
                    " value does not fit input type " + field.port->type().name);
      }
      const PortCodec& codec = PortAccess::codec(field.port->type());
      record.bytes.resize(codec.encoded_size(value));
      codec.encode(value, record.bytes.data());
    } else {
      record.bytes.assign(taken->begin(), taken->end());
    }
    ring.pop();
  }
  end.peer->notify();
  ++tally_.messages_in;
  tally_.bytes_in += size;
  return true;
}

bool ComponentRunner::write_raw(ChannelEnd& end, const WaitReason& full, const RawRecord& record) {
  if (end.base().reader_closed()) return false;
  const std::size_t size = record.bytes.size();
  if (channel::FixedRing* fixed = end.fixed()) {
    // Same type at both ends (see Wire), and an error never takes a fixed-size ring.
    if (record.error || size != fixed->record_size()) {
      throw Error("connector '" + end.wire->label + "': a record does not fit its fixed-size ring");
    }
    if (!write_fixed_waiting(end, full, record.bytes.data(), size)) return false;
  } else {
    const std::span<std::byte> slot = reserve(end, full, size);
    if (slot.data() == nullptr) return false;
    if (size != 0) std::memcpy(slot.data(), record.bytes.data(), size);
    std::get<channel::VariableRing>(end.ring).commit(
        size, record.error ? channel::RecordKind::error : channel::RecordKind::data);
  }
  sent(end, size);
  return true;
}

void ComponentRunner::count_step() {
  ++tally_.steps;
  store_relaxed(*step_sequence_, 2 * tally_.steps);
  if (++steps_unpublished_ >= 64) publish();
}

// The copy whose ring from the split holds the least (records or bytes, the same unit for
// every copy), among those whose reader is there; among equals, the next after the last one
// chosen. nullopt when no copy reads any more.
std::optional<std::size_t> ComponentRunner::least_loaded() {
  const std::size_t copies = router_->replicas();
  const std::size_t fields = router_->fields();
  std::optional<std::size_t> best;
  std::uint64_t least = ~std::uint64_t{0};
  for (std::size_t i = 0; i < copies; ++i) {
    const std::size_t k = next_copy_ + i < copies ? next_copy_ + i : next_copy_ + i - copies;
    const auto& channels = outputs_[k * fields].channels;
    if (channels.empty() || channels.front().base().reader_closed()) continue;
    const std::uint64_t load = channels.front().base().pending();
    if (load < least) {
      least = load;
      best = k;
      if (load == 0) break;
    }
  }
  if (best) next_copy_ = *best + 1 == copies ? 0 : *best + 1;
  return best;
}

// The split's message (its input fields) to the least loaded copy that reads; that copy, or
// nullopt when none does. A copy whose reader goes while the message is written to it (its
// worker died) is left, and the message goes to another: what was written to the dead one is
// never read (see ParallelRuntime, "replicas"). With replica slots the copy's `writing` word is
// up from before the split looks at the copy's reader until the message is given (Dekker with
// the supervisor, which closes the reader, then reads `writing`): once the supervisor has seen
// it down after the close, the split writes nothing more to that copy.
std::optional<std::size_t> ComponentRunner::give_to_copy() {
  const std::size_t fields = router_->fields();
  for (std::size_t tries = 0; tries <= router_->replicas(); ++tries) {
    const std::optional<std::size_t> k = least_loaded();
    if (!k) return std::nullopt;
    ReplicaSlot* slot = replica_slots_.empty() ? nullptr : replica_slots_[*k];
    // Before write_raw() looks at the reader again (seq-cst: no later load passes it).
    if (slot != nullptr) store_seq_cst(slot->writing, 1);
    bool reader = true;
    for (std::size_t f = 0; f < fields && reader; ++f) {
      OutputField& out = outputs_[*k * fields + f];
      for (std::size_t c = 0; c < out.channels.size(); ++c)
        reader =
            write_raw(out.channels[c], out.full[c], Router::record(*inputs_[f].port)) && reader;
    }
    if (reader) return k;
    if (slot != nullptr) store_release(slot->writing, 0);
  }
  return std::nullopt;
}

// No copy reads, but one whose worker died is being started again: waits for its reader.
void ComponentRunner::wait_for_copy() {
  const std::size_t fields = router_->fields();
  for (std::size_t k = 0; k < replica_slots_.size(); ++k) {
    if (load_acquire(replica_slots_[k]->cut) == 0) continue;
    OutputField& out = outputs_[k * fields];
    if (!out.channels.empty()) wait(out.full.front());
    return;
  }
}

// Split: one message per input field, all to one copy; then the copy's number to the merge.
void ComponentRunner::route_split() {
  order_.bytes.resize(sizeof(std::int64_t));
  while (true) {
    check_stop();
    if (!receive_all()) {
      check_stop();
      return;
    }
    std::optional<std::size_t> k;
    while (!(k = give_to_copy())) {
      const bool coming_back =
          std::any_of(replica_slots_.begin(), replica_slots_.end(),
                      [](ReplicaSlot* s) { return load_acquire(s->cut) != 0; });
      if (!coming_back) {
        check_stop();
        return;
      }
      wait_for_copy();
    }
    bool reader = true;
    if (router_->has_order()) {
      const auto copy = static_cast<std::int64_t>(*k);
      std::memcpy(order_.bytes.data(), &copy, sizeof copy);
      OutputField& out = outputs_.back();
      for (std::size_t c = 0; c < out.channels.size(); ++c)
        reader = write_raw(out.channels[c], out.full[c], order_) && reader;
    }
    if (!replica_slots_.empty()) {
      ReplicaSlot& slot = *replica_slots_[*k];
      store_release(slot.sent, load_relaxed(slot.sent) + 1);
      store_release(slot.writing, 0);
    }
    if (!reader) {
      check_stop();
      return;
    }
    count_step();
  }
}

// One field of copy `k` for the merge: its record, or, once the copy's worker has died and its
// ring holds nothing more, an error record for the message the copy held.
ComponentRunner::FromCopy ComponentRunner::receive_from_copy(std::size_t k, InputField& field) {
  if (replica_slots_.empty()) return receive(field) ? FromCopy::record : FromCopy::ended;
  ReplicaSlot* slot = replica_slots_[k];
  while (true) {
    if (try_take(field)) return FromCopy::record;
    if (load_acquire(slot->cut) != 0) {
      // What the copy wrote before it died is read first.
      if (try_take(field)) return FromCopy::record;
      RawRecord& record = Router::record(*field.port);
      const auto size = std::min<std::size_t>(load_acquire(slot->reason_size), sizeof slot->reason);
      const std::string copy =
          router_->name().substr(0, router_->name().rfind('#')) + "#" + std::to_string(k + 1);
      record.bytes.resize(copy.size() + 1 + size);
      std::memcpy(record.bytes.data(), copy.data(), copy.size());
      record.bytes[copy.size()] = std::byte{0};
      std::memcpy(record.bytes.data() + copy.size() + 1, slot->reason, size);
      record.error = true;
      return FromCopy::lost;
    }
    bool open = false;
    for (ChannelEnd& end : field.channels) {
      if (!end.base().drained()) {
        open = true;
        ++end.empties;
      }
    }
    if (!open) return FromCopy::ended;
    const unsigned budget = field.remote ? parker_.spin_budget() : 0;
    if (budget != 0) {
      const Spin outcome = spin_take(field, budget);
      if (outcome == Spin::took) return FromCopy::record;
      if (outcome == Spin::ended) {
        check_stop();
        continue;
      }
    }
    wait(field.empty);
  }
}

void ComponentRunner::answered(std::size_t k) {
  if (replica_slots_.empty()) return;
  ReplicaSlot& slot = *replica_slots_[k];
  // Release: what it read from the copy's rings is done before the supervisor reuses them.
  store_release(slot.answered, load_relaxed(slot.answered) + 1);
}

// The first of `count` fields (first, first + stride, ...) that has a record, searched from the
// one after the last found, taken; or a copy whose worker died holding messages, once the split
// gives it nothing more (`settle`): its field then holds an error record for one of them.
// nullopt once all are closed and drained.
std::optional<std::pair<std::size_t, ComponentRunner::FromCopy>> ComponentRunner::take_any(
    std::size_t first, std::size_t stride, std::size_t count) {
  while (true) {
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t k = next_copy_ + i < count ? next_copy_ + i : next_copy_ + i - count;
      if (try_take(inputs_[first + k * stride])) {
        next_copy_ = k + 1 == count ? 0 : k + 1;
        return std::pair{k, FromCopy::record};
      }
    }
    for (std::size_t k = 0; k < replica_slots_.size(); ++k) {
      const ReplicaSlot& slot = *replica_slots_[k];
      if (load_acquire(slot.settle) != 0 && load_relaxed(slot.answered) < load_acquire(slot.sent)) {
        const FromCopy got = receive_from_copy(k, inputs_[first + k * stride]);
        if (got != FromCopy::ended) return std::pair{k, got};
      }
    }
    bool open = false;
    for (std::size_t k = 0; k < count; ++k) {
      for (ChannelEnd& end : inputs_[first + k * stride].channels) {
        if (!end.base().drained()) {
          open = true;
          ++end.empties;
        }
      }
    }
    if (!open) return std::nullopt;
    // Any copy's record wakes it: a producer on this thread wakes it directly, one in another
    // worker through this worker's waiter, which watches only for components parked on a
    // remote channel. So it parks as waiting on a remote copy when there is one.
    const WaitReason* reason = &inputs_[first].empty;
    for (std::size_t k = 0; k < count; ++k) {
      if (inputs_[first + k * stride].remote) {
        reason = &inputs_[first + k * stride].empty;
        break;
      }
    }
    wait(*reason);
  }
}

// Merge: the next copy (the split's order, or whichever has a message), all its fields out. A
// copy whose worker died holding messages gets an error record in their place (see
// receive_from_copy()).
void ComponentRunner::route_merge() {
  const std::size_t fields = router_->fields();
  const std::size_t copies = router_->replicas();
  const std::size_t first = router_->has_order() ? 1 : 0;
  while (true) {
    check_stop();
    std::size_t k = 0;
    std::size_t f = 0;
    if (router_->has_order()) {
      if (!receive(inputs_.front())) {
        check_stop();
        return;
      }
      std::int64_t copy = -1;
      const RawRecord& order = Router::record(*inputs_.front().port);
      if (order.bytes.size() == sizeof copy) std::memcpy(&copy, order.bytes.data(), sizeof copy);
      if (copy < 0 || static_cast<std::size_t>(copy) >= copies) {
        throw Error("the split's order names no copy");
      }
      k = static_cast<std::size_t>(copy);
    } else {
      const auto found = take_any(first, fields, copies);
      if (!found) {
        check_stop();
        return;
      }
      k = found->first;
      f = 1;  // its first field is taken (or holds the error of a message lost with its copy)
    }
    for (; f < fields; ++f) {
      if (receive_from_copy(k, inputs_[first + k * fields + f]) == FromCopy::ended) {
        check_stop();
        return;
      }
    }
    bool any_channel = false;
    bool any_reader = false;
    for (std::size_t g = 0; g < fields; ++g) {
      OutputField& out = outputs_[g];
      const RawRecord& record = Router::record(*inputs_[first + k * fields + g].port);
      for (std::size_t c = 0; c < out.channels.size(); ++c) {
        any_channel = true;
        any_reader = write_raw(out.channels[c], out.full[c], record) || any_reader;
      }
    }
    answered(k);
    if (any_channel && !any_reader) {
      check_stop();
      return;
    }
    count_step();
  }
}

void ComponentRunner::finish() noexcept {
  for (auto* list : {&outputs_, &event_outputs_}) {
    for (auto& field : *list) {
      for (auto& end : field.channels) {
        end.base().close();
        end.peer->notify();
      }
    }
  }
  for (auto* list : {&inputs_, &event_inputs_}) {
    for (auto& field : *list) {
      for (auto& end : field.channels) {
        end.base().close_reader();
        end.peer->notify();
      }
    }
  }
}

}  // namespace patchbay::detail
