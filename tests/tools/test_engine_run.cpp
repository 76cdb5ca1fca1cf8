// engine-run as a user runs it: exit codes, one-line errors with file and line, outputs.
#include <patchbay/version.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <regex>
#include <thread>

#include "support/command.hpp"

using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;
using patchbay::test::write_file;

namespace {

const std::string engine_run = PATCHBAY_ENGINE_RUN;
const std::string accumulator = PATCHBAY_ACCUMULATOR_PLUGIN;
const std::string doubler = PATCHBAY_TEST_PLUGIN;
const std::string marker_plugin = PATCHBAY_MARKER_PLUGIN;
const std::string hello_source = std::string(PATCHBAY_SOURCE_DIR) + "/examples/hello/model.yaml";

// A copy of the hello model in `dir`: its output, hello.csv, is written next to it (a model's
// relative paths are its folder's), in the test's directory rather than the source tree.
std::string hello_model_in(const TempDir& dir) {
  const std::filesystem::path copy = dir / "hello.yaml";
  if (!std::filesystem::exists(copy)) write_file(copy, read_file(hello_source));
  return copy.string();
}

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

// What run_confined() saw: the command's result and its peak resident memory.
struct ConfinedResult {
  patchbay::test::CommandResult command;
  long max_rss_kib = 0;
};

// A seccomp filter under which creating a process or a thread (fork, vfork, clone, clone3)
// fails with EPERM and every other system call is allowed; empty on an architecture it does
// not know.
std::vector<sock_filter> no_new_process_filter() {
#if defined(__x86_64__)
  constexpr std::uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr std::uint32_t arch = AUDIT_ARCH_AARCH64;
#else
  return {};
#endif
  const std::vector<std::uint32_t> denied = {
#ifdef __NR_fork
      __NR_fork,
#endif
#ifdef __NR_vfork
      __NR_vfork,
#endif
#ifdef __NR_clone3
      __NR_clone3,
#endif
      __NR_clone,
  };
  const auto deny_offset = [&](std::size_t i) {
    return static_cast<std::uint8_t>(denied.size() - i);
  };
  std::vector<sock_filter> filter = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  for (std::size_t i = 0; i < denied.size(); ++i)
    filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, denied[i], deny_offset(i), 0));
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  return filter;
}

// Runs `argv` in `cwd` like run_command(), reporting its peak resident memory; with
// `no_new_processes`, under a seccomp filter that makes every fork, vfork, clone and clone3 of
// the command fail, so that it cannot start a process (or a thread) and succeed.
ConfinedResult run_confined(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                            bool no_new_processes) {
  std::vector<sock_filter> filter = no_new_process_filter();
  REQUIRE((!no_new_processes || !filter.empty()));
  sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
  const int pid = patchbay::test::start_command(argv, cwd, [&] {
    if (no_new_processes && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                             prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)) {
      _exit(125);
    }
  });
  rusage usage{};
  ConfinedResult result;
  // A guard against a hang only: these commands take well under a second.
  result.command = patchbay::test::wait_command(pid, cwd, std::chrono::seconds(60), &usage);
  result.max_rss_kib = usage.ru_maxrss;
  return result;
}

}  // namespace

TEST_CASE("engine-run runs the hello model and exits 0", "[engine-run]") {
  TempDir dir;
  const auto r = run_command(
      {engine_run, "--quiet", "--set", "slow-sleep.sleep_seconds=0.001", "--set",
       "very-slow-sleep.sleep_seconds=0.002", "--set", "input.iters=7", hello_model_in(dir)},
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
      {"a built-in's name in another package",
       model("    - type: acme.sinks.FileWriter\n"
             "      args: {name: save, path: out.csv, field_names: [x]}\n",
             "    []\n"),
       "unknown component type 'acme.sinks.FileWriter' for component 'save': it is not the "
       "built-in FileWriter",
       4},
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
  CHECK(run_command({engine_run, "--no-such-option", hello_model_in(dir)}, dir.path()).exit_code ==
        2);
  CHECK(
      run_command({engine_run, "--set", "nobody.x=1", hello_model_in(dir)}, dir.path()).exit_code ==
      2);
  CHECK(run_command({engine_run, "--plugin", "/nonexistent.so", hello_model_in(dir)}, dir.path())
            .exit_code == 2);
  CHECK(run_command({engine_run, "--process", "gpu", hello_model_in(dir)}, dir.path()).exit_code ==
        2);
}

TEST_CASE("engine-run runs the hello model in parallel and prints its plan",
          "[engine-run][parallel]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--quiet", "--process", "parallel", "--stats",
                              "stats.json", "--set", "slow-sleep.sleep_seconds=0.001", "--set",
                              "very-slow-sleep.sleep_seconds=0.002", hello_model_in(dir)},
                             dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(line_count(read_file(dir / "hello.csv")) == 11);
  const std::string stats = read_file(dir / "stats.json");
  CHECK_THAT(stats, Catch::Contains("\"workers\": [") && Catch::Contains("\"cpuset\"") &&
                        Catch::Contains("\"time_busy_seconds\""));
  // What the supervisor last saw of each worker: after the run, each has ended.
  CHECK_THAT(stats, Catch::Contains("\"gpus\": []") && Catch::Contains("\"activity\": \"ended\"") &&
                        Catch::Contains("\"since_progress_seconds\""));
  const auto plan = run_command({engine_run, "--plan", hello_model_in(dir)}, dir.path());
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
                                     "very-slow-sleep.sleep_seconds=5", hello_model_in(dir)},
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
  const auto valid = run_command({engine_run, "--validate", hello_model_in(dir)}, dir.path());
  CHECK(valid.exit_code == 0);
  CHECK_THAT(valid.out, Catch::Contains("valid (5 components, 5 connectors)"));
  CHECK_FALSE(std::filesystem::exists(dir / "hello.csv.partial"));

  const auto diagram = run_command({engine_run, "--diagram", hello_model_in(dir)}, dir.path());
  CHECK(diagram.exit_code == 0);
  CHECK_THAT(diagram.out,
             Catch::StartsWith("flowchart LR\n") &&
                 Catch::Contains("input@{ shape: rounded, label: Iterator<br>**input** } --> "
                                 "slow-sleep@{ shape: rounded, label: Sleep<br>**slow-sleep** }"));

  const auto stats =
      run_command({engine_run, "--quiet", "--set", "slow-sleep.sleep_seconds=0", "--set",
                   "very-slow-sleep.sleep_seconds=0", "--stats", "stats.json", hello_model_in(dir)},
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
       "very-slow-sleep.sleep_seconds=5", hello_model_in(dir)},
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

