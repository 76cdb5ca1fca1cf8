// Loading models from YAML: the Plugboard-compatible schema, its errors, overrides, diagrams,
// and the tutorial model run end to end. The loader's limits are in test_model_limits.cpp.
#include <patchbay/error.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/command.hpp"
#include "support/yaml.hpp"

using Catch::Contains;
using patchbay::ModelError;
using patchbay::parse_model;
using patchbay::ProcessKind;
using patchbay::ProcessSpec;
using patchbay::Value;

namespace fs = std::filesystem;

namespace {

using patchbay::test::lines_of;
using patchbay::test::parse_error;
using patchbay::test::read_file;
using patchbay::test::TempDir;
using patchbay::test::write_file;

// Replaces the one occurrence of `from` (which must occur exactly once).
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + 1) == std::string::npos);
  return text.replace(at, from.size(), to);
}

// The tutorial's YAML ("Running in parallel"), verbatim.
const std::string kTutorialYaml = R"(plugboard:
  process:
    type: "plugboard.process.RayProcess"  # (1)!
    connector_builder:
      type: "plugboard.connector.RayConnector"  # (2)!
    args:
      components:
      - type: hello_ray.Iterator
        args:
          name: "input"
          iters: 10
      - type: hello_ray.Sleep
        args:
          name: "slow-sleep"
          sleep_seconds: 0.5
      - type: hello_ray.Sleep
        args:
          name: "very-slow-sleep"
          sleep_seconds: 1
      - type: hello_ray.Timestamper
        args:
          name: "timestamper"
      - type: plugboard.library.file_io.FileWriter
        args:
          name: "save-results"
          path: "ray.csv"
          field_names:
          - timestamp
      connectors:
      - source: "input.x"
        target: "slow-sleep.x"
      - source: "input.x"
        target: "very-slow-sleep.x"
      - source: "slow-sleep.y"
        target: "timestamper.x"
      - source: "very-slow-sleep.y"
        target: "timestamper.y"
      - source: "timestamper.timestamp"
        target: "save-results.timestamp"
)";

// The tutorial's resource YAML ("Specifying resource requirements"), verbatim.
const std::string kResourcesYaml = R"(plugboard:
  process:
    type: plugboard.process.RayProcess
    connector_builder:
      type: plugboard.connector.RayConnector
    args:
      name: resource-example-process
      components:
        - type: examples.tutorials.004_using_ray.resources_example.DataProducer
          args:
            name: producer
            iters: 10
            resources:
              cpu: 1.0   # (1)!
        - type: examples.tutorials.004_using_ray.resources_example.CPUIntensiveTask
          args:
            name: cpu-task
            # CPUIntensiveTask has class-level resources (cpu: 2.0)
            # Override to use more memory
            resources:
              cpu: 2.0  # (2)!
              memory: "512Mi"  # (3)!
        - type: examples.tutorials.004_using_ray.resources_example.GPUTask
          args:
            name: gpu-task
            # GPUTask has class-level resources (cpu: "500m", gpu: 1)
            # Can override or extend with custom resources
            resources:
              cpu: "500m"  # (4)!
              gpu: 1  # (5)!
              resources:
                custom_hardware: 2  # (6)!
      connectors:
        - source: producer.output
          target: cpu-task.x
        - source: cpu-task.y
          target: gpu-task.data
)";

// A model with one component named "c" of type `type`; `args_yaml` (each line indented by
// 8 spaces) is added to its args from line 7 on.
std::string one_component(const std::string& args_yaml, const std::string& type = "Custom") {
  const std::string head = R"(process:
  args:
    components:
    - type: TYPE
      args:
        name: c
)";
  return replace_once(head, "TYPE", type) + args_yaml;
}

}  // namespace

TEST_CASE("the tutorial's RayProcess model parses as a parallel process", "[model]") {
  const ProcessSpec spec = parse_model(kTutorialYaml, "tutorial.yaml");
  CHECK(spec.kind == ProcessKind::parallel);
  CHECK(spec.where.file == "tutorial.yaml");
  CHECK(spec.plugins.empty());
  CHECK(spec.parameters.empty());
  CHECK(spec.extra_args.empty());

  REQUIRE(spec.components.size() == 5);
  const auto& input = spec.components[0];
  CHECK(input.type == "hello_ray.Iterator");
  CHECK(input.name == "input");
  CHECK(input.args.size() == 1);
  CHECK(input.args.at("iters") == Value(10));
  CHECK(input.where.file == "tutorial.yaml");
  CHECK(input.where.line == 8);
  CHECK(input.arg_locations.at("iters").line == 11);
  CHECK(input.initial_values.empty());
  CHECK(input.resources == patchbay::ResourceOverrides{});

  CHECK(spec.components[1].type == "hello_ray.Sleep");
  CHECK(spec.components[1].name == "slow-sleep");
  CHECK(spec.components[1].args.at("sleep_seconds") == Value(0.5));
  CHECK(spec.components[1].where.line == 12);
  CHECK(spec.components[2].name == "very-slow-sleep");
  CHECK(spec.components[2].args.at("sleep_seconds") == Value(1));
  CHECK(spec.components[3].type == "hello_ray.Timestamper");
  CHECK(spec.components[3].name == "timestamper");
  CHECK(spec.components[3].args.empty());
  const auto& writer = spec.components[4];
  CHECK(writer.type == "plugboard.library.file_io.FileWriter");
  CHECK(writer.name == "save-results");
  CHECK(writer.args.at("path") == Value("ray.csv"));
  CHECK(writer.args.at("field_names") == Value(Value::List{"timestamp"}));
  CHECK(writer.where.line == 23);

  REQUIRE(spec.connectors.size() == 5);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"input.x", "slow-sleep.x"},
      {"input.x", "very-slow-sleep.x"},
      {"slow-sleep.y", "timestamper.x"},
      {"very-slow-sleep.y", "timestamper.y"},
      {"timestamper.timestamp", "save-results.timestamp"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(spec.connectors[i].source == expected[i].first);
    CHECK(spec.connectors[i].target == expected[i].second);
    CHECK(spec.connectors[i].capacity == 0);
    CHECK(spec.connectors[i].where.line == static_cast<int>(30 + 2 * i));
  }
}

