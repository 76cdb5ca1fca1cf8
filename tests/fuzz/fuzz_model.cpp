// libFuzzer target: the YAML model loader, then what `engine-run --validate` checks of the model
// (pure_validation.hpp). A bad model must end in patchbay::ModelError; any other exception (it
// reaches std::terminate, which names it), a sanitizer report, a hang or an input that needs
// more than the memory limit is a defect.
#include <patchbay/error.hpp>
#include <patchbay/model.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "pure_validation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const patchbay::ProcessSpec spec = patchbay::parse_model(text, "fuzz.yaml");
    (void)patchbay::fuzz::validate_purely(spec);
  } catch (const patchbay::ModelError&) {
    // A clear rejection: what a bad model should get.
  }
  return 0;
}
