// Echo as a plugin, for engine-run serve (examples/serve/echo.yaml).
#include "echo_component.hpp"

PATCHBAY_REGISTER_COMPONENT(Echo);
