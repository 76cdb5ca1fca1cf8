#include "serve/replicas.hpp"

#include <patchbay/port.hpp>

#include <cstdint>

#include "core/component_access.hpp"

namespace patchbay::detail {

Router::Router(std::string name, Role role, std::size_t replicas, bool order,
               std::span<Port* const> fields)
    : Component(std::move(name)),
      role_(role),
      replicas_(replicas),
      fields_(fields.size()),
      order_(order) {
  ComponentAccess::set_type_name(*this, role == Role::split ? "ReplicaSplit" : "ReplicaMerge");
  const auto in = Port::Direction::input;
  const auto out = Port::Direction::output;
  // The copies' side: one port per field and copy.
  const auto copies_side = [&](Port::Direction direction) {
    for (std::size_t k = 1; k <= replicas; ++k) {
      for (const Port* field : fields)
        ports_.emplace_back(this, field->name() + "#" + std::to_string(k), field->type(),
                            direction);
    }
  };
  if (role == Role::split) {
    for (const Port* field : fields)
      ports_.emplace_back(this, field->name(), field->type(), in);
    copies_side(out);
    if (order) ports_.emplace_back(this, "order", port_type<std::int64_t>(), out);
  } else {
    if (order) ports_.emplace_back(this, "order", port_type<std::int64_t>(), in);
    copies_side(in);
    for (const Port* field : fields)
      ports_.emplace_back(this, field->name(), field->type(), out);
  }
}

}  // namespace patchbay::detail
