// Writing a model back as YAML (dump_model, save_model, Process::to_yaml and dump) and reading
// it again, and the parameters a component reads: the process's, under its own of the same
// name.
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/model.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "support/command.hpp"

using Catch::Contains;
using patchbay::ComponentArgs;
using patchbay::dump_model;
using patchbay::ModelError;
using patchbay::parse_model;
using patchbay::ProcessSpec;
using patchbay::Value;

namespace {

const char* const kRichModel = R"(plugboard:
  process:
    type: plugboard.process.RayProcess
    args:
      name: rich
      components:
      - type: Iterator
        args:
          name: source
          iters: 3
          resources:
            cpu: 2
            memory: 1Gi
            resources: {custom_hardware: 1}
          worker: left
          step_timeout: 2.5
      - type: Custom
        args:
          name: "1"
          label: "true"
          count: 7
          ratio: 0.25
          big: 1e300
          nothing: null
          empty: ""
          quoted: 'has: colon'
          list: [1, two, 3.0, [4], {k: v}]
          config:
            nested: {deep: [1, 2]}
            flag: false
          parameters:
            scale: 2.0
            mode: fast
          initial_values:
            previous: [0, 1.5]
          replicas: 3
          ordered: false
      connectors:
      - source: source.x
        target: 1.in
        capacity: 4096
        wait: spin
      parameters:
        scale: 0.5
        names: [a, b]
        table: {x: 1}
      channel_capacity: 128Ki
      workers: 2
      wait: block
      step_timeout: 10
      replica_restarts: 3
      resources:
        custom_hardware: 2
)";

void check_rich(const ProcessSpec& spec) {
  CHECK(spec.name == "rich");
  CHECK(spec.kind == patchbay::ProcessKind::parallel);
  REQUIRE(spec.components.size() == 2);
  const auto& source = spec.components[0];
  CHECK(source.args.at("iters") == Value(3));
  CHECK(source.resources.cpu == 2.0);
  CHECK(source.resources.memory == 1073741824.0);
  CHECK(source.resources.custom.at("custom_hardware") == 1.0);
  CHECK(source.worker == "left");
  CHECK(source.step_timeout == 2.5);
  const auto& custom = spec.components[1];
  CHECK(custom.name == "1");
  CHECK(custom.args.at("label") == Value("true"));
  CHECK(custom.args.at("count") == Value(7));
  CHECK(custom.args.at("ratio") == Value(0.25));
  CHECK(custom.args.at("big") == Value(1e300));
  CHECK(custom.args.at("nothing").is_null());
  CHECK(custom.args.at("empty") == Value(""));
  CHECK(custom.args.at("quoted") == Value("has: colon"));
  CHECK(custom.args.at("list") ==
        Value(Value::List{1, "two", 3.0, Value::List{4}, Value::Map{{"k", "v"}}}));
  CHECK(custom.args.at("config") ==
        Value(Value::Map{{"nested", Value::Map{{"deep", Value::List{1, 2}}}}, {"flag", false}}));
  CHECK(custom.parameters.at("scale") == Value(2.0));
  CHECK(custom.parameters.at("mode") == Value("fast"));
  CHECK(custom.args.count("parameters") == 0);
  CHECK(custom.initial_values.at("previous") == std::vector<Value>{0, 1.5});
  CHECK(custom.replicas == 3);
  CHECK_FALSE(custom.ordered);
  REQUIRE(spec.connectors.size() == 1);
  CHECK(spec.connectors[0].source == "source.x");
  CHECK(spec.connectors[0].target == "1.in");
  CHECK(spec.connectors[0].capacity == 4096);
  CHECK(spec.connectors[0].wait == patchbay::WaitMode::spin);
  CHECK(spec.parameters.at("scale") == Value(0.5));
  CHECK(spec.parameters.at("names") == Value(Value::List{"a", "b"}));
  CHECK(spec.parameters.at("table") == Value(Value::Map{{"x", 1}}));
  CHECK(spec.options.channel_capacity == 131072);
  CHECK(spec.options.workers == 2);
  CHECK(spec.options.wait == patchbay::WaitMode::block);
  CHECK(spec.options.step_timeout == 10.0);
  CHECK(spec.options.replica_restarts == 3);
  CHECK(spec.options.custom_resources.at("custom_hardware") == 2.0);
}

// A component that reads parameters: `scale` (required), `offset` (optional).
class Scaler : public patchbay::Component {
 public:
  explicit Scaler(const ComponentArgs& args)
      : Component(args),
        scale_(args.parameter<double>("scale")),
        offset_(args.parameter_or<double>("offset", 0.0)) {}
  patchbay::Input<std::int64_t> a{this, "a"};
  patchbay::Output<double> x{this, "x"};
  void step() override { x = static_cast<double>(a.value()) * scale_ + offset_; }