TEST_CASE("the tutorial's model with LocalProcess parses as a local process", "[model]") {
  const std::string yaml =
      replace_once(kTutorialYaml, "plugboard.process.RayProcess", "plugboard.process.LocalProcess");
  const ProcessSpec spec = parse_model(yaml);
  CHECK(spec.kind == ProcessKind::local);
  CHECK(spec.components.size() == 5);
  CHECK(spec.connectors.size() == 5);
}

TEST_CASE("connector_builder is accepted as a mapping or a name and checked", "[model]") {
  for (const std::string builder :
       {"{type: plugboard.connector.AsyncioConnector}", "plugboard.connector.ZMQConnector",
        "RayConnector", "{type: AsyncioConnector}"}) {
    CAPTURE(builder);
    const ProcessSpec spec = parse_model("process:\n  connector_builder: " + builder +
                                         "\n  args:\n    components: []\n");
    CHECK(spec.components.empty());
  }
  const ModelError unknown = parse_error(
      "process:\n  connector_builder:\n    type: plugboard.connector.Pigeon\n  args: {}\n");
  CHECK_THAT(unknown.what(), Contains("model.yaml:3") && Contains("plugboard.connector.Pigeon"));
  const ModelError no_type =
      parse_error("process:\n  connector_builder:\n    args: {}\n  args: {}\n");
  CHECK_THAT(no_type.what(), Contains("model.yaml:3") && Contains("needs a 'type'"));
}

TEST_CASE("a model without the plugboard root reads the same", "[model]") {
  // Drop the "plugboard:" line and un-indent the rest by two spaces.
  std::string unwrapped;
  const auto lines = lines_of(kTutorialYaml);
  for (std::size_t i = 1; i < lines.size(); ++i)
    unwrapped += lines[i].substr(2) + "\n";
  REQUIRE(unwrapped.rfind("process:\n", 0) == 0);

  const ProcessSpec wrapped = parse_model(kTutorialYaml);
  const ProcessSpec bare = parse_model(unwrapped);
  CHECK(bare.kind == ProcessKind::parallel);
  REQUIRE(bare.components.size() == wrapped.components.size());
  for (std::size_t i = 0; i < bare.components.size(); ++i) {
    CHECK(bare.components[i].type == wrapped.components[i].type);
    CHECK(bare.components[i].name == wrapped.components[i].name);
    CHECK(bare.components[i].args == wrapped.components[i].args);
    CHECK(bare.components[i].where.line == wrapped.components[i].where.line - 1);
  }
  REQUIRE(bare.connectors.size() == wrapped.connectors.size());
  for (std::size_t i = 0; i < bare.connectors.size(); ++i) {
    CHECK(bare.connectors[i].source == wrapped.connectors[i].source);
    CHECK(bare.connectors[i].target == wrapped.connectors[i].target);
  }
}

TEST_CASE("process types: aliases for local and parallel, local by default", "[model]") {
  const auto kind_of = [](const std::string& type) {
    return parse_model("process:\n  type: " + type + "\n  args:\n    components: []\n").kind;
  };
  for (const std::string type : {"local", "LocalProcess", "plugboard.process.LocalProcess",
                                 "plugboard.process.local_process.LocalProcess", "\"local\""}) {
    CAPTURE(type);
    CHECK(kind_of(type) == ProcessKind::local);
  }
  for (const std::string type :
       {"parallel", "ParallelProcess", "RayProcess", "plugboard.process.RayProcess",
        "plugboard.process.ray_process.RayProcess", "'parallel'"}) {
    CAPTURE(type);
    CHECK(kind_of(type) == ProcessKind::parallel);
  }
  CHECK(parse_model("process:\n  args:\n    components: []\n").kind == ProcessKind::local);
}

TEST_CASE("an unknown process type is an error at its line", "[model]") {
  const ModelError e = parse_error(
      "plugboard:\n  process:\n    type: plugboard.process.DaskProcess\n    args: {}\n");
  CHECK(e.where().file == "model.yaml");
  CHECK(e.where().line == 3);
  CHECK_THAT(e.what(), Contains("model.yaml:3") && Contains("unknown process type") &&
                           Contains("plugboard.process.DaskProcess"));
}

TEST_CASE("a component type is kept as written and resolves by its last segment", "[model]") {
  const ProcessSpec spec = parse_model(kTutorialYaml);
  CHECK(spec.components[1].type == "hello_ray.Sleep");
  const auto& registry = patchbay::Registry::global();
  CHECK(registry.resolve(spec.components[0].type) == "Iterator");
  CHECK(registry.resolve(spec.components[1].type) == "Sleep");
  CHECK(registry.resolve(spec.components[3].type) == "Timestamper");
  CHECK(registry.resolve(spec.components[4].type) == "FileWriter");
  CHECK(registry.resolve("Sleep") == "Sleep");
  CHECK(registry.resolve("hello_ray.Sleepy").empty());
  CHECK(registry.resolve("Sleep.hello_ray").empty());
}

