// The `tune:` section of a model file (Plugboard's TuneSpec), and the checks of a TuneSpec
// against its model.
#include <patchbay/model.hpp>
#include <patchbay/tune.hpp>

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/yaml_value.hpp"
#include "core/text.hpp"

namespace patchbay {

namespace {

using detail::quote;

class TuneReader {
 public:
  explicit TuneReader(std::string origin) : origin_(std::move(origin)) {}

  TuneSpec read(const YAML::Node& tune) const;

 private:
  [[nodiscard]] SourceLocation at(const YAML::Node& node) const {
    return detail::location_of(node, origin_);
  }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw ModelError("tune: " + message, at(node));
  }
  std::string scalar(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, what + " must be a string");
    return node.Scalar();
  }
  double number(const YAML::Node& node, const std::string& what) const {
    const Value v = value(node, what);
    if (!v.is_number() || !std::isfinite(v.as_double())) fail(node, what + " must be a number");
    return v.as_double();
  }
  std::size_t count(const YAML::Node& node, const std::string& what, std::size_t min) const {
    const Value v = value(node, what);
    if (!v.is_int() || v.as_int() < static_cast<std::int64_t>(min) || v.as_int() > 100'000'000) {
      fail(node, what + " must be a whole number from " + std::to_string(min) + " to 100000000");
    }
    return static_cast<std::size_t>(v.as_int());
  }
  Value value(const YAML::Node& node, const std::string& what) const {
    try {
      return detail::to_value(node, origin_);
    } catch (const ModelError& e) {
      fail(node, what + ": " + e.message());
    }
  }
  TuneMode mode(const YAML::Node& node) const {
    const std::string m = scalar(node, "'mode'");
    if (m == "max") return TuneMode::max;
    if (m == "min") return TuneMode::min;
    fail(node, "'mode' must be min or max, not " + quote(m));
  }
  void read_field(const YAML::Node& node, TuneField& field, const std::string& what,
                  const std::set<std::string>& extra) const;
  ObjectiveSpec read_objective(const YAML::Node& node) const;
  ParameterSpec read_parameter(const YAML::Node& node) const;
  void read_algorithm(const YAML::Node& node, AlgorithmSpec& algorithm) const;

  std::string origin_;
};

void TuneReader::read_field(const YAML::Node& node, TuneField& field, const std::string& what,
                            const std::set<std::string>& extra) const {
  if (!node.IsMap()) fail(node, what + " must be a mapping");
  field.where = at(node);
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (key == "object_type") {
      field.object_type = scalar(entry.second, what + " object_type");
      if (field.object_type != "component" && field.object_type != "process") {
        fail(entry.second,
             what + " object_type must be component or process, not " + quote(field.object_type));
      }
    } else if (key == "object_name") {
      field.object_name = scalar(entry.second, what + " object_name");
    } else if (key == "field_type") {
      field.field_type = scalar(entry.second, what + " field_type");
    } else if (key == "field_name") {
      field.field_name = scalar(entry.second, what + " field_name");
    } else if (extra.count(key) == 0) {
      std::string expected = "object_type, object_name, field_type, field_name";
      for (const auto& e : extra)
        expected += ", " + e;
      fail(entry.first,
           "unknown key " + quote(key) + " in " + what + " (expected " + expected + ")");
    }
  }
  if (field.field_name.empty()) fail(node, what + " needs a field_name");
  if (field.object_type == "component" && field.object_name.empty()) {
    fail(node, what + " on a component needs an object_name");
  }
}

ObjectiveSpec TuneReader::read_objective(const YAML::Node& node) const {
  ObjectiveSpec objective;
  objective.field_type = "field";
  read_field(node, objective, "an objective", {});
  if (objective.field_type != "field") {
    fail(node, "an objective's field_type must be field, not " + quote(objective.field_type));
  }
  if (objective.object_type != "component") fail(node, "an objective must be on a component");
  return objective;
}