 private:
  double scale_;
  double offset_;
};

// Records what it takes.
std::vector<double> g_taken_a;
std::vector<double> g_taken_b;
class Taker : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<double> a{this, "a"};
  patchbay::Input<double> b{this, "b"};
  void step() override {
    g_taken_a.push_back(a.value());
    g_taken_b.push_back(b.value());
  }
};

const patchbay::Registry& registry() {
  static patchbay::Registry* r = [] {
    auto* reg = new patchbay::Registry();
    patchbay::library::register_library(*reg);
    reg->add("Scaler", [](const ComponentArgs& args) -> std::unique_ptr<patchbay::Component> {
      return std::make_unique<Scaler>(args);
    });
    reg->add("Taker", [](const ComponentArgs& args) -> std::unique_ptr<patchbay::Component> {
      return std::make_unique<Taker>(args);
    });
    return reg;
  }();
  return *r;
}

const char* const kScalers = R"(process:
  args:
    components:
    - type: Iterator
      args: {name: source, iters: 3}
    - type: Scaler
      args: {name: scale_a}
    - type: Scaler
      args:
        name: scale_b
        parameters: {scale: 2.0, offset: 1}
    - type: Taker
      args: {name: take}
    connectors:
    - {source: source.x, target: scale_a.a}
    - {source: source.x, target: scale_b.a}
    - {source: scale_a.x, target: take.a}
    - {source: scale_b.x, target: take.b}
    parameters:
      scale: 0.5
)";

}  // namespace

TEST_CASE("dump_model writes back every part of a model, and reads back the same", "[model]") {
  const ProcessSpec spec = parse_model(kRichModel, "rich.yaml");
  check_rich(spec);
  const std::string yaml = dump_model(spec);
  INFO(yaml);
  const ProcessSpec again = parse_model(yaml, "dumped.yaml");
  check_rich(again);
  // a fixed point: what it writes, it writes again
  CHECK(dump_model(again) == yaml);
  // in Plugboard's shape, strings that would read as other kinds quoted
  CHECK_THAT(yaml, Contains("plugboard:") && Contains("type: plugboard.process.RayProcess"));
  CHECK_THAT(yaml,
             Contains("name: \"1\"") && Contains("label: \"true\"") && Contains("empty: \"\""));
}

TEST_CASE("save_model writes a file that load_model reads; plugins become absolute paths",
          "[model]") {
  patchbay::test::TempDir dir;
  ProcessSpec spec = parse_model(kRichModel, "rich.yaml");
  spec.plugins = {"relative/libthing.so"};
  const std::string path = (dir / "saved.yaml").string();
  patchbay::save_model(spec, path);
  patchbay::LoadOptions file_only;  // the plugin does not exist: the file is what is tested
  file_only.load_plugins = false;
  const ProcessSpec loaded = patchbay::load_model(path, file_only);
  check_rich(loaded);
  REQUIRE(loaded.plugins.size() == 1);
  CHECK(loaded.plugins[0] ==
        (std::filesystem::current_path() / "relative/libthing.so").lexically_normal().string());
  CHECK_THROWS_WITH(patchbay::save_model(spec, (dir / "no/such/dir.yaml").string()),
                    Contains("cannot write") && Contains("dir.yaml"));
}

TEST_CASE("a component's own parameters replace the process's of the same name", "[model]") {
  g_taken_a.clear();
  g_taken_b.clear();
  auto process = patchbay::make_process(parse_model(kScalers), registry());
  process->run();
  REQUIRE(process->status() == patchbay::Status::completed);
  // the Iterator counts 0, 1, 2
  CHECK(g_taken_a == std::vector<double>{0.0, 0.5, 1.0});  // * 0.5 (the process's)
  CHECK(g_taken_b == std::vector<double>{1.0, 3.0, 5.0});  // * 2.0 + 1 (its own)
}

TEST_CASE("a parameter that is missing or of the wrong kind is a model error naming it",
          "[model]") {
  ProcessSpec spec = parse_model(kScalers);
  spec.parameters.clear();
  try {
    (void)patchbay::make_process(spec, registry());
    FAIL("no error");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("component 'scale_a'") && Contains("parameter 'scale'") &&
                             Contains("is not set") && Contains("none are set"));
  }
  spec.parameters["scale"] = Value("big");
  try {
    (void)patchbay::make_process(spec, registry());
    FAIL("no error");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("component 'scale_a'") && Contains("parameter 'scale'") &&
                             Contains("must be a number") && Contains("'big'"));
  }
  // a component's `parameters` must be a mapping
  CHECK_THROWS_WITH(parse_model(R"(process:
  args:
    components:
    - type: Scaler
      args: {name: s, parameters: [1, 2]}
)"),
                    Contains("'parameters'"));
}

