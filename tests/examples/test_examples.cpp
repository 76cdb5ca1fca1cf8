// Every example runs and produces what it promises (rows, order, values), not timings.
#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <sstream>

#include "support/command.hpp"

using patchbay::test::lines_of;
using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;
using patchbay::test::write_file;

namespace {

const std::string source_dir = PATCHBAY_SOURCE_DIR;
const std::string engine_run = PATCHBAY_ENGINE_RUN;

void check_timestamps(const std::string& csv, std::size_t rows) {
  const auto lines = lines_of(csv);
  REQUIRE(lines.size() == rows + 1);
  CHECK(lines[0] == "timestamp");
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CHECK(std::regex_match(lines[i], iso));
    if (i > 1) CHECK(lines[i - 1] <= lines[i]);
  }
}

// A copy of the example model examples/MODEL in `dir`, and of the data files examples/DATA
// beside it; returns its path. A model's relative paths are its folder's, so what the copy
// writes lands in `dir`, not in the source tree.
std::string example_in(const TempDir& dir, const std::string& model,
                       const std::vector<std::string>& data = {}) {
  for (const auto& file : data) {
    write_file(dir / std::filesystem::path(file).filename().string(),
               read_file(source_dir + "/examples/" + file));
  }
  const std::filesystem::path copy = dir / std::filesystem::path(model).filename().string();
  write_file(copy, read_file(source_dir + "/examples/" + model));
  return copy.string();
}

}  // namespace

TEST_CASE("examples/hello/model.yaml writes one timestamp row per iteration", "[examples]") {
  TempDir dir;
  const auto r =
      run_command({engine_run, "--quiet", "--set", "slow-sleep.sleep_seconds=0.001", "--set",
                   "very-slow-sleep.sleep_seconds=0.002", example_in(dir, "hello/model.yaml")},
                  dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  check_timestamps(read_file(dir / "hello.csv"), 10);
}

TEST_CASE("examples/hello/main.cpp embeds the same model", "[examples]") {
  TempDir dir;
  const auto r =
      run_command({PATCHBAY_HELLO_EXAMPLE, "out.csv", "6", "0.001", "0.002"}, dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  check_timestamps(read_file(dir / "out.csv"), 6);
  CHECK_THAT(r.out, Catch::Contains("save-results: COMPLETED, 6 steps"));
}

TEST_CASE("the README's embedding example doubles five values", "[examples]") {
  TempDir dir;
  const auto r = run_command({PATCHBAY_EMBED_EXAMPLE}, dir.path());
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "out.csv") == "y\n0\n2\n4\n6\n8\n");
}

TEST_CASE("every plugin the README names under build/ is built there", "[examples]") {
  const std::string readme = read_file(source_dir + "/README.md");
  // The build directory of this suite: the one that holds the example plugins.
  const std::filesystem::path build =
      std::filesystem::path(PATCHBAY_ACCUMULATOR_PLUGIN).parent_path().parent_path();
  const std::regex plugin(R"(build/((examples|tests)/[A-Za-z0-9_/-]*lib[A-Za-z0-9_-]+\.so)\b)");
  std::size_t named = 0;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), plugin);
       it != std::sregex_iterator(); ++it) {
    ++named;
    const std::string path = (*it)[1];
    INFO(path);
    CHECK(std::filesystem::exists(build / path));
  }
  CHECK(named >= 5);
}

TEST_CASE("the README's fork-server program is examples/fork-server/main.cpp's", "[examples]") {
  const std::string readme = read_file(source_dir + "/README.md");
  const std::string program = read_file(source_dir + "/examples/fork-server/main.cpp");
  // The README's code block that starts a fork server, from its main() to its end.
  const std::size_t server = readme.find("  patchbay::ForkServer fork_server;");
  REQUIRE(server != std::string::npos);
  const std::size_t begin = readme.rfind("int main() {", server);
  const std::size_t end = readme.find("```", server);
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  const std::string snippet = readme.substr(begin, end - begin);
  INFO(snippet);
  CHECK_THAT(program, Catch::Contains(snippet));
}

