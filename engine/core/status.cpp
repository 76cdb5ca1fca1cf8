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

}  // namespace patchbay
