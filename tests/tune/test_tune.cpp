// Tuning (docs/TUNING.md): the tune: section, the searches, trials in forked workers that may
// fail, crash or breach a constraint, the Pareto front, concurrency, the CLI and the projectile
// example.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <nlohmann/json.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <numbers>
#include <set>
#include <thread>

#include "placement/machine.hpp"
#include "support/command.hpp"

namespace {

using patchbay::Value;

// A source that steps once: exports f = -(x - 0.3)^2 - (y - 0.7)^2 of its args x and y, and
// g = x + y; throws for x beyond `fail_above`, aborts when `mode` is "crash", throws a
// ConstraintError (objective -100) when `mode` is "breach", throws an error of 100,000
// characters when `mode` is "long".
class Quadratic : public patchbay::Component {
 public:
  explicit Quadratic(const patchbay::ComponentArgs& args)
      : Component(args),
        x_(args.get_or<double>("x", 0.0)),
        y_(args.get_or<double>("y", 0.0)),
        fail_above_(args.get_or<double>("fail_above", 2.0)),
        mode_(args.get_or<std::string>("mode", "ok")),
        sleep_ms_(args.get_or<std::int64_t>("sleep_ms", 0)) {}
  patchbay::Output<double> f{this, "f"};
  void step() override {
    const auto start = std::chrono::system_clock::now();
    if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    if (x_ > fail_above_) throw patchbay::Error("x is too large");
    if (mode_ == "crash") std::abort();
    if (mode_ == "long") throw patchbay::Error("long: " + std::string(100000, 'y'));
    if (mode_ == "breach") throw patchbay::ConstraintError("y out of range", -100.0);
    f = -(x_ - 0.3) * (x_ - 0.3) - (y_ - 0.7) * (y_ - 0.7);
    export_value("g", x_ + y_);
    export_value("pid", static_cast<std::int64_t>(::getpid()));
    // The CPUs this trial may run on, as a bit mask (CPUs 0 to 51: exact in a double).
    cpu_set_t set;
    CPU_ZERO(&set);
    double mask = 0;
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
      for (int cpu = 0; cpu < 52; ++cpu)
        if (CPU_ISSET(cpu, &set)) mask += std::ldexp(1.0, cpu);
    }
    export_value("cpus", mask);
    export_value("start", std::chrono::duration<double>(start.time_since_epoch()).count());
    export_value(
        "end",
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    close();
  }