TEST_CASE("the README's fork-server program runs model.yaml with the plugins it names",
          "[examples][fork_server]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "lib");
  std::filesystem::create_symlink(PATCHBAY_TEST_PLUGIN, dir / "lib/libdoubler.so");
  // A plugin named relative to the model, which load_model() loads: nothing else does here.
  write_file(dir / "model.yaml", R"(plugins: [lib/libdoubler.so]
process:
  type: parallel
  args:
    topology: "pack:1 core:2 pu:1"
    components:
    - {type: Iterator, args: {name: input, iters: 4}}
    - {type: Sleep, args: {name: pass, sleep_seconds: 0}}
    - {type: my_plugins.Doubler, args: {name: double}}
    - {type: FileWriter, args: {name: save, path: doubled.csv, field_names: [y]}}
    connectors:
    - {source: input.x, target: pass.x}
    - {source: pass.y, target: double.x}
    - {source: double.y, target: save.y}
)");
  const auto r = run_command({PATCHBAY_FORK_SERVER_EXAMPLE}, dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "doubled.csv") == "y\n0.0\n2.0\n4.0\n6.0\n");
}

TEST_CASE("the README's serving example answers from the host's threads", "[examples][serve]") {
  const auto r = run_command({PATCHBAY_SERVE_ECHO_EXAMPLE}, source_dir);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Received data: Hello\nReceived data: from another thread\n");
}

TEST_CASE("examples/csv reorders columns and keeps quoted cells", "[examples]") {
  const std::string expected =
      "note,sensor,reading\n"
      "ok,boiler,71.5\n"
      "\"rising, watch it\",boiler,72.25\n"
      "\"said \"\"cold\"\"\",intake,-3\n"
      "\"two\nlines\",intake,\n";
  TempDir dir;
  std::filesystem::create_directories(dir / "csv");
  const std::filesystem::path folder = dir / "csv";
  for (const char* file : {"model.yaml", "measurements.csv"})
    write_file(folder / file, read_file(source_dir + "/examples/csv/" + file));
  // The model's paths are relative to it: the same files from its folder's parent (as from the
  // repository's root) and from inside its folder.
  for (const auto& [cwd, model] : {std::pair{dir.path(), std::string("csv/model.yaml")},
                                   std::pair{folder, std::string("model.yaml")}}) {
    INFO(cwd.string());
    std::filesystem::remove(folder / "measurements-out.csv");
    const auto r = run_command({engine_run, "--quiet", model}, cwd);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(read_file(folder / "measurements-out.csv") == expected);
    if (cwd != folder) CHECK_FALSE(std::filesystem::exists(cwd / "measurements-out.csv"));
  }
}

TEST_CASE("examples/cycle computes a running sum through a cycle", "[examples]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--quiet", "--plugin", PATCHBAY_ACCUMULATOR_PLUGIN,
                              example_in(dir, "cycle/model.yaml")},
                             dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "running-sum.csv") == "sum\n0\n1\n3\n6\n10\n");
}

TEST_CASE("examples/hello-world: Plugboard's hello world writes twice each number", "[examples]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--quiet", "--plugin", PATCHBAY_HELLO_WORLD_PLUGIN,
                              example_in(dir, "hello-world/model.yaml")},
                             dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "b.txt") == "0\n2\n4\n6\n8\n10\n12\n14\n16\n18\n");
}

