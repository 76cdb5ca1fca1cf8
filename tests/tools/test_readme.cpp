// The README's commands: every one it shows is found here, and each is run as written (in a copy
// of the tree whose build/ is the build under test) or names what runs it (CI's script, or a
// test case of the suite). A command added to or changed in the README without a line here
// fails the first test case, so the README cannot drift from what works.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/command.hpp"

using patchbay::test::lines_of;
using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;

namespace {

namespace fs = std::filesystem;

const std::string source_dir = PATCHBAY_SOURCE_DIR;
// The build under test: engine-run is its tools/engine-run/engine-run.
const fs::path build_dir = fs::path(PATCHBAY_ENGINE_RUN).parent_path().parent_path().parent_path();

enum class How {
  run,        // run in the copy of the tree: exits 0, and its output has `detail`
  list,       // run with --list added: it names at least one test
  ci,         // .ci/run has `detail`, the line that runs it (or the command that does it)
  test_case,  // the test case named `detail` runs it (a real client, or shorter arguments)
  form,       // a form with placeholders (`tools/dev run ARGS`): the commands above are its uses
};

struct Entry {
  How how;
  std::string detail;
};

// Every command in the README, and how the suite runs it.
const std::map<std::string, Entry>& commands() {
  static const std::map<std::string, Entry> table = {
      // Two commands
      {"tools/dev run examples/hello/model.yaml", {How::run, "wrote 'examples/hello/hello.csv'"}},
      {"tools/dev test", {How::ci, "run_suite tools/dev test\n"}},
      {"tools/dev run ARGS", {How::form, ""}},
      {"tools/dev build --sanitize", {How::ci, "run_suite tools/dev test --sanitize"}},
      {"tools/dev test --sanitize", {How::ci, "run_suite tools/dev test --sanitize"}},
      {"tools/dev build --tsan", {How::ci, "run_suite tools/dev test --tsan"}},
      {"tools/dev test --tsan", {How::ci, "run_suite tools/dev test --tsan"}},
      {"meson test -C build --list", {How::run, "process/semantics/stop"}},
      {"meson test -C build process/semantics/stop", {How::run, "Ok:"}},
      {"meson test -C build --suite process/parallel", {How::list, ""}},
      {"tools/dev fault",
       {How::test_case, "randomly timed signals to workers and supervisors fail runs cleanly"}},
      {"tools/dev fuzz [TARGET] [SECONDS]", {How::ci, "tools/dev fuzz --smoke"}},
      {"tools/dev fuzz 3600", {How::ci, "tools/dev fuzz --smoke"}},
      {"tools/dev fuzz --smoke", {How::ci, "tools/dev fuzz --smoke"}},
      {"PATCHBAY_FUZZ_TIMEOUT_S=30 tools/dev fuzz wire 3600", {How::ci, "tools/dev fuzz --smoke"}},
      {"tools/dev fuzz", {How::ci, "tools/dev fuzz --smoke"}},
      // Install and use from another project: tools/dev check-install installs the build and
      // builds a consumer each way, shared and static.
      {"meson setup build --prefix=/usr/local -Dbuildtype=release",
       {How::ci, "tools/dev check-install"}},
      {"ninja -C build && sudo meson install -C build", {How::ci, "tools/dev check-install"}},
      {"meson test", {How::form, ""}},
      {"pkg-config --static --libs patchbay", {How::ci, "tools/dev check-install"}},
      {"tools/dev check-install", {How::ci, "tools/dev check-install"}},
      {"tools/dev docs", {How::run, "API reference: "}},
      // Running in parallel
      {"tools/dev run --process parallel examples/hello/model.yaml",
       {How::run, "wrote 'examples/hello/hello.csv'"}},
      {"tools/dev run --plan examples/hello/model.yaml", {How::run, "very-slow-sleep"}},
      {"tools/dev setup", {How::run, ""}},
      // Serving: over HTTP with curl, on a free port rather than 8000.
      {"build/tools/engine-run/engine-run serve --plugin build/examples/libecho.so "
       "examples/serve/echo.yaml --port 8000",
       {How::test_case, "examples/serve/echo.yaml answers the tutorial's request"}},
      {"curl 'http://127.0.0.1:8000/?data=Hello'",
       {How::test_case, "examples/serve/echo.yaml answers the tutorial's request"}},
      // Examples
      {"tools/dev run examples/csv/model.yaml", {How::run, "completed"}},
      {"tools/dev run --plugin build/examples/libaccumulator.so examples/cycle/model.yaml",
       {How::run, "completed"}},
      {"build/examples/fork-server",
       {How::test_case,
        "the README's fork-server program runs model.yaml with the plugins it "
        "names"}},
      {"build/examples/embed", {How::run, ""}},
      {"build/examples/parallel means.csv 100", {How::run, "camera: 101 steps"}},
      {"PATCHBAY_TOPOLOGY=examples/resources/two-sockets-one-gpu.xml tools/dev run --plan "
       "examples/resources/model.yaml",
       {How::run, "1 GPU (cuda0 near NUMA 1)"}},
      {"build/examples/serve-echo", {How::run, "Received data: Hello"}},
      {"tools/dev run serve --plugin build/examples/libecho.so examples/serve/echo.yaml --port "
       "8000",
       {How::test_case, "examples/serve/echo.yaml answers the tutorial's request"}},
      {"tools/dev run --plugin build/examples/libhello_world.so examples/hello-world/model.yaml",
       {How::run, "completed"}},
      {"tools/dev run --plugin build/examples/libcomplex.so examples/complex/parameters.yaml",
       {How::run, "completed"}},
      {"tools/dev run --plugin build/examples/libevents.so examples/events/model.yaml",
       {How::run, "completed"}},
      {"tools/dev run tune --plugin build/examples/libprojectile.so examples/tuning/model.yaml",
       {How::run, "best parameters (each line is a --set KEY=VALUE)"}},
      // A second of sleeps and 1000 x 1000 matrices: the test case runs it smaller.
      {"build/examples/ray101 --sleep-ms 1000 --matrix 1000",
       {How::test_case, "examples/tasks/ray101.cpp gives the tutorials' results"}},
      {"build/examples/aggregators mflix.sqlite", {How::run, "Number of results: 42"}},
      // Benchmarks: CI runs every program tools/dev bench runs, and chart.py on their output.
      {"tools/dev bench", {How::ci, "build-release/bench/$program"}},
      {"tools/dev chart", {How::ci, "python3 bench/chart.py"}},
  };
  return table;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// A shell line without its trailing comment (`  # ...`).
std::string without_comment(const std::string& line) {
  const auto hash = line.find("  #");
  return trim(hash == std::string::npos ? line : line.substr(0, hash));
}

// What a reader would type: the lines of ```sh blocks, the command lines of plain ``` blocks
// (those that start with build/ or curl, `\` continuations joined), and inline `code` that starts
// with tools/dev, meson, ninja, pkg-config or build/ (a span may wrap a line).
std::set<std::string> readme_commands(const std::string& readme) {
  std::set<std::string> found;
  std::string prose;
  bool in_block = false;
  std::string language;
  std::string pending;  // a command continued with '\'
  for (const auto& line : lines_of(readme)) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      language = in_block ? line.substr(3) : "";
      prose += '\n';
      continue;
    }
    if (!in_block) {
      prose += line + '\n';
      continue;
    }
    if (language == "sh") {
      if (const auto c = without_comment(line); !c.empty()) found.insert(c);
    } else if (language.empty()) {
      std::string text = pending.empty() ? without_comment(line) : pending + trim(line);
      pending.clear();
      if (text.rfind("build/", 0) != 0 && text.rfind("curl ", 0) != 0) continue;
      if (!text.empty() && text.back() == '\\') {
        text.pop_back();
        pending = trim(text) + ' ';
        continue;
      }
      found.insert(without_comment(text));
    }
  }
  const std::regex span(
      R"(`((?:PATCHBAY_[A-Z_]+=\S+ )?(?:tools/dev|meson |ninja |pkg-config |build/)[^`]*)`)");
  for (auto it = std::sregex_iterator(prose.begin(), prose.end(), span);
       it != std::sregex_iterator(); ++it) {
    std::string command = (*it)[1];
    std::replace(command.begin(), command.end(), '\n', ' ');
    command = std::regex_replace(command, std::regex(" +"), " ");
    if (command.rfind("build/", 0) == 0 && command.rfind("build/examples/", 0) != 0 &&
        command.rfind("build/tools/", 0) != 0) {
      continue;  // a file of the build, not a program
    }
    if (command != "tools/dev") found.insert(command);
  }
  return found;
}