TEST_CASE("engine-run --validate, --plan and --diagram start no process, not even a thread",
          "[engine-run][validate]") {
#if defined(__SANITIZE_ADDRESS__)
  // LeakSanitizer starts a thread to check for leaks at exit, which the confinement forbids.
  WARN("skipped: LeakSanitizer needs a thread at exit, and this test forbids every one");
  return;
#endif
  TempDir dir;
  // Eight workers on a synthetic machine: before, --validate forked every one of them.
  std::string components;
  for (int i = 0; i < 8; ++i) {
    components += "    - type: Iterator\n      args: {name: it" + std::to_string(i) +
                  ", iters: 3, worker: w" + std::to_string(i) + "}\n";
  }
  write_file(dir / "model.yaml",
             "process:\n  type: parallel\n  args:\n"
             "    topology: \"pack:1 core:8 pu:1\"\n    components:\n" +
                 components + "    connectors: []\n");
  // The confinement works: a run must start its workers, and cannot.
  const auto run = run_confined({engine_run, "--quiet", "model.yaml"}, dir.path(), true);
  INFO(run.command.err);
  REQUIRE(run.command.exit_code != 125);  // seccomp is available
  REQUIRE(run.command.exit_code != 0);

  const auto validate = run_confined({engine_run, "--validate", "model.yaml"}, dir.path(), true);
  INFO(validate.command.err);
  CHECK(validate.command.exit_code == 0);
  CHECK_THAT(validate.command.out,
             Catch::Contains("valid (8 components, 0 connectors, 8 workers)"));
  const auto plan = run_confined({engine_run, "--plan", "model.yaml"}, dir.path(), true);
  INFO(plan.command.err);
  CHECK(plan.command.exit_code == 0);
  CHECK_THAT(plan.command.out, Catch::Contains("it7"));
  const auto diagram = run_confined({engine_run, "--diagram", "model.yaml"}, dir.path(), true);
  CHECK(diagram.command.exit_code == 0);
}

TEST_CASE("engine-run --validate of a huge channel capacity allocates no channel",
          "[engine-run][validate]") {
  TempDir dir;
  // Two Doublers in a cycle (double to double: a fixed-size ring, whose slots a real process
  // clears); one connector of 256 MiB. Validating it must cost only the model's description.
  write_file(dir / "model.yaml",
             "plugins: [" + doubler +
                 "]\n"
                 "process:\n  type: parallel\n  args:\n    topology: \"pack:1 core:2 pu:1\"\n"
                 "    components:\n"
                 "    - type: Doubler\n      args: {name: a, initial_values: {x: [1.0]}}\n"
                 "    - type: Doubler\n      args: {name: b}\n"
                 "    connectors:\n"
                 "    - {source: a.y, target: b.x, capacity: 256Mi}\n"
                 "    - {source: b.y, target: a.x}\n");
  for (const char* mode : {"--validate", "--plan"}) {
    INFO(mode);
    const auto r = run_confined({engine_run, mode, "model.yaml"}, dir.path(), false);
    INFO(r.command.err);
    CHECK(r.command.exit_code == 0);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's own shadow and allocator take hundreds of MB
    CHECK(r.max_rss_kib < 128 * 1024);
#endif
  }
  // The same model with a capacity over the limit is rejected, without allocating either.
  write_file(dir / "big.yaml", "plugins: [" + doubler +
                                   "]\n"
                                   "process:\n  type: parallel\n  args:\n"
                                   "    channel_capacity: 8Gi\n    components:\n"
                                   "    - type: Doubler\n      args: {name: a, initial_values: "
                                   "{x: [1.0]}}\n"
                                   "    connectors:\n    - {source: a.y, target: a.x}\n");
  const auto big = run_confined({engine_run, "--validate", "big.yaml"}, dir.path(), false);
  CHECK(big.command.exit_code == 2);
  CHECK_THAT(big.command.err,
             Catch::Contains("channel_capacity") && Catch::Contains("out of range"));
}