namespace {

// Runs examples/complex/MODEL with the tutorials' components, in `dir`.
void run_complex(const TempDir& dir, const std::string& model,
                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> command = {engine_run, "--quiet", "--plugin", PATCHBAY_COMPLEX_PLUGIN};
  command.insert(command.end(), extra.begin(), extra.end());
  command.push_back(example_in(dir, "complex/" + model));
  const auto r = run_command(command, dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

std::vector<double> numbers_in(const std::string& text) {
  std::vector<double> out;
  for (const auto& line : lines_of(text))
    out.push_back(std::stod(line));
  return out;
}

// What the tutorials' Save components wrote to input.txt and output.txt: five numbers each.
std::pair<std::vector<double>, std::vector<double>> saved_numbers(const TempDir& dir) {
  auto inputs = numbers_in(read_file(dir / "input.txt"));
  auto outputs = numbers_in(read_file(dir / "output.txt"));
  REQUIRE(inputs.size() == 5);
  REQUIRE(outputs.size() == 5);
  return {std::move(inputs), std::move(outputs)};
}

}  // namespace

TEST_CASE("examples/complex: Plugboard's branching tutorial gives 3 x + 10", "[examples]") {
  TempDir dir;
  run_complex(dir, "branching.yaml");
  const auto [inputs, outputs] = saved_numbers(dir);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    CHECK(inputs[i] >= 0.0);
    CHECK(inputs[i] < 10.0);
    CHECK(outputs[i] == Approx((inputs[i] + 10) + inputs[i] * 2));  // offset + scale
  }
}

TEST_CASE("examples/complex: Plugboard's loop tutorial sums through a cycle", "[examples]") {
  // The numbers the source draws with this seed, as it draws them.
  std::mt19937_64 engine(3);
  std::uniform_real_distribution<double> uniform(0.0, 10.0);
  std::vector<double> expected;
  double previous = 0;  // the scale's initial value
  for (int i = 0; i < 5; ++i) {
    const double sum = uniform(engine) + 2 * previous;
    expected.push_back(sum);
    previous = sum;
  }
  TempDir dir;
  run_complex(dir, "loop.yaml", {"--set", "random.seed=3"});
  const auto sums = numbers_in(read_file(dir / "cumulative-sum.txt"));
  REQUIRE(sums.size() == expected.size());
  for (std::size_t i = 0; i < sums.size(); ++i)
    CHECK(sums[i] == Approx(expected[i]));
}

TEST_CASE("engine-run --dump writes the model as it would run, which runs the same",
          "[examples][engine-run]") {
  TempDir dir;
  const auto dumped = run_command(
      {engine_run, "--dump", "loop.yaml", "--set", "random.seed=3", "--set", "scale.scale=3",
       "--process", "parallel", source_dir + "/examples/complex/loop.yaml"},
      dir.path());
  INFO(dumped.err);
  REQUIRE(dumped.exit_code == 0);
  const std::string yaml = read_file(dir / "loop.yaml");
  CHECK_THAT(yaml, Catch::Contains("type: plugboard.process.RayProcess") &&
                       Catch::Contains("seed: 3") && Catch::Contains("scale: 3"));
  // the dumped file runs as the original with the same options does
  const auto again = run_command(
      {engine_run, "--quiet", "--plugin", PATCHBAY_COMPLEX_PLUGIN, "loop.yaml"}, dir.path());
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  const std::string sums = read_file(dir / "cumulative-sum.txt");
  TempDir other;
  run_complex(other, "loop.yaml",
              {"--set", "random.seed=3", "--set", "scale.scale=3", "--process", "parallel"});
  CHECK(read_file(other / "cumulative-sum.txt") == sums);
  // to standard output
  const auto out = run_command(
      {engine_run, "--dump", "-", source_dir + "/examples/complex/loop.yaml"}, dir.path());
  CHECK(out.exit_code == 0);
  CHECK_THAT(out.out, Catch::StartsWith("plugboard:"));
}

TEST_CASE("examples/complex: a component's own parameter replaces the process's", "[examples]") {
  TempDir dir;
  run_complex(dir, "parameters.yaml");
  const auto [inputs, outputs] = saved_numbers(dir);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    // scale_a: x * 0.5 (the process's scale); scale_b: x * 2.0 (its own)
    CHECK(outputs[i] == Approx(inputs[i] * 0.5 + inputs[i] * 2.0));
  }
}

TEST_CASE("examples/events: high and low values reach their collectors as events",
          "[examples][events]") {
  // The numbers the source draws with this seed, as it draws them.
  std::mt19937_64 engine(7);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> highs;
  std::vector<double> lows;
  for (int i = 0; i < 50; ++i) {
    const double v = uniform(engine);
    if (v >= 0.8) highs.push_back(v);
    if (v <= 0.2) lows.push_back(v);
  }
  REQUIRE(!highs.empty());
  REQUIRE(!lows.empty());
  const std::string process = GENERATE(std::string("local"), std::string("parallel"));
  INFO("process: " << process);
  TempDir dir;
  const auto r = run_command({engine_run, "--quiet", "--plugin", PATCHBAY_EVENTS_PLUGIN, "--set",
                              "random-generator.seed=7", "--process", process, "--stats",
                              "stats.json", example_in(dir, "events/model.yaml")},
                             dir.path());
  INFO(r.err);
  // the StopEvent ends the run gracefully
  REQUIRE(r.exit_code == 0);
  const auto read_values = [&](const char* file) {
    const auto lines = lines_of(read_file(dir / file));
    REQUIRE(!lines.empty());
    CHECK(lines[0] == "value");
    std::vector<double> values;
    for (std::size_t i = 1; i < lines.size(); ++i)
      values.push_back(std::stod(lines[i]));
    return values;
  };
  // one row per event, in the order published
  CHECK(read_values("high.csv") == highs);
  CHECK(read_values("low.csv") == lows);
  // what the collectors exported, in the --stats JSON
  const std::string stats = read_file(dir / "stats.json");
  CHECK_THAT(stats, Catch::Contains(
                        "\"collect-high\": {\"events\": " + std::to_string(highs.size()) + "}"));
  CHECK_THAT(stats,
             Catch::Contains("\"collect-low\": {\"events\": " + std::to_string(lows.size()) + "}"));
}