 private:
  double x_, y_, fail_above_;
  std::string mode_;
  std::int64_t sleep_ms_;
};
PATCHBAY_REGISTER_COMPONENT_AS(Quadratic, "test.Quadratic");

patchbay::ProcessSpec quadratic_model() {
  return patchbay::parse_model(R"(
plugboard:
  process:
    args:
      components:
      - type: test.Quadratic
        args: {name: q, x: 0.5, y: 0.5}
)");
}

patchbay::TuneSpec quadratic_tune(const std::string& algorithm, std::size_t samples,
                                  std::size_t concurrent) {
  auto spec = patchbay::parse_tune(R"(
plugboard:
  tune:
    args:
      objective: {object_name: q, field_type: field, field_name: f}
      parameters:
      - {type: ray.tune.uniform, object_name: q, field_type: arg, field_name: x, lower: 0, upper: 1}
      - {type: ray.tune.uniform, object_name: q, field_type: arg, field_name: y, lower: 0, upper: 1}
      num_samples: 1
      mode: max
)");
  REQUIRE(spec);
  spec->num_samples = samples;
  spec->max_concurrent = concurrent;
  spec->algorithm.type = algorithm == "random" ? patchbay::SearchAlgorithm::random
                         : algorithm == "grid" ? patchbay::SearchAlgorithm::grid
                                               : patchbay::SearchAlgorithm::nlopt;
  spec->algorithm.seed = 7;
  return *spec;
}

// Quadratic's exported g as a second objective, to minimise.
patchbay::ObjectiveSpec g_to_minimise() {
  patchbay::ObjectiveSpec g;
  g.object_name = "q";
  g.field_type = "field";
  g.field_name = "g";
  g.mode = patchbay::TuneMode::min;
  return g;
}

// Quadratic's `mode` argument as a choice between "ok" and `other`.
patchbay::ParameterSpec mode_choice(const std::string& other) {
  patchbay::ParameterSpec mode;
  mode.object_name = "q";
  mode.field_type = "arg";
  mode.field_name = "mode";
  mode.kind = patchbay::ParameterKind::choice;
  mode.categories = {"ok", other};
  return mode;
}

// Reaps the children of this process that have ended; returns how many there were. Called
// before a search (for what earlier tests may have left) and after it, when none of the
// search's workers may be left unreaped.
int reap_ended_children() {
  int count = 0;
  int status = 0;
  while (::waitpid(-1, &status, WNOHANG) > 0)
    ++count;
  return count;
}

std::string error_of(const std::string& yaml) {
  try {
    (void)patchbay::parse_tune(yaml, "m.yaml");
  } catch (const patchbay::ModelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("tune: Plugboard's tune section is read as written", "[tune]") {
  const auto spec = patchbay::parse_tune(R"(
plugboard:
  process:
    args: {components: []}
  tune:
    args:
      objective:
        object_name: max-height
        field_type: field
        field_name: max_y
      parameters:
      - type: ray.tune.uniform
        object_type: component
        object_name: trajectory
        field_type: arg
        field_name: angle
        lower: 0
        upper: 90
      - {type: ray.tune.loguniform, object_name: t, field_type: initial_value, field_name: x, lower: 0.01, upper: 1}
      - {type: ray.tune.randint, object_type: process, field_type: parameter, field_name: n, lower: 1, upper: 5}
      - {type: ray.tune.choice, object_name: t, field_type: parameter, field_name: c, categories: [a, 2]}
      num_samples: 40
      mode: min
      max_concurrent: 4
)");
  REQUIRE(spec);
  CHECK(spec->num_samples == 40);
  CHECK(spec->max_concurrent == 4);
  REQUIRE(spec->objectives.size() == 1);
  CHECK(spec->objectives[0].full_name() == "component.max-height.field.max_y");
  CHECK(spec->objectives[0].mode == patchbay::TuneMode::min);
  REQUIRE(spec->parameters.size() == 4);
  CHECK(spec->parameters[0].kind == patchbay::ParameterKind::uniform);
  CHECK(spec->parameters[0].upper == 90);
  CHECK(spec->parameters[0].override_key() == "trajectory.angle");
  CHECK(spec->parameters[1].kind == patchbay::ParameterKind::loguniform);
  CHECK(spec->parameters[1].override_key() == "t.initial_values.x");
  CHECK(spec->parameters[2].kind == patchbay::ParameterKind::randint);
  CHECK(spec->parameters[2].override_key() == "parameters.n");
  CHECK(spec->parameters[3].categories == Value::List{"a", 2});
  CHECK(spec->parameters[3].override_key() == "t.parameters.c");
  CHECK(spec->algorithm.type == patchbay::SearchAlgorithm::nlopt);
  // The model loader takes the same file.
  CHECK_NOTHROW(
      patchbay::parse_model("plugboard:\n  process:\n    args: {components: []}\n"
                            "  tune: {args: {}}\n"));
  CHECK_FALSE(patchbay::parse_tune("plugboard:\n  process:\n    args: {components: []}\n"));
}

TEST_CASE("tune: a bad tune section is a ModelError saying what and where", "[tune]") {
  const std::string head = "plugboard:\n  tune:\n    args:\n";
  const std::string objective =
      "      objective: {object_name: a, field_name: f}\n      num_samples: 3\n";
  CHECK_THAT(error_of(head + objective +
                      "      parameters:\n      - {type: ray.tune.normal, object_name: a, "
                      "field_type: arg, field_name: x, lower: 0, upper: 1}\n"),
             Catch::Contains("m.yaml:7") && Catch::Contains("unknown type 'ray.tune.normal'"));
  CHECK_THAT(error_of(head + objective +
                      "      parameters:\n      - {type: ray.tune.uniform, object_name: a, "
                      "field_type: arg, field_name: x, lower: 2, upper: 1}\n"),
             Catch::Contains("'component.a.arg.x': lower must be below upper"));
  CHECK_THAT(error_of(head + "      objective: {object_name: a, field_name: f}\n"
                             "      parameters:\n      - {type: ray.tune.choice, object_name: "
                             "a, field_type: arg, field_name: x, categories: [1]}\n"),
             Catch::Contains("no 'num_samples'"));
  CHECK_THAT(error_of(head + objective +
                      "      mode: [max, min]\n      parameters:\n      - {type: "
                      "ray.tune.choice, object_name: a, field_type: arg, field_name: x, "
                      "categories: [1]}\n"),
             Catch::Contains("'mode' has 2 entries for 1 objectives"));
  CHECK_THAT(error_of(head + objective + "      parameters: []\n"),
             Catch::Contains("'parameters' must be a non-empty list"));
  CHECK_THAT(error_of(head + objective +
                      "      parameters:\n      - {type: ray.tune.uniform, object_name: a, "
                      "field_type: field, field_name: x, lower: 0, upper: 1}\n"),
             Catch::Contains("field_type must be arg, initial_value or parameter"));
  // A parameter on a component the model lacks.
  auto tune = quadratic_tune("random", 2, 1);
  tune.parameters[0].object_name = "nope";
  CHECK_THROWS_WITH(patchbay::Tuner(tune).run(quadratic_model()),
                    Catch::Contains("no component named 'nope'"));
  // An argument the component does not take: one error before any trial.
  tune.parameters[0].object_name = "q";
  tune.parameters[0].field_name = "angel";
  CHECK_THROWS_WITH(patchbay::Tuner(tune).run(quadratic_model()),
                    Catch::Contains("unknown argument") && Catch::Contains("angel"));
  // A spec built in code without an objective.
  auto aimless = quadratic_tune("random", 2, 1);
  aimless.objectives.clear();
  CHECK_THROWS_WITH(patchbay::Tuner(aimless).run(quadratic_model()),
                    Catch::Contains("tune: no objective"));
}

TEST_CASE("tune: random search is seeded, within bounds, and runs num_samples trials", "[tune]") {
  reap_ended_children();
  auto tune = quadratic_tune("random", 12, 2);
  const auto a = patchbay::Tuner(tune).run(quadratic_model());
  const auto b = patchbay::Tuner(tune).run(quadratic_model());
  REQUIRE(a.trials.size() == 12);
  for (std::size_t i = 0; i < a.trials.size(); ++i) {
    CHECK(a.trials[i].outcome == patchbay::TrialOutcome::completed);
    CHECK(a.trials[i].parameters == b.trials[i].parameters);
    const double x = a.trials[i].parameters[0].as_double();
    CHECK((x >= 0 && x < 1));
    // The objective is the model's own output.
    const double y = a.trials[i].parameters[1].as_double();
    CHECK(a.trials[i].objectives[0] == Approx(-(x - 0.3) * (x - 0.3) - (y - 0.7) * (y - 0.7)));
  }
  REQUIRE(a.best() != nullptr);
  for (const auto& t : a.trials)
    CHECK(a.best()->objectives[0] >= t.objectives[0]);
  CHECK(reap_ended_children() == 0);
}

TEST_CASE("tune: grid search walks the grid's corners and middle", "[tune]") {
  const auto result = patchbay::Tuner(quadratic_tune("grid", 9, 2)).run(quadratic_model());
  REQUIRE(result.trials.size() == 9);
  std::vector<std::pair<double, double>> points;
  for (const auto& t : result.trials)
    points.emplace_back(t.parameters[0].as_double(), t.parameters[1].as_double());
  std::sort(points.begin(), points.end());
  CHECK(points.front() == std::pair<double, double>{0.0, 0.0});
  CHECK(points.back() == std::pair<double, double>{1.0, 1.0});
  CHECK(std::find(points.begin(), points.end(), std::pair<double, double>{0.5, 0.5}) !=
        points.end());
}

TEST_CASE("tune: the NLopt search converges on the optimum, minimising too", "[tune]") {
  reap_ended_children();
  auto tune = quadratic_tune("nlopt", 40, 1);
  const auto result = patchbay::Tuner(tune).run(quadratic_model());
  REQUIRE(result.best() != nullptr);
  CHECK(result.best()->objectives[0] > -1e-3);
  CHECK(result.best()->parameters[0].as_double() == Approx(0.3).margin(0.03));
  CHECK(result.best()->parameters[1].as_double() == Approx(0.7).margin(0.03));
  // Minimising the same objective moves away from the optimum, towards the far corner (1, 0)
  // (the model's own point, (0.5, 0.5), gives -0.08).
  tune.objectives[0].mode = patchbay::TuneMode::min;
  const auto low = patchbay::Tuner(tune).run(quadratic_model());
  CHECK(low.best()->objectives[0] < -0.5);
  CHECK(low.best()->parameters[0].as_double() > 0.8);
  CHECK(reap_ended_children() == 0);
}

TEST_CASE("tune: failing and crashing trials are recorded and the search goes on", "[tune]") {
  reap_ended_children();
  const std::size_t shm_before = patchbay::test::dev_shm_entries();
  auto model = quadratic_model();
  model.components[0].args["fail_above"] = 0.5;
  auto tune = quadratic_tune("grid", 9, 2);
  const auto mode = mode_choice("crash");
  tune.parameters.push_back(mode);
  tune.num_samples = 18;
  const auto result = patchbay::Tuner(tune).run(model);
  REQUIRE(result.trials.size() == 18);
  std::size_t crashed = 0, threw = 0, completed = 0;
  for (const auto& t : result.trials) {
    const bool big = t.parameters[0].as_double() > 0.5;
    if (big) {
      CHECK(t.outcome == patchbay::TrialOutcome::failed);
      CHECK_THAT(t.error, Catch::Contains("x is too large"));
      ++threw;
    } else if (t.parameters[2] == Value("crash")) {
      CHECK(t.outcome == patchbay::TrialOutcome::failed);
      CHECK_THAT(t.error, Catch::Contains("signal 6"));
      ++crashed;
    } else {
      CHECK(t.outcome == patchbay::TrialOutcome::completed);
      ++completed;
    }
  }
  CHECK(threw == 6);
  CHECK(crashed == 6);
  CHECK(completed == 6);
  CHECK(reap_ended_children() == 0);
  CHECK(patchbay::test::dev_shm_entries() == shm_before);
}

TEST_CASE("tune: a trial's very long error is cut, and a worker whose reports fill its ring waits",
          "[tune]") {
  reap_ended_children();
  auto model = quadratic_model();
  model.components[0].args["mode"] = "long";
  // One slot: its worker is handed many trials at once (they are short), and every report
  // is as long as a report may be: more than its ring holds, so it waits for the tuner.
  const auto result = patchbay::Tuner(quadratic_tune("random", 200, 1)).run(model);
  REQUIRE(result.trials.size() == 200);
  for (const auto& t : result.trials) {
    CHECK(t.outcome == patchbay::TrialOutcome::failed);
    CHECK_THAT(t.error, Catch::Contains("long: yyy") && Catch::EndsWith("[cut]"));
    CHECK(t.error.size() < 4100);
  }
  CHECK(reap_ended_children() == 0);
}

TEST_CASE("tune: a ConstraintError stops the trial with its objective; the search goes on",
          "[tune]") {
  auto tune = quadratic_tune("grid", 4, 1);
  const auto mode = mode_choice("breach");
  tune.parameters = {tune.parameters[0], mode};
  tune.algorithm.grid_points = 2;
  const auto result = patchbay::Tuner(tune).run(quadratic_model());
  REQUIRE(result.trials.size() == 4);
  std::size_t breached = 0;
  for (const auto& t : result.trials) {
    if (t.parameters[1] == Value("breach")) {
      CHECK(t.outcome == patchbay::TrialOutcome::constraint);
      CHECK(t.objectives == std::vector<double>{-100.0});
      CHECK_THAT(t.error,
                 Catch::Contains("constraint violated (objective -100.0): y out of range"));
      ++breached;
    } else {
      CHECK(t.outcome == patchbay::TrialOutcome::completed);
    }
  }
  CHECK(breached == 2);
  CHECK(result.best()->outcome == patchbay::TrialOutcome::completed);
}

TEST_CASE("tune: several objectives give the Pareto front", "[tune]") {
  // Brute force: a trial is on the front when no other is at least as good on both and
  // better on one.
  auto check_front = [](const patchbay::TuneResult& result) {
    REQUIRE_FALSE(result.pareto_front.empty());
    for (const auto& a : result.trials) {
      bool dominated = false;
      for (const auto& b : result.trials) {
        const bool ge = b.objectives[0] >= a.objectives[0] && b.objectives[1] <= a.objectives[1];
        const bool gt = b.objectives[0] > a.objectives[0] || b.objectives[1] < a.objectives[1];
        dominated = dominated || (ge && gt);
      }
      const bool on_front = std::find(result.pareto_front.begin(), result.pareto_front.end(),
                                      a.id) != result.pareto_front.end();
      CHECK(on_front == !dominated);
    }
    // The front leads the ranking, by the first objective.
    for (std::size_t i = 0; i < result.pareto_front.size(); ++i) {
      CHECK(result.ranking[i] == result.pareto_front[i]);
      if (i > 0) {
        CHECK(result.trials[result.pareto_front[i - 1]].objectives[0] >=
              result.trials[result.pareto_front[i]].objectives[0]);
      }
    }
  };
  auto tune = quadratic_tune("grid", 25, 2);
  tune.objectives.push_back(g_to_minimise());
  const auto grid = patchbay::Tuner(tune).run(quadratic_model());
  REQUIRE(grid.trials.size() == 25);
  check_front(grid);
  CHECK(grid.pareto_front.size() < 25);
  // More trials: 300 random points, in the tuning process.
  auto many = quadratic_tune("random", 300, 1);
  many.objectives.push_back(g_to_minimise());
  patchbay::TunerOptions in_process;
  in_process.in_process = true;
  const auto repeated = patchbay::Tuner(many, in_process).run(quadratic_model());
  REQUIRE(repeated.trials.size() == 300);
  check_front(repeated);
  // Many ties: x and y each one of three values, so 300 trials fall on nine points, and every
  // trial on a point of the front is on it.
  for (auto& p : many.parameters) {
    p.kind = patchbay::ParameterKind::choice;
    p.categories = {0.0, 0.5, 1.0};
  }
  const auto tied = patchbay::Tuner(many, in_process).run(quadratic_model());
  REQUIRE(tied.trials.size() == 300);
  check_front(tied);
  CHECK(tied.pareto_front.size() > 9);
}

TEST_CASE("tune: with several objectives the NLopt chains explore the front to both extremes",
          "[tune]") {
  reap_ended_children();
  // Maximise f (best, 0, at (0.3, 0.7), where g is 1) and minimise g = x + y (best, 0, at
  // (0, 0), where f is -0.58): the front runs between the two.
  auto tune = quadratic_tune("nlopt", 90, 1);
  tune.objectives.push_back(g_to_minimise());
  const auto result = patchbay::Tuner(tune).run(quadratic_model());
  REQUIRE(result.trials.size() == 90);
  REQUIRE_FALSE(result.pareto_front.empty());
  double best_f = -1e9;
  double best_g = 1e9;
  bool middle = false;
  for (std::size_t id : result.pareto_front) {
    const auto& o = result.trials[id].objectives;
    best_f = std::max(best_f, o[0]);
    best_g = std::min(best_g, o[1]);
    middle = middle || (o[0] > -0.3 && o[0] < -0.02 && o[1] > 0.2 && o[1] < 0.8);
  }
  INFO("best f " << best_f << ", best g " << best_g);
  CHECK(best_f > -0.01);  // near the first objective's extreme
  CHECK(best_g < 0.1);    // and near the second's
  CHECK(middle);          // and between them
  CHECK(reap_ended_children() == 0);
}

TEST_CASE("tune: max_concurrent trials run at once, in distinct workers on their own cores",
          "[tune]") {
  reap_ended_children();
  auto model = quadratic_model();
  model.components[0].args["sleep_ms"] = std::int64_t{300};
  auto tune = quadratic_tune("random", 4, 2);
  tune.objectives[0].field_name = "start";
  patchbay::ObjectiveSpec cpus = tune.objectives[0];
  cpus.field_name = "cpus";
  tune.objectives.push_back(cpus);
  const auto result = patchbay::Tuner(tune).run(model);
  REQUIRE(result.trials.size() == 4);
  // The objective here is each trial's start time: two slots were used, and the second
  // trial began while the first one slept.
  std::set<std::size_t> slots;
  for (const auto& t : result.trials) {
    CHECK(t.outcome == patchbay::TrialOutcome::completed);
    slots.insert(t.slot);
  }
  CHECK(slots.size() == 2);
  std::vector<double> starts;
  for (const auto& t : result.trials)
    starts.push_back(t.objectives[0]);
  std::sort(starts.begin(), starts.end());
  CHECK(starts[1] - starts[0] < 0.3);  // the second began while the first slept
  // Each slot's worker is bound to the cores the planner gave it: with two cores or more,
  // the two slots' CPU sets do not meet.
  std::map<std::size_t, std::uint64_t> masks;
  for (const auto& t : result.trials) {
    const auto mask = static_cast<std::uint64_t>(t.objectives[1]);
    CHECK(mask != 0);
    if (masks.count(t.slot) != 0) CHECK(masks[t.slot] == mask);
    masks[t.slot] = mask;
  }
  if (patchbay::detail::load_machine("").cores.size() >= 2 && masks.size() == 2) {
    CHECK((masks[0] & masks[1]) == 0);
  }
  // A LocalProcess model runs on one thread: a lone slot's worker gets one core, and the
  // tuner keeps the others rather than being woken onto the trial's core.
  model.components[0].args["sleep_ms"] = std::int64_t{0};
  auto lone_tune = tune;
  lone_tune.max_concurrent = 1;
  lone_tune.num_samples = 2;
  const auto lone = patchbay::Tuner(lone_tune).run(model);
  REQUIRE(lone.trials.size() == 2);
  for (const auto& t : lone.trials) {
    REQUIRE(t.outcome == patchbay::TrialOutcome::completed);
    CHECK(std::popcount(static_cast<std::uint64_t>(t.objectives[1])) == 1);
  }
  CHECK(reap_ended_children() == 0);
}

TEST_CASE("tune: the projectile example's model-based search beats random search",
          "[tune][examples]") {
  patchbay::load_plugin(PATCHBAY_PROJECTILE_PLUGIN);
  const std::string path = std::string(PATCHBAY_SOURCE_DIR) + "/examples/tuning/model.yaml";
  const auto model = patchbay::load_model(path);
  const auto tune = patchbay::load_tune(path);
  REQUIRE(tune);
  REQUIRE(tune->num_samples == 40);
  const auto result = patchbay::Tuner(*tune).run(model);
  REQUIRE(result.best() != nullptr);
  const double found = result.best()->objectives[0];
  // The best an exhaustive grid of 0.1 degree by 0.1 m/s finds, by the components' formula.
  double grid = 0;
  for (int i = 0; i <= 900; ++i) {
    const double a = i * 0.1 * std::numbers::pi / 180.0;
    for (int j = 1; j <= 1000; ++j) {
      const double v = j * 0.1;
      for (int x = 0; x < 100; ++x) {
        const double y = x * std::tan(a) - 9.81 * x * x / (2 * v * v * std::cos(a) * std::cos(a));
        grid = std::max(grid, y);
      }
    }
  }
  INFO("model-based " << found << ", grid " << grid);
  CHECK(found >= 0.99 * grid);
  // Random search over the same budget, nine seeds: its median best.
  std::vector<double> random_best;
  for (std::uint64_t seed = 1; seed <= 9; ++seed) {
    auto random = *tune;
    random.algorithm.type = patchbay::SearchAlgorithm::random;
    random.algorithm.seed = seed;
    patchbay::TunerOptions options;
    options.in_process = true;
    random_best.push_back(patchbay::Tuner(random, options).run(model).best()->objectives[0]);
  }
  std::sort(random_best.begin(), random_best.end());
  INFO("random median " << random_best[4]);
  CHECK(found > random_best[4]);
  // Deterministic: the same search finds the same.
  CHECK(patchbay::Tuner(*tune).run(model).best()->objectives[0] == found);
}

TEST_CASE("tune: engine-run tune prints trials, the best and --set YAML; history as JSON",
          "[tune][engine-run]") {
  patchbay::test::TempDir dir;
  const std::string model = std::string(PATCHBAY_SOURCE_DIR) + "/examples/tuning/model.yaml";
  for (const std::vector<std::string>& shape :
       {std::vector<std::string>{PATCHBAY_ENGINE_RUN, "tune"},
        std::vector<std::string>{PATCHBAY_ENGINE_RUN, "process", "tune"}}) {
    auto argv = shape;
    for (const char* arg :
         {"--plugin", PATCHBAY_PROJECTILE_PLUGIN, "--num-samples", "6", "--history", "h.json"})
      argv.emplace_back(arg);
    argv.push_back(model);
    const auto run = patchbay::test::run_command(argv, dir.path());
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Contains("trial 0 completed") &&
                            Catch::Contains("trajectory.angle=") &&
                            Catch::Contains("-> max-height.max_y=") &&
                            Catch::Contains("search done: 6 trials (6 completed, 0 failed)") &&
                            Catch::Contains("best trials:") &&
                            Catch::Contains("best parameters (each line is a --set KEY=VALUE):\n"
                                            "trajectory.angle: "));
    const auto history = nlohmann::json::parse(patchbay::test::read_file(dir / "h.json"));
    CHECK(history["trials"].size() == 6);
    CHECK(history["trials"][0]["parameters"].contains("component.trajectory.arg.angle"));
    CHECK(history["best"].is_number());
  }
  // A model without a tune: section.
  const auto none = patchbay::test::run_command(
      {PATCHBAY_ENGINE_RUN, "tune", "--plugin", PATCHBAY_HELLO_WORLD_PLUGIN,
       std::string(PATCHBAY_SOURCE_DIR) + "/examples/hello-world/model.yaml"},
      dir.path());
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.err, Catch::Contains("has no tune: section"));
}

TEST_CASE("tune: a parallel model's trials run on its own engine and leave nothing behind",
          "[tune]") {
  reap_ended_children();
  const std::size_t shm_before = patchbay::test::dev_shm_entries();
  auto model = quadratic_model();
  model.kind = patchbay::ProcessKind::parallel;
  auto tune = quadratic_tune("random", 4, 2);
  tune.objectives[0].field_name = "g";  // exported: readable from the engine's workers
  const auto result = patchbay::Tuner(tune).run(model);
  REQUIRE(result.trials.size() == 4);
  for (const auto& t : result.trials) {
    INFO(t.error);
    CHECK(t.outcome == patchbay::TrialOutcome::completed);
    REQUIRE(t.objectives.size() == 1);
    CHECK(t.objectives[0] == Approx(t.parameters[0].as_double() + t.parameters[1].as_double()));
  }
  // An output field is out of reach in another process: the trial fails saying so.
  tune.objectives[0].field_name = "f";
  tune.num_samples = 1;
  const auto unexported = patchbay::Tuner(tune).run(model);
  REQUIRE(unexported.trials.size() == 1);
  CHECK(unexported.trials[0].outcome == patchbay::TrialOutcome::failed);
  CHECK_THAT(unexported.trials[0].error, Catch::Contains("must be exported"));
  CHECK(unexported.best() == nullptr);
  CHECK(reap_ended_children() == 0);
  CHECK(patchbay::test::dev_shm_entries() == shm_before);
}

TEST_CASE("tune: SIGINT stops engine-run tune, which prints the best so far and exits 130",
          "[tune][engine-run]") {
  patchbay::test::TempDir dir;
  const int pid = patchbay::test::start_command(
      {PATCHBAY_ENGINE_RUN, "tune", "--plugin", PATCHBAY_PROJECTILE_PLUGIN, "--num-samples",
       "100000000", "--algorithm", "random", "-q",
       std::string(PATCHBAY_SOURCE_DIR) + "/examples/tuning/model.yaml"},
      dir.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ::kill(pid, SIGINT);
  const auto run = patchbay::test::wait_command(pid, dir.path(), std::chrono::seconds(60));
  INFO(run.out << run.err);
  CHECK(run.exit_code == 130);
  CHECK_THAT(run.out, Catch::Contains("search interrupted: ") &&
                          Catch::Contains("best parameters (each line is a --set KEY=VALUE):\n"
                                          "trajectory.angle: "));
}

TEST_CASE("tune: a parallel model's worker that crashes fails its trial and leaves nothing behind",
          "[tune]") {
  // The trial's own ParallelProcess loses a worker (abort()): the trial fails naming it, the
  // engine's shared memory and processes are cleaned up inside the trial worker, and the search
  // goes on with the next trial.
  reap_ended_children();
  const std::size_t shm_before = patchbay::test::dev_shm_entries();
  auto model = quadratic_model();
  model.kind = patchbay::ProcessKind::parallel;
  auto tune = quadratic_tune("grid", 4, 2);
  tune.objectives[0].field_name = "g";
  const auto mode = mode_choice("crash");
  tune.parameters = {tune.parameters[0], mode};
  tune.algorithm.grid_points = 2;
  const auto result = patchbay::Tuner(tune).run(model);
  REQUIRE(result.trials.size() == 4);
  std::size_t crashed = 0;
  for (const auto& t : result.trials) {
    INFO(t.error);
    if (t.parameters[1] == Value("crash")) {
      CHECK(t.outcome == patchbay::TrialOutcome::failed);
      CHECK_THAT(t.error, Catch::Contains("component 'q'") && Catch::Contains("died of SIGABRT"));
      ++crashed;
    } else {
      CHECK(t.outcome == patchbay::TrialOutcome::completed);
    }
  }
  CHECK(crashed == 2);
  REQUIRE(result.best() != nullptr);
  CHECK(reap_ended_children() == 0);
  CHECK(patchbay::test::dev_shm_entries() == shm_before);
}

TEST_CASE("tune: a tuner that is killed takes its trial workers with it", "[tune]") {
  // A keeper process, made the subreaper of what it starts, forks a tuner whose trials each
  // sleep five seconds on two workers, kills the tuner while the first trials run, and waits
  // for the workers (now its children) to end: it exits 0 if they all end within 1.5 s,
  // long before their trials would.
  const pid_t keeper = ::fork();
  REQUIRE(keeper >= 0);
  if (keeper == 0) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    const pid_t tuner = ::fork();
    if (tuner < 0) ::_exit(3);
    if (tuner == 0) {
      try {
        const auto model = patchbay::parse_model(R"(
plugboard:
  process:
    args:
      components:
      - {type: Iterator, args: {name: src, iters: 1}}
      - {type: Sleep, args: {name: nap, sleep_seconds: 5}}
      connectors:
      - {source: src.x, target: nap.x}
)");
        auto tune = patchbay::parse_tune(R"(
plugboard:
  tune:
    args:
      objective: {object_name: nap, field_type: field, field_name: y}
      parameters:
      - {type: ray.tune.randint, object_name: src, field_type: arg, field_name: iters, lower: 1, upper: 2}
      num_samples: 100
      max_concurrent: 2
)");
        (void)patchbay::Tuner(*tune).run(model);
      } catch (...) {
      }
      ::_exit(4);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(tuner, SIGKILL);
    int status = 0;
    if (::waitpid(tuner, &status, 0) != tuner || !WIFSIGNALED(status)) ::_exit(5);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t ended = ::waitpid(-1, &status, WNOHANG);
      if (ended < 0 && errno == ECHILD) ::_exit(0);  // every worker ended and is reaped
      if (ended == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::_exit(1);
  }
  int status = 0;
  REQUIRE(::waitpid(keeper, &status, 0) == keeper);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