TEST_CASE(
    "engine-run loads a model's plugin only when the model needs it, and never under "
    "--validate --no-plugins",
    "[engine-run][validate][plugin]") {
  TempDir dir;
  const auto marker = dir / "plugin-loaded.marker";
  // Iterator -> Marker (from the plugin) -> FileWriter.
  const std::string iterator = "    - type: Iterator\n      args: {name: it, iters: 3}\n";
  const std::string writer =
      "    - type: FileWriter\n      args: {name: w, path: out.csv, field_names: [y]}\n";
  auto with_marker = [&](const std::string& marker_args, const std::string& connectors) {
    return "plugins: [" + marker_plugin + "]\n" +
           model(
               iterator + "    - type: Marker\n      args: {name: m" + marker_args + "}\n" + writer,
               connectors);
  };
  const std::string wired = "    - {source: it.x, target: m.x}\n    - {source: m.y, target: w.y}\n";

  SECTION("--no-plugins validates what it can, and loads nothing") {
    write_file(dir / "model.yaml", with_marker(", factor: 2", wired));
    const auto r =
        run_command({engine_run, "--validate", "--no-plugins", "model.yaml"}, dir.path());
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("valid (3 components, 2 connectors)") &&
                          Catch::Contains("type unknown (plugin not loaded)") &&
                          Catch::Contains("'m' (type 'Marker')"));
    CHECK(line_count(r.out) == 1);
    CHECK_FALSE(std::filesystem::exists(marker));
  }
  SECTION("--no-plugins still checks structure, connectors and known components") {
    struct Case {
      const char* what;
      std::string yaml;
      std::string message;
    };
    const std::vector<Case> cases = {
        {"a bad argument of a known type",
         "plugins: [" + marker_plugin + "]\n" +
             model("    - type: Iterator\n      args: {name: it, iters: 3, iter: 4}\n"
                   "    - type: Marker\n      args: {name: m}\n" +
                       writer,
                   wired),
         "unknown argument 'iter'"},
        {"a missing field of a known component",
         with_marker("",
                     "    - {source: it.nope, "
                     "target: m.x}\n    - {source: "
                     "m.y, target: w.y}\n"),
         "has no output 'nope'"},
        {"a connector to a missing component",
         with_marker("", wired + "    - {source: m.y, target: nobody.x}\n"),
         "no component named 'nobody'"},
        {"an input of a known component left unconnected",
         with_marker("", "    - {source: it.x, target: m.x}\n"), "input 'y' is not connected"},
        {"a cycle through the unknown component",
         with_marker("",
                     "    - {source: it.x, target: m.x}\n    - {source: m.y, target: w.y}\n"
                     "    - {source: m.y, target: m.x}\n"),
         "cycle without initial values: m -> m"},
        {"a duplicate name",
         "plugins: [" + marker_plugin + "]\n" +
             model(iterator + iterator + "    - type: Marker\n      args: {name: m}\n" + writer,
                   wired),
         "duplicate component name 'it'"},
    };
    for (const auto& c : cases) {
      DYNAMIC_SECTION(c.what) {
        write_file(dir / "model.yaml", c.yaml);
        const auto r =
            run_command({engine_run, "--validate", "--no-plugins", "model.yaml"}, dir.path());
        INFO(r.err);
        CHECK(r.exit_code == 2);
        CHECK(line_count(r.err) == 1);
        CHECK_THAT(r.err, Catch::Contains(c.message));
        CHECK_FALSE(std::filesystem::exists(marker));
      }
    }
  }
  SECTION("a plugin the model does not need is not loaded, but must exist") {
    write_file(dir / "model.yaml",
               "plugins: [" + marker_plugin + "]\n" + model(iterator, "    []\n"));
    for (const char* mode : {"--validate", "--plan"}) {
      const auto r = run_command({engine_run, mode, "model.yaml"}, dir.path());
      INFO(mode << ": " << r.err);
      CHECK(r.exit_code == 0);
    }
    const auto run = run_command({engine_run, "--quiet", "model.yaml"}, dir.path());
    CHECK(run.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(marker));
    write_file(dir / "missing.yaml",
               "plugins: [no-such-plugin.so]\n" + model(iterator, "    []\n"));
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--validate"}, {"--validate", "--no-plugins"}, {"--quiet"}}) {
      std::vector<std::string> argv{engine_run};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back("missing.yaml");
      const auto r = run_command(argv, dir.path());
      INFO(r.err);
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, Catch::Contains("no-such-plugin.so' does not exist"));
    }
  }
  SECTION("a plugin the model needs is loaded, and its components checked in full") {
    write_file(dir / "model.yaml", with_marker("", wired));
    const auto r = run_command({engine_run, "--validate", "model.yaml"}, dir.path());
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("argument 'factor' is required"));
    CHECK(std::filesystem::exists(marker));
  }
  SECTION("--no-plugins goes with --validate only, and not with --plugin") {
    write_file(dir / "model.yaml", with_marker(", factor: 2", wired));
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--no-plugins"},
          {"--plan", "--no-plugins"},
          {"--validate", "--no-plugins", "--plugin", marker_plugin}}) {
      std::vector<std::string> argv{engine_run};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back("model.yaml");
      const auto r = run_command(argv, dir.path());
      INFO(r.err);
      CHECK(r.exit_code == 2);
      CHECK(line_count(r.err) == 1);
    }
    CHECK_FALSE(std::filesystem::exists(marker));
  }
}