TEST_CASE("a built-in type resolves from a dotted name only under Plugboard's packages",
          "[model]") {
  const auto& registry = patchbay::Registry::global();
  // Plugboard's own spellings of its library, and the tutorial's module for its components.
  CHECK(registry.resolve("plugboard.library.FileWriter") == "FileWriter");
  CHECK(registry.resolve("plugboard.library.file_io.FileReader") == "FileReader");
  CHECK(registry.resolve("plugboard.library.sql_io.SQLWriter") == "SQLWriter");
  CHECK(registry.resolve("hello_ray.Iterator") == "Iterator");
  CHECK(registry.resolve("hello_ray.Timestamper") == "Timestamper");
  // Another package's class of the same name is not the built-in.
  CHECK(registry.resolve("acme.sinks.FileWriter").empty());
  CHECK(registry.resolve("acme.Iterator").empty());
  CHECK(registry.resolve("hello_ray.FileWriter").empty());
  CHECK(registry.resolve("plugboardx.library.FileWriter").empty());
  CHECK_FALSE(registry.contains("acme.sinks.FileWriter"));
  // A type registered by a program or plugin still resolves from any package.
  patchbay::Registry own;
  own.add("Save", [](const patchbay::ComponentArgs&) -> std::unique_ptr<patchbay::Component> {
    return nullptr;
  });
  CHECK(own.resolve("components.Save") == "Save");
  CHECK(own.resolve("a.b.Save") == "Save");
}

TEST_CASE("a model naming a built-in in another package is an error that says so", "[model]") {
  const ProcessSpec spec = parse_model(
      one_component("        path: out.csv\n        field_names: [x]\n", "acme.sinks.FileWriter"));
  try {
    (void)patchbay::make_process(spec);
    FAIL("expected a ModelError");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("unknown component type 'acme.sinks.FileWriter'") &&
                             Contains("it is not the built-in FileWriter") &&
                             Contains("'plugboard.library.FileWriter'"));
  }
}

