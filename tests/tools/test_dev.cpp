// tools/dev, the helper: what it says when there is nothing to do its work on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include "support/command.hpp"

using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;
using patchbay::test::write_file;

namespace {

// A copy of tools/dev in `dir`/tools, so that what it reads (build-release/) is `dir`'s.
std::string dev_in(const TempDir& dir) {
  std::filesystem::create_directories(dir / "tools");
  const std::filesystem::path copy = dir / "tools/dev";
  write_file(copy, read_file(std::string(PATCHBAY_SOURCE_DIR) + "/tools/dev"));
  return copy.string();
}

}  // namespace

TEST_CASE("tools/dev chart without benchmark results says so in one line and exits 4", "[dev]") {
  TempDir dir;
  const std::string dev = dev_in(dir);
  const auto check = [&](const std::string& what) {
    const auto r = run_command({"/bin/bash", dev, "chart"}, dir.path());
    INFO(r.out << r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("dev: no benchmark results") && Catch::Contains(what));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_THAT(r.err, !Catch::Contains("Traceback"));
  };
  SECTION("no bench run") {
    check("does not exist (run tools/dev bench first)");
  }
  std::filesystem::create_directories(dir / "build-release");
  const std::string context = R"({"context": {"commit": "abc"}, "benchmarks": [)";
  SECTION("a run whose filter matched nothing") {
    write_file(dir / "build-release/bench-channel.json", context + "]}");
    write_file(dir / "build-release/bench-model.json", context + "]}");
    check("its filter matched nothing");
  }
  SECTION("a run that wrote nothing") {
    write_file(dir / "build-release/bench-channel.json", "");
    write_file(dir / "build-release/bench-model.json", context + "]}");
    check("not a benchmark run's JSON");
  }
}
