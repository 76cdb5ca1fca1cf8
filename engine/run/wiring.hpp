// The validated graph of a model: which output feeds which input, checked before anything runs.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/process_spec.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace patchbay::detail {

/// What a wire carries in place of a message when a step on a request's way fails (a step
/// throws in a component downstream of an Ingress): docs/SERVING.md, "Errors".
enum class WireErrors : std::uint8_t {
  none,     ///< not on a request's way: a step that throws fails the run
  forward,  ///< an error record (the request's error goes on towards its egress)
  repeat,   ///< the output's last value: the wire closes a cycle into a field with initial
            ///< values, which must not carry one request's error into the next
};

/// One connector, resolved to ports.
struct Wire {
  std::size_t source_component = 0;
  std::size_t target_component = 0;
  Port* source = nullptr;
  Port* target = nullptr;
  std::size_t capacity = 0;  ///< ring capacity in bytes, a power of two
  /// Payload bytes of every message when both ends have the same fixed-size type and such a
  /// message fits the channel; 0 otherwise. A ring between workers then holds fixed-size
  /// records (see channel::FixedRing).
  std::size_t record_size = 0;
  /// `forward` wires hold variable-length records (record_size 0), which have an error kind.
  WireErrors errors = WireErrors::none;
  /// An event's wire from a publisher to a subscriber, built from what the components declare
  /// (event.hpp) rather than from a connector: it gates no step and closes no cycle.
  bool event = false;
  /// ParallelProcess: the connector's own wait mode, if it gives one.
  std::optional<WaitMode> wait;
  std::string label;  ///< "source.field -> target.field"
  SourceLocation where;
};

/// Per component: the wires on each of its input and output ports, in port order.
struct ComponentWires {
  std::vector<std::vector<std::size_t>> inputs;   ///< wire indices per input port
  std::vector<std::vector<std::size_t>> outputs;  ///< wire indices per output port
};

struct Wiring {
  std::vector<Wire> wires;
  std::vector<ComponentWires> components;  ///< same order as the components given
  /// The rings between the host and the host ports of Ingress and Egress components (see
  /// make_host_port()), one per such port: source and target are that port, and both
  /// component indices its component's; label "host -> NAME" or "NAME -> host". Not in
  /// `components`' lists.
  std::vector<Wire> host_wires;
};

/// The index of `port` among `ports` (a component's inputs or outputs), which holds it.
[[nodiscard]] inline std::size_t port_index(std::span<Port* const> ports, const Port* port) {
  std::size_t i = 0;
  while (i < ports.size() && ports[i] != port)
    ++i;
  return i;
}

/// Whether host wire `wire` carries messages from the host into its component (an Ingress).
[[nodiscard]] inline bool host_inbound(const Wire& wire) {
  return wire.target->direction() == Port::Direction::input;
}

/// Validates the model and resolves its connectors. Throws ModelError for: a duplicate
/// component name, a malformed or dangling connector, a connector in the wrong direction or
/// between mismatched types, a duplicate connector, an input left unconnected, initial values
/// for an unknown field or of the wrong type, a bad capacity, and a cycle without initial
/// values, and a connector to or from a host port. `locations` (optional, per component) place
/// component errors in the model file. Assigns initial values' types by converting them into the
/// ports (a dry run).
Wiring build_wiring(std::span<Component* const> components,
                    std::span<const ConnectorSpec> connectors, const ProcessOptions& options,
                    std::span<const SourceLocation> locations = {});

/// Rounds a capacity up to a power of two; throws ModelError below the minimum.
std::size_t ring_capacity(std::size_t requested, const std::string& what,
                          const SourceLocation& where);

}  // namespace patchbay::detail
