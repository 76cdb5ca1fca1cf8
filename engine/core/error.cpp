#include <patchbay/error.hpp>

#include <utility>

namespace patchbay {

std::string SourceLocation::to_string() const {
  if (file.empty()) return line > 0 ? "line " + std::to_string(line) : std::string{};
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

namespace {
std::string with_location(const std::string& message, const SourceLocation& where) {
  return where.empty() ? message : where.to_string() + ": " + message;
}
}  // namespace

ModelError::ModelError(const std::string& message, SourceLocation where)
    : Error(with_location(message, where)), message_(message), where_(std::move(where)) {}

ComponentFailure::ComponentFailure(std::string component, std::string type, std::string message)
    : Error("component '" + component + "' (" + type + ") failed: " + message),
      component_(std::move(component)),
      type_(std::move(type)),
      message_(std::move(message)) {}

}  // namespace patchbay
