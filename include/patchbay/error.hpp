// Error types thrown by patchbay. Every error says what went wrong and where, on one line.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace patchbay {

/// The most bytes of an error message: every patchbay::Error's what() fits in this.
inline constexpr std::size_t error_message_max_bytes = 4096;

/// `text` (a path, a value, another program's message: anything from outside) ready to go
/// into an error message: between single quotes, with a quote, a backslash and control
/// characters escaped (`\'`, `\\`, `\n`, `\t`, `\r`, `\xHH`), as are bytes that are not valid
/// UTF-8, and cut after 200 bytes with its size ("'aaa...' (1000000 bytes)"). patchbay quotes what
/// it puts into its own messages this way; use it for yours. Thread-safe.
std::string quote_text(std::string_view text);

/// `text` made one line and bounded, as every patchbay::Error's message is: a line break
/// becomes "; " (a list of problems reads as one line), other control characters and bytes
/// that are not valid UTF-8 become `\xHH`, and beyond error_message_max_bytes it is cut at a
/// character boundary and ends with "... (N bytes)". Backslashes are kept, so that text quoted
/// with quote_text() reads the same, and applying it twice changes nothing. Thread-safe.
std::string message_line(std::string_view text);

/// A place in a model file: file name and 1-based line (0 when unknown).
/// A plain value type; thread-safe to copy.
struct SourceLocation {
  std::string file;
  int line = 0;

  [[nodiscard]] bool empty() const { return file.empty() && line == 0; }
  /// "model.yaml:12", "model.yaml", "line 12" or "" depending on what is known; a file name
  /// made one line and cut after 256 bytes.
  [[nodiscard]] std::string to_string() const;
};

/// Base of every exception patchbay throws. Its message is one line and bounded (see
/// message_line()), whatever text it was given. Errors are immutable once thrown: their
/// accessors are safe from any thread.
class Error : public std::runtime_error {
 public:
  explicit Error(std::string_view message);
  explicit Error(const std::string& message) : Error(std::string_view(message)) {}
  explicit Error(const char* message) : Error(std::string_view(message)) {}
};

/// A model that cannot run as written: YAML syntax, unknown component type, bad argument or
/// quantity, dangling connector, type mismatch, cycle without initial values, ...
/// `engine-run` exits with code 2 on this error.
class ModelError : public Error {
 public:
  /// `message` says what is wrong; `where` (optional) is prefixed to what().
  explicit ModelError(const std::string& message, SourceLocation where = {});

  /// The message as given, without the location prefix: data, which may hold several lines
  /// (one problem per line); what() is its printable form.
  [[nodiscard]] const std::string& message() const { return message_; }
  [[nodiscard]] const SourceLocation& where() const { return where_; }

 private:
  std::string message_;
  SourceLocation where_;
};

/// A component threw from init() or step(): the process stopped every other component.
/// what() is "component 'NAME' (TYPE) failed: MESSAGE", one line and bounded.
/// `engine-run` exits with code 1 on this error.
class ComponentFailure : public Error {
 public:
  ComponentFailure(std::string component, std::string type, std::string message);

  [[nodiscard]] const std::string& component() const { return component_; }
  [[nodiscard]] const std::string& type() const { return type_; }
  /// The component's own message as given; what() is its printable form.
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  std::string component_;
  std::string type_;
  std::string message_;
};

}  // namespace patchbay