ParameterKind parameter_kind(const std::string& type, bool& known) {
  known = true;
  std::string t = type;
  for (const char* prefix : {"ray.tune.", "tune."}) {
    if (t.starts_with(prefix)) t = t.substr(std::string_view(prefix).size());
  }
  if (t == "uniform" || t == "float") return ParameterKind::uniform;
  if (t == "loguniform" || t == "log_uniform") return ParameterKind::loguniform;
  if (t == "randint" || t == "int") return ParameterKind::randint;
  if (t == "choice" || t == "categorical") return ParameterKind::choice;
  known = false;
  return ParameterKind::uniform;
}

ParameterSpec TuneReader::read_parameter(const YAML::Node& node) const {
  ParameterSpec p;
  read_field(node, p, "a parameter", {"type", "lower", "upper", "categories"});
  const std::string name = p.full_name();
  if (!node["type"]) fail(node, "parameter " + quote(name) + " needs a type");
  const std::string type = scalar(node["type"], "a parameter's type");
  bool known = false;
  p.kind = parameter_kind(type, known);
  if (!known) {
    fail(node["type"], "parameter " + quote(name) + ": unknown type " + quote(type) +
                           " (expected ray.tune.uniform, ray.tune.loguniform, ray.tune.randint "
                           "or ray.tune.choice)");
  }
  const bool known_field =
      p.field_type == "arg" || p.field_type == "initial_value" || p.field_type == "parameter";
  if (!known_field) {
    fail(node, "parameter " + quote(name) +
                   ": field_type must be arg, initial_value or "
                   "parameter, not " +
                   quote(p.field_type));
  }
  if (p.object_type == "process" && p.field_type != "parameter") {
    fail(node, "parameter " + quote(name) + ": on the process, field_type must be parameter");
  }
  if (p.kind == ParameterKind::choice) {
    const YAML::Node categories = node["categories"];
    if (!categories || !categories.IsSequence() || categories.size() == 0) {
      fail(node, "parameter " + quote(name) + " needs a non-empty list of categories");
    }
    for (const auto& c : categories)
      p.categories.push_back(value(c, "a category"));
    if (node["lower"] || node["upper"]) {
      fail(node, "parameter " + quote(name) + ": a choice has categories, not lower and upper");
    }
    return p;
  }
  if (node["categories"]) fail(node, "parameter " + quote(name) + ": only a choice has categories");
  if (!node["lower"] || !node["upper"]) {
    fail(node, "parameter " + quote(name) + " needs lower and upper");
  }
  p.lower = number(node["lower"], "parameter " + quote(name) + ": lower");
  p.upper = number(node["upper"], "parameter " + quote(name) + ": upper");
  if (!(p.lower < p.upper)) {
    fail(node, "parameter " + quote(name) + ": lower must be below upper");
  }
  if (p.kind == ParameterKind::loguniform && p.lower <= 0) {
    fail(node, "parameter " + quote(name) + ": a loguniform lower bound must be above 0");
  }
  if (p.kind == ParameterKind::randint &&
      (std::trunc(p.lower) != p.lower || std::trunc(p.upper) != p.upper)) {
    fail(node, "parameter " + quote(name) + ": randint bounds must be whole numbers");
  }
  return p;
}

