// Snapshots of the live counters, the same for every engine.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/process.hpp>

#include "run/wiring.hpp"
#include "shm/counters.hpp"

namespace patchbay::detail {

/// Reads a component's counters (written by another thread or process) into a snapshot.
ComponentStats snapshot(const Component& component, Status status,
                        const ComponentCounters& counters);
/// Reads a channel's counters into a snapshot.
ChannelStats snapshot(const Wire& wire, const ChannelCounters& counters);

}  // namespace patchbay::detail