TEST_CASE("engine-run prints every error as one bounded line with the documented code",
          "[engine-run][messages]") {
  TempDir dir;
  const std::string huge(1'000'000, 'a');
  auto check_one_line = [](const patchbay::test::CommandResult& r, int code) {
    INFO(r.err.substr(0, 2000));
    CHECK(r.exit_code == code);
    CHECK(line_count(r.err) == 1);
    CHECK(r.err.size() < 4200);
    CHECK(r.err.rfind("engine-run: ", 0) == 0);
  };
  SECTION("a path too long for the system") {
    write_file(dir / "model.yaml",
               "plugins: [" + huge + ".so]\n" +
                   model("    - type: Iterator\n      args: {name: it, iters: 3}\n", "    []\n"));
    for (const char* mode : {"--validate", "--quiet"}) {
      INFO(mode);
      const auto r = run_command({engine_run, mode, "model.yaml"}, dir.path());
      check_one_line(r, 2);
      CHECK_THAT(r.err, Catch::Contains("plugin '") && Catch::Contains("File name too long"));
      CHECK_THAT(r.err, !Catch::Contains("unexpected error"));
    }
  }
  SECTION("a newline in a name or a value") {
    write_file(dir / "model.yaml",
               model("    - type: Iterator\n      args: {name: \"i\\nt\", iters: 3}\n"
                     "    - type: Iterator\n      args: {name: \"i\\nt\", iters: 3}\n",
                     "    []\n"));
    const auto r = run_command({engine_run, "--validate", "model.yaml"}, dir.path());
    check_one_line(r, 2);
    CHECK_THAT(r.err, Catch::Contains("duplicate component name 'i\\nt'"));
    write_file(dir / "in.csv", "a\n1\n");
    write_file(dir / "read.yaml",
               model("    - type: FileReader\n      args: {name: read, path: in.csv, "
                     "field_names: [\"z\\nz\"]}\n"
                     "    - type: FileWriter\n      args: {name: w, path: out.csv, field_names: "
                     "[y]}\n",
                     "    - {source: \"read.z\\nz\", target: w.y}\n"));
    check_one_line(run_command({engine_run, "--quiet", "read.yaml"}, dir.path()), 1);
  }
  SECTION("a huge value") {
    write_file(dir / "model.yaml",
               model("    - type: Iterator\n      args: {name: it, iters: \"" + huge + "\"}\n",
                     "    []\n"));
    check_one_line(run_command({engine_run, "--validate", "model.yaml"}, dir.path()), 2);
    const std::string name(100'000, 'n');
    write_file(dir / "wired.yaml", model("    - type: Iterator\n      args: {name: it, iters: 3}\n",
                                         "    - {source: it.x, target: " + name + ".x}\n"));
    const auto r = run_command({engine_run, "--validate", "wired.yaml"}, dir.path());
    check_one_line(r, 2);
    CHECK_THAT(r.err,
               Catch::Contains("no component named '") && Catch::Contains("...' (100000 bytes)"));
  }
  SECTION("a huge command-line value") {
    const std::string value(100'000, 'v');
    check_one_line(run_command({engine_run, "--process", value, hello_model_in(dir)}, dir.path()),
                   2);
    check_one_line(
        run_command({engine_run, "--set", "input.iters=" + value, hello_model_in(dir)}, dir.path()),
        2);
    check_one_line(run_command({engine_run, "--validate", value + ".yaml"}, dir.path()), 2);
  }
}

TEST_CASE("engine-run ends a completed run with a summary line; --quiet leaves it out",
          "[engine-run]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "models/out");
  write_file(dir / "models/model.yaml",
             model("    - type: Iterator\n      args: {name: input, iters: 5}\n"
                   "    - type: FileWriter\n"
                   "      args: {name: save, path: out/x.csv, field_names: [x]}\n",
                   "    - {source: input.x, target: save.x}\n"));
  const auto r = run_command(
      {engine_run, "--job-id", "summary-run", "--stats", "stats.json", "models/model.yaml"},
      dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(line_count(r.err) == 1);
  // The job, the time, the components and messages, and where the outputs went.
  CHECK(std::regex_match(r.err, std::regex("engine-run: summary-run completed in [0-9]+\\.[0-9]{2} "
                                           "s: 2 components, 5 messages; wrote "
                                           "'models/out/x\\.csv', 'stats\\.json'\n")));
  const auto quiet = run_command({engine_run, "--quiet", "models/model.yaml"}, dir.path());
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  // A run that fails ends with its error, not a summary.
  write_file(dir / "models/bad.yaml",
             model("    - type: Iterator\n      args: {name: input, iters: 5}\n"
                   "    - type: FileWriter\n"
                   "      args: {name: save, path: missing-dir/x.csv, field_names: [x]}\n",
                   "    - {source: input.x, target: save.x}\n"));
  const auto failed = run_command({engine_run, "models/bad.yaml"}, dir.path());
  CHECK(failed.exit_code != 0);
  CHECK_THAT(failed.err, !Catch::Contains("completed in"));
}

TEST_CASE("engine-run --stats is JSON, whatever the names hold", "[engine-run]") {
  TempDir dir;
  write_file(
      dir / "model.yaml",
      model("    - type: Iterator\n      args: {name: \"in \\\"put\\\"\\n\\t\\u00e9\", iters: 3}\n"
            "    - type: FileWriter\n"
            "      args: {name: save, path: out.csv, field_names: [x]}\n",
            "    - {source: \"in \\\"put\\\"\\n\\t\\u00e9.x\", target: save.x}\n"));
  const auto r = run_command(
      {engine_run, "--quiet", "--job-id", "a\"b\\c", "--stats", "stats.json", "model.yaml"},
      dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string text = read_file(dir / "stats.json");
  INFO(text);
  const auto json = nlohmann::json::parse(text);
  CHECK(json["process"]["job_id"] == "a\"b\\c");
  CHECK(json["process"]["status"] == "COMPLETED");
  REQUIRE(json["components"].size() == 2);
  CHECK(json["components"][0]["name"] == "in \"put\"\n\t\u00e9");
  CHECK(json["components"][0]["steps"].is_number_unsigned());
  CHECK(json["channels"][0]["messages"] == 3);
  // The layout: a member a line, and an item of a list a line.
  CHECK_THAT(text, Catch::StartsWith("{\n  \"process\": {\n    \"name\": "));
  CHECK_THAT(text, Catch::Contains(
                       "\n  \"components\": [\n    {\"name\": \"in \\\"put\\\"\\n\\t\u00e9\", "));
}

TEST_CASE("the version is meson's project version: the header, the library and engine-run",
          "[engine-run]") {
  const std::string project_version = PATCHBAY_PROJECT_VERSION;
  CHECK(std::string(PATCHBAY_VERSION) == project_version);
  CHECK(std::string(patchbay::version()) == project_version);
  CHECK(std::to_string(PATCHBAY_VERSION_MAJOR) + "." + std::to_string(PATCHBAY_VERSION_MINOR) +
            "." + std::to_string(PATCHBAY_VERSION_PATCH) ==
        project_version);
  TempDir dir;
  const auto r = run_command({engine_run, "--version"}, dir.path());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "engine-run (patchbay) " + project_version + "\n");
}

TEST_CASE("engine-run --help documents every exit code and the plugin options", "[engine-run]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--help"}, dir.path());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("--no-plugins") && Catch::Contains("Exit codes:") &&
                        Catch::Contains("  0 ") && Catch::Contains("  1 ") &&
                        Catch::Contains("  2 ") && Catch::Contains("  130 ") &&
                        Catch::Contains("--plan and --diagram load"));
}

