// Tuning overhead (docs/TUNING.md): trials per second of a trivial model through patchbay::Tuner
// beside the same number of plain runs of the model in a loop, and max_concurrent 2 beside 1.
// Each benchmark reports trials/s as items per second (the search's one-time start included).
// tuner_trials also separates that start from the per-trial cost, with counters:
//   start_ms     the one-time start of a search (checking the model, the machine's topology,
//                the placement, the workers' fork): from Tuner::run's call until the first
//                trial began (its report's arrival less its run time)
//   end_ms       the one-time end of a search (the workers' exit, the ranking): from the last
//                trial's report until Tuner::run returned
//   trial_us     wall time per trial between the two: (search time - start - end) / trials
//   plain_us     a plain make_process(spec)->run() over the same counts, timed right after
//                each search (outside the benchmark's own timing), so that both see the
//                same load
//   added_us     what the tuner adds to each trial of a slot: trial_us * max_concurrent -
//                plain_us (with two slots each runs a trial every 2 * trial_us)
//   added_pct    added_us / plain_us, in percent (the issue's target: under 5)
#include <benchmark/benchmark.h>

#include <patchbay/patchbay.hpp>

#include <algorithm>
#include <chrono>
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

// Trials a run: 20,000 of the trivial model (a few microseconds each), 200 of the one of
// about 160 microseconds.
std::size_t trials_for(std::int64_t iters) {
  return iters >= 1000 ? 200 : 20000;
}

// `trials` plain runs of the model in a loop, its count spread over [base / 2, 3 * base / 2) as
// the tuner's randint draws them.
void plain_loop(const patchbay::ProcessSpec& model, std::int64_t base, std::size_t trials) {
  for (std::size_t i = 0; i < trials; ++i) {
    auto spec = model;
    spec.components[0].args["iters"] =
        base / 2 + static_cast<std::int64_t>(i) * base / static_cast<std::int64_t>(trials);
    patchbay::make_process(spec)->run();
  }
}

using Clock = std::chrono::steady_clock;

// Arg: the model's count (10: a trivial model; 20,000: a run of about 160 microseconds).
void plain_runs(benchmark::State& state) {
  const std::int64_t base = state.range(0);
  const auto model = trivial_model(base);
  const std::size_t trials = trials_for(base);
  for (auto _ : state)
    plain_loop(model, base, trials);
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
  double start = 0;
  double end = 0;
  double plain = 0;
  double total = 0;
  for (auto _ : state) {
    const auto began = Clock::now();
    double first = -1;
    Clock::time_point last = began;
    patchbay::TunerOptions options;
    options.on_trial = [&](const patchbay::Trial& trial) {
      last = Clock::now();
      if (first < 0) first = std::chrono::duration<double>(last - began).count() - trial.seconds;
    };
    const auto result =
        patchbay::Tuner(trivial_tune(trials, concurrent, base), std::move(options)).run(model);
    const auto finished = Clock::now();
    total += std::chrono::duration<double>(finished - began).count();
    start += std::max(first, 0.0);
    end += std::chrono::duration<double>(finished - last).count();
    if (result.trials.size() != trials) state.SkipWithError("trials missing");
    // The plain runs over the same counts, right after each search, so that both see the
    // same load on a shared machine (outside the benchmark's timing).
    state.PauseTiming();
    const auto plain_began = Clock::now();
    plain_loop(model, base, trials);
    plain += std::chrono::duration<double>(Clock::now() - plain_began).count();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * trials));
  const auto n = static_cast<double>(state.iterations());
  const double plain_us = plain / n / static_cast<double>(trials) * 1e6;
  const double trial_us = (total - start - end) / n / static_cast<double>(trials) * 1e6;
  const double added_us = trial_us * static_cast<double>(concurrent) - plain_us;
  state.counters["start_ms"] = start / n * 1e3;
  state.counters["end_ms"] = end / n * 1e3;
  state.counters["trial_us"] = trial_us;
  state.counters["plain_us"] = plain_us;
  state.counters["added_us"] = added_us;
  state.counters["added_pct"] = 100.0 * added_us / plain_us;
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
