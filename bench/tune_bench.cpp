// Tuning overhead (docs/TUNING.md): trials per second of a trivial model through patchbay::Tuner
// beside the same number of plain runs of the model in a loop, and max_concurrent 2 beside 1.
// Each benchmark reports trials/s as items per second.
#include <benchmark/benchmark.h>

#include <patchbay/patchbay.hpp>

#include <algorithm>
#include <cstdint>
#include <thread>

namespace {

// The trivial model: the library's Iterator alone, counting to `iters`; the objective is its
// last output.
patchbay::ProcessSpec trivial_model(std::int64_t iters) {
  auto spec = patchbay::parse_model(R"(
plugboard:
  process:
    args:
      components:
      - type: Iterator
        args: {name: source, iters: 10}
)");
  spec.components[0].args["iters"] = iters;
  return spec;
}

patchbay::TuneSpec trivial_tune(std::size_t samples, std::size_t concurrent,
                                std::int64_t base_iters) {
  patchbay::TuneSpec spec;
  patchbay::ObjectiveSpec objective;
  objective.object_name = "source";
  objective.field_type = "field";
  objective.field_name = "x";
  spec.objectives.push_back(objective);
  patchbay::ParameterSpec iters;
  iters.object_name = "source";
  iters.field_type = "arg";
  iters.field_name = "iters";
  iters.kind = patchbay::ParameterKind::randint;
  iters.lower = static_cast<double>(base_iters / 2);
  iters.upper = static_cast<double>(base_iters * 3 / 2);
  spec.parameters.push_back(iters);
  spec.num_samples = samples;
  spec.max_concurrent = concurrent;
  spec.algorithm.type = patchbay::SearchAlgorithm::random;
  return spec;
}

// Trials a run: 2,000 of the trivial model, 200 of the millisecond one.
std::size_t trials_for(std::int64_t iters) {
  return iters >= 1000 ? 200 : 2000;
}

// Arg: the model's count (10: a trivial model; 20,000: a run of about a millisecond).
void plain_runs(benchmark::State& state) {
  const std::int64_t base = state.range(0);
  const auto model = trivial_model(base);
  const std::size_t trials = trials_for(base);
  for (auto _ : state) {
    for (std::size_t i = 0; i < trials; ++i) {
      auto spec = model;
      // Spread over [base / 2, 3 * base / 2), as the tuner's randint draws them.
      spec.components[0].args["iters"] =
          base / 2 + static_cast<std::int64_t>(i) * base / static_cast<std::int64_t>(trials);
      patchbay::make_process(spec)->run();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * trials));
}

// Args: max_concurrent, and the model's count as for plain_runs.
void tuner_trials(benchmark::State& state) {
  const auto concurrent = static_cast<std::size_t>(state.range(0));
  const std::int64_t base = state.range(1);
  const auto model = trivial_model(base);
  const std::size_t trials = trials_for(base);
  if (concurrent > std::thread::hardware_concurrency()) {
    state.SkipWithError("fewer cores than max_concurrent");
    return;
  }
  for (auto _ : state) {
    const auto result = patchbay::Tuner(trivial_tune(trials, concurrent, base)).run(model);
    if (result.trials.size() != trials) state.SkipWithError("trials missing");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * trials));
}

}  // namespace

BENCHMARK(plain_runs)
    ->ArgName("iters")
    ->Arg(10)
    ->Arg(20000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(tuner_trials)
    ->ArgNames({"max_concurrent", "iters"})
    ->ArgsProduct({{1, 2}, {10, 20000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
