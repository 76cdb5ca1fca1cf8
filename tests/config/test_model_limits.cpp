// Loading models from YAML, its limits: aliases, node counts, nesting, file size, duplicate keys,
// documents, ranges and the length of messages, in the file and in overrides.
#include <patchbay/error.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/command.hpp"
#include "support/yaml.hpp"

using Catch::Contains;
using patchbay::ModelError;
using patchbay::parse_model;
using patchbay::ProcessKind;
using patchbay::ProcessSpec;
using patchbay::Value;

namespace fs = std::filesystem;

namespace {

using patchbay::test::parse_error;
using patchbay::test::TempDir;
using patchbay::test::write_file;

// A model whose parameters hold `levels` lists, each made of `width` aliases of the one before:
// small as text, width^levels values once expanded ("billion laughs").
std::string alias_bomb(int levels, int width) {
  std::string yaml = "process:\n  args:\n    parameters:\n      l0: &l0 [x]\n";
  for (int level = 1; level <= levels; ++level) {
    yaml += "      l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < width; ++i)
      yaml += (i > 0 ? ", *l" : "*l") + std::to_string(level - 1);
    yaml += "]\n";
  }
  return yaml;
}

}  // namespace

TEST_CASE("aliases expanded past the node limit are refused naming the limit", "[model]") {
  // 4^10 leaves: about 100 MB of values if the loader expanded them.
  const ModelError small = parse_error(alias_bomb(10, 4));
  CHECK_THAT(small.message(), Contains("more than 1000000 YAML nodes") && Contains("alias"));
  CHECK(small.where().file == "model.yaml");
  CHECK(small.where().line >= 4);
  // The case: 10^7 leaves took 3.3 GB.
  const ModelError large = parse_error(alias_bomb(7, 10));
  CHECK_THAT(large.message(), Contains("more than 1000000 YAML nodes"));
  // A few aliases are fine.
  const ProcessSpec spec = parse_model(alias_bomb(3, 4));
  CHECK(spec.parameters.at("l3").as_list().size() == 4);
}

TEST_CASE("a document with too many nodes is refused before yaml-cpp builds its tree", "[model]") {
  // 7 million list items in 14 MB: yaml-cpp's tree of them would take over 3 GB.
  std::string yaml = "process:\n  args:\n    parameters:\n      p: [";
  yaml.reserve(yaml.size() + 14'000'010);
  for (int i = 0; i < 7'000'000; ++i)
    yaml += "1,";
  yaml += "1]\n";
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // Half a gigabyte more than the test runner already maps.
    std::size_t pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlimit memory{pages * 4096 + (std::size_t{512} << 20),
                        pages * 4096 + (std::size_t{512} << 20)};
    setrlimit(RLIMIT_AS, &memory);
#endif
    try {
      (void)parse_model(yaml, "m.yaml");
      _exit(1);
    } catch (const ModelError& e) {
      _exit(e.message().find("more than 1000000 YAML nodes") != std::string::npos ? 0 : 2);
    } catch (...) {
      _exit(3);
    }
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("aliases of a long string count its bytes each time", "[model]") {
  // 1 MiB once in the file, 100 MiB once expanded.
  std::string yaml = "process:\n  args:\n    parameters:\n      s: &s '" +
                     std::string(std::size_t{1} << 20, 'x') + "'\n      copies: [";
  for (int i = 0; i < 100; ++i)
    yaml += i > 0 ? ", *s" : "*s";
  yaml += "]\n";
  const ModelError e = parse_error(yaml);
  CHECK_THAT(e.message(), Contains("more than 16777216 bytes of YAML text") && Contains("alias"));
  CHECK(e.where().line == 5);
}

TEST_CASE("nesting deeper than the limit is refused at its line", "[model]") {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const ModelError e = parse_error("process:\n  args:\n    parameters:\n      p: " + deep + "\n");
  CHECK_THAT(e.message(), Contains("more than 64 deep"));
  CHECK(e.where().line == 4);
  const std::string fine = std::string(20, '[') + std::string(20, ']');
  CHECK_NOTHROW(parse_model("process:\n  args:\n    parameters:\n      p: " + fine + "\n"));
}

TEST_CASE("a model file larger than the limit is refused before it is read", "[model]") {
  TempDir dir;
  const fs::path model = dir / "huge.yaml";
  write_file(model, "process: {}\n");
  // Sparse: its size says 17 MiB, nothing is written.
  fs::resize_file(model, std::uintmax_t{17} << 20);
  try {
    (void)patchbay::load_model(model.string());
    FAIL("a 17 MiB model file was loaded");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("17825792 bytes, more than the 16777216 bytes allowed") &&
                             Contains(model.string()));
  }
  CHECK_THROWS_WITH(parse_model(std::string((std::size_t{16} << 20) + 1, ' '), "big.yaml"),
                    Contains("big.yaml") && Contains("more than the 16777216 bytes allowed"));
}

