// Replicas (docs/SERVING.md, "Replicas"): a component that asks for `replicas: N` runs as N
// copies, NAME#1 to NAME#N, between a split (NAME#split), which gives each message to the least
// loaded copy, and a merge (NAME#merge), which hands their outputs on, in the split's order when
// the component is `ordered`. The split and the merge are routers: their runner moves records
// as bytes, without decoding them (error records included), and chooses which of their inputs
// to read and which outputs to write (ComponentRunner, "routing").
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/port.hpp>

#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <vector>

namespace patchbay::detail {

/// A record as its bytes: what a router's ports hold.
struct RawRecord {
  std::vector<std::byte> bytes;
  bool error = false;  ///< an error record (channel::RecordKind::error)
};

/// A port of a type known at run time whose value is a record's bytes, never decoded.
class RawPort final : public Port {
 public:
  RawPort(Component* owner, std::string name, const PortType& type, Direction direction)
      : Port(owner, std::move(name), type, direction, &record) {}
  RawRecord record;
};

/// NAME#split or NAME#merge. Ports, `fields` per copy:
/// - split: inputs F (the copies' inputs, same names and types); outputs F#k for copy k = 1..N,
///   copy by copy (output (k-1) * fields + f), then `order` (int64) when a merge follows in
///   order;
/// - merge: inputs `order` first when ordered, then G#k copy by copy; outputs G (the copies'
///   outputs).
class Router final : public Component {
 public:
  enum class Role : unsigned char { split, merge };
  /// `fields`: the copy's inputs (split) or outputs (merge), whose names and types it takes.
  /// `order`: the router has the `order` port (a merge in order, and the split before it).
  Router(std::string name, Role role, std::size_t replicas, bool order,
         std::span<Port* const> fields);
  void step() override {}  // never called: the runner routes records itself

  [[nodiscard]] Role role() const { return role_; }
  [[nodiscard]] std::size_t replicas() const { return replicas_; }
  [[nodiscard]] std::size_t fields() const { return fields_; }
  /// Whether it has the `order` port: the split's last output, the merge's first input.
  [[nodiscard]] bool has_order() const { return order_; }
  /// The record a port of this router holds.
  static RawRecord& record(Port& port) { return static_cast<RawPort&>(port).record; }

 private:
  Role role_;
  std::size_t replicas_;
  std::size_t fields_;
  bool order_;
  std::deque<RawPort> ports_;
};

/// The router a component is, or nullptr.
inline Router* router_of(Component& component) {
  return dynamic_cast<Router*>(&component);
}

}  // namespace patchbay::detail
