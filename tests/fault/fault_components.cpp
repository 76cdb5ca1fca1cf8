// Components for the fault campaign's models, as a plugin engine-run loads: a counting source,
// a pass-through and a sink that fails the run on any gap, duplicate or reordering.
#include <patchbay/patchbay.hpp>

#include "support/components.hpp"

namespace patchbay::test {

PATCHBAY_REGISTER_COMPONENT(Counter);
PATCHBAY_REGISTER_COMPONENT_AS(Pass<>, "Pass");
PATCHBAY_REGISTER_COMPONENT(SequenceCheck);

}  // namespace patchbay::test
