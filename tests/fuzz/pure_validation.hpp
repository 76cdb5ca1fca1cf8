// What `engine-run --validate` checks of a model, done without touching the file system or
// starting anything: the fuzzers' oracle for the model loader, and the source of the wire
// format's seed corpus.
#pragma once

#include <patchbay/process_spec.hpp>

#include "placement/planner.hpp"

#include <optional>

namespace patchbay::fuzz {

/// Builds every component of `spec` from a registry that holds the library's pure components
/// (Iterator, Sleep, Timestamper) and stand-ins for FileReader and FileWriter with the same
/// arguments and ports but no file access; resolves the wiring; for a parallel model, plans it
/// on a fixed synthetic machine (the model's own `topology` is not loaded: it may name a file).
/// Also draws the model's diagram. Returns the plan of a parallel model.
/// Throws what the engine throws for a bad model (ModelError).
/// Not thread-safe (one fuzzer thread).
std::optional<detail::Plan> validate_purely(const ProcessSpec& spec);

}  // namespace patchbay::fuzz
