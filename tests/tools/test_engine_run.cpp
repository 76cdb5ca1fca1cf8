// engine-run as a user runs it: exit codes, one-line errors with file and line, outputs.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#include "support/command.hpp"

using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;
using patchbay::test::write_file;

namespace {

const std::string engine_run = PATCHBAY_ENGINE_RUN;
const std::string accumulator = PATCHBAY_ACCUMULATOR_PLUGIN;
const std::string hello_model = std::string(PATCHBAY_SOURCE_DIR) + "/examples/hello/model.yaml";

// A model around a components block and a connectors block, lines counted from 1.
std::string model(const std::string& components, const std::string& connectors) {
  return "process:\n"
         "  args:\n"
         "    components:\n" +
         components + "    connectors:\n" + connectors;
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("engine-run runs the hello model and exits 0", "[engine-run]") {
  TempDir dir;
  const auto r =
      run_command({engine_run, "--quiet", "--set", "slow-sleep.sleep_seconds=0.001", "--set",
                   "very-slow-sleep.sleep_seconds=0.002", "--set", "input.iters=7", hello_model},
                  dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string csv = read_file(dir / "hello.csv");
  CHECK(csv.rfind("timestamp\n", 0) == 0);
  CHECK(line_count(csv) == 8);
  CHECK_FALSE(std::filesystem::exists(dir / "hello.csv.partial"));
}

TEST_CASE("engine-run rejects bad models with exit 2 and one line naming file and line",
          "[engine-run]") {
  struct Case {
    const char* what;
    std::string yaml;
    std::string message;
    int line;  // 0: no line expected
  };
  const std::string iterator = "    - type: Iterator\n      args: {name: input, iters: 3}\n";
  const std::string sleep = "    - type: Sleep\n      args: {name: s, sleep_seconds: 0}\n";
  const std::vector<Case> cases = {
      {"YAML syntax error", "process:\n  args: [unclosed\n", "YAML syntax error", 0},
      {"unknown component type",
       model("    - type: Nope\n      args: {name: n}\n", "    - {source: n.x, target: n.y}\n"),
       "unknown component type 'Nope'", 4},
      {"bad quantity 5x",
       model("    - type: Iterator\n      args:\n        name: input\n        iters: 1\n"
             "        resources: {cpu: \"5x\"}\n",
             "    []\n"),
       "unknown suffix 'x'", 8},
      {"negative quantity",
       model("    - type: Iterator\n      args:\n        name: input\n        iters: 1\n"
             "        resources: {memory: -1}\n",
             "    []\n"),
       "negative", 8},
      {"missing required argument",
       model("    - type: Iterator\n      args: {name: input}\n", "    []\n"),
       "argument 'iters' is required", 4},
      {"wrong argument type",
       model("    - type: Iterator\n      args: {name: input, iters: many}\n", "    []\n"),
       "argument 'iters' must be an integer", 5},
      {"unknown argument",
       model("    - type: Iterator\n      args: {name: input, iters: 1, iter: 2}\n", "    []\n"),
       "unknown argument 'iter'", 5},
      {"duplicate name", model(iterator + iterator, "    []\n"), "duplicate component name 'input'",
       6},
      {"dangling connector",
       model(iterator + sleep, "    - {source: input.x, target: nothing.x}\n"),
       "no component named 'nothing'", 9},
      {"missing field", model(iterator + sleep, "    - {source: input.x, target: s.z}\n"),
       "has no input 'z'", 9},
      {"unconnected input", model(iterator + sleep, "    []\n"), "input 'x' is not connected", 6},
      {"type mismatch",
       model("    - type: Timestamper\n      args: {name: t}\n"
             "    - type: Accumulator\n      args: {name: a, initial_values: {previous: [0]}}\n",
             "    - {source: t.timestamp, target: a.x}\n"
             "    - {source: a.sum, target: a.previous}\n"
             "    - {source: a.sum, target: t.x}\n"
             "    - {source: a.sum, target: t.y}\n"),
       "type mismatch", 9},
      {"cycle without initial values",
       model("    - type: Iterator\n      args: {name: input, iters: 2}\n"
             "    - type: Accumulator\n      args: {name: a}\n",
             "    - {source: input.x, target: a.x}\n    - {source: a.sum, target: a.previous}\n"),
       "cycle without initial values: a -> a", 0},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      TempDir dir;
      write_file(dir / "model.yaml", c.yaml);
      const auto r =
          run_command({engine_run, "--quiet", "--plugin", accumulator, "model.yaml"}, dir.path());
      INFO(r.err);
      CHECK(r.exit_code == 2);
      CHECK(line_count(r.err) == 1);
      CHECK_THAT(r.err, Catch::Contains(c.message));
      if (c.line > 0)
        CHECK_THAT(r.err, Catch::Contains("model.yaml:" + std::to_string(c.line) + ":"));
    }
  }
}

TEST_CASE("engine-run exits 2 for bad arguments and missing files", "[engine-run]") {
  TempDir dir;
  CHECK(run_command({engine_run, "missing.yaml"}, dir.path()).exit_code == 2);
  CHECK(run_command({engine_run, "--no-such-option", hello_model}, dir.path()).exit_code == 2);
  CHECK(run_command({engine_run, "--set", "nobody.x=1", hello_model}, dir.path()).exit_code == 2);
  CHECK(
      run_command({engine_run, "--plugin", "/nonexistent.so", hello_model}, dir.path()).exit_code ==
      2);
  CHECK(run_command({engine_run, "--process", "gpu", hello_model}, dir.path()).exit_code == 2);
}

TEST_CASE("engine-run runs the hello model in parallel and prints its plan",
          "[engine-run][parallel]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--quiet", "--process", "parallel", "--stats",
                              "stats.json", "--set", "slow-sleep.sleep_seconds=0.001", "--set",
                              "very-slow-sleep.sleep_seconds=0.002", hello_model},
                             dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(line_count(read_file(dir / "hello.csv")) == 11);
  const std::string stats = read_file(dir / "stats.json");
  CHECK_THAT(stats, Catch::Contains("\"workers\": [") && Catch::Contains("\"cpuset\"") &&
                        Catch::Contains("\"time_busy_seconds\""));
  const auto plan = run_command({engine_run, "--plan", hello_model}, dir.path());
  CHECK(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("slow-sleep") && Catch::Contains("worker w0") &&
                           Catch::Contains("machine:"));
}

TEST_CASE("engine-run exits 2 with one line per demand for a model that cannot be placed",
          "[engine-run][parallel]") {
  TempDir dir;
  patchbay::test::write_file(
      dir / "model.yaml",
      "process:\n  type: parallel\n  args:\n    topology: \"pack:1 core:2 pu:1\"\n    components:\n"
      "    - type: Iterator\n      args: {name: a, iters: 1, resources: {gpu: 1}}\n"
      "    - type: Iterator\n      args: {name: b, iters: 1, resources: {resources: {licence: "
      "1}}}\n"
      "    connectors: []\n");
  const auto r = run_command({engine_run, "--quiet", "model.yaml"}, dir.path());
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("'a'") && Catch::Contains("gpu") && Catch::Contains("'b'") &&
                        Catch::Contains("licence"));
}