// A copy of the parts of the tree the commands read, with build/ the build under test.
struct Tree {
  TempDir dir;
  Tree() {
    for (const char* part : {"examples", "include", "docs"})
      fs::copy(source_dir + "/" + part, dir / part, fs::copy_options::recursive);
    fs::create_directories(dir / "tools");
    fs::copy_file(source_dir + "/tools/dev", dir / "tools/dev");
    fs::copy_file(source_dir + "/meson.build", dir / "meson.build");
    fs::create_directory_symlink(build_dir, dir / "build");
  }
};

}  // namespace

TEST_CASE("every command in the README is one this file knows how the suite runs", "[readme]") {
  const auto found = readme_commands(read_file(source_dir + "/README.md"));
  // The extraction itself: the README's first commands are among what it finds.
  REQUIRE(found.count("tools/dev run examples/hello/model.yaml") == 1);
  REQUIRE(found.count("tools/dev test") == 1);
  for (const auto& command : found) {
    INFO("the README shows `" << command << "`: add it to tests/tools/test_readme.cpp");
    CHECK(commands().count(command) == 1);
  }
  for (const auto& [command, entry] : commands()) {
    INFO("tests/tools/test_readme.cpp lists `" << command
                                               << "`, which the README no longer "
                                                  "shows");
    CHECK(found.count(command) == 1);
  }
}