TEST_CASE("ComponentArgs reads a mapping argument as Value::Map, and says when it is not one",
          "[model]") {
  ComponentArgs args("c", {{"config", Value::Map{{"a", 1}}}, {"plain", 3}});
  const Value::Map config = args.get<Value::Map>("config");
  CHECK(config.at("a") == Value(1));
  try {
    (void)args.get<Value::Map>("plain");
    FAIL("no error");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("'plain'") && Contains("must be a mapping, got int"));
  }
}

namespace {

// Built in code below, and registered, so that the model it is written to loads.
class DumpScale : public patchbay::Component {
 public:
  explicit DumpScale(const ComponentArgs& args)
      : Component(args), factor_(args.get<double>("factor")) {}
  patchbay::Input<std::int64_t> a{this, "a"};
  patchbay::Output<double> x{this, "x"};
  void step() override { x = static_cast<double>(a.value()) * factor_; }

 private:
  double factor_;
};
PATCHBAY_REGISTER_COMPONENT(DumpScale);

std::vector<double> g_dump_taken;
class DumpTake : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<double> a{this, "a"};
  void step() override { g_dump_taken.push_back(a.value()); }
};
PATCHBAY_REGISTER_COMPONENT(DumpTake);

}  // namespace

TEST_CASE("a process writes back the model it runs (to_yaml, dump), which runs the same",
          "[model]") {
  const ProcessSpec given = parse_model(kScalers);
  g_taken_a.clear();
  g_taken_b.clear();
  auto process = patchbay::make_process(given, registry());
  const std::string yaml = process->to_yaml();
  INFO(yaml);
  CHECK(yaml == dump_model(given));
  CHECK(process->spec().components.size() == 4);
  process->run();
  const auto first_a = g_taken_a;
  const auto first_b = g_taken_b;
  REQUIRE(first_a.size() == 3);
  // Written to a file and loaded, it runs the same.
  patchbay::test::TempDir dir;
  const std::string path = (dir / "dumped.yaml").string();
  process->dump(path);
  g_taken_a.clear();
  g_taken_b.clear();
  patchbay::make_process(patchbay::load_model(path), registry())->run();
  CHECK(g_taken_a == first_a);
  CHECK(g_taken_b == first_b);
  CHECK_THROWS_WITH(process->dump((dir / "no/such/dir.yaml").string()),
                    Contains("cannot write") && Contains("dir.yaml"));

  // The engine that runs it is the kind written, whatever the spec said.
  patchbay::ParallelProcess parallel(given, registry());
  CHECK(parallel.spec().kind == patchbay::ProcessKind::parallel);
  CHECK(parse_model(parallel.to_yaml()).kind == patchbay::ProcessKind::parallel);
  parallel.run();
  CHECK(parallel.status() == patchbay::Status::completed);
}

TEST_CASE("a process built in code writes a model of its components that loads and runs the same",
          "[model]") {
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  parts.push_back(std::make_unique<patchbay::library::Iterator>("source", 3));
  parts.push_back(std::make_unique<DumpScale>(ComponentArgs("half", {{"factor", 0.5}})));
  parts.push_back(std::make_unique<DumpTake>("take"));
  patchbay::ResourceOverrides half_a_core;
  half_a_core.cpu = 0.5;
  parts[1]->set_resource_overrides(half_a_core);
  parts[2]->set_worker_label("sink");
  patchbay::ProcessOptions options;
  options.channel_capacity = 64;
  patchbay::LocalProcess process(std::move(parts), {{"source.x", "half.a"}, {"half.x", "take.a"}},
                                 options);
  const ProcessSpec spec = process.spec();
  REQUIRE(spec.components.size() == 3);
  // Registered classes are written by their registered names, with their arguments.
  CHECK(spec.components[0].type == "Iterator");
  CHECK(spec.components[0].args.at("iters") == Value(3));
  CHECK(spec.components[1].type == "DumpScale");
  CHECK(spec.components[1].args.at("factor") == Value(0.5));
  CHECK(spec.components[1].resources.cpu == 0.5);
  CHECK(spec.components[2].type == "DumpTake");
  CHECK(spec.components[2].worker == "sink");
  CHECK(spec.connectors.size() == 2);
  CHECK(spec.options.channel_capacity == 64);
  const std::string yaml = process.to_yaml();
  INFO(yaml);
  g_dump_taken.clear();
  process.run();
  REQUIRE(g_dump_taken == std::vector<double>{0.0, 0.5, 1.0});
  g_dump_taken.clear();
  const ProcessSpec again = parse_model(yaml);
  CHECK(dump_model(again) == yaml);
  patchbay::make_process(again)->run();
  CHECK(g_dump_taken == std::vector<double>{0.0, 0.5, 1.0});
}