TEST_CASE("engine-run exits 1 naming the component that failed, and leaves no complete file",
          "[engine-run]") {
  TempDir dir;
  write_file(dir / "in.csv", "a,b\n1,2\n");
  write_file(
      dir / "model.yaml",
      model("    - type: FileReader\n      args: {name: read, path: in.csv, field_names: [zz]}\n"
            "    - type: FileWriter\n      args: {name: write, path: out.csv, field_names: [zz]}\n",
            "    - {source: read.zz, target: write.zz}\n"));
  const auto r =
      run_command({engine_run, "--quiet", "--stats", "stats.json", "model.yaml"}, dir.path());
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err,
             Catch::Contains("component 'read' (FileReader)") && Catch::Contains("no column 'zz'"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.csv"));
  const std::string stats = read_file(dir / "stats.json");
  CHECK_THAT(stats, Catch::Contains("\"FAILED\""));
}

TEST_CASE("engine-run stops on SIGINT with exit 130 and keeps only the partial file",
          "[engine-run]") {
  TempDir dir;
  const int pid =
      patchbay::test::start_command({engine_run, "--quiet", "--set", "input.iters=1000", "--set",
                                     "very-slow-sleep.sleep_seconds=5", hello_model},
                                    dir.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  kill(pid, SIGINT);
  const auto start = std::chrono::steady_clock::now();
  const auto r = patchbay::test::wait_command(pid, dir.path(), std::chrono::seconds(20));
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 130);
  // Sleep honours the stop within one slice; no step has to finish its 5 s.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK_FALSE(std::filesystem::exists(dir / "hello.csv"));
  CHECK(std::filesystem::exists(dir / "hello.csv.partial"));
}

TEST_CASE("engine-run --validate, --diagram and --stats", "[engine-run]") {
  TempDir dir;
  const auto valid = run_command({engine_run, "--validate", hello_model}, dir.path());
  CHECK(valid.exit_code == 0);
  CHECK_THAT(valid.out, Catch::Contains("valid (5 components, 5 connectors)"));
  CHECK_FALSE(std::filesystem::exists(dir / "hello.csv.partial"));

  const auto diagram = run_command({engine_run, "--diagram", hello_model}, dir.path());
  CHECK(diagram.exit_code == 0);
  CHECK_THAT(diagram.out,
             Catch::StartsWith("flowchart LR\n") &&
                 Catch::Contains("input@{ shape: rounded, label: Iterator<br>**input** } --> "
                                 "slow-sleep@{ shape: rounded, label: Sleep<br>**slow-sleep** }"));

  const auto stats =
      run_command({engine_run, "--quiet", "--set", "slow-sleep.sleep_seconds=0", "--set",
                   "very-slow-sleep.sleep_seconds=0", "--stats", "stats.json", hello_model},
                  dir.path());
  REQUIRE(stats.exit_code == 0);
  const std::string json = read_file(dir / "stats.json");
  CHECK_THAT(json, Catch::Contains("\"name\": \"timestamper\"") ||
                       Catch::Contains("\"name\":\"timestamper\""));
  CHECK_THAT(json, Catch::Contains("\"COMPLETED\""));
  CHECK_THAT(json, Catch::Contains("\"channels\""));
}

TEST_CASE("engine-run stops a parallel run on SIGINT with exit 130 and leaves no worker",
          "[engine-run][parallel]") {
  TempDir dir;
  const int pid = patchbay::test::start_command(
      {engine_run, "--quiet", "--process", "parallel", "--set", "input.iters=1000", "--set",
       "very-slow-sleep.sleep_seconds=5", hello_model},
      dir.path());
  std::vector<int> workers;
  for (int attempt = 0; attempt < 200 && workers.size() < 2; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    workers.clear();
    std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                           "/children");
    for (int child = 0; children >> child;)
      workers.push_back(child);
  }
  REQUIRE(workers.size() == 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  const auto r = patchbay::test::wait_command(pid, dir.path(), std::chrono::seconds(20));
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 130);
  for (int worker : workers)
    CHECK_FALSE(std::filesystem::exists("/proc/" + std::to_string(worker)));
  CHECK_FALSE(std::filesystem::exists(dir / "hello.csv"));
  CHECK(std::filesystem::exists(dir / "hello.csv.partial"));
}
