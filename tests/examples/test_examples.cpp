// Every example runs and produces what it promises (rows, order, values), not timings.
#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include "support/command.hpp"

using patchbay::test::lines_of;
using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;

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

}  // namespace

TEST_CASE("examples/hello/model.yaml writes one timestamp row per iteration", "[examples]") {
  TempDir dir;
  const auto r = run_command(
      {engine_run, "--quiet", "--set", "slow-sleep.sleep_seconds=0.001", "--set",
       "very-slow-sleep.sleep_seconds=0.002", source_dir + "/examples/hello/model.yaml"},
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

TEST_CASE("the README's serving example answers from the host's threads", "[examples][serve]") {
  const auto r = run_command({PATCHBAY_SERVE_ECHO_EXAMPLE}, source_dir);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Received data: Hello\nReceived data: from another thread\n");
}

TEST_CASE("examples/csv reorders columns and keeps quoted cells", "[examples]") {
  TempDir dir;
  const auto r = run_command(
      {engine_run, "--quiet", "--set", "read.path=" + source_dir + "/examples/csv/measurements.csv",
       source_dir + "/examples/csv/model.yaml"},
      dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "measurements-out.csv") ==
        "note,sensor,reading\n"
        "ok,boiler,71.5\n"
        "\"rising, watch it\",boiler,72.25\n"
        "\"said \"\"cold\"\"\",intake,-3\n"
        "\"two\nlines\",intake,\n");
}

TEST_CASE("examples/cycle computes a running sum through a cycle", "[examples]") {
  TempDir dir;
  const auto r = run_command({engine_run, "--quiet", "--plugin", PATCHBAY_ACCUMULATOR_PLUGIN,
                              source_dir + "/examples/cycle/model.yaml"},
                             dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "running-sum.csv") == "sum\n0\n1\n3\n6\n10\n");
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
