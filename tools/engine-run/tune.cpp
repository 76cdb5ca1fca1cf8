// engine-run tune MODEL.yaml (and `engine-run process tune MODEL.yaml`, Plugboard's shape): the
// model's `tune:` section searched with patchbay::Tuner (docs/TUNING.md).

#include <patchbay/patchbay.hpp>

#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "engine_run.hpp"

namespace engine_run {

namespace {

std::atomic<patchbay::Tuner*> g_tuner{nullptr};
std::atomic<int> g_tune_signals{0};

extern "C" void on_tune_signal(int) {
  if (g_tune_signals.fetch_add(1) > 0) {
    constexpr char text[] = "engine-run: interrupted\n";
    (void)!::write(STDERR_FILENO, text, sizeof text - 1);
    ::_exit(kExitInterrupted);
  }
  if (patchbay::Tuner* tuner = g_tuner.load()) tuner->stop();
}

std::string parameters_text(const patchbay::TuneSpec& spec, const patchbay::Trial& trial) {
  std::string out;
  for (std::size_t i = 0; i < spec.parameters.size() && i < trial.parameters.size(); ++i) {
    if (!out.empty()) out += ' ';
    out += spec.parameters[i].override_key() + "=" + trial.parameters[i].to_string();
  }
  return out;
}

std::string objectives_text(const patchbay::TuneSpec& spec, const patchbay::Trial& trial) {
  if (trial.objectives.empty()) return "-";
  std::string out;
  for (std::size_t i = 0; i < spec.objectives.size() && i < trial.objectives.size(); ++i) {
    if (!out.empty()) out += ' ';
    out += spec.objectives[i].object_name + "." + spec.objectives[i].field_name + "=" +
           patchbay::Value(trial.objectives[i]).to_string();
  }
  return out;
}

// "1.234s", or "12.345ms" below a second.
std::string seconds_text(double s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3);
  if (s < 1) {
    out << s * 1000 << "ms";
  } else {
    out << s << "s";
  }
  return out.str();
}

}  // namespace

