// Whether an egress answers an ingress one for one: the check behind Process::client().
#pragma once

#include <patchbay/component.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "run/wiring.hpp"

namespace patchbay::detail {

/// Why the n-th message that component `egress` receives is not sure to answer the n-th
/// message that component `ingress` sends, or "" when it is. Every step of a component sends
/// one message per connected output, so a component steps once per request when each of its
/// input fields receives one message per request: this follows the rates from the ingress
/// through the wiring. It is not when a field takes messages from several channels (fan-in), a
/// field is fed by another source or ingress, the fields of one component arrive at different
/// rates, or every field of a component has initial values (it steps before any request). A
/// component that ends early (close()) cannot be seen here.
std::string reply_mismatch(std::span<Component* const> components, const Wiring& wiring,
                           std::size_t ingress, std::size_t egress);

/// For host wire `host_wire` of an Egress: each Ingress of the model with reply_mismatch()
/// from it to this egress. Empty for an Ingress's wire.
std::vector<std::pair<std::string, std::string>> replies_of(std::span<Component* const> components,
                                                            const Wiring& wiring,
                                                            const Wire& host_wire);

}  // namespace patchbay::detail
