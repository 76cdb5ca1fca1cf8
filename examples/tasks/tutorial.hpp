// The Ray tutorial's lookups and matrices as remote functions, shared by the example
// (ray101.cpp) and the benchmark that measures them against their ideal (bench/tasks_bench.cpp).
#pragma once

#include <patchbay/tasks.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tutorial {

// ---- parallel lookups ----

inline const std::vector<std::string> database = {"Learning", "Ray",      "Learning",
                                                  "Ray",      "Learning", "Ray"};

inline std::pair<int, std::string> retrieve(int item, int sleep_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return {item, database.at(static_cast<std::size_t>(item))};
}
PATCHBAY_REMOTE(retrieve);

// ---- matrices ----
//
// A matrix is its values, row-major, in a std::vector<double>: a flat vector, which the
// runtime stores once and hands to every task that takes it as a std::span read in place (no
// copy, no decoding), as Ray hands numpy arrays out of its object store.

using Matrix = std::vector<double>;

inline std::uint64_t side_of(std::span<const double> m) {
  return static_cast<std::uint64_t>(std::llround(std::sqrt(static_cast<double>(m.size()))));
}

inline Matrix create_matrix(std::uint64_t n, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal;
  Matrix m(n * n);
  for (double& v : m)
    v = normal(random);
  return m;
}
PATCHBAY_REMOTE(create_matrix);

inline Matrix multiply_matrices(std::span<const double> x, std::span<const double> y) {
  const std::uint64_t n = side_of(x);
  Matrix out(n * n, 0.0);
  for (std::uint64_t i = 0; i < n; ++i) {
    for (std::uint64_t k = 0; k < n; ++k) {
      const double a = x[i * n + k];
      const double* row = &y[k * n];
      double* target = &out[i * n];
      for (std::uint64_t j = 0; j < n; ++j)
        target[j] += a * row[j];
    }
  }
  return out;
}
PATCHBAY_REMOTE(multiply_matrices);

inline Matrix sum_matrices(std::span<const double> x, std::span<const double> y) {
  Matrix out(x.begin(), x.end());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] += y[i];
  return out;
}
PATCHBAY_REMOTE(sum_matrices);

inline double total(std::span<const double> m) {
  double sum = 0;
  for (const double v : m)
    sum += v;
  return sum;
}

}  // namespace tutorial
