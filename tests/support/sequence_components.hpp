// Components that send and check the sequence 0, 1, 2, ...: delivery exactly once and in order,
// across processes. Built in code (name and count) or from a model (ComponentArgs).
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>
#include <patchbay/port.hpp>
#include <patchbay/status.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace patchbay::test {

/// Emits 0..count-1, or forever when count < 0. Argument: `count`.
class Counter final : public patchbay::Component {
 public:
  Counter(std::string name, std::int64_t count) : Component(std::move(name)), count_(count) {}
  explicit Counter(const patchbay::ComponentArgs& args)
      : Component(args), count_(args.get<std::int64_t>("count")) {}
  patchbay::Output<std::int64_t> out{this, "out"};
  void step() override {
    if (next_ == count_) {
      close();
      return;
    }
    out = next_++;
  }

 private:
  std::int64_t count_;
  std::int64_t next_ = 0;
};

/// Fails the run unless it receives 0, 1, 2, ... exactly once and in order, and at completion
/// unless it saw exactly `expected` values. Argument: `expected`.
class SequenceCheck final : public patchbay::Component {
 public:
  SequenceCheck(std::string name, std::int64_t expected)
      : Component(std::move(name)), expected_(expected) {}
  explicit SequenceCheck(const patchbay::ComponentArgs& args)
      : Component(args), expected_(args.get<std::int64_t>("expected")) {}
  patchbay::Input<std::int64_t> in{this, "in"};
  void step() override {
    if (in.value() != next_) {
      throw std::runtime_error("expected " + std::to_string(next_) + ", got " +
                               std::to_string(in.value()));
    }
    ++next_;
  }
  void teardown(patchbay::Status status) override {
    if (status == patchbay::Status::completed && next_ != expected_) {
      throw std::runtime_error("received " + std::to_string(next_) + " values, expected " +
                               std::to_string(expected_));
    }
  }

 private:
  std::int64_t expected_;
  std::int64_t next_ = 0;
};

}  // namespace patchbay::test