TEST_CASE("what runs a README command elsewhere is there: CI's line or the test case", "[readme]") {
  const std::string ci = read_file(source_dir + "/.ci/run");
  std::string tests;
  for (const auto& file : fs::recursive_directory_iterator(source_dir + "/tests")) {
    if (file.path().extension() == ".cpp") tests += read_file(file.path());
  }
  tests = std::regex_replace(tests, std::regex("\"\\s+\""), "");  // joined string literals
  for (const auto& [command, entry] : commands()) {
    INFO(command << " -> " << entry.detail);
    if (entry.how == How::ci) CHECK_THAT(ci, Catch::Contains(entry.detail));
    if (entry.how == How::test_case)
      CHECK_THAT(tests, Catch::Contains("TEST_CASE(\"" + entry.detail + "\""));
  }
}

TEST_CASE("the README's commands run as written", "[readme]") {
  for (const auto& [command, entry] : commands()) {
    if (entry.how != How::run && entry.how != How::list) continue;
    DYNAMIC_SECTION(command) {
      Tree tree;
      std::string line = entry.how == How::list ? command + " --list" : command;
      // `meson test` builds the whole build first: the suite's build is built, and a rebuild
      // here would replace the test program while it runs (after an edit made since).
      if (line.rfind("meson test", 0) == 0) line += " --no-rebuild";
      const auto r = run_command({"/bin/sh", "-c", line}, tree.dir.path(), std::chrono::minutes(5));
      INFO(r.out << r.err);
      REQUIRE(r.exit_code == 0);
      CHECK_THAT(r.out + r.err, Catch::Contains(entry.detail));
      if (entry.how == How::list) CHECK_FALSE(r.out.empty());
      if (command == "tools/dev docs") {
        CHECK(read_file(build_dir / "docs/api/warnings.txt").empty());
      }
      if (command.find("examples/hello/model.yaml") != std::string::npos &&
          command.find("--plan") == std::string::npos) {
        CHECK(lines_of(read_file(tree.dir / "examples/hello/hello.csv")).size() == 11);
      }
    }
  }
}