void TuneReader::read_algorithm(const YAML::Node& node, AlgorithmSpec& algorithm) const {
  const YAML::Node type = node.IsMap() ? node["type"] : node;
  if (node.IsMap()) {
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      if (key == "seed") {
        algorithm.seed = count(entry.second, "algorithm seed", 0);
      } else if (key == "grid_points") {
        algorithm.grid_points = count(entry.second, "algorithm grid_points", 1);
      } else if (key == "chains") {
        algorithm.chains = count(entry.second, "algorithm chains", 1);
      } else if (key == "method") {
        algorithm.method = scalar(entry.second, "algorithm method");
        static const std::set<std::string> methods = {"sbplx", "cobyla", "bobyqa", "neldermead"};
        if (methods.count(algorithm.method) == 0) {
          fail(entry.second, "algorithm method must be sbplx, cobyla, bobyqa or neldermead, not " +
                                 quote(algorithm.method));
        }
      } else if (key != "type") {
        // Plugboard's OptunaSpec fields (space, study_name, storage, points_to_evaluate) name
        // Python objects and Optuna storage: no meaning here.
        fail(entry.first, "unknown key " + quote(key) +
                              " in algorithm (expected type, seed, grid_points, method, chains)");
      }
    }
    if (!type) return;
  }
  const std::string name = scalar(type, "algorithm type");
  if (name == "random" || name == "ray.tune.search.basic_variant.BasicVariantGenerator") {
    algorithm.type = SearchAlgorithm::random;
  } else if (name == "grid") {
    algorithm.type = SearchAlgorithm::grid;
  } else if (name == "nlopt" || name == "model" || name == "ray.tune.search.optuna.OptunaSearch") {
    // Plugboard's default, Optuna's model-based search, is served by the model-based search
    // here.
    algorithm.type = SearchAlgorithm::nlopt;
  } else {
    fail(type, "unknown algorithm type " + quote(name) +
                   " (expected random, grid, nlopt or ray.tune.search.optuna.OptunaSearch)");
  }
}

TuneSpec TuneReader::read(const YAML::Node& tune) const {
  if (!tune.IsMap()) fail(tune, "'tune' must be a mapping");
  // Plugboard nests the arguments under `args`; they may also stand directly under `tune`.
  YAML::Node args = tune;
  if (tune["args"]) {
    for (const auto& entry : tune) {
      if (entry.first.Scalar() != "args" && entry.first.Scalar() != "type") {
        fail(entry.first, "unknown key " + quote(entry.first.Scalar()) + " (expected args)");
      }
    }
    args.reset(tune["args"]);
    if (!args.IsMap()) fail(args, "'tune.args' must be a mapping");
  }
  TuneSpec spec;
  spec.where = at(tune);
  std::vector<TuneMode> modes;
  YAML::Node mode_node;
  for (const auto& entry : args) {
    const std::string key = entry.first.Scalar();
    const YAML::Node& v = entry.second;
    if (key == "objective") {
      if (v.IsSequence()) {
        for (const auto& o : v)
          spec.objectives.push_back(read_objective(o));
        if (spec.objectives.empty()) fail(v, "'objective' is an empty list");
      } else if (v.IsScalar()) {
        // Plugboard's older form: "component.NAME.field.FIELD" or "NAME.FIELD".
        ObjectiveSpec o;
        o.field_type = "field";
        o.where = at(v);
        const std::string text = v.Scalar();
        const auto dot = text.rfind('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == text.size()) {
          fail(v, "objective " + quote(text) + " must look like component.field");
        }
        o.field_name = text.substr(dot + 1);
        std::string object = text.substr(0, dot);
        if (object.starts_with("component.") && object.ends_with(".field")) {
          object = object.substr(10, object.size() - 16);
        }
        o.object_name = object;
        spec.objectives.push_back(o);
      } else {
        spec.objectives.push_back(read_objective(v));
      }
    } else if (key == "parameters") {
      if (!v.IsSequence() || v.size() == 0) fail(v, "'parameters' must be a non-empty list");
      for (const auto& p : v)
        spec.parameters.push_back(read_parameter(p));
    } else if (key == "num_samples") {
      spec.num_samples = count(v, "'num_samples'", 1);
    } else if (key == "max_concurrent") {
      spec.max_concurrent = v.IsNull() ? 0 : count(v, "'max_concurrent'", 1);
    } else if (key == "mode") {
      mode_node.reset(v);
      if (v.IsSequence()) {
        for (const auto& m : v)
          modes.push_back(mode(m));
      } else {
        modes.push_back(mode(v));
      }
    } else if (key == "algorithm") {
      read_algorithm(v, spec.algorithm);
    } else {
      fail(entry.first, "unknown key " + quote(key) +
                            " (expected objective, parameters, num_samples, mode, "
                            "max_concurrent, algorithm)");
    }
  }
  if (spec.objectives.empty()) fail(args, "the section has no 'objective'");
  if (spec.parameters.empty()) fail(args, "the section has no 'parameters'");
  if (!args["num_samples"]) fail(args, "the section has no 'num_samples'");
  std::set<std::string> names;
  for (const auto& p : spec.parameters) {
    if (!names.insert(p.full_name()).second) {
      throw ModelError("tune: parameter " + quote(p.full_name()) + " is given twice", p.where);
    }
  }
  if (modes.size() > 1 && modes.size() != spec.objectives.size()) {
    fail(mode_node, "'mode' has " + std::to_string(modes.size()) + " entries for " +
                        std::to_string(spec.objectives.size()) + " objectives");
  }
  if (modes.size() == 1 && spec.objectives.size() > 1 && mode_node.IsSequence()) {
    fail(mode_node,
         "'mode' has 1 entry for " + std::to_string(spec.objectives.size()) + " objectives");
  }
  for (std::size_t i = 0; i < spec.objectives.size(); ++i) {
    spec.objectives[i].mode = modes.empty() ? TuneMode::max : modes[modes.size() == 1 ? 0 : i];
  }
  return spec;
}

