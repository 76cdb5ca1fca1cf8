// Lifecycle status of components and processes.
#pragma once

#include <cstdint>
#include <string_view>

namespace patchbay {

/// CREATED -> INIT -> RUNNING <-> WAITING -> COMPLETED | FAILED | STOPPED.
enum class Status : std::uint8_t { created, init, running, waiting, completed, failed, stopped };

/// "CREATED", "INIT", "RUNNING", "WAITING", "COMPLETED", "FAILED", "STOPPED". Thread-safe
/// (pure).
std::string_view to_string(Status status);

/// True for COMPLETED, FAILED and STOPPED.
constexpr bool is_final(Status status) {
  return status == Status::completed || status == Status::failed || status == Status::stopped;
}

}  // namespace patchbay
