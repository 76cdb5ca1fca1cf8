// The Ray tutorials' programs on patchbay's Runtime (docs/TASKS.md): parallel lookups, a
// dependency through futures, a three-task graph (as tasks, then with the DAG API: compiled once,
// executed again and again), the matrices, and the Counter actor.
//
//   ray101 [--sleep-ms N] [--matrix N]
//
// --sleep-ms: how long one lookup or one "process" step sleeps (the tutorial's 1000 ms);
// --matrix: the matrices' side (the tutorial's 1000).
#include <patchbay/dag.hpp>
#include <patchbay/fork_server.hpp>
#include <patchbay/tasks.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tutorial.hpp"

using tutorial::create_matrix;
using tutorial::database;
using tutorial::Matrix;
using tutorial::multiply_matrices;
using tutorial::retrieve;
using tutorial::sum_matrices;
using tutorial::total;

namespace {

// ---- a dependency: process five items in parallel, then aggregate ----

int process(int item, int sleep_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return item * 2;
}
PATCHBAY_REMOTE(process);

int aggregate(std::vector<int> results) {
  int sum = 0;
  for (const int r : results)
    sum += r;
  return sum;
}
PATCHBAY_REMOTE(aggregate);

// ---- three tasks, the third depending on the first two ----

std::string task1() {
  return "Result from task1";
}
PATCHBAY_REMOTE(task1);
std::string task2() {
  return "Result from task2";
}
PATCHBAY_REMOTE(task2);
std::string task3(std::string result1, std::string result2) {
  return "Task3 received: " + result1 + " and " + result2;
}
PATCHBAY_REMOTE(task3);

// ---- the Counter actor ----

class Counter {
 public:
  int increment(int value) {
    count_ += value;
    return count_;
  }

 private:
  int count_ = 0;
};
std::unique_ptr<Counter> make_counter() {
  return std::make_unique<Counter>();
}
PATCHBAY_REMOTE(make_counter);
PATCHBAY_REMOTE_METHOD(Counter::increment);

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int sleep_ms = 1000;
  std::uint64_t side = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--sleep-ms") == 0) sleep_ms = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--matrix") == 0) side = std::strtoull(argv[i + 1], nullptr, 10);
  }
  // First thing: the runtime's and the DAG's workers are forked by the server, whatever threads
  // this program runs by then.
  patchbay::ForkServer fork_server;
  patchbay::Runtime runtime;  // one worker per usable core
  std::printf("workers: %zu\n", runtime.worker_count());

  // Parallel lookups: ceil(6 / workers) rounds of one sleep each.
  auto start = std::chrono::steady_clock::now();
  std::vector<patchbay::Future<std::pair<int, std::string>>> lookups;
  for (int item = 0; item < static_cast<int>(database.size()); ++item)
    lookups.push_back(runtime.submit(retrieve, item, sleep_ms));
  std::printf("lookups: %.3f s\n", seconds_since(start));
  for (auto& f : lookups) {
    const auto [item, value] = f.get();
    std::printf("(%d, '%s')\n", item, value.c_str());
  }
  std::printf("lookups done: %.3f s\n", seconds_since(start));

  // Process then aggregate: the five results reach aggregate() as its argument.
  start = std::chrono::steady_clock::now();
  std::vector<patchbay::Future<int>> processed;
  for (int i = 0; i < 5; ++i)
    processed.push_back(runtime.submit(process, i, sleep_ms));
  std::vector<int> values;
  for (auto& f : processed)
    values.push_back(f.get());
  std::printf("Aggregated result: %d\n", runtime.submit(aggregate, values).get());
  std::printf("aggregate done: %.3f s\n", seconds_since(start));

  // Three tasks: task3 runs once task1 and task2 are done, and reads their results in place.
  auto result1 = runtime.submit(task1);
  auto result2 = runtime.submit(task2);
  std::printf("%s\n", runtime.submit(task3, result1, result2).get().c_str());

  // The DAG API: the same graph bound once and compiled into a model with fixed channels; each
  // execute() is one request through it, in microseconds.
  {
    auto node1 = patchbay::bind(task1);
    auto node2 = patchbay::bind(task2);
    auto dag = patchbay::compile(patchbay::bind(task3, node1, node2));
    for (int i = 0; i < 2; ++i)
      std::printf("DAG: %s\n", dag.execute().get().c_str());
  }

  // Matrices: create four, multiply two pairs in parallel, sum the products.
  start = std::chrono::steady_clock::now();
  auto m1 = runtime.submit(create_matrix, side, std::uint64_t{1});
  auto m2 = runtime.submit(create_matrix, side, std::uint64_t{2});
  auto m3 = runtime.submit(create_matrix, side, std::uint64_t{3});
  auto m4 = runtime.submit(create_matrix, side, std::uint64_t{4});
  auto m12 = runtime.submit(multiply_matrices, m1, m2);
  auto m34 = runtime.submit(multiply_matrices, m3, m4);
  const Matrix sum = runtime.submit(sum_matrices, m12, m34).get();
  const double elapsed = seconds_since(start);
  // The same in this process, to check.
  const Matrix check =
      sum_matrices(multiply_matrices(create_matrix(side, 1), create_matrix(side, 2)),
                   multiply_matrices(create_matrix(side, 3), create_matrix(side, 4)));
  std::printf("matrices: %llu x %llu, sum %.6f, %s, %.3f s\n",
              static_cast<unsigned long long>(side), static_cast<unsigned long long>(side),
              total(sum), std::abs(total(sum) - total(check)) < 1e-6 ? "checked" : "WRONG",
              elapsed);

  // The Counter actor: five increments, in order.
  auto counter = runtime.create_actor(make_counter);
  std::vector<patchbay::Future<int>> counts;
  for (int i = 0; i < 5; ++i)
    counts.push_back(counter.call(&Counter::increment, i));
  std::printf("[");
  for (std::size_t i = 0; i < counts.size(); ++i)
    std::printf("%s%d", i == 0 ? "" : ", ", counts[i].get());
  std::printf("]\n");
  return 0;
}
