// Which connectors carry fixed-size records (see channel::FixedRing): those whose two ends have the
// same trivially copyable type, small enough that a ring of variable-length records would carry
// it too, so that both engines accept exactly the same models; and which connectors carry a
// failed request's error (WireErrors).
#include <catch2/catch.hpp>

#include <patchbay/component.hpp>
#include <patchbay/library.hpp>
#include <patchbay/port.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/value.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "channel/ring.hpp"
#include "run/wiring.hpp"

namespace {

using patchbay::Component;
using patchbay::ConnectorSpec;
using patchbay::Input;
using patchbay::Output;
using patchbay::Value;

struct Wide {
  std::array<std::byte, 100> bytes{};
};

class Source final : public Component {
 public:
  explicit Source(std::string name) : Component(std::move(name)) {}
  Output<std::int64_t> i64{this, "i64"};
  Output<double> real{this, "real"};
  Output<std::string> text{this, "text"};
  Output<Value> any{this, "any"};
  Output<Wide> wide{this, "wide"};
  void step() override {}
};

class Sink final : public Component {
 public:
  explicit Sink(std::string name) : Component(std::move(name)) {}
  Input<std::int64_t> i64{this, "i64"};
  Input<Value> any{this, "any"};
  Input<std::string> text{this, "text"};
  Input<Value> any2{this, "any2"};
  Input<Wide> wide{this, "wide"};
  Input<Wide> wide2{this, "wide2"};
  void step() override {}
};

}  // namespace

TEST_CASE("connectors between equal fixed-size types carry fixed-size records", "[wiring][fixed]") {
  Source a("a");
  Sink b("b");
  Component* components[] = {&a, &b};
  const std::vector<ConnectorSpec> connectors = {
      {"a.i64", "b.i64"},        // int64 -> int64: fixed
      {"a.real", "b.any"},       // double -> Value: converted through Value
      {"a.text", "b.text"},      // string -> string: any length
      {"a.any", "b.any2"},       // Value -> Value
      {"a.wide", "b.wide", 64},  // 100 bytes: too big for a 64-byte channel
      {"a.wide", "b.wide2"},     // 100 bytes in the default 64 KiB channel: fixed
  };
  const patchbay::ProcessOptions options;
  const auto wiring = patchbay::detail::build_wiring(components, connectors, options, {});
  REQUIRE(wiring.wires.size() == connectors.size());
  CHECK(wiring.wires[0].record_size == sizeof(std::int64_t));
  CHECK(wiring.wires[1].record_size == 0);
  CHECK(wiring.wires[2].record_size == 0);
  CHECK(wiring.wires[3].record_size == 0);
  CHECK(wiring.wires[4].record_size == 0);
  CHECK(patchbay::channel::VariableRing::max_payload_for(64) < sizeof(Wide));
  CHECK(wiring.wires[5].record_size == sizeof(Wide));
}

namespace {

class Step final : public Component {
 public:
  explicit Step(std::string name) : Component(std::move(name)) {}
  Input<std::int64_t> in{this, "in"};
  Input<std::int64_t> back{this, "back"};
  Output<std::int64_t> out{this, "out"};
  void step() override {}
};

class Ticks final : public Component {
 public:
  explicit Ticks(std::string name) : Component(std::move(name)) {}
  Output<std::int64_t> out{this, "out"};
  void step() override {}
};

}  // namespace

TEST_CASE("wires downstream of an ingress carry a request's error; a cycle's way back does not",
          "[wiring][serve]") {
  using patchbay::detail::WireErrors;
  patchbay::library::Ingress<std::int64_t> requests("requests");
  Step a("a");  // in: requests; back: b's output (initial values): the cycle's way back
  Step b("b");  // in: a; back: ticks
  patchbay::library::Egress<std::int64_t> replies("replies");
  Ticks ticks("ticks");
  Step lone("lone");  // in and back from ticks: away from every request
  a.set_initial_values("back", {Value(std::int64_t{0})});
  Component* components[] = {&requests, &a, &b, &replies, &ticks, &lone};
  const std::vector<ConnectorSpec> connectors = {
      {"requests.out", "a.in"},   {"a.out", "b.in"},       {"b.out", "a.back"},
      {"b.out", "replies.in"},    {"ticks.out", "b.back"}, {"ticks.out", "lone.in"},
      {"ticks.out", "lone.back"},
  };
  const patchbay::ProcessOptions options;
  const auto wiring = patchbay::detail::build_wiring(components, connectors, options, {});
  REQUIRE(wiring.wires.size() == connectors.size());
  CHECK(wiring.wires[0].errors == WireErrors::forward);
  CHECK(wiring.wires[1].errors == WireErrors::forward);
  CHECK(wiring.wires[2].errors == WireErrors::repeat);
  CHECK(wiring.wires[3].errors == WireErrors::forward);
  CHECK(wiring.wires[4].errors == WireErrors::none);
  CHECK(wiring.wires[5].errors == WireErrors::none);
  CHECK(wiring.wires[6].errors == WireErrors::none);
  // An error record needs a variable-length ring; the others keep fixed-size records.
  CHECK(wiring.wires[0].record_size == 0);
  CHECK(wiring.wires[2].record_size == sizeof(std::int64_t));
  CHECK(wiring.wires[4].record_size == sizeof(std::int64_t));
  REQUIRE(wiring.host_wires.size() == 2);
  for (const auto& w : wiring.host_wires) {
    INFO(w.label);
    CHECK(w.errors == (patchbay::detail::host_inbound(w) ? WireErrors::none : WireErrors::forward));
  }
}
