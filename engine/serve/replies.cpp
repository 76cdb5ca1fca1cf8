#include "serve/replies.hpp"

#include <optional>
#include <vector>

#include "core/text.hpp"
#include "serve/replicas.hpp"

namespace patchbay::detail {

namespace {

struct Rate {
  enum class Kind : std::uint8_t { unknown, known, foreign, broken } kind = Kind::unknown;
  std::int64_t per_request = 0;
  bool early = false;  ///< it or a component upstream steps before the first request
  std::string why;     ///< foreign or broken: the account
};

}  // namespace

std::string reply_mismatch(std::span<Component* const> components, const Wiring& wiring,
                           std::size_t ingress, std::size_t egress) {
  using Kind = Rate::Kind;
  const std::size_t n = components.size();
  std::vector<Rate> rates(n);
  rates[ingress] = {Kind::known, 1, false, ""};
  auto name = [&](std::size_t c) { return quote(components[c]->name()); };
  for (std::size_t c = 0; c < n; ++c) {
    if (c == ingress) continue;
    bool fed = false;
    for (const auto& wires : wiring.components[c].inputs)
      fed = fed || !wires.empty();
    // A source, or another ingress: its messages do not follow the requests.
    if (!fed)
      rates[c] = {Kind::foreign, 0, false,
                  "component " + name(c) +
                      " sends messages of its own"};  // Replicas merged as they finish: the copies'
                                                      // messages do not keep the requests' order.
    if (const Router* router = router_of(*components[c]);
        router != nullptr && router->role() == Router::Role::merge && !router->has_order()) {
      rates[c] = {Kind::broken, 0, false,
                  "the replicas of " + quote(router->name().substr(0, router->name().rfind('#'))) +
                      " hand their messages on as they finish (ordered: false)"};
    }
  }
  // Rates flow downstream; a cycle settles once a field of each component on it is known.
  for (std::size_t round = 0; round <= n; ++round) {
    bool changed = false;
    for (std::size_t c = 0; c < n; ++c) {
      if (rates[c].kind != Kind::unknown) continue;
      const Component& component = *components[c];
      std::optional<std::int64_t> agreed;
      bool early = false;
      std::string early_why;
      bool all_initial = true;
      const Rate* upstream_problem = nullptr;
      std::string conflict;
      for (std::size_t p = 0; p < wiring.components[c].inputs.size(); ++p) {
        const auto& wires = wiring.components[c].inputs[p];
        const std::string& field = component.inputs()[p]->name();
        const auto initial = component.initial_values().find(field);
        all_initial =
            all_initial && initial != component.initial_values().end() && !initial->second.empty();
        std::int64_t sum = 0;
        bool known = true;
        for (std::size_t w : wires) {
          const Rate& source = rates[wiring.wires[w].source_component];
          if (source.kind == Kind::foreign || source.kind == Kind::broken) {
            upstream_problem = &source;
          } else if (source.kind == Kind::unknown) {
            known = false;
          } else {
            sum += source.per_request;
            if (source.early && !early) early_why = source.why;
            early = early || source.early;
          }
        }
        if (!known || upstream_problem != nullptr) continue;
        if (wires.size() > 1 && conflict.empty() && sum != 1) {
          conflict = "input " + quote(component.name() + "." + field) + " takes messages from " +
                     std::to_string(wires.size()) + " connectors (" + std::to_string(sum) +
                     " per request)";
        }
        if (agreed && *agreed != sum && conflict.empty()) {
          conflict = "the inputs of component " + name(c) + " receive " + std::to_string(*agreed) +
                     " and " + std::to_string(sum) + " messages per request";
        }
        agreed = sum;
      }
      if (upstream_problem != nullptr) {
        rates[c] = {upstream_problem->kind, 0, false, upstream_problem->why};
      } else if (!conflict.empty()) {
        rates[c] = {Kind::broken, 0, false, conflict};
      } else if (agreed) {
        rates[c] = {Kind::known, *agreed, early || all_initial,
                    all_initial ? "every input of component " + name(c) +
                                      " has initial values, so it steps before the first request"
                                : early_why};
      } else {
        continue;
      }
      changed = true;
    }
    if (!changed) break;
  }
  const Rate& rate = rates[egress];
  switch (rate.kind) {
    case Kind::unknown:
      return "it is not downstream of it";
    case Kind::foreign:
    case Kind::broken:
      return rate.why;
    case Kind::known:
      break;
  }
  if (rate.per_request != 1) {
    return "it receives " + std::to_string(rate.per_request) + " messages per request";
  }
  if (rate.early) return rate.why;
  return "";
}

std::vector<std::pair<std::string, std::string>> replies_of(std::span<Component* const> components,
                                                            const Wiring& wiring,
                                                            const Wire& host_wire) {
  std::vector<std::pair<std::string, std::string>> out;
  if (host_inbound(host_wire)) return out;
  for (const Wire& ingress : wiring.host_wires) {
    if (!host_inbound(ingress)) continue;
    out.emplace_back(
        components[ingress.source_component]->name(),
        reply_mismatch(components, wiring, ingress.source_component, host_wire.source_component));
  }
  return out;
}

}  // namespace patchbay::detail
