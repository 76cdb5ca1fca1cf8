// The whole public API of patchbay.
#pragma once

#include <patchbay/buffer.hpp>
#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>
#include <patchbay/error.hpp>
#include <patchbay/event.hpp>
#include <patchbay/fork_server.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/model.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/port.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>
#include <patchbay/resources.hpp>
#include <patchbay/status.hpp>
#include <patchbay/tune.hpp>
#include <patchbay/value.hpp>
#include <patchbay/version.hpp>
