// The process under test. The semantics tests build every model through make_test_process() and
// loop over process_kinds(), so that each engine (LocalProcess today, ParallelProcess with forked
// workers later) is held to the same expectations by the same tests.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace patchbay_test {

/// The engines the semantics tests run on; add "parallel" when ParallelProcess arrives.
inline std::vector<std::string> process_kinds() {
  return {"local"};
}

/// Builds a process of `kind` from components built in code. Validation errors (ModelError)
/// propagate from here, as from the engines' constructors.
inline std::unique_ptr<patchbay::Process> make_test_process(
    std::string_view kind, std::vector<std::unique_ptr<patchbay::Component>> components,
    std::vector<patchbay::ConnectorSpec> connectors, patchbay::ProcessOptions options = {}) {
  if (kind == "local") {
    return std::make_unique<patchbay::LocalProcess>(std::move(components), std::move(connectors),
                                                    options);
  }
  throw std::invalid_argument("make_test_process: unknown process kind '" + std::string(kind) +
                              "'");
}

/// As above, on the default engine.
inline std::unique_ptr<patchbay::Process> make_test_process(
    std::vector<std::unique_ptr<patchbay::Component>> components,
    std::vector<patchbay::ConnectorSpec> connectors, patchbay::ProcessOptions options = {}) {
  return make_test_process(process_kinds().front(), std::move(components), std::move(connectors),
                           options);
}

}  // namespace patchbay_test
