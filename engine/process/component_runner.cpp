#include "process/component_runner.hpp"

#include <chrono>
#include <cstring>

#include "core/component_access.hpp"
#include "shm/spin.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace patchbay::detail {

ComponentRunner::ComponentRunner(Component& component, RunState& state, Parker& parker,
                                 ComponentCounters& counters)
    : component_(component), state_(state), parker_(parker), counters_(counters) {
  inputs_.resize(component.inputs().size());
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    inputs_[i].port = component.inputs()[i];
    inputs_[i].empty = {WaitReason::Kind::input, &inputs_[i].port->name(), false};
    if (auto it = component.initial_values().find(inputs_[i].port->name());
        it != component.initial_values().end()) {
      inputs_[i].initial.assign(it->second.begin(), it->second.end());
    }
  }
  outputs_.resize(component.outputs().size());
  for (std::size_t i = 0; i < outputs_.size(); ++i)
    outputs_[i].port = component.outputs()[i];
  ComponentAccess::set_stop_probe(
      component_,
      [](const void* run) noexcept { return static_cast<const RunState*>(run)->stopping(); },
      &state_);
}

void ComponentRunner::add_input(std::size_t port_index, ChannelEnd end) {
  end.converts = !end.wire->source->type().same_as(end.wire->target->type());
  InputField& field = inputs_.at(port_index);
  field.remote |= end.remote;
  field.empty = {WaitReason::Kind::input, &field.port->name(), field.remote};
  field.channels.push_back(end);
}

void ComponentRunner::add_output(std::size_t port_index, ChannelEnd end) {
  OutputField& field = outputs_.at(port_index);
  field.full.push_back({WaitReason::Kind::output, &end.wire->label, end.remote});
  field.channels.push_back(end);
}

void ComponentRunner::set_status(Status status) noexcept {
  ComponentAccess::set_status(component_, status);
  if (status_mirror_ != nullptr) {
    // Relaxed: the supervisor only reports it; the worker's exit orders the final value.
    std::atomic_ref<std::uint32_t>(*status_mirror_)
        .store(static_cast<std::uint32_t>(status), std::memory_order_relaxed);
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
    state_.fail({component_.name(), component_.type_name(), e.what()});
  } catch (...) {
    forget_unwound_frames();
    final_status_ = Status::failed;
    state_.fail({component_.name(), component_.type_name(), "unknown exception"});
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
      const bool source = inputs_.empty();
      while (true) {
        check_stop();
        // An input closed or every reader gone because a stop is under way (its peers
        // stopped first) ends this component STOPPED too, as where it checks first.
        if (!source && !receive_all()) {
          check_stop();
          break;
        }
        step();
        if (component_.is_closed()) break;
        if (!send_all()) {
          check_stop();
          break;
        }
      }
    });
    publish(clock_.finished(ticks_now()));
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

void ComponentRunner::check_stop() const {
  if (state_.stopping()) throw Stopped{};
}

void ComponentRunner::step() {
  component_.step();
  count(counters_.steps);
}

// The clock is read around sampled waits only (see RunClock), not around every step or wait.
void ComponentRunner::wait(const WaitReason& reason) {
  check_stop();
  set_status(Status::waiting);
  clock_parked();
  parker_.park(reason);
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
    if (try_take(field)) {
      outcome = Spin::took;
      break;
    }
    bool all_closed = true;
    for (const ChannelEnd& end : field.channels)
      all_closed = all_closed && end.ring.closed();
    if (all_closed || state_.stopping()) {
      outcome = Spin::ended;
      break;
    }
    spin_pause();
  }
  clock_resumed();
  return outcome;
}

void ComponentRunner::clock_parked() {
  if (clock_.time_this_park()) publish(clock_.parked(ticks_now()));
}

void ComponentRunner::clock_resumed() {
  if (clock_.time_this_resume()) publish(clock_.resumed(ticks_now()));
}

