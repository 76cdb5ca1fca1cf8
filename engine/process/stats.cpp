#include "process/stats.hpp"

namespace patchbay::detail {

ComponentStats snapshot(const Component& component, Status status, const ComponentCounters& k) {
  ComponentStats s;
  s.name = component.name();
  s.type = component.type_name();
  s.status = status;
  s.steps = read_counter(k.steps);
  s.messages_in = read_counter(k.messages_in);
  s.messages_out = read_counter(k.messages_out);
  s.bytes_in = read_counter(k.bytes_in);
  s.bytes_out = read_counter(k.bytes_out);
  s.time_in_step = std::chrono::nanoseconds(read_counter(k.step_ns));
  s.time_waiting = std::chrono::nanoseconds(read_counter(k.wait_ns));
  return s;
}

ChannelStats snapshot(const Wire& wire, const ChannelCounters& k) {
  ChannelStats s;
  s.source = wire.source->owner().name() + "." + wire.source->name();
  s.target = wire.target->owner().name() + "." + wire.target->name();
  s.capacity = wire.capacity;
  s.messages = read_counter(k.messages);
  s.bytes = read_counter(k.bytes);
  s.times_full = read_counter(k.times_full);
  s.times_empty = read_counter(k.times_empty);
  return s;
}

}  // namespace patchbay::detail
