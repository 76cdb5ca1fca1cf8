// Tuning overhead (docs/TUNING.md): trials per second of a trivial model through patchbay::Tuner
// beside the same number of plain runs of the model in a loop, and max_concurrent 2 beside 1.
// Each benchmark reports trials/s as items per second.
#include <benchmark/benchmark.h>

#include <patchbay/patchbay.hpp>

#include <thread>

namespace {

// The trivial model: the library's Iterator alone, counting to `iters`; the objective is its
// last output.
patchbay::ProcessSpec trivial_model() {
  return patchbay::parse_model(R"(
plugboard:
  process:
    args:
      components:
      - type: Iterator
        args: {name: source, iters: 10}
)");
}

patchbay::TuneSpec trivial_tune(std::size_t samples, std::size_t concurrent) {
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
  iters.lower = 5;
  iters.upper = 15;
  spec.parameters.push_back(iters);
  spec.num_samples = samples;
  spec.max_concurrent = concurrent;
  spec.algorithm.type = patchbay::SearchAlgorithm::random;
  return spec;
}

constexpr std::size_t kTrials = 2000;

void plain_runs(benchmark::State& state) {
  const auto model = trivial_model();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kTrials; ++i) {
      auto spec = model;
      spec.components[0].args["iters"] = static_cast<std::int64_t>(5 + i % 10);
      patchbay::make_process(spec)->run();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kTrials));
}

void tuner_trials(benchmark::State& state) {
  const auto model = trivial_model();
  const auto concurrent = static_cast<std::size_t>(state.range(0));
  if (concurrent > std::thread::hardware_concurrency()) {
    state.SkipWithError("fewer cores than max_concurrent");
    return;
  }
  for (auto _ : state) {
    const auto result = patchbay::Tuner(trivial_tune(kTrials, concurrent)).run(model);
    if (result.trials.size() != kTrials) state.SkipWithError("trials missing");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kTrials));
}

}  // namespace

BENCHMARK(plain_runs)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tuner_trials)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