TEST_CASE("engine-run --diagram keeps the model's names from breaking the chart",
          "[engine-run][messages]") {
  TempDir dir;
  write_file(dir / "model.yaml",
             model("    - type: Iterator\n      args: {name: \"in\\nput} --> x\", iters: 3}\n"
                   "    - type: Sleep\n      args: {name: end, sleep_seconds: 0}\n"
                   "    - type: Sleep\n      args: {name: node0, sleep_seconds: 0}\n",
                   "    - {source: \"in\\nput} --> x.x\", target: end.x}\n"
                   "    - {source: end.y, target: node0.x}\n"));
  const auto r = run_command({engine_run, "--diagram", "model.yaml"}, dir.path());
  INFO(r.out);
  CHECK(r.exit_code == 0);
  // One line per arrow: no name's line break or arrow reaches the chart as syntax.
  CHECK(line_count(r.out) == 3);
  CHECK_THAT(r.out, Catch::Contains("label: \"Iterator<br>**in#10;put#125; --#62; x**\""));
  CHECK_THAT(r.out, Catch::Contains("label: \"Sleep<br>**end**\""));
  CHECK_THAT(r.out, Catch::Contains(" --> node0@{ shape: rounded, label: Sleep<br>**node0** }"));
  CHECK_THAT(r.out, !Catch::Contains("--> x"));
}

