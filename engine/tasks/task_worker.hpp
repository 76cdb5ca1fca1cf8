// The task loop of a worker process (docs/TASKS.md, "Inside"): it takes the cells of its queue
// into its running table and runs them on a few long-lived fibers, until the runtime shuts
// down.
#pragma once

#include <cstdint>
#include <string>

#include "tasks/task_arena.hpp"

namespace patchbay::detail {

/// Runs worker `worker` of `arena` in this process until the arena says shut down. `name` is
/// how failures name the worker. Throws only what setting up throws (allocation).
void run_task_worker(TaskArena& arena, std::uint32_t worker, std::string name);

}  // namespace patchbay::detail