TEST_CASE("argument scalars become Values of the right kind", "[model]") {
  const ProcessSpec spec = parse_model(one_component(R"(        i: 42
        neg: -7
        plus: +3
        d: 2.5
        e: 1e3
        b1: true
        b2: False
        n1: null
        n2: ~
        n3:
        s: hello
        q: "1"
        q2: 'true'
        q3: "null"
        l: [1, two, 3.0]
        block:
        - a
        - 2
        nested: [[1], []]
        inf: .inf
        nan_word: nan
)"));
  REQUIRE(spec.components.size() == 1);
  const auto& a = spec.components[0].args;
  CHECK(a.count("name") == 0);  // the name is not an argument
  CHECK(a.at("i").is_int());
  CHECK(a.at("i").as_int() == 42);
  CHECK(a.at("neg") == Value(-7));
  CHECK(a.at("plus") == Value(3));
  CHECK(a.at("d").is_double());
  CHECK(a.at("d").as_double() == 2.5);
  CHECK(a.at("e").is_double());
  CHECK(a.at("e").as_double() == 1000.0);
  CHECK(a.at("b1") == Value(true));
  CHECK(a.at("b2") == Value(false));
  CHECK(a.at("n1").is_null());
  CHECK(a.at("n2").is_null());
  CHECK(a.at("n3").is_null());
  CHECK(a.at("s") == Value("hello"));
  CHECK(a.at("q").is_string());
  CHECK(a.at("q") == Value("1"));
  CHECK(a.at("q2") == Value("true"));
  CHECK(a.at("q3") == Value("null"));
  CHECK(a.at("l") == Value(Value::List{1, "two", 3.0}));
  CHECK(a.at("l").as_list()[2].is_double());
  CHECK(a.at("block") == Value(Value::List{"a", 2}));
  CHECK(a.at("nested") == Value(Value::List{Value(Value::List{1}), Value(Value::List{})}));
  CHECK(a.at("inf").is_double());
  CHECK(std::isinf(a.at("inf").as_double()));
  CHECK(a.at("nan_word") == Value("nan"));
  CHECK(spec.components[0].arg_locations.at("i").line == 7);
  CHECK(spec.components[0].arg_locations.at("nan_word").line == 27);
}

TEST_CASE("a mapping as an argument value is read as a nested map", "[model]") {
  const ProcessSpec spec = parse_model(one_component(
      "        m:\n          a: 1\n          b: [x, {c: true}]\n          '7': \"7\"\n"));
  const Value& m = spec.components[0].args.at("m");
  REQUIRE(m.is_map());
  CHECK(m.at("a") == Value(1));
  CHECK(m.at("b") == Value(Value::List{"x", Value::Map{{"c", true}}}));
  CHECK(m.at("7") == Value("7"));
}

TEST_CASE("a repeated key in a mapping argument is an error at its line", "[model]") {
  const ModelError e = parse_error(one_component("        m:\n          a: 1\n          a: 2\n"));
  CHECK(e.where().line == 9);
  CHECK_THAT(e.what(), Contains("duplicate key 'a'"));
}

TEST_CASE("process parameters, name and engine options are read", "[model]") {
  const ProcessSpec spec = parse_model(R"(process:
  args:
    name: my-process
    parameters:
      alpha: 1
      beta: "x"
      gamma: [1.5, true]
    workers: 4
    topology: "pack:2 core:4 pu:1"
    wait: spin
    resources: {custom_hardware: 5, licences: 500m}
    components: []
    connectors:
)");
  CHECK(spec.name == "my-process");
  REQUIRE(spec.parameters.size() == 3);
  CHECK(spec.parameters.at("alpha") == Value(1));
  CHECK(spec.parameters.at("beta") == Value("x"));
  CHECK(spec.parameters.at("gamma") == Value(Value::List{1.5, true}));
  CHECK(spec.connectors.empty());
  CHECK(spec.options.workers == 4);
  CHECK(spec.options.topology == "pack:2 core:4 pu:1");
  CHECK(spec.options.wait == patchbay::WaitMode::spin);
  CHECK(spec.options.custom_resources ==
        std::map<std::string, double>{{"custom_hardware", 5.0}, {"licences", 0.5}});
}

TEST_CASE("engine options are checked: workers, wait mode, custom capacities", "[model]") {
  auto args = [](const std::string& line) { return "process:\n  args:\n    " + line + "\n"; };
  CHECK_THROWS_WITH(parse_model(args("workers: 0"), "m.yaml"),
                    Contains("m.yaml:3") && Contains("workers"));
  CHECK_THROWS_WITH(parse_model(args("wait: sometimes"), "m.yaml"),
                    Contains("m.yaml:3") && Contains("unknown wait mode 'sometimes'"));
  CHECK_THROWS_WITH(parse_model(args("resources: {gizmo: -1}"), "m.yaml"),
                    Contains("m.yaml:3") && Contains("gizmo"));
  const ProcessSpec spec = parse_model(R"(process:
  args:
    components:
    - type: Sleep
      args: {name: s, sleep_seconds: 0, worker: fast}
    connectors:
    - {source: a.x, target: s.x, wait: block}
)");
  CHECK(spec.components[0].worker == "fast");
  CHECK(spec.components[0].args.count("worker") == 0);
  CHECK(spec.connectors[0].wait == patchbay::WaitMode::block);
}

// Plugboard writes its state backend as a mapping (StateBackendSpec: {type, args}); such a
// model must load (to_value() alone rejects mappings).
TEST_CASE("Plugboard's state backend mapping is accepted and ignored", "[model]") {
  const ProcessSpec spec = parse_model(R"(plugboard:
  process:
    type: plugboard.process.LocalProcess
    args:
      name: with-state
      state:
        type: plugboard.state.DictStateBackend
        args:
          job_id: null
      components:
      - type: Iterator
        args: {name: a, iters: 1}
)");
  CHECK(spec.name == "with-state");
  CHECK(spec.components.size() == 1);
  CHECK(spec.extra_args.count("state") == 1);
}

TEST_CASE("initial_values take a list or a single scalar per field", "[model]") {
  const ProcessSpec spec = parse_model(one_component(R"(        initial_values:
          x: [1, 2]
          y: 3
          z: "s"
          w: []
)"));
  const auto& c = spec.components[0];
  CHECK(c.args.count("initial_values") == 0);
  REQUIRE(c.initial_values.size() == 4);
  CHECK(c.initial_values.at("x") == std::vector<Value>{1, 2});
  CHECK(c.initial_values.at("y") == std::vector<Value>{3});
  CHECK(c.initial_values.at("z") == std::vector<Value>{"s"});
  CHECK(c.initial_values.at("w").empty());
}

TEST_CASE("the tutorial's resources parse with quantities and custom resources", "[model]") {
  const ProcessSpec spec = parse_model(kResourcesYaml, "resources.yaml");
  CHECK(spec.name == "resource-example-process");
  CHECK(spec.kind == ProcessKind::parallel);
  REQUIRE(spec.components.size() == 3);

  const auto& producer = spec.components[0];
  CHECK(producer.resources.cpu == 1.0);
  CHECK_FALSE(producer.resources.gpu.has_value());
  CHECK_FALSE(producer.resources.memory.has_value());
  CHECK(producer.args.count("resources") == 0);
  CHECK(producer.args.at("iters") == Value(10));

  const auto& cpu_task = spec.components[1];
  CHECK(cpu_task.resources.cpu == 2.0);
  CHECK(cpu_task.resources.memory == 512.0 * 1024 * 1024);
  CHECK_FALSE(cpu_task.resources.gpu.has_value());

  const auto& gpu_task = spec.components[2];
  CHECK(gpu_task.resources.cpu == 0.5);
  CHECK(gpu_task.resources.gpu == 1.0);
  CHECK(gpu_task.resources.custom == std::map<std::string, double>{{"custom_hardware", 2.0}});

  REQUIRE(spec.connectors.size() == 2);
  CHECK(spec.connectors[1].source == "cpu-task.y");
  CHECK(spec.connectors[1].target == "gpu-task.data");
}

TEST_CASE("bad resource quantities are errors naming the value and its line", "[model]") {
  struct Case {
    std::string yaml;
    int line;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"          cpu: \"5x\"\n", 8, "5x"},
      {"          memory: 1Gi\n          cpu: -1\n", 9, "negative"},
      {"          gpu: \"1e3\"\n", 8, "1e3"},
      {"          gpu: 1e3\n", 0, ""},  // a YAML number with an exponent is just a number
      {"          cpu: [1]\n", 8, "list"},
      {"          resources:\n            fpga: \"2q\"\n", 9, "2q"},
      {"          disk: 1\n", 8, "unknown resource 'disk'"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    const std::string yaml = one_component("        resources:\n" + c.yaml);
    if (c.line == 0) {
      CHECK(parse_model(yaml).components[0].resources.gpu == 1000.0);
      continue;
    }
    const ModelError e = parse_error(yaml);
    CHECK(e.where().line == c.line);
    CHECK_THAT(e.what(), Contains("model.yaml:" + std::to_string(c.line)) && Contains(c.fragment) &&
                             Contains("component 'c'"));
  }
  CHECK_THAT(parse_error(one_component("        resources:\n          cpu: \"1e3\"\n")).what(),
             Contains("exponent"));
}

TEST_CASE("channel_capacity and connector capacity take bytes or quantities", "[model]") {
  const ProcessSpec spec = parse_model(R"(process:
  args:
    channel_capacity: 1Mi
    fiber_stack_size: 131072
    components:
    - type: Iterator
      args: {name: a, iters: 3}
    - type: Sleep
      args: {name: b, sleep_seconds: 0}
    - type: Sleep
      args: {name: c, sleep_seconds: 0}
    connectors:
    - source: a.x
      target: b.x
      capacity: 1000
    - source: b.y
      target: c.x
      capacity: "2Ki"
)");
  CHECK(spec.options.channel_capacity == 1024 * 1024);
  CHECK(spec.options.fiber_stack_size == 131072);
  REQUIRE(spec.connectors.size() == 2);
  CHECK(spec.connectors[0].capacity == 1000);
  CHECK(spec.connectors[1].capacity == 2048);

  // The capacities reach the channels (rounded up to a power of two).
  const auto process = patchbay::make_process(spec);
  const auto channels = process->channel_stats();
  REQUIRE(channels.size() == 2);
  CHECK(channels[0].capacity == 1024);
  CHECK(channels[1].capacity == 2048);

  const auto defaults = parse_model("process:\n  args:\n    components: []\n");
  CHECK(defaults.options.channel_capacity == patchbay::ProcessOptions{}.channel_capacity);

  const ModelError half = parse_error("process:\n  args:\n    channel_capacity: 0.5\n");
  CHECK_THAT(half.what(), Contains("model.yaml:3") && Contains("channel_capacity"));
  const ModelError word = parse_error("process:\n  args:\n    channel_capacity: lots\n");
  CHECK_THAT(word.what(), Contains("model.yaml:3") && Contains("lots"));
  const ModelError connector = parse_error(
      "process:\n  args:\n    connectors:\n    - source: a.x\n      target: b.x\n"
      "      capacity: -64\n");
  CHECK_THAT(connector.what(), Contains("model.yaml:6") && Contains("connector capacity"));
}

// A quantity beyond what size_t holds must not wrap to 0, which would mean "the default".
TEST_CASE("a capacity too large for size_t is an error, not the default", "[model]") {
  for (const std::string capacity : {"100E", "1e30"}) {
    CAPTURE(capacity);
    const std::string yaml =
        "process:\n  args:\n    connectors:\n    - source: a.x\n      target: b.x\n"
        "      capacity: " +
        capacity + "\n";
    ProcessSpec spec;
    try {
      spec = parse_model(yaml, "model.yaml");
    } catch (const ModelError& e) {
      CHECK_THAT(e.what(), Contains("model.yaml:6"));
      continue;
    }
    REQUIRE(spec.connectors.size() == 1);
    CHECK(spec.connectors[0].capacity != 0);  // 0 would quietly mean the process default
  }
}

TEST_CASE("connectors may be written under spec:", "[model]") {
  const ProcessSpec spec = parse_model(R"(process:
  args:
    connectors:
    - spec:
        source: a.x
        target: b.y
        capacity: 4096
    - source: c.x
      target: d.y
)");
  REQUIRE(spec.connectors.size() == 2);
  CHECK(spec.connectors[0].source == "a.x");
  CHECK(spec.connectors[0].target == "b.y");
  CHECK(spec.connectors[0].capacity == 4096);
  CHECK(spec.connectors[0].where.line == 4);
  CHECK(spec.connectors[1].source == "c.x");
  CHECK(spec.connectors[1].target == "d.y");

  const ModelError e = parse_error(
      "process:\n  args:\n    connectors:\n    - spec:\n        source: a.x\n"
      "        targte: b.y\n");
  CHECK_THAT(e.what(), Contains("model.yaml:6") && Contains("targte"));
}

TEST_CASE("connector ends may take Plugboard's long form: entity and descriptor", "[model]") {
  const ProcessSpec spec = parse_model(R"(process:
  args:
    connectors:
    - source: {entity: random, descriptor: x}
      target:
        entity: save
        descriptor: value
    - spec:
        source: {entity: a, descriptor: out}
        target: b.in
)");
  REQUIRE(spec.connectors.size() == 2);
  CHECK(spec.connectors[0].source == "random.x");
  CHECK(spec.connectors[0].target == "save.value");
  CHECK(spec.connectors[1].source == "a.out");
  CHECK(spec.connectors[1].target == "b.in");

  const ModelError unknown = parse_error(
      "process:\n  args:\n    connectors:\n    - source: {entity: a, field: x}\n"
      "      target: b.y\n");
  CHECK_THAT(unknown.what(), Contains("model.yaml:4") && Contains("'field'") &&
                                 Contains("expected entity, descriptor"));
  const ModelError half = parse_error(
      "process:\n  args:\n    connectors:\n    - source: {entity: a}\n      target: b.y\n");
  CHECK_THAT(half.what(), Contains("model.yaml:4") && Contains("needs an 'entity'"));
}

TEST_CASE("plugin paths are resolved relative to the model file", "[model]") {
  TempDir dir;
  fs::create_directories(dir / "models");
  const fs::path base = dir / "models";
  const fs::path model = base / "model.yaml";
  write_file(model, R"(plugins:
- plugins/one.so
- ../two.so
- /opt/abs/three.so
process:
  plugins: [sub/five.so]
  args:
    components: []
)");
  // The file only: none of these plugins exists.
  patchbay::LoadOptions file_only;
  file_only.load_plugins = false;
  const ProcessSpec spec = patchbay::load_model(model.string(), file_only);
  const std::vector<std::string> expected = {
      (base / "plugins/one.so").lexically_normal().string(),
      (dir.path() / "two.so").lexically_normal().string(),
      "/opt/abs/three.so",
      (base / "sub/five.so").lexically_normal().string(),
  };
  CHECK(spec.plugins == expected);
  CHECK(spec.where.file == model.string());

  // Under the plugboard root: a single path, and a list under process.
  write_file(model, R"(plugboard:
  plugins: four.so
  process:
    plugins: [sub/five.so]
    args:
      components: []
)");
  CHECK(patchbay::load_model(model.string(), file_only).plugins ==
        std::vector<std::string>{(base / "four.so").lexically_normal().string(),
                                 (base / "sub/five.so").lexically_normal().string()});

  // Text without a file resolves against the working directory.
  const ProcessSpec text = parse_model("plugins: [p.so]\nprocess:\n  args: {}\n");
  REQUIRE(text.plugins.size() == 1);
  CHECK(text.plugins[0] == (fs::current_path() / "p.so").lexically_normal().string());

  const ModelError e = parse_error("plugins: {a: 1}\nprocess:\n  args: {}\n");
  CHECK_THAT(e.what(), Contains("model.yaml:1") && Contains("plugins"));
}

TEST_CASE("load_model checks the plugins a model names, and loads them only when needed",
          "[model]") {
  TempDir dir;
  const fs::path model = dir / "model.yaml";
  write_file(model,
             "plugins: [missing.so]\nprocess:\n  args:\n    components:\n"
             "    - {type: Iterator, args: {name: input, iters: 1}}\n");
  // A plugin that is not there is an error, as in engine-run, even when no type needs it.
  try {
    (void)patchbay::load_model(model.string());
    FAIL("expected a ModelError");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains((dir / "missing.so").string()) && Contains("does not exist"));
  }
  // Every type registered: a plugin that exists is not loaded (a text file would fail to).
  write_file(dir / "missing.so", "not a shared library\n");
  CHECK(patchbay::load_model(model.string()).components.size() == 1);
  // A type that is not registered: the plugins are loaded, and this one fails to.
  write_file(model,
             "plugins: [missing.so]\nprocess:\n  args:\n    components:\n"
             "    - {type: NotRegisteredAnywhere, args: {name: c}}\n");
  CHECK_THROWS_WITH(patchbay::load_model(model.string()), Contains("cannot load plugin"));
}

TEST_CASE("a model's relative data paths are its folder's, wherever the program runs", "[model]") {
  TempDir dir;
  fs::create_directories(dir / "models/out");
  write_file(dir / "models/in.csv", "x\n007\n1e3\n");
  const fs::path model = dir / "models/model.yaml";
  write_file(model, R"(process:
  args:
    components:
    - {type: FileReader, args: {name: read, path: in.csv, field_names: [x]}}
    - {type: FileWriter, args: {name: write, path: out/copy.csv, field_names: [x]}}
    connectors:
    - {source: read.x, target: write.x}
)");
  REQUIRE(fs::current_path() != dir / "models");
  const ProcessSpec spec = patchbay::load_model(model.string());
  CHECK(spec.base_dir == (dir / "models").string());
  patchbay::make_process(spec)->run();
  CHECK(read_file(dir / "models/out/copy.csv") == "x\n007\n1e3\n");
  CHECK_FALSE(fs::exists(fs::current_path() / "out/copy.csv"));
  // A model built in code, or parsed from text, has none: its paths are the working directory's.
  CHECK(parse_model("process:\n  args: {}\n").base_dir.empty());
}

// Regression: yaml-cpp's Node assignment rebinds the shared node, which once made `root`
// become the `plugboard:` mapping and dropped top-level plugins beside it.
TEST_CASE("top-level plugins beside a plugboard root are kept", "[model]") {
  TempDir dir;
  const fs::path model = dir / "model.yaml";
  write_file(model, R"(plugins:
- one.so
plugboard:
  plugins: [two.so]
  process:
    args:
      components: []
)");
  patchbay::LoadOptions file_only;
  file_only.load_plugins = false;
  const ProcessSpec spec = patchbay::load_model(model.string(), file_only);
  CHECK(spec.plugins == std::vector<std::string>{(dir / "one.so").lexically_normal().string(),
                                                 (dir / "two.so").lexically_normal().string()});
}

TEST_CASE("a YAML syntax error names the file and line", "[model]") {
  TempDir dir;
  const fs::path model = dir / "broken.yaml";
  write_file(model, "process:\n  args:\n    name: ok\n    components: [a, b\n    more: 1\n");
  try {
    (void)patchbay::load_model(model.string());
    FAIL("a broken YAML file was accepted");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("YAML syntax error"));
    CHECK(e.where().file == model.string());
    CHECK(e.where().line == 5);  // where the unclosed flow sequence is found unterminated
    CHECK_THAT(e.what(), Contains(model.string() + ":" + std::to_string(e.where().line)));
  }
  const ModelError e = parse_error("process:\n  args:\n    name: \"x\" y\n");
  CHECK_THAT(e.what(), Contains("YAML syntax error") && Contains("model.yaml:3"));
  CHECK(e.where().line == 3);
}