namespace {

// The bytes of base64 text in either alphabet (standard or URL-safe), padding optional.
std::string from_base64(const std::string& text) {
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+' || c == '-') v = 62;
    if (c == '/' || c == '_') v = 63;
    if (v < 0) break;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

// What zlib's uncompress() makes of `data`, or "" when it cannot.
std::string inflated(const std::string& data) {
  std::vector<unsigned char> out(1 << 20);
  uLongf size = static_cast<uLongf>(out.size());
  if (uncompress(out.data(), &size, reinterpret_cast<const Bytef*>(data.data()),
                 static_cast<uLong>(data.size())) != Z_OK) {
    return {};
  }
  return {reinterpret_cast<const char*>(out.data()), size};
}

}  // namespace

TEST_CASE("engine-run --diagram draws any name the engine accepts as valid Mermaid",
          "[engine-run][messages]") {
  TempDir dir;
  // Names Mermaid would read as syntax: keywords in any case, spaces, quotes, brackets, braces,
  // arrows, dashes at an end or doubled, a leading digit, a '#', a name like a generated id.
  const std::vector<std::string> names = {
      "end",      "End",   "my input", "say \"hi\"", "a[b]", "c{d}",    "a--b", "x-",
      "-y",       "1st",   "class",    "style",      "o",    "x",       "p#q;", "node1",
      "subgraph", "a-->b", "(round)",  "it's",       "<br>", "**bold**"};
  std::string components;
  std::string connectors;
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string escaped;
    for (const char c : names[i]) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c;
    }
    components += "    - type: Sleep\n      args: {name: \"" + escaped + "\", sleep_seconds: 0}\n";
    if (i > 0) {
      std::string previous;
      for (const char c : names[i - 1]) {
        if (c == '"' || c == '\\') previous += '\\';
        previous += c;
      }
      connectors += "    - {source: \"" + previous + ".y\", target: \"" + escaped + ".x\"}\n";
    }
  }
  components += "    - type: Iterator\n      args: {name: source, iters: 1}\n";
  connectors += "    - {source: source.x, target: end.x}\n";
  write_file(dir / "model.yaml", model(components, connectors));
  REQUIRE(run_command({engine_run, "--validate", "model.yaml"}, dir.path()).exit_code == 0);

  const auto r = run_command({engine_run, "--diagram", "model.yaml"}, dir.path());
  INFO(r.out);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Every line is a node or an arrow between two: a node is a safe id (a letter or '_', then
  // letters, digits, '_', single dashes between them) with a shape and a label that is either
  // plain or quoted with no quote, line break or Mermaid syntax inside.
  const std::string id = R"([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)";
  const std::string label =
      R"((?:[A-Za-z0-9_-]+<br>\*\*[A-Za-z0-9_-]+\*\*|"[^"\n{}\[\]()<>|]*(?:<br>\*\*[^"\n{}\[\]()<>|*]*\*\*)?"))";
  const std::string node = id + "@\\{ shape: rounded, label: " + label + " \\}";
  const std::regex line("    " + node + "(?: --> " + node + ")?");
  const auto lines = patchbay::test::lines_of(r.out);
  REQUIRE(lines.size() == names.size() + 1);
  CHECK(lines[0] == "flowchart LR");
  const std::regex reserved(R"((^|[^A-Za-z0-9_-])(end|class|style|subgraph|End)@)",
                            std::regex::icase);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    INFO(lines[i]);
    CHECK(std::regex_match(lines[i], line));
    CHECK_FALSE(std::regex_search(lines[i], reserved));
  }
  // A quote in a name is Mermaid's #quot;, other syntax a numeric entity code.
  CHECK_THAT(r.out, Catch::Contains("**say #quot;hi#quot;**"));
  CHECK_THAT(r.out, Catch::Contains("**a#91;b#93;**"));
  CHECK_THAT(r.out, Catch::Contains("label: \"Sleep<br>**end**\""));
  CHECK_THAT(r.out, Catch::Contains("label: \"Sleep<br>**my input**\""));

  // On stderr, a link that opens the same chart in the Mermaid Live Editor: its state deflated
  // (zlib) and in base64, after "#pako:".
  const std::string prefix = "engine-run: view and edit it at https://mermaid.live/edit#pako:";
  REQUIRE_THAT(r.err, Catch::StartsWith(prefix));
  CHECK(line_count(r.err) == 1);
  const std::string encoded = r.err.substr(prefix.size(), r.err.size() - prefix.size() - 1);
  CHECK(encoded.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
  const auto state = nlohmann::json::parse(inflated(from_base64(encoded)));
  CHECK(state["code"] == r.out);
  CHECK(nlohmann::json::parse(state["mermaid"].get<std::string>())["theme"] == "default");
  // --quiet: the chart alone.
  const auto quiet = run_command({engine_run, "--diagram", "--quiet", "model.yaml"}, dir.path());
  CHECK(quiet.out == r.out);
  CHECK(quiet.err.empty());
}

