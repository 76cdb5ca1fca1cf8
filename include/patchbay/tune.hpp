// Tuning: searching a model's parameters for the best objective, trials run in parallel on
// pinned cores (docs/TUNING.md). The schema is Plugboard's `tune:` section (TuneSpec,
// ParameterSpec, ObjectiveSpec).
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/value.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace patchbay {

/// Where a tuned parameter or an objective lives in a model, as Plugboard's BaseFieldSpec says:
/// `object_type` component (named `object_name`) or process, `field_type` arg, initial_value,
/// parameter (a component's own, or the process's) or field (an objective: an output field or
/// an exported value), and `field_name`.
struct TuneField {
  std::string object_type = "component";
  std::string object_name;
  std::string field_type;
  std::string field_name;
  SourceLocation where;  ///< its entry in the model file, when loaded from one

  /// Plugboard's full name: "component.trajectory.arg.angle", "process.default.parameter.k".
  [[nodiscard]] std::string full_name() const;
  /// The `--set` key that sets it: "trajectory.angle", "trajectory.parameters.k",
  /// "parameters.k", "trajectory.initial_values.x".
  [[nodiscard]] std::string override_key() const;
};

/// Minimise or maximise an objective.
enum class TuneMode : std::uint8_t { min, max };

/// An objective: a number read at the end of each trial. For a component, its value exported
/// under `field_name` (Component::export_value()), else (LocalProcess only) the last value of
/// its output field `field_name`.
struct ObjectiveSpec : TuneField {
  TuneMode mode = TuneMode::max;
};

/// How a parameter is drawn: Ray Tune's uniform, loguniform, randint (lower inclusive, upper
/// exclusive, as Ray's) and choice (Plugboard's categorical).
enum class ParameterKind : std::uint8_t { uniform, loguniform, randint, choice };

/// A parameter to tune.
struct ParameterSpec : TuneField {
  ParameterKind kind = ParameterKind::uniform;
  double lower = 0;
  double upper = 1;
  Value::List categories;  ///< choice only
};

/// The search algorithms.
enum class SearchAlgorithm : std::uint8_t {
  random,  ///< independent draws from the parameters' distributions
  grid,    ///< a grid over the space, `grid_points` per continuous parameter
  /// NLopt's derivative-free optimiser (Subplex by default) in `chains` independent runs
  /// started from the model's own values and seeded random points; choice and randint
  /// parameters are searched as continuous ones and rounded. With several objectives each
  /// run optimises its own weighted sum of them.
  nlopt,
};

/// The `algorithm:` entry.
struct AlgorithmSpec {
  SearchAlgorithm type = SearchAlgorithm::nlopt;
  std::uint64_t seed = 0;
  /// grid: points per uniform or loguniform parameter (randint and choice take each value).
  /// 0: as many as make the grid hold at most num_samples points.
  std::size_t grid_points = 0;
  /// nlopt: the method ("sbplx", "cobyla", "bobyqa", "neldermead").
  std::string method = "sbplx";
  /// nlopt: independent runs sharing the budget, each its own share of num_samples; 0: as
  /// many as max_concurrent (so that that many trials run at once), and with k > 1
  /// objectives at least k + 1 (each chain optimises its own weighting of the objectives, so
  /// that the chains spread along the Pareto front: docs/TUNING.md).
  std::size_t chains = 0;
};

/// A whole `tune:` section (Plugboard's TuneArgsSpec).
struct TuneSpec {
  std::vector<ObjectiveSpec> objectives;  ///< one, or several (multi-objective: Pareto front)
  std::vector<ParameterSpec> parameters;
  std::size_t num_samples = 1;
  /// Trials at once; 0: one per usable core.
  std::size_t max_concurrent = 0;
  AlgorithmSpec algorithm;
  SourceLocation where;
};

/// The `tune:` section of a model file (`plugboard: tune: args: ...`), or nullopt when it has
/// none. Throws ModelError with the file and line for a malformed section.
std::optional<TuneSpec> load_tune(const std::string& model_path);
/// The same from YAML text; `origin` names it in errors.
std::optional<TuneSpec> parse_tune(const std::string& yaml_text,
                                   const std::string& origin = "<model>");
/// Checks that every parameter and objective names a component (or the process) the model has,
/// and that a parameter fits its place. Throws ModelError naming the entry.
void check_tune(const TuneSpec& tune, const ProcessSpec& model);

/// Thrown from a component's init() or step() when the trial breaches a constraint, as
/// Plugboard's ConstraintError: the trial stops and is recorded as such, with `objective` when
/// given (else the worst value), and the search goes on. Under a ParallelProcess the error
/// crosses a process boundary as its message, which is why what() has a fixed form:
/// "constraint violated: MESSAGE" or "constraint violated (objective VALUE): MESSAGE".
class ConstraintError : public Error {
 public:
  explicit ConstraintError(const std::string& message, std::optional<double> objective = {});
  [[nodiscard]] const std::optional<double>& objective() const { return objective_; }

 private:
  std::optional<double> objective_;
};

/// How one trial ended.
enum class TrialOutcome : std::uint8_t {
  completed,   ///< the model completed and its objectives were read
  constraint,  ///< a component threw ConstraintError
  failed,      ///< an exception, a crash of its worker, or an objective that could not be read
  stopped,     ///< the search was stopped during the trial
};

/// "completed", "constraint", "failed", "stopped".
std::string_view to_string(TrialOutcome outcome);

/// One trial: its parameters, its objectives (one per ObjectiveSpec, in order; empty unless
/// completed, or a constraint with a value), how it ended and how long it took.
struct Trial {
  std::size_t id = 0;             ///< 0, 1, 2, ... in the order trials were started
  std::vector<Value> parameters;  ///< one per ParameterSpec, in order
  std::vector<double> objectives;
  TrialOutcome outcome = TrialOutcome::failed;
  std::string error;     ///< for failed and constraint trials
  double seconds = 0;    ///< the trial's wall time in its worker
  std::size_t slot = 0;  ///< the concurrent slot (worker) that ran it
};

/// What a search found.
struct TuneResult {
  std::vector<Trial> trials;  ///< by id
  /// Completed trials (and constraint trials with a value), best first by the first
  /// objective; for several objectives, the Pareto front first (ordered by the first).
  std::vector<std::size_t> ranking;
  /// Multi-objective: the trials no other trial dominates; one objective: the best one.
  std::vector<std::size_t> pareto_front;
  bool interrupted = false;  ///< stop() ended the search early
  double seconds = 0;        ///< wall time of the search

  /// The best trial (ranking's first), or nullptr when no trial gave a value.
  [[nodiscard]] const Trial* best() const;
};

/// Options of a search beside its spec.
struct TunerOptions {
  /// Called on the tuning thread as each trial ends, in the order they end.
  std::function<void(const Trial&)> on_trial;
  /// Cores to plan the trials over; 0: every usable core of this machine.
  std::size_t cpus = 0;
  /// Run the trial in the tuning process, one at a time (no fork, no crash isolation, no
  /// pinning): for a search driven from a program that cannot fork.
  bool in_process = false;
};

/// Runs a search (docs/TUNING.md). Each trial is the model with one assignment of the
/// parameters, run by its own engine (LocalProcess or ParallelProcess, as the model says) in a
/// trial worker: a process forked at the start, pinned by the placement planner to its own
/// cores (max_concurrent workers, a core set each), which runs trials one after another. A
/// worker that dies (abort(), a signal) fails its trial and is replaced; the search goes on.
///
///     patchbay::Tuner tuner(*patchbay::load_tune("model.yaml"));
///     auto result = tuner.run(patchbay::load_model("model.yaml"));
///     std::cout << result.best()->objectives[0] << "\n";
///
/// run() forks: call it from a thread while no other thread of the program holds a lock the
/// trials need (as ParallelProcess's forking rule says). stop() is thread-safe and
/// async-signal-safe.
class Tuner {
 public:
  explicit Tuner(TuneSpec spec, TunerOptions options = {});

  /// Searches, returning once num_samples trials have ended or stop() was called (then the
  /// running trials are stopped and recorded as such). Throws ModelError for a spec that does
  /// not fit the model (check_tune()), Error when the workers cannot be started.
  TuneResult run(const ProcessSpec& model);
  /// Ends the search early; safe from a signal handler.
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

  [[nodiscard]] const TuneSpec& spec() const { return spec_; }

 private:
  TuneSpec spec_;
  TunerOptions options_;
  std::atomic<bool> stop_{false};
};

/// Applies one trial's parameters (one per spec.parameters) to a copy of the model.
ProcessSpec apply_trial(const TuneSpec& spec, const ProcessSpec& model,
                        const std::vector<Value>& parameters);

/// The best trial's parameters as YAML, one `KEY: VALUE` line per parameter, KEY its `--set`
/// key (TuneField::override_key()): each line is an `engine-run --set KEY=VALUE`.
std::string parameters_yaml(const TuneSpec& spec, const Trial& trial);
/// Every trial as CSV: id, outcome, seconds, one column per parameter (full names), one per
/// objective, error.
std::string history_csv(const TuneSpec& spec, const TuneResult& result);
/// Every trial as JSON: {"trials": [{"id", "outcome", "seconds", "parameters": {...},
/// "objectives": {...}, "error"}], "best": id or null, "pareto_front": [ids]}.
std::string history_json(const TuneSpec& spec, const TuneResult& result);

}  // namespace patchbay