TEST_CASE("schema errors carry the line of the offending entry", "[model]") {
  struct Case {
    std::string name;
    std::string yaml;
    int line;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"empty model", "", 0, "empty"},
      {"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
      {"missing process", "plugboard:\n  plugins: []\n", 2, "no 'process' section"},
      {"missing process, bare root", "plugins: []\n", 1, "no 'process' section"},
      {"unknown top-level key", "plugboard:\n  process:\n    args: {}\nextra: 1\n", 4,
       "unknown top-level key 'extra'"},
      {"unknown key under plugboard", "plugboard:\n  process:\n    args: {}\n  proces: {}\n", 4,
       "plugboard.proces"},
      {"unknown key under process", "process:\n  args: {}\n  arg: {}\n", 3, "process.arg"},
      {"components not a list", "process:\n  args:\n    components:\n      a: 1\n", 4,
       "'components' must be a list"},
      {"component without type",
       "process:\n  args:\n    components:\n    - args:\n        name: a\n", 4, "needs a 'type'"},
      {"component without args", "process:\n  args:\n    components:\n    - type: Iterator\n", 4,
       "needs 'args'"},
      {"component without name",
       "process:\n  args:\n    components:\n    - type: Iterator\n      args:\n        iters: 3\n",
       6, "needs a 'name'"},
      {"unknown key in component",
       "process:\n  args:\n    components:\n    - type: Iterator\n      argz: {}\n", 5,
       "unknown key 'argz'"},
      {"component type not a string",
       "process:\n  args:\n    components:\n    - type: [a]\n      args: {name: a}\n", 4,
       "component type"},
      {"connectors not a list", "process:\n  args:\n    connectors:\n      source: a.x\n", 4,
       "'connectors' must be a list"},
      {"connector without source",
       "process:\n  args:\n    components: []\n    connectors:\n    - target: b.x\n", 5,
       "needs a 'source'"},
      {"connector without target",
       "process:\n  args:\n    components: []\n    connectors:\n    - source: a.x\n", 5,
       "needs a 'target'"},
      {"unknown key in connector",
       "process:\n  args:\n    connectors:\n    - source: a.x\n      target: b.x\n      mod: 1\n",
       6, "unknown key 'mod'"},
      {"unknown process arg", "process:\n  args:\n    components: []\n    worker: 4\n", 4,
       "unknown process argument 'worker'"},
      {"parameters not a mapping", "process:\n  args:\n    parameters: [1]\n", 3, "parameters"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      const ModelError e = parse_error(c.yaml);
      CHECK(e.where().file == "model.yaml");
      CHECK(e.where().line == c.line);
      CHECK_THAT(e.message(), Contains(c.fragment));
      if (c.line > 0) {
        CHECK_THAT(e.what(), Contains("model.yaml:" + std::to_string(c.line) + ": "));
      }
    }
  }
}