TEST_CASE("engine-run --process-type local|ray chooses the engine, as Plugboard's does",
          "[engine-run][parallel]") {
  TempDir dir;
  // A model that names the parallel engine: --process-type local overrides it.
  write_file(dir / "model.yaml",
             "process:\n  type: plugboard.process.RayProcess\n  args:\n    components:\n"
             "    - type: Iterator\n      args: {name: input, iters: 5}\n"
             "    - type: FileWriter\n      args: {name: save, path: out.csv, field_names: [x]}\n"
             "    connectors:\n    - {source: input.x, target: save.x}\n");
  const auto local = run_command(
      {engine_run, "--quiet", "--process-type", "local", "--stats", "local.json", "model.yaml"},
      dir.path());
  INFO(local.err);
  REQUIRE(local.exit_code == 0);
  CHECK(read_file(dir / "out.csv") == "x\n0\n1\n2\n3\n4\n");
  CHECK_THAT(read_file(dir / "local.json"), !Catch::Contains("\"workers\""));

  // The hello model names the local engine: --process-type ray (any letter case) runs it on
  // the parallel one, whose workers --stats lists.
  const auto ray = run_command({engine_run, "--quiet", "--process-type", "Ray", "--stats",
                                "ray.json", "--set", "slow-sleep.sleep_seconds=0", "--set",
                                "very-slow-sleep.sleep_seconds=0", hello_model_in(dir)},
                               dir.path());
  INFO(ray.err);
  REQUIRE(ray.exit_code == 0);
  CHECK(line_count(read_file(dir / "hello.csv")) == 11);
  CHECK_THAT(read_file(dir / "ray.json"),
             Catch::Contains("\"workers\": [") && Catch::Contains("\"cpuset\""));

  // One engine option: both is a usage error, as is a type Plugboard does not have.
  const auto both = run_command(
      {engine_run, "--quiet", "--process", "local", "--process-type", "ray", hello_model_in(dir)},
      dir.path());
  CHECK(both.exit_code == 2);
  CHECK(line_count(both.err) == 1);
  CHECK_THAT(both.err, Catch::Contains("--process") && Catch::Contains("--process-type") &&
                           Catch::Contains("engine-run --help"));
  const auto unknown = run_command(
      {engine_run, "--quiet", "--process-type", "parallel", hello_model_in(dir)}, dir.path());
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("--process-type"));
}

TEST_CASE("engine-run --job-id names the run in --stats; without it the model's or a new one",
          "[engine-run]") {
  TempDir dir;
  const std::string iterator =
      "    - type: Iterator\n      args: {name: input, iters: 2}\n"
      "    - type: FileWriter\n      args: {name: save, path: out.csv, field_names: [x]}\n"
      "    connectors:\n    - {source: input.x, target: save.x}\n";
  write_file(dir / "plain.yaml", "process:\n  args:\n    components:\n" + iterator);
  // Plugboard keeps the job id in the state backend's arguments.
  write_file(dir / "state.yaml",
             "process:\n  args:\n    state:\n      type: plugboard.state.DictStateBackend\n"
             "      args: {job_id: from-the-model}\n    components:\n" +
                 iterator);
  auto stats_of = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{engine_run, "--quiet", "--stats", "stats.json"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_command(argv, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return read_file(dir / "stats.json");
  };
  CHECK_THAT(stats_of({"--job-id", "abc", "plain.yaml"}), Catch::Contains("\"job_id\": \"abc\""));
  CHECK_THAT(stats_of({"--job-id", "say \"hi\"", "plain.yaml"}),
             Catch::Contains("\"job_id\": \"say \\\"hi\\\"\""));
  CHECK_THAT(stats_of({"state.yaml"}), Catch::Contains("\"job_id\": \"from-the-model\""));
  CHECK_THAT(stats_of({"--job-id", "abc", "state.yaml"}), Catch::Contains("\"job_id\": \"abc\""));
  const std::string generated = stats_of({"plain.yaml"});
  CHECK_THAT(generated,
             Catch::Matches("[\\s\\S]*\"job_id\": \"job-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}\"[\\s\\S]*"));

  // An empty id, or one with a control character, is a usage error; so is a job id for a
  // command that runs nothing.
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--job-id", ""},
                                              {"--job-id", "a\nb"},
                                              {"--job-id", "abc", "--validate"},
                                              {"--job-id", "abc", "--diagram"}}) {
    std::vector<std::string> argv{engine_run, "--quiet"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    argv.push_back("plain.yaml");
    const auto r = run_command(argv, dir.path());
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(line_count(r.err) == 1);
  }
}

TEST_CASE("engine-run --help says which Plugboard command each mode stands for", "[engine-run]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--help"}, dir.path());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out,
             Catch::Contains("plugboard process run MODEL.yaml      engine-run MODEL.yaml") &&
                 Catch::Contains("plugboard process diagram") &&
                 Catch::Contains("engine-run --diagram") && Catch::Contains("engine-run serve") &&
                 Catch::Contains("--process-type") && Catch::Contains("--job-id"));
}

