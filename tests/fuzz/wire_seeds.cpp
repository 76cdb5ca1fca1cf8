// Writes the wire fuzzer's seeds: for each model file given, its encoding as the supervisor
// sends it to the fork server (spec-NAME) and, planned as a parallel model, its plan
// (plan-NAME, for models that validate). Usage: wire-seeds OUTPUT_DIRECTORY MODEL.yaml...
#include <patchbay/error.hpp>
#include <patchbay/model.hpp>

#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "fork/spec_codec.hpp"
#include "pure_validation.hpp"

namespace {

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out.flush()) throw patchbay::Error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: wire-seeds OUTPUT_DIRECTORY MODEL.yaml...\n";
    return 2;
  }
  const std::filesystem::path output = argv[1];
  try {
    std::filesystem::create_directories(output);
    for (int i = 2; i < argc; ++i) {
      const std::filesystem::path model = argv[i];
      // The file only: a seed needs no plugin, and some corpus models name one on purpose
      // that does not exist.
      patchbay::LoadOptions file_only;
      file_only.load_plugins = false;
      patchbay::ProcessSpec spec = patchbay::load_model(model.string(), file_only);
      const std::string name = model.stem().string();
      write_file(output / ("spec-" + name), patchbay::detail::encode_spec(spec));
      spec.kind = patchbay::ProcessKind::parallel;
      try {
        const auto plan = patchbay::fuzz::validate_purely(spec);
        write_file(output / ("plan-" + name), patchbay::detail::encode_plan(*plan));
      } catch (const patchbay::ModelError&) {
        // A model that is wrong on purpose: its spec is seed enough.
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "wire-seeds: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