TEST_CASE("load_model on a missing file is a ModelError naming it", "[model]") {
  TempDir dir;
  const std::string path = (dir / "nowhere.yaml").string();
  try {
    (void)patchbay::load_model(path);
    FAIL("a missing file was loaded");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(path));
  }
}

TEST_CASE("load_model reads a file like parse_model reads text", "[model]") {
  TempDir dir;
  const fs::path model = dir / "tutorial.yaml";
  write_file(model, kTutorialYaml);
  const ProcessSpec spec = patchbay::load_model(model.string());
  CHECK(spec.kind == ProcessKind::parallel);
  REQUIRE(spec.components.size() == 5);
  CHECK(spec.components[2].where.file == model.string());
  CHECK(spec.components[2].where.line == 16);
  CHECK(spec.connectors.size() == 5);
}

TEST_CASE("apply_overrides sets arguments parsed as YAML scalars", "[model]") {
  ProcessSpec spec = parse_model(kTutorialYaml);
  patchbay::apply_overrides(
      spec, {"input.iters=5", "slow-sleep.sleep_seconds=0.25", "save-results.field_names=[a, b]",
             "save-results.path=x=y.csv", "timestamper.label=\"5\"", "very-slow-sleep.extra=~"});
  CHECK(spec.find("input")->args.at("iters") == Value(5));
  CHECK(spec.find("input")->args.at("iters").is_int());
  CHECK(spec.find("slow-sleep")->args.at("sleep_seconds") == Value(0.25));
  CHECK(spec.find("save-results")->args.at("field_names") == Value(Value::List{"a", "b"}));
  CHECK(spec.find("save-results")->args.at("path") == Value("x=y.csv"));
  CHECK(spec.find("timestamper")->args.at("label") == Value("5"));
  CHECK(spec.find("very-slow-sleep")->args.at("extra").is_null());
  CHECK_THAT(spec.find("input")->arg_locations.at("iters").to_string(), Contains("input.iters=5"));

  // Component names may contain dots: the last dot before '=' splits off the argument.
  ProcessSpec dotted = parse_model(one_component("        iters: 1\n", "Iterator"));
  dotted.components[0].name = "stage.one";
  patchbay::apply_overrides(dotted, {"stage.one.iters=7"});
  CHECK(dotted.components[0].args.at("iters") == Value(7));
}