TEST_CASE("engine-run: Plugboard's command shape, process run|validate|diagram MODEL",
          "[engine-run]") {
  TempDir dir;
  const std::string model = hello_model_in(dir);
  const auto validate = run_command({engine_run, "process", "validate", model}, dir.path());
  CHECK(validate.exit_code == 0);
  CHECK(validate.out == run_command({engine_run, "--validate", model}, dir.path()).out);
  const auto diagram =
      run_command({engine_run, "process", "diagram", "--quiet", model}, dir.path());
  CHECK(diagram.exit_code == 0);
  CHECK(diagram.out == run_command({engine_run, "--diagram", "--quiet", model}, dir.path()).out);
  const auto run =
      run_command({engine_run, "process", "run", "--quiet", "--set", "input.iters=3", "--set",
                   "slow-sleep.sleep_seconds=0", "--set", "very-slow-sleep.sleep_seconds=0", model},
                  dir.path());
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "hello.csv"));
  const auto tune = run_command({engine_run, "process", "tune", model}, dir.path());
  CHECK(tune.exit_code == 2);
  CHECK_THAT(tune.err, Catch::Contains("has no tune: section"));  // tests/tune: the tuner
  const auto other = run_command({engine_run, "process", "launch", model}, dir.path());
  CHECK(other.exit_code == 2);
  CHECK_THAT(other.err, Catch::Contains("expected run, validate, diagram or tune, got 'launch'"));
}

TEST_CASE("engine-run: --workers, --wait and --topology replace the model's process options",
          "[engine-run]") {
  TempDir dir;
  const std::string model = hello_model_in(dir);
  const auto plan = run_command(
      {engine_run, "--plan", "--workers", "3", "--topology", "pack:1 core:8 pu:1", model},
      dir.path());
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("machine: 1 package, 8 cores") &&
                           Catch::Contains("worker w2:") && !Catch::Contains("worker w3:"));
  const auto spin = run_command({engine_run, "--dump", "-", "--wait", "spin", model}, dir.path());
  CHECK_THAT(spin.out, Catch::Contains("wait: spin"));
  const auto bad = run_command({engine_run, "--plan", "--wait", "sometimes", model}, dir.path());
  CHECK(bad.exit_code == 2);
}

TEST_CASE("engine-run: --stats-every rewrites the statistics while the model runs",
          "[engine-run]") {
  TempDir dir;
  const std::string model = hello_model_in(dir);
  // 20 iterations of 50 + 100 ms sleeps: about 3 s.
  const int pid =
      patchbay::test::start_command({engine_run, "--quiet", "--set", "input.iters=20", "--stats",
                                     "stats.json", "--stats-every", "0.05", model},
                                    dir.path());
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ignored;
    if (std::filesystem::exists(dir / "stats.json", ignored)) {
      const auto stats = nlohmann::json::parse(read_file(dir / "stats.json"), nullptr, false);
      if (!stats.is_discarded() && stats["process"]["status"] == "RUNNING") {
        seen = stats.dump();
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto done = patchbay::test::wait_command(pid, dir.path(), std::chrono::seconds(60));
  INFO(done.err);
  CHECK(done.exit_code == 0);
  CHECK_FALSE(seen.empty());  // a snapshot taken during the run
  const auto last = nlohmann::json::parse(read_file(dir / "stats.json"));
  CHECK(last["process"]["status"] == "COMPLETED");
  const auto needs = run_command({engine_run, "--stats-every", "1", model}, dir.path());
  CHECK(needs.exit_code == 2);  // without --stats there is nothing to rewrite
}

TEST_CASE("engine-run's progress line on a terminal moves while the model runs, in both engines",
          "[engine-run]") {
  // script(1) gives engine-run a terminal and copies what it draws to standard output.
  const std::string process = GENERATE(as<std::string>{}, "local", "parallel");
  CAPTURE(process);
  TempDir dir;
  const std::string command = engine_run + " --process " + process +
                              " --set very-slow-sleep.sleep_seconds=0.25 " + hello_model_in(dir);
  const auto r = run_command({"/usr/bin/script", "-qfec", command, "/dev/null"}, dir.path());
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // Each redraw: "\r[engine-run JOB] 1.2s  steps N  messages M  components D/5 done\033[K".
  const std::regex redraw(R"(\r\[engine-run job-[0-9a-f-]+\] ([0-9.]+)s  steps ([0-9]+)  messages )"
                          R"(([0-9]+)  components [0-5]/5 done\x1b\[K)");
  std::vector<double> times;
  std::vector<long> steps;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), redraw);
       it != std::sregex_iterator(); ++it) {
    times.push_back(std::stod((*it)[1]));
    steps.push_back(std::stol((*it)[2]));
  }
  // 2.5 s of run, a redraw each 200 ms from the first second: the line moves all along (it
  // froze once in a LocalProcess, whose components run on the thread that runs the model).
  REQUIRE(steps.size() >= 4);
  CHECK(times.front() >= 1.0);
  CHECK(std::is_sorted(times.begin(), times.end()));
  CHECK(std::is_sorted(steps.begin(), steps.end()));
  std::size_t distinct = 0;
  for (std::size_t i = 1; i < steps.size(); ++i)
    distinct += steps[i] > steps[i - 1];
  CHECK(distinct >= 3);
  CHECK(steps.back() > steps.front());
  // Cleared before the summary line, which stays.
  CHECK_THAT(r.out,
             Catch::Contains("\r\x1b[Kengine-run: job-") && Catch::Contains(" completed in "));
}