TEST_CASE("examples/events: --diagram draws the events as Plugboard does", "[examples][events]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--diagram", "--plugin", PATCHBAY_EVENTS_PLUGIN,
                              source_dir + "/examples/events/model.yaml"},
                             dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  INFO(r.out);
  // a hexagon per event type, dotted arrows from its publisher and to its subscriber
  const std::regex from_publisher(R"(find-high-low@\{[^\n]*\} -\.-> (\w+)\{\{"high_event"\}\})");
  std::smatch match;
  REQUIRE(std::regex_search(r.out, match, from_publisher));
  const std::string high = match[1];
  CHECK_THAT(r.out, Catch::Contains(high + "{{\"high_event\"}} -.-> collect-high@{"));
  CHECK_THAT(r.out, Catch::Contains("{{\"low_event\"}} -.-> collect-low@{"));
  CHECK_THAT(r.out, Catch::Contains("random-generator@{ shape: rounded, label: Random<br>"
                                    "**random-generator** } --> find-high-low@{"));
}

TEST_CASE("docs/TASKS.md's smallest program adds and counts to 14", "[examples][tasks]") {
  const auto r = run_command({PATCHBAY_TASKS_SMALLEST_EXAMPLE}, source_dir);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "14\n");
}

TEST_CASE("examples/tasks/ray101.cpp gives the tutorials' results", "[examples][tasks]") {
  const auto r =
      run_command({PATCHBAY_RAY101_EXAMPLE, "--sleep-ms", "20", "--matrix", "60"}, source_dir);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* line :
       {"(0, 'Learning')", "(1, 'Ray')", "(2, 'Learning')", "(3, 'Ray')", "(4, 'Learning')",
        "(5, 'Ray')", "Aggregated result: 20",
        "Task3 received: Result from task1 and Result from task2",
        "DAG: Task3 received: Result from task1 and Result from task2", "[0, 1, 3, 6, 10]"}) {
    CHECK_THAT(r.out, Catch::Contains(line));
  }
  CHECK(std::regex_search(r.out, std::regex(R"(matrices: 60 x 60, sum -?[0-9.]+, checked)")));
}

TEST_CASE("examples/tasks/aggregators.cpp: two actors, one table each of one SQLite file",
          "[examples][tasks]") {
  TempDir dir;
  for (int run = 0; run < 2; ++run) {  // creates the file, then reads the existing one
    const auto r = run_command({PATCHBAY_AGGREGATORS_EXAMPLE, "mflix.sqlite"}, dir.path());
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Number of results: 42"));
  }
  const auto bad = run_command({PATCHBAY_AGGREGATORS_EXAMPLE, "no/such/dir/db.sqlite"}, dir.path());
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("aggregators: "));
}

TEST_CASE("examples/parallel: frames rendered and measured in place in two workers", "[examples]") {
  TempDir dir;
  const auto r = run_command({PATCHBAY_PARALLEL_EXAMPLE, "means.csv", "40"}, dir.path());
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = lines_of(read_file(dir.path() / "means.csv"));
  REQUIRE(lines.size() == 41);
  CHECK(lines[0] == "mean");
  for (std::size_t i = 1; i < lines.size(); ++i)
    CHECK(std::stod(lines[i]) == static_cast<double>(i - 1));
  CHECK_THAT(r.out, Catch::Contains("worker render (cpuset ") &&
                        Catch::Contains("worker measure (cpuset ") &&
                        Catch::Contains("camera: 41 steps, 2621440 bytes out"));
}

TEST_CASE(
    "examples/resources: the plan gives the GPU stage the GPU's socket, the 2-core stage "
    "two cores",
    "[examples][placement]") {
  const auto r = run_command(
      {"/usr/bin/env",
       "PATCHBAY_TOPOLOGY=" + source_dir + "/examples/resources/two-sockets-one-gpu.xml",
       engine_run, "--plan", source_dir + "/examples/resources/model.yaml"},
      source_dir);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("NUMA node 1, shared, GPU cuda0; infer") &&
                        Catch::Contains("dedicated; features") &&
                        Catch::Contains("1 GPU (cuda0 near NUMA 1)"));
}
