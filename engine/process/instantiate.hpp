// Building a spec's components from the registry.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <memory>
#include <vector>

namespace patchbay::detail {

/// Creates every component of `spec` with its arguments, initial values, resource overrides and
/// the process parameters. Throws ModelError (unknown type, bad or unknown argument) located
/// at the component's line.
std::vector<std::unique_ptr<Component>> instantiate(const ProcessSpec& spec,
                                                    const Registry& registry);

}  // namespace patchbay::detail
