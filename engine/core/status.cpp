#include <patchbay/process_spec.hpp>
#include <patchbay/status.hpp>

namespace patchbay {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::created:
      return "CREATED";
    case Status::init:
      return "INIT";
    case Status::running:
      return "RUNNING";
    case Status::waiting:
      return "WAITING";
    case Status::completed:
      return "COMPLETED";
    case Status::failed:
      return "FAILED";
    case Status::stopped:
      return "STOPPED";
  }
  return "?";
}

std::string_view to_string(WaitMode mode) {
  switch (mode) {
    case WaitMode::spin:
      return "spin";
    case WaitMode::adaptive:
      return "adaptive";
    case WaitMode::block:
      return "block";
  }
  return "?";
}

WaitMode parse_wait_mode(std::string_view text, const SourceLocation& where) {
  if (text == "spin") return WaitMode::spin;
  if (text == "adaptive") return WaitMode::adaptive;
  if (text == "block") return WaitMode::block;
  throw ModelError(
      "unknown wait mode '" + std::string(text) + "' (expected spin, adaptive or block)", where);
}

}  // namespace patchbay