void ComponentRunner::publish(RunClock::Totals totals) {
  store_counter(counters_.run_ticks, totals.ran);
  store_counter(counters_.wait_ticks, totals.waited);
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
    field.port->type().assign_from_value(field.initial.front(), field.port->storage());
    field.initial.pop_front();
    return true;
  }
  while (true) {
    if (try_take(field)) return true;
    // drained() reads `closed` before emptiness, so a record published before close is seen.
    bool open = false;
    for (auto& end : field.channels) {
      if (!end.ring.drained()) {
        open = true;
        count(end.counters->times_empty);
      }
    }
    if (!open) return false;
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

bool ComponentRunner::try_take(InputField& field) {
  const std::size_t n = field.channels.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t index = field.next_channel + k;
    if (index >= n) index -= n;
    ChannelEnd& end = field.channels[index];
    if (auto record = end.ring.try_read()) {
      deliver(field, end, *record);
      end.ring.release();
      end.peer->notify();
      field.next_channel = index + 1 == n ? 0 : index + 1;
      return true;
    }
  }
  return false;
}

void ComponentRunner::deliver(InputField& field, ChannelEnd& end,
                              std::span<const std::byte> record) {
  Port& port = *field.port;
  if (!end.converts) {
    port.type().decode(record.data(), record.size(), port.storage());
  } else {
    const Value v = end.wire->source->type().decode_value(record.data(), record.size());
    if (!port.type().assign_from_value(v, port.storage())) {
      throw Error("connector '" + end.wire->label + "': value '" + v.to_string() + "' (" +
                  std::string(kind_name(v.kind())) + ") does not fit input type " +
                  port.type().name);
    }
  }
  count(counters_.messages_in);
  count(counters_.bytes_in, record.size());
}

bool ComponentRunner::send_all() {
  bool any_channel = false;
  bool any_reader = false;
  for (auto& field : outputs_) {
    if (field.channels.empty()) continue;
    any_channel = true;
    const PortType& type = field.port->type();
    const std::size_t size = type.encoded_size(field.port->storage());
    if (field.channels.size() > 1) {
      // Fan-out: encode once, copy into each channel.
      scratch_.resize(size);
      type.encode(field.port->storage(), scratch_.data());
    }
    const bool from_scratch = field.channels.size() > 1;
    for (std::size_t k = 0; k < field.channels.size(); ++k)
      any_reader |= write(field.channels[k], field.full[k], size, *field.port, from_scratch);
  }
  return !any_channel || any_reader;
}

bool ComponentRunner::write(ChannelEnd& end, const WaitReason& full, std::size_t size,
                            const Port& port, bool from_scratch) {
  if (end.ring.reader_closed()) return false;
  if (size > end.ring.max_payload()) {
    throw Error("connector '" + end.wire->label + "': a message of " + std::to_string(size) +
                " bytes does not fit its channel (at most " +
                std::to_string(end.ring.max_payload()) + " bytes with capacity " +
                std::to_string(end.ring.capacity()) + "); raise the connector's capacity");
  }
  std::span<std::byte> slot = end.ring.try_reserve(size);
  while (slot.data() == nullptr) {
    count(end.counters->times_full);
    wait(full);
    if (end.ring.reader_closed()) return false;
    slot = end.ring.try_reserve(size);
  }
  if (from_scratch) {
    if (size != 0) std::memcpy(slot.data(), scratch_.data(), size);
  } else {
    port.type().encode(port.storage(), slot.data());
  }
  end.ring.commit(size);
  count(end.counters->messages);
  count(end.counters->bytes, size);
  count(counters_.messages_out);
  count(counters_.bytes_out, size);
  end.peer->notify();
  return true;
}

void ComponentRunner::finish() noexcept {
  for (auto& field : outputs_) {
    for (auto& end : field.channels) {
      end.ring.close();
      end.peer->notify();
    }
  }
  for (auto& field : inputs_) {
    for (auto& end : field.channels) {
      end.ring.close_reader();
      end.peer->notify();
    }
  }
}

}  // namespace patchbay::detail
