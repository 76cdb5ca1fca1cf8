#include <patchbay/library.hpp>

#include "run/wiring.hpp"

namespace patchbay::detail {

std::size_t host_port_capacity(const ComponentArgs& args, const PortType& type) {
  // Read here, so that the argument counts as used whoever chose the type.
  const std::string named = args.get_or<std::string>("type", type.name);
  if (named != type.name) {
    throw args.error("type", "is '" + named + "' but the component carries " + type.name);
  }
  const std::int64_t capacity = args.get_or<std::int64_t>("capacity", 0);
  if (capacity == 0) return 0;
  if (capacity < 0) throw args.error("capacity", "must be a number of bytes from 64");
  return ring_capacity(static_cast<std::size_t>(capacity),
                       "component '" + args.name() + "' capacity", args.where("capacity"));
}

}  // namespace patchbay::detail