int tune_main(int argc, char** argv) {
  CLI::App app{"Searches the parameters of a model with a tune: section (docs/TUNING.md).",
               "engine-run tune"};
  app.footer(
      "Prints a line per finished trial, then the best trials, then the best parameters as\n"
      "YAML: each line KEY: VALUE is an `engine-run MODEL --set KEY=VALUE`.\n"
      "Ctrl-C stops the search and prints the best so far; a second Ctrl-C exits at once.\n"
      "Exit codes:\n"
      "  0    the search ran (every trial, or some failed: see their lines)\n"
      "  1    no trial gave an objective, or --history could not be written\n"
      "  2    bad model, tune: section or arguments (no tune: section included)\n"
      "  130  interrupted (SIGINT or SIGTERM): the best so far is printed");
  std::string model;
  std::string history;
  std::optional<std::size_t> num_samples;
  std::optional<std::size_t> max_concurrent;
  std::string algorithm;
  std::optional<std::uint64_t> seed;
  std::size_t top = 5;
  bool quiet = false;
  ModelOptions model_options;
  app.add_option("MODEL", model, "The model file (YAML) with its tune: section")
      ->required()
      ->type_name("FILE");
  add_model_options(app, model_options);
  app.add_option("--history", history,
                 "Write every trial to FILE: JSON when it ends in .json, else CSV")
      ->type_name("FILE");
  app.add_option("--num-samples", num_samples, "Trials to run, in place of the section's")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  app.add_option("--max-concurrent", max_concurrent,
                 "Trials at once, in place of the section's (each on its own cores)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}));
  app.add_option("--algorithm", algorithm, "random, grid or nlopt, in place of the section's")
      ->check(CLI::IsMember({"random", "grid", "nlopt"}));
  app.add_option("--seed", seed, "The search's seed, in place of the section's");
  app.add_option("--top", top, "Rows of the table of best trials")->check(CLI::Range(1, 1000));
  app.add_flag("-q,--quiet", quiet, "No line per trial");
  if (const auto code = parse_arguments(app, argc, argv, "engine-run tune --help")) return *code;

  try {
    const patchbay::ProcessSpec spec = load_spec(model, model_options);
    std::optional<patchbay::TuneSpec> tune = patchbay::load_tune(model);
    if (!tune) {
      error_line(patchbay::quote_text(model) + " has no tune: section (docs/TUNING.md)");
      return kExitBadModel;
    }
    if (num_samples) tune->num_samples = *num_samples;
    if (max_concurrent) tune->max_concurrent = *max_concurrent;
    if (seed) tune->algorithm.seed = *seed;
    if (algorithm == "random") tune->algorithm.type = patchbay::SearchAlgorithm::random;
    if (algorithm == "grid") tune->algorithm.type = patchbay::SearchAlgorithm::grid;
    if (algorithm == "nlopt") tune->algorithm.type = patchbay::SearchAlgorithm::nlopt;
    load_plugins_for(spec, model_options.plugins);
    patchbay::check_tune(*tune, spec);
    // Every trial is checked before the search starts: a model that cannot run is one error.
    (void)patchbay::validate(spec);

    patchbay::TunerOptions options;
    if (model_options.num_cpus) options.cpus = *model_options.num_cpus;
    const patchbay::TuneSpec& shown = *tune;
    options.on_trial = [&](const patchbay::Trial& t) {
      if (quiet) return;
      std::cout << "trial " << t.id << " " << patchbay::to_string(t.outcome) << " "
                << seconds_text(t.seconds) << " " << parameters_text(shown, t) << " -> "
                << objectives_text(shown, t);
      if (!t.error.empty()) std::cout << " (" << patchbay::message_line(t.error) << ")";
      std::cout << std::endl;
    };
    patchbay::Tuner tuner(*tune, options);
    struct sigaction action {};
    struct sigaction old_int {};
    struct sigaction old_term {};
    action.sa_handler = &on_tune_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int);
    ::sigaction(SIGTERM, &action, &old_term);
    g_tuner.store(&tuner);
    if (g_tune_signals.load() > 0) tuner.stop();
    patchbay::TuneResult result;
    try {
      result = tuner.run(spec);
    } catch (...) {
      g_tuner.store(nullptr);
      throw;
    }
    g_tuner.store(nullptr);

    std::size_t completed = 0;
    std::size_t failed = 0;
    for (const auto& t : result.trials) {
      if (t.outcome == patchbay::TrialOutcome::completed) ++completed;
      if (t.outcome == patchbay::TrialOutcome::failed) ++failed;
    }
    std::cout << (result.interrupted ? "search interrupted: " : "search done: ")
              << result.trials.size() << " trials (" << completed << " completed, " << failed
              << " failed) in " << seconds_text(result.seconds) << "\n";
    if (tune->objectives.size() > 1) {
      std::cout << "pareto front: " << result.pareto_front.size() << " trials\n";
    }
    std::cout << "best trials:\n";
    std::size_t width = std::string_view("objective").size();
    for (std::size_t i = 0; i < result.ranking.size() && i < top; ++i)
      width = std::max(width, objectives_text(shown, result.trials[result.ranking[i]]).size());
    std::cout << "  rank  trial  " << std::left << std::setw(static_cast<int>(width) + 2)
              << "objective"
              << "parameters\n";
    for (std::size_t i = 0; i < result.ranking.size() && i < top; ++i) {
      const patchbay::Trial& t = result.trials[result.ranking[i]];
      std::cout << "  " << std::setw(6) << i + 1 << std::setw(7) << t.id
                << std::setw(static_cast<int>(width) + 2) << objectives_text(shown, t)
                << parameters_text(shown, t) << "\n";
    }
    if (const patchbay::Trial* best = result.best()) {
      std::cout << "best parameters (each line is a --set KEY=VALUE):\n"
                << patchbay::parameters_yaml(*tune, *best);
    } else {
      std::cout << "no trial gave an objective\n";
    }
    std::cout.flush();
    if (!history.empty()) {
      const bool json = history.size() >= 5 && history.compare(history.size() - 5, 5, ".json") == 0;
      std::ofstream out(history, std::ios::binary | std::ios::trunc);
      out << (json ? patchbay::history_json(*tune, result) : patchbay::history_csv(*tune, result));
      if (!out.flush()) {
        error_line("--history: cannot write " + patchbay::quote_text(history));
        return kExitFailed;
      }
    }
    if (result.interrupted) return kExitInterrupted;
    return result.best() != nullptr ? kExitCompleted : kExitFailed;
  } catch (...) {
    return exit_code_of_current_exception();
  }
}

}  // namespace engine_run
