// Compiled DAGs (dag.hpp): registered functions bound into a graph, compiled into a running
// model, executed again and again, on both engines.
#include <catch2/catch.hpp>

#include <patchbay/dag.hpp>
#include <patchbay/error.hpp>
#include <patchbay/serve.hpp>
#include <patchbay/tasks.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

std::string dag_task1() {
  return "Result from task1";
}
PATCHBAY_REMOTE(dag_task1);
std::string dag_task2() {
  return "Result from task2";
}
PATCHBAY_REMOTE(dag_task2);
std::string dag_task3(std::string result1, std::string_view result2) {
  return "Task3 received: " + result1 + " and " + std::string(result2);
}
PATCHBAY_REMOTE(dag_task3);

std::int64_t dag_scale(std::int64_t x, std::int64_t factor) {
  if (x < 0) throw std::invalid_argument("negative: " + std::to_string(x));
  return x * factor;
}
PATCHBAY_REMOTE(dag_scale);
std::int64_t dag_sum(std::span<const std::int64_t> parts) {
  std::int64_t total = 0;
  for (const auto p : parts)
    total += p;
  return total;
}
PATCHBAY_REMOTE(dag_sum);
std::vector<std::int64_t> dag_pair(std::int64_t a, std::int64_t b) {
  return {a, b};
}
PATCHBAY_REMOTE(dag_pair);

patchbay::DagOptions options_for(const std::string& kind) {
  patchbay::DagOptions options;
  options.parallel = kind == "parallel";
  return options;
}

}  // namespace

TEST_CASE("the tutorial's three tasks as a compiled DAG, executed again and again", "[dag]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  auto r1 = patchbay::bind(dag_task1);
  auto r2 = patchbay::bind(dag_task2);
  auto r3 = patchbay::bind(dag_task3, r1, r2);
  auto dag = patchbay::compile(r3, options_for(kind));
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(dag.execute().get() == "Task3 received: Result from task1 and Result from task2");
  }
  // One component per node, between the input and the output; each called once per execution.
  std::map<std::string, std::uint64_t> steps;
  for (const auto& c : dag.process().component_stats())
    steps[c.name] = c.steps;
  CHECK(steps.size() == 5);
  CHECK(steps["dag_task1"] == 1000);
  CHECK(steps["dag_task2"] == 1000);
  CHECK(steps["dag_task3"] == 1000);
  dag.close();
  CHECK(dag.process().status() == patchbay::Status::completed);
}

TEST_CASE("a DAG with an input, constants and a function used twice, from many threads", "[dag]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  patchbay::DagInput<std::int64_t> x;
  auto doubled = patchbay::bind(dag_scale, x, 2);
  auto tripled = patchbay::bind(dag_scale, x, std::int64_t{3});
  auto both = patchbay::bind(dag_pair, doubled, tripled);
  auto total = patchbay::bind(dag_sum, both);  // a span parameter reads the vector in place
  auto dag = patchbay::compile(total, x, options_for(kind));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::int64_t i = 0; i < 500; ++i) {
        const std::int64_t v = t * 1000 + i;
        if (dag.execute(v).get() != 5 * v) wrong.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(wrong.load() == 0);
  std::vector<std::string> names;
  for (const auto& c : dag.process().component_stats())
    names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"input", "dag_scale", "dag_scale#2", "dag_pair",
                                          "dag_sum", "output"});
}

TEST_CASE("a function that throws fails that execution, naming its node; the DAG goes on",
          "[dag]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  patchbay::DagInput<std::int64_t> x;
  auto dag = patchbay::compile(patchbay::bind(dag_scale, x, 10), x, options_for(kind));
  CHECK(dag.execute(4).get() == 40);
  try {
    (void)dag.execute(-1).get();
    FAIL("no error");
  } catch (const patchbay::RequestError& e) {
    CHECK(e.component() == "dag_scale");
    CHECK_THAT(e.what(), Catch::Contains("negative: -1"));
  }
  CHECK(dag.execute(5).get() == 50);
  dag.close();
  CHECK_THROWS_AS(dag.execute(6).get(), patchbay::ReplyError);
}

TEST_CASE("compile() refuses a DAG whose input it was not given", "[dag]") {
  patchbay::DagInput<std::int64_t> x;
  patchbay::DagInput<std::int64_t> other;
  auto y = patchbay::bind(dag_scale, x, 2);
  patchbay::DagOptions local;
  local.parallel = false;
  CHECK_THROWS_WITH(patchbay::compile(y, local), Catch::Contains("DagInput"));
  CHECK_THROWS_WITH(patchbay::compile(y, other, local), Catch::Contains("DagInput"));
  const patchbay::DagNode<std::int64_t>& input_alone = x;
  CHECK_THROWS_WITH(patchbay::compile(input_alone, x, local), Catch::Contains("not its input"));
}