TEST_CASE("apply_overrides rejects malformed overrides and unknown components", "[model]") {
  const ProcessSpec original = parse_model(kTutorialYaml);
  for (const std::string bad : {"input.iters", "iters=5", ".iters=5", "input.=5", "=5", ""}) {
    CAPTURE(bad);
    ProcessSpec spec = original;
    CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {bad}), Contains("component.argument=value"));
  }
  ProcessSpec spec = original;
  CHECK_THROWS_MATCHES(
      patchbay::apply_overrides(spec, {"nosuch.iters=5"}), ModelError,
      Catch::Matchers::Message("--set 'nosuch.iters=5': no component named 'nosuch'"));
  CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {"input.iters=[1, 2"}),
                    Contains("cannot parse"));
  CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {"input.name=other"}), Contains("renamed"));
  CHECK(spec.find("input")->args.at("iters") == Value(10));
}

TEST_CASE("apply_overrides sets mappings, and parameters of a component or of the process",
          "[model]") {
  ProcessSpec spec = parse_model(kTutorialYaml);
  patchbay::apply_overrides(
      spec, {"input.config={a: 1, b: [x]}", "input.parameters.scale=2.5", "parameters.offset=3"});
  CHECK(spec.find("input")->args.at("config") ==
        Value(Value::Map{{"a", 1}, {"b", Value::List{"x"}}}));
  CHECK(spec.find("input")->parameters.at("scale") == Value(2.5));
  CHECK(spec.parameters.at("offset") == Value(3));
  CHECK_THROWS_WITH(patchbay::apply_overrides(spec, {"nosuch.parameters.scale=1"}),
                    Contains("no component named 'nosuch'"));
}