std::optional<TuneSpec> parse_tune_document(const std::string& text, const std::string& origin) {
  const YAML::Node root = detail::load_document(text, origin);
  if (!root.IsMap()) return std::nullopt;
  YAML::Node tune;
  if (root["plugboard"] && root["plugboard"].IsMap() && root["plugboard"]["tune"]) {
    tune.reset(root["plugboard"]["tune"]);
  } else if (root["tune"]) {
    tune.reset(root["tune"]);
  } else {
    return std::nullopt;
  }
  return TuneReader(origin).read(tune);
}

}  // namespace

std::string TuneField::full_name() const {
  return object_type + "." + (object_name.empty() ? std::string("default") : object_name) + "." +
         field_type + "." + field_name;
}

std::string TuneField::override_key() const {
  if (object_type == "process") return "parameters." + field_name;
  if (field_type == "parameter") return object_name + ".parameters." + field_name;
  if (field_type == "initial_value") return object_name + ".initial_values." + field_name;
  return object_name + "." + field_name;
}

std::optional<TuneSpec> load_tune(const std::string& model_path) {
  std::ifstream in(model_path, std::ios::binary);
  if (!in) throw ModelError("cannot open model file " + quote(model_path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > limits::max_model_file_bytes) {
    throw ModelError("model file " + quote(model_path) + " is more than the " +
                     std::to_string(limits::max_model_file_bytes) + " bytes allowed");
  }
  return parse_tune_document(text.str(), model_path);
}

std::optional<TuneSpec> parse_tune(const std::string& yaml_text, const std::string& origin) {
  return parse_tune_document(yaml_text, origin);
}

void check_tune(const TuneSpec& tune, const ProcessSpec& model) {
  auto component_of = [&](const TuneField& field, const std::string& what) -> void {
    for (const auto& c : model.components) {
      if (c.name == field.object_name) return;
    }
    throw ModelError("tune: " + what + " " + quote(field.full_name()) +
                         ": the model has no component named " + quote(field.object_name),
                     field.where);
  };
  for (const auto& p : tune.parameters) {
    if (p.object_type != "process") component_of(p, "parameter");
  }
  if (tune.objectives.empty()) {
    throw ModelError("tune: no objective: a search needs at least one (TuneSpec::objectives)");
  }
  for (const auto& o : tune.objectives)
    component_of(o, "objective");
}

}  // namespace patchbay
