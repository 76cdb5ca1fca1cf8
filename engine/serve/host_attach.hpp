// The component's side of a host ring, as both engines attach it to a runner.
#pragma once

#include <memory>
#include <vector>

#include "parallel/wake.hpp"
#include "run/component_runner.hpp"
#include "run/wiring.hpp"
#include "serve/host_ring.hpp"

namespace patchbay::detail {

/// The rings a run's waiter watches for the host: those it reads (ingresses) and writes
/// (egresses), and the peers that wake the host's threads, which must live as long as the run.
struct HostWatches {
  std::vector<RemoteWatch> inputs;
  std::vector<RemoteWatch> outputs;
  std::vector<std::unique_ptr<HostWaker>> wakers;
};

/// Gives `runner` (the runner of host wire `wire`'s component) its end of the host ring at
/// `memory`: an input of an Ingress or an output of an Egress, counted in `counters`, whose
/// peer wakes the host's threads; the ring joins `watches` for the waiter. Throws Error when
/// the ring there does not have the wire's capacity (a corrupted arena).
inline void attach_host_ring(ComponentRunner& runner, const Wire& wire, void* memory,
                             ChannelCounters& counters, HostWatches& watches) {
  const channel::AnyRing ring = channel::attach_ring(memory);
  if (channel::base_of(ring).capacity() != wire.capacity) {
    throw Error("arena corrupted: a host ring's capacity changed");
  }
  HostRingControl& control = host_control_at(memory, wire.capacity);
  watches.wakers.push_back(std::make_unique<HostWaker>(control));
  ChannelEnd end{ring, watches.wakers.back().get(), &counters, &wire, false, true};
  const Component& component = runner.component();
  if (host_inbound(wire)) {
    end.host = &control;  // a drain closes it (ComponentRunner::receive())
    runner.add_input(port_index(component.inputs(), wire.target), end);
    watches.inputs.push_back({ring, true});
  } else {
    runner.add_output(port_index(component.outputs(), wire.source), end);
    watches.outputs.push_back({ring, false});
  }
}

}  // namespace patchbay::detail