TEST_CASE("connector modes: pipeline for fields, pubsub for an event's publishers and subscribers",
          "[model]") {
  const std::string head = R"(process:
  args:
    components:
    - type: Iterator
      args: {name: a, iters: 1}
    - type: Sleep
      args: {name: b, sleep_seconds: 0}
    connectors:
)";
  const ProcessSpec spec = parse_model(head + R"(    - {source: a.x, target: b.x, mode: pipeline}
    - source: {entity: high_event, descriptor: publishers}
      target: {entity: high_event, descriptor: subscribers}
      mode: pubsub
)");
  REQUIRE(spec.connectors.size() == 2);
  CHECK(spec.connectors[0].mode == patchbay::ConnectorMode::pipeline);
  CHECK(spec.connectors[1].mode == patchbay::ConnectorMode::pubsub);
  CHECK(spec.connectors[1].source == "high_event.publishers");
  // drawn as an event, not as an arrow between components
  const std::string diagram = patchbay::mermaid_diagram(spec);
  CHECK_THAT(diagram, Contains("{{\"high_event\"}}"));
  CHECK_THAT(diagram, !Contains("high_event -->"));
  // honoured: no component here publishes or handles the event
  CHECK_THROWS_WITH(patchbay::make_process(spec),
                    Contains("no component publishes or handles the event 'high_event'"));
  CHECK_THROWS_WITH(parse_model(head + "    - {source: a.x, target: b.x, mode: pubsub}\n"),
                    Contains("a pubsub connector joins an event's publishers"));
  CHECK_THROWS_WITH(parse_model(head + "    - {source: a.x, target: b.x, mode: broadcast}\n"),
                    Contains("unknown connector mode 'broadcast'"));
}

TEST_CASE("mermaid_diagram draws the tutorial's flowchart", "[model]") {
  const ProcessSpec spec = parse_model(kTutorialYaml);
  // The tutorial's lines, verbatim.
  const std::string input = "input@{ shape: rounded, label: Iterator<br>**input** }";
  const std::string slow = "slow-sleep@{ shape: rounded, label: Sleep<br>**slow-sleep** }";
  const std::string very_slow =
      "very-slow-sleep@{ shape: rounded, label: Sleep<br>**very-slow-sleep** }";
  const std::string timestamper =
      "timestamper@{ shape: rounded, label: Timestamper<br>**timestamper** }";
  const std::string save = "save-results@{ shape: rounded, label: FileWriter<br>**save-results** }";
  const std::vector<std::string> tutorial_lines = {
      "    " + input + " --> " + slow,
      "    " + input + " --> " + very_slow,
      "    " + slow + " --> " + timestamper,
      "    " + timestamper + " --> " + save,
      "    " + very_slow + " --> " + timestamper,
  };
  // One arrow per connector, in the model's connector order (as Plugboard iterates them).
  const std::string expected = "flowchart LR\n" + tutorial_lines[0] + "\n" + tutorial_lines[1] +
                               "\n" + tutorial_lines[2] + "\n" + tutorial_lines[4] + "\n" +
                               tutorial_lines[3] + "\n";
  const std::string diagram = patchbay::mermaid_diagram(spec);
  CHECK(diagram == expected);

  // The same lines as the tutorial shows (it lists them sorted).
  auto lines = lines_of(diagram);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front() == "flowchart LR");
  lines.erase(lines.begin());
  std::sort(lines.begin(), lines.end());
  CHECK(lines == tutorial_lines);
}

TEST_CASE("mermaid_diagram draws one arrow per pair and lone components", "[model]") {
  const ProcessSpec spec = parse_model(R"(process:
  args:
    components:
    - type: pkg.Source
      args: {name: a}
    - type: Sink
      args: {name: b}
    - type: Iterator
      args: {name: alone}
    connectors:
    - {source: a.x, target: b.x}
    - {source: a.y, target: b.y}
)");
  CHECK(patchbay::mermaid_diagram(spec) ==
        "flowchart LR\n"
        "    a@{ shape: rounded, label: Source<br>**a** } --> b@{ shape: rounded, label: "
        "Sink<br>**b** }\n"
        "    alone@{ shape: rounded, label: Iterator<br>**alone** }\n");
}

TEST_CASE("the tutorial model runs locally and writes a CSV of timestamps", "[model]") {
  TempDir dir;
  const fs::path csv = dir / "ray.csv";
  std::string yaml =
      replace_once(kTutorialYaml, "plugboard.process.RayProcess", "plugboard.process.LocalProcess");
  yaml = replace_once(yaml, "sleep_seconds: 0.5", "sleep_seconds: 0.001");
  yaml = replace_once(yaml, "sleep_seconds: 1", "sleep_seconds: 0.001");
  yaml = replace_once(yaml, "path: \"ray.csv\"", "path: \"" + csv.string() + "\"");
  const fs::path model = dir / "model.yaml";
  write_file(model, yaml);

  const ProcessSpec spec = patchbay::load_model(model.string());
  REQUIRE(spec.kind == ProcessKind::local);
  const auto iters = spec.components[0].args.at("iters").as_int();
  REQUIRE(iters == 10);
  auto process = patchbay::make_process(spec);
  process->run();
  CHECK(process->status() == patchbay::Status::completed);

  REQUIRE(fs::exists(csv));
  CHECK_FALSE(fs::exists(csv.string() + ".partial"));
  const auto lines = lines_of(read_file(csv));
  REQUIRE(lines.size() == static_cast<std::size_t>(iters) + 1);
  CHECK(lines[0] == "timestamp");
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CAPTURE(i, lines[i]);
    CHECK(std::regex_match(lines[i], iso));
    if (i > 1) CHECK(lines[i - 1] <= lines[i]);
  }
}

TEST_CASE("connector_builder RayConnector alone selects the parallel process", "[model]") {
  const auto with = [](const std::string& extra) {
    return parse_model("process:\n" + extra +
                       "  connector_builder:\n    type: plugboard.connector.RayConnector\n"
                       "  args:\n    components: []\n");
  };
  CHECK(with("").kind == patchbay::ProcessKind::parallel);
  CHECK(with("  type: local\n").kind == patchbay::ProcessKind::local);
}