TEST_CASE("a key given twice in any mapping is refused naming it and both lines", "[model]") {
  struct Case {
    std::string name;
    std::string yaml;
    int line;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"top level", "process:\n  args: {}\nprocess:\n  args: {}\n", 3,
       "duplicate key 'process' (also at line 1)"},
      {"process args", "process:\n  args:\n    name: a\n    workers: 2\n    name: b\n", 5,
       "duplicate key 'name' (also at line 3)"},
      {"component args",
       "process:\n  args:\n    components:\n    - type: Sleep\n      args:\n        name: a\n"
       "        sleep_seconds: 1\n        sleep_seconds: 2\n",
       8, "duplicate key 'sleep_seconds' (also at line 7)"},
      {"component name",
       "process:\n  args:\n    components:\n    - type: Sleep\n      args:\n        name: a\n"
       "        name: b\n",
       7, "duplicate key 'name' (also at line 6)"},
      {"connector",
       "process:\n  args:\n    connectors:\n    - source: a.x\n      target: b.x\n"
       "      source: c.x\n",
       6, "duplicate key 'source' (also at line 4)"},
      {"flow mapping", "process:\n  args:\n    parameters: {a: 1, b: 2, a: 3}\n", 3,
       "duplicate key 'a' (also at line 3)"},
      {"resources",
       "process:\n  args:\n    components:\n    - type: Sleep\n      args:\n        name: a\n"
       "        resources:\n          cpu: 1\n          cpu: 2\n",
       9, "duplicate key 'cpu' (also at line 8)"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      const ModelError e = parse_error(c.yaml);
      CHECK(e.where().line == c.line);
      CHECK_THAT(e.message(), Contains(c.fragment));
    }
  }
}

TEST_CASE("a second YAML document in the model file is refused at its line", "[model]") {
  const ModelError e =
      parse_error("process:\n  args: {name: a}\n---\nprocess:\n  args: {name: b}\n");
  CHECK_THAT(e.message(), Contains("second YAML document") && Contains("one document"));
  CHECK(e.where().line >= 3);
  CHECK(e.where().line <= 4);
  const ModelError empty = parse_error("process:\n  args: {name: a}\n---\n");
  CHECK_THAT(empty.message(), Contains("second YAML document"));
  // A document start or end marker around the one document is fine.
  CHECK(parse_model("---\nprocess:\n  args: {name: a}\n...\n").name == "a");
}

TEST_CASE("fiber_stack_size and workers are range-checked at their line", "[model]") {
  auto args = [](const std::string& line) { return "process:\n  args:\n    " + line + "\n"; };
  for (const std::string bad : {"1", "16383", "1Gi + 1", "2Gi", "1e300", "-16Ki", "0"}) {
    CAPTURE(bad);
    const ModelError e = parse_error(args("fiber_stack_size: " + bad));
    CHECK(e.where().line == 3);
    CHECK_THAT(e.message(), Contains("fiber_stack_size"));
  }
  CHECK_THAT(parse_error(args("fiber_stack_size: 1")).message(),
             Contains("fiber_stack_size '1' is out of range (16Ki to 1Gi bytes)"));
  CHECK(parse_model(args("fiber_stack_size: 16Ki")).options.fiber_stack_size == 16384);
  CHECK(parse_model(args("fiber_stack_size: 1Gi")).options.fiber_stack_size == 1073741824);

  CHECK_THAT(parse_error(args("workers: 1025")).message(),
             Contains("'workers' must be a whole number from 1 to 1024"));
  CHECK_THAT(parse_error(args("workers: 9223372036854775807")).message(),
             Contains("from 1 to 1024"));
  CHECK(parse_model(args("workers: 1024")).options.workers == 1024);
}

TEST_CASE("keys and values from the file are quoted on one line in messages", "[model]") {
  const ModelError key = parse_error("process:\n  args:\n    \"bad\\nkey\": 1\n");
  CHECK_THAT(key.message(), Contains("unknown process argument 'bad\\nkey'"));
  CHECK(key.message().find('\n') == std::string::npos);
  const ModelError type = parse_error("process:\n  type: \"" + std::string(5000, 'x') + "\"\n");
  CHECK(type.message().size() < 600);
  CHECK_THAT(type.message(), Contains("(5000 bytes)"));
}

TEST_CASE("an override value is held to the same YAML limits as the file", "[model]") {
  ProcessSpec spec = parse_model(
      "process:\n  args:\n    components:\n    - type: Iterator\n      args: {name: it, iters: "
      "1}\n");
  std::string bomb = "it.iters=[&l0 [x]";
  for (int level = 1; level <= 8; ++level) {
    bomb += ", &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i)
      bomb += (i > 0 ? ", *l" : "*l") + std::to_string(level - 1);
    bomb += "]";
  }
  bomb += "]";
  CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {bomb}),
                    Contains("--set 'it.iters=") && Contains("more than 1000000 YAML nodes"));
  CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {"it.iters=1\n---\n2"}),
                    Contains("second YAML document"));
  CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {"it.iters={a: 1, a: 2}"}),
                    Contains("duplicate key 'a'"));
}
