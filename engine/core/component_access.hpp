// Engine-side access to a component's private state.
#pragma once

#include <patchbay/component.hpp>

namespace patchbay::detail {

/// The engine's key to Component internals: status transitions, the registered type name.
class ComponentAccess {
 public:
  static void set_status(Component& c, Status s) { c.status_.store(s, std::memory_order_release); }
  static void set_type_name(Component& c, std::string name) { c.type_name_ = std::move(name); }
  static void reset_closed(Component& c) { c.closed_ = false; }
  /// Lets Component::stop_requested() ask the run: probe(context) is true while stopping.
  static void set_stop_probe(Component& c, bool (*probe)(const void*) noexcept,
                             const void* context) {
    c.stop_probe_ = probe;
    c.stop_context_ = context;
  }
};

}  // namespace patchbay::detail
