// Error types thrown by patchbay. Every error says what went wrong and where.
#pragma once

#include <stdexcept>
#include <string>

namespace patchbay {

/// A place in a model file: file name and 1-based line (0 when unknown).
/// A plain value type; thread-safe to copy.
struct SourceLocation {
  std::string file;
  int line = 0;

  [[nodiscard]] bool empty() const { return file.empty() && line == 0; }
  /// "model.yaml:12", "model.yaml", "line 12" or "" depending on what is known.
  [[nodiscard]] std::string to_string() const;
};

/// Base of every exception patchbay throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A model that cannot run as written: YAML syntax, unknown component type, bad argument or
/// quantity, dangling connector, type mismatch, cycle without initial values, ...
/// `engine-run` exits with code 2 on this error.
class ModelError : public Error {
 public:
  /// `message` says what is wrong; `where` (optional) is prefixed to what().
  explicit ModelError(const std::string& message, SourceLocation where = {});

  /// The message without the location prefix.
  [[nodiscard]] const std::string& message() const { return message_; }
  [[nodiscard]] const SourceLocation& where() const { return where_; }

 private:
  std::string message_;
  SourceLocation where_;
};

/// A component threw from init() or step(): the process stopped every other component.
/// `engine-run` exits with code 1 on this error.
class ComponentFailure : public Error {
 public:
  ComponentFailure(std::string component, std::string type, std::string message);

  [[nodiscard]] const std::string& component() const { return component_; }
  [[nodiscard]] const std::string& type() const { return type_; }
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  std::string component_;
  std::string type_;
  std::string message_;
};

}  // namespace patchbay
