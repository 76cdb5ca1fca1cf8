// The library components that every registry holds.
#pragma once

#include <patchbay/component.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace patchbay {
class Registry;
}

namespace patchbay::library {

/// Emits 0, 1, ..., iters-1 on output `x` (int64), then closes.
/// Arguments: `iters` (integer >= 0).
class Iterator final : public Component {
 public:
  explicit Iterator(const ComponentArgs& args);
  Iterator(std::string name, std::int64_t iters);
  void step() override;

  Output<std::int64_t> x{this, "x"};

 private:
  std::int64_t iters_;
  std::int64_t next_ = 0;
};

/// Passes input `x` to output `y` after blocking the thread for `sleep_seconds` (on purpose:
/// it stands for a computation that holds its core).
/// Arguments: `sleep_seconds` (number >= 0).
class Sleep final : public Component {
 public:
  explicit Sleep(const ComponentArgs& args);
  Sleep(std::string name, double sleep_seconds);
  void step() override;

  Input<Value> x{this, "x"};
  Output<Value> y{this, "y"};

 private:
  std::chrono::nanoseconds duration_;
};

/// When inputs `x` and `y` both hold a new value, emits the current local time as ISO 8601
/// with microseconds (2026-01-31T12:34:56.123456) on output `timestamp` (string).
class Timestamper final : public Component {
 public:
  explicit Timestamper(const ComponentArgs& args);
  explicit Timestamper(std::string name);
  void step() override;

  Input<Value> x{this, "x"};
  Input<Value> y{this, "y"};
  Output<std::string> timestamp{this, "timestamp"};
};

/// Reads a CSV file with a header row and emits one output per name in `field_names`, one row
/// per step; closes at the end of the file. Cells become int, double, or string (empty: null).
/// Arguments: `path`, `field_names` (list of column names, each must exist in the header).
class FileReader final : public Component {
 public:
  explicit FileReader(const ComponentArgs& args);
  FileReader(std::string name, std::string path, std::vector<std::string> field_names);
  ~FileReader() override;
  void init() override;
  void step() override;
  void teardown(Status final_status) override;

 private:
  struct State;
  std::string path_;
  std::vector<std::string> field_names_;
  std::vector<Output<Value>*> outputs_by_field_;
  std::unique_ptr<State> state_;
};

/// Writes one CSV row per step with a header row of `field_names` (one input per name), with
/// RFC 4180 quoting. Rows go to `PATH.partial` while running; when the inputs close the file is
/// flushed and renamed to `path`. If the process fails or is stopped, the rows received so far
/// stay in `PATH.partial`, so a file under `path` is always complete.
/// Arguments: `path`, `field_names` (list of names).
class FileWriter final : public Component {
 public:
  explicit FileWriter(const ComponentArgs& args);
  FileWriter(std::string name, std::string path, std::vector<std::string> field_names);
  ~FileWriter() override;
  void init() override;
  void step() override;
  void teardown(Status final_status) override;

 private:
  std::string path_;
  std::vector<std::string> field_names_;
  std::vector<Input<Value>*> inputs_by_field_;
  std::ofstream out_;
  std::vector<std::string> row_;
};

/// Registers the library components in `registry` (global() does this itself).
void register_library(Registry& registry);

}  // namespace patchbay::library
