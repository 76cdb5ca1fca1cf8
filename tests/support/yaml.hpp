// Parsing a model that must be rejected, and the error it gets.
#pragma once

#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/model.hpp>

#include <string>

namespace patchbay::test {

/// The ModelError that parsing `yaml` (named "model.yaml") throws; fails the test when the
/// model is accepted.
inline ModelError parse_error(const std::string& yaml) {
  try {
    (void)parse_model(yaml, "model.yaml");
  } catch (const ModelError& e) {
    return e;
  }
  FAIL("parse_model accepted a model that should be rejected:\n" << yaml);
  return ModelError("unreachable");
}

}  // namespace patchbay::test
