// Model validation: every rule rejects a bad model with a ModelError that names the problem,
// and nothing runs (no component's init()) before validation has passed. Every test runs on
// every engine that process_kinds() names.
#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/model.hpp>
#include <patchbay/port.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>
#include <patchbay/value.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support/model.hpp"
#include "support/shared_record.hpp"

namespace {

using Catch::Contains;
using patchbay::Component;
using patchbay::ComponentArgs;
using patchbay::ConnectorSpec;
using patchbay::Input;
using patchbay::ModelError;
using patchbay::Output;
using patchbay::Value;
using patchbay::test::Model;
using patchbay_test::make_test_process;
using patchbay_test::process_kinds;

// How many init() calls the probe components have seen, in this process or in any worker a
// ParallelProcess forks (the counter is in shared memory).
patchbay::test::SharedCounter g_inits;

// How many init() calls so far.
std::int64_t inits() {
  return g_inits.load();
}

class Probe : public Component {
 public:
  using Component::Component;
  void init() override { ++g_inits; }
};

class IntSource final : public Probe {
 public:
  using Probe::Probe;
  Output<std::int64_t> out{this, "out"};
  void step() override { close(); }
};

class IntPass final : public Probe {
 public:
  using Probe::Probe;
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void step() override { out = in.value(); }
};

class StringSink final : public Probe {
 public:
  using Probe::Probe;
  Input<std::string> in{this, "in"};
  void step() override {}
};

// src (int64) -> pass -> pass2: a valid chain that tests break one way or another.
Model chain() {
  Model m;
  m.add<IntSource>("src");
  m.add<IntPass>("pass");
  m.add<IntPass>("pass2");
  m.connect("src.out", "pass.in");
  m.connect("pass.out", "pass2.in");
  return m;
}

patchbay::ComponentSpec component_spec(std::string type, std::string name,
                                       std::map<std::string, Value> args = {}) {
  patchbay::ComponentSpec c;
  c.type = std::move(type);
  c.name = std::move(name);
  c.args = std::move(args);
  return c;
}

// A registry with the library and the probe source, for models given as a ProcessSpec.
const patchbay::Registry& probe_registry() {
  static const patchbay::Registry* registry = [] {
    auto* r = new patchbay::Registry();
    patchbay::library::register_library(*r);
    r->add("ProbeSource", [](const ComponentArgs& args) -> std::unique_ptr<Component> {
      return std::make_unique<IntSource>(args);
    });
    return r;
  }();
  return *registry;
}

// Starts a test: no probe has been initialised yet.
void reset_probes() {
  g_inits = 0;
}

}  // namespace

TEST_CASE("validation: the probes record init(), so the 'nothing ran' checks mean something",
          "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto process = chain().build(kind);
  CHECK(inits() == 0);
  process->run();
  CHECK(inits() == 3);
}

TEST_CASE("validation: duplicate component name", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto build = [&] {
    Model m = chain();
    m.add<IntPass>("pass");
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(), ModelError);
  REQUIRE_THROWS_WITH(build(), Contains("duplicate component name 'pass'"));
  CHECK(inits() == 0);
}

TEST_CASE("validation: connector ends must be 'component.field'", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  const std::string bad = GENERATE("src", "src.", ".out", "");
  INFO("connector end: '" << bad << "'");
  SECTION("source") {
    auto build = [&] {
      Model m = chain();
      m.connect(bad, "pass.in");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("connector source '" + bad + "'") &&
                                     Contains("must be 'component.field'"));
  }
  SECTION("target") {
    auto build = [&] {
      Model m = chain();
      m.connect("src.out", bad);
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("connector target '" + bad + "'") &&
                                     Contains("must be 'component.field'"));
  }
  CHECK(inits() == 0);
}

TEST_CASE("validation: connector to a missing component", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  SECTION("target") {
    auto build = [&] {
      Model m = chain();
      m.connect("src.out", "ghost.in");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(),
                        Contains("src.out -> ghost.in") && Contains("no component named 'ghost'"));
  }
  SECTION("source") {
    auto build = [&] {
      Model m = chain();
      m.connect("ghost.out", "pass.in");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("no component named 'ghost'"));
  }
  CHECK(inits() == 0);
}

TEST_CASE("validation: connector to a missing field lists the component's fields", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  SECTION("missing output") {
    auto build = [&] {
      Model m = chain();
      m.connect("pass.nope", "pass2.in");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("has no output 'nope'") && Contains("its outputs: out") &&
                                     Contains("'pass'"));
  }
  SECTION("missing input") {
    auto build = [&] {
      Model m = chain();
      m.connect("src.out", "pass2.nope");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("has no input 'nope'") && Contains("its inputs: in") &&
                                     Contains("'pass2'"));
  }
  CHECK(inits() == 0);
}

TEST_CASE("validation: an output used as a target or an input used as a source", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  SECTION("output as target") {
    auto build = [&] {
      Model m = chain();
      m.connect("src.out", "pass2.out");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(),
                        Contains("has no input 'out'") && Contains("('out' is an output)"));
  }
  SECTION("input as source") {
    auto build = [&] {
      Model m = chain();
      m.connect("pass.in", "pass2.in");
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("has no output 'in'") && Contains("('in' is an input)"));
  }
  CHECK(inits() == 0);
}

TEST_CASE("validation: connector between mismatched types", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto build = [&] {
    Model m = chain();
    m.add<StringSink>("text");
    m.connect("src.out", "text.in");
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(), ModelError);
  REQUIRE_THROWS_WITH(build(), Contains("type mismatch") && Contains("'src.out' is int64") &&
                                   Contains("'text.in' is string"));
  CHECK(inits() == 0);
}

TEST_CASE("validation: the same connector given twice", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto build = [&] {
    Model m = chain();
    m.connect("src.out", "pass.in");
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(), ModelError);
  REQUIRE_THROWS_WITH(build(), Contains("'src.out -> pass.in' is given twice"));
  CHECK(inits() == 0);
}

TEST_CASE("validation: an input left unconnected", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto build = [&] {
    Model m = chain();
    m.add<IntPass>("idle");
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(), ModelError);
  REQUIRE_THROWS_WITH(build(), Contains("'idle'") && Contains("input 'in' is not connected"));
  CHECK(inits() == 0);
}

TEST_CASE("validation: initial values for a field that is not an input", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  const std::string field = GENERATE("nope", "out");
  auto build = [&] {
    Model m = chain();
    m.parts[1]->set_initial_values(field, {1});
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(), ModelError);
  REQUIRE_THROWS_WITH(build(), Contains("'pass'") &&
                                   Contains("initial_values for '" + field + "'") &&
                                   Contains("not one of its inputs (in)"));
  CHECK(inits() == 0);
}

TEST_CASE("validation: an initial value of the wrong type", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto build = [&] {
    Model m = chain();
    m.parts[1]->set_initial_values("in", {1, "seven"});
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(), ModelError);
  REQUIRE_THROWS_WITH(
      build(), Contains("initial value 'seven' (string)") && Contains("input 'in' of type int64"));
  CHECK(inits() == 0);
}

TEST_CASE("validation: channel capacity out of range", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  SECTION("process default too small") {
    auto build = [&] {
      Model m = chain();
      m.options.channel_capacity = 32;
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(
        build(), Contains("channel_capacity") && Contains("32 bytes") && Contains("out of range"));
  }
  SECTION("connector too small") {
    auto build = [&] {
      Model m = chain();
      m.connectors[0].capacity = 16;
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("src.out -> pass.in") && Contains("16 bytes") &&
                                     Contains("out of range"));
  }
  SECTION("connector too large") {
    auto build = [&] {
      Model m = chain();
      m.connectors[1].capacity = std::size_t{1} << 40;
      return m.build(kind);
    };
    REQUIRE_THROWS_AS(build(), ModelError);
    REQUIRE_THROWS_WITH(build(), Contains("pass.out -> pass2.in") && Contains("out of range"));
  }
  CHECK(inits() == 0);
}

TEST_CASE("validation: fiber stack size out of range", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  // One byte crashed every fiber with SIGSEGV and no message.
  for (const std::size_t size : {std::size_t{1}, std::size_t{16383}, (std::size_t{1} << 30) + 1}) {
    CAPTURE(size);
    Model m = chain();
    m.options.fiber_stack_size = size;
    REQUIRE_THROWS_WITH(m.build(kind), Contains("fiber_stack_size: " + std::to_string(size) +
                                                " bytes is out of range (16Ki to 1Gi)"));
  }
  CHECK(inits() == 0);
  Model m = chain();
  m.options.fiber_stack_size = std::size_t{16} << 10;
  CHECK_NOTHROW(m.build(kind));
}

TEST_CASE("validation: a cycle without initial values, with its path", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  auto build = [&](bool with_initial_values) {
    Model m;
    m.add<IntPass>("a");
    m.add<IntPass>("b");
    m.add<IntPass>("c");
    m.connect("a.out", "b.in");
    m.connect("b.out", "c.in");
    m.connect("c.out", "a.in");
    if (with_initial_values) m.parts[1]->set_initial_values("in", {0});
    return m.build(kind);
  };
  REQUIRE_THROWS_AS(build(false), ModelError);
  REQUIRE_THROWS_WITH(build(false),
                      Contains("cycle without initial values") && Contains("a -> b -> c -> a"));
  CHECK(inits() == 0);
  // The same cycle with initial values on one of its inputs is valid.
  CHECK_NOTHROW(build(true));
}

TEST_CASE("validation: an unknown component type lists the registered types", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto create = [] {
    return patchbay::Registry::global().create("Nope", patchbay::ComponentArgs{"n"});
  };
  REQUIRE_THROWS_AS(create(), ModelError);
  REQUIRE_THROWS_WITH(create(), Contains("unknown component type 'Nope'") && Contains("'n'") &&
                                    Contains("Iterator") && Contains("FileWriter") &&
                                    Contains("Sleep"));

  patchbay::ProcessSpec spec;
  spec.kind = kind == "local" ? patchbay::ProcessKind::local : patchbay::ProcessKind::parallel;
  spec.options = patchbay_test::options_for(kind, spec.options);
  spec.components.push_back(component_spec("Nope", "n"));
  REQUIRE_THROWS_AS(patchbay::make_process(spec), ModelError);
  REQUIRE_THROWS_WITH(patchbay::make_process(spec), Contains("unknown component type 'Nope'"));
  REQUIRE_THROWS_WITH(make_test_process(kind, spec, patchbay::Registry::global()),
                      Contains("unknown component type 'Nope'"));
}

TEST_CASE("validation: component arguments from a spec", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  // The probe is listed first: it is built, then discarded, without init().
  auto spec_with = [](std::map<std::string, Value> iterator_args) {
    patchbay::ProcessSpec spec;
    spec.components.push_back(component_spec("ProbeSource", "probe"));
    spec.components.push_back(component_spec("Iterator", "it", std::move(iterator_args)));
    return spec;
  };
  auto build = [&](const patchbay::ProcessSpec& spec) {
    return make_test_process(kind, spec, probe_registry());
  };
  SECTION("an unknown argument (a typo) is named") {
    const auto spec = spec_with({{"iters", 3}, {"iters2", 5}});
    REQUIRE_THROWS_AS(build(spec), ModelError);
    REQUIRE_THROWS_WITH(build(spec), Contains("'it'") && Contains("unknown argument 'iters2'"));
    // The global registry rejects it just the same.
    patchbay::ProcessSpec global_spec;
    global_spec.components.push_back(
        component_spec("Iterator", "it", {{"iters2", 5}, {"iters", 3}}));
    auto build_global = [&] {
      return make_test_process(kind, global_spec, patchbay::Registry::global());
    };
    REQUIRE_THROWS_AS(build_global(), ModelError);
    REQUIRE_THROWS_WITH(build_global(), Contains("unknown argument 'iters2'"));
  }
  SECTION("a missing required argument") {
    const auto spec = spec_with({});
    REQUIRE_THROWS_AS(build(spec), ModelError);
    REQUIRE_THROWS_WITH(build(spec),
                        Contains("'it'") && Contains("argument 'iters' is required but missing"));
  }
  SECTION("an argument of the wrong type") {
    const auto spec = spec_with({{"iters", "three"}});
    REQUIRE_THROWS_AS(build(spec), ModelError);
    REQUIRE_THROWS_WITH(build(spec),
                        Contains("argument 'iters' must be an integer") && Contains("'three'"));
  }
  CHECK(inits() == 0);
}

TEST_CASE("validation: a valid spec builds and runs", "[validation]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  reset_probes();
  patchbay::ProcessSpec spec;
  spec.components.push_back(component_spec("ProbeSource", "probe"));
  spec.components.push_back(component_spec("Iterator", "it", {{"iters", 3}}));
  auto process = make_test_process(kind, spec, probe_registry());
  CHECK(inits() == 0);
  process->run();
  CHECK(inits() == 1);
  CHECK(process->status() == patchbay::Status::completed);
}

TEST_CASE("validation: validate() checks a spec as make_process() does, and builds nothing",
          "[validation][validate]") {
  reset_probes();
  patchbay::ProcessSpec spec;
  spec.components.push_back(component_spec("ProbeSource", "probe"));
  spec.components.push_back(component_spec("Iterator", "it", {{"iters", 3}}));
  spec.components.push_back(component_spec(
      "FileWriter", "w",
      {{"path", "never-written.csv"}, {"field_names", Value(Value::List{Value("x")})}}));
  spec.connectors.emplace_back("it.x", "w.x");

  SECTION("a valid local model") {
    const auto report = patchbay::validate(spec, probe_registry());
    CHECK(report.components == 3);
    CHECK(report.connectors == 1);
    CHECK(report.unknown.empty());
    CHECK(report.workers == 0);
    CHECK(report.plan.empty());
  }
  SECTION("a valid parallel model: its plan, and no worker") {
    spec.kind = patchbay::ProcessKind::parallel;
    spec.options.topology = std::string(patchbay_test::split_topology);
    for (auto& c : spec.components)
      c.worker = c.name;
    // A capacity a real process would have to map: nothing is allocated here.
    spec.options.channel_capacity = std::size_t{1} << 32;
    const auto report = patchbay::validate(spec, probe_registry());
    CHECK(report.workers == 3);
    CHECK_THAT(report.plan, Contains("probe") && Contains("it") && Contains("machine:"));
  }
  SECTION("the same errors as make_process()") {
    const std::string kind = GENERATE(from_range(process_kinds()));
    INFO("process kind: " << kind);
    spec.kind = kind == "local" ? patchbay::ProcessKind::local : patchbay::ProcessKind::parallel;
    spec.options = patchbay_test::options_for(kind, spec.options);
    spec.connectors.emplace_back("it.x", "w.x");
    REQUIRE_THROWS_WITH(patchbay::validate(spec, probe_registry()),
                        Contains("'it.x -> w.x' is given twice"));
    REQUIRE_THROWS_WITH(make_test_process(kind, spec, probe_registry()),
                        Contains("'it.x -> w.x' is given twice"));
    spec.connectors.pop_back();
    spec.components.push_back(component_spec("Nope", "n"));
    REQUIRE_THROWS_AS(patchbay::validate(spec, probe_registry()), ModelError);
    REQUIRE_THROWS_WITH(patchbay::validate(spec, probe_registry()),
                        Contains("unknown component type 'Nope'"));
  }
  CHECK(inits() == 0);
  CHECK_FALSE(std::filesystem::exists("never-written.csv"));
  CHECK_FALSE(std::filesystem::exists("never-written.csv.partial"));
}

TEST_CASE("validation: validate() with unknown types still checks what the model says",
          "[validation][validate]") {
  patchbay::ValidationOptions lenient;
  lenient.allow_unknown_types = true;
  const std::string kind = GENERATE("local", "parallel");
  INFO("process kind: " << kind);
  // it (Iterator) -> m (unknown) -> w (FileWriter)
  auto spec_with = [&](std::vector<ConnectorSpec> connectors) {
    patchbay::ProcessSpec spec;
    spec.kind = kind == "local" ? patchbay::ProcessKind::local : patchbay::ProcessKind::parallel;
    spec.options = patchbay_test::options_for(kind, spec.options);
    spec.components.push_back(component_spec("Iterator", "it", {{"iters", 3}}));
    spec.components.push_back(component_spec("plugin.Missing", "m", {{"anything", 1}}));
    spec.components.push_back(component_spec(
        "FileWriter", "w",
        {{"path", "never-written.csv"}, {"field_names", Value(Value::List{Value("y")})}}));
    spec.connectors = std::move(connectors);
    return spec;
  };
  const std::vector<ConnectorSpec> wired = {{"it.x", "m.x"}, {"m.y", "w.y"}};

  const auto report = patchbay::validate(spec_with(wired), lenient);
  REQUIRE(report.unknown.size() == 1);
  CHECK(report.unknown[0].name == "m");
  CHECK(report.unknown[0].type == "plugin.Missing");
  CHECK(report.components == 3);
  // Without the option, the type is an error.
  REQUIRE_THROWS_WITH(patchbay::validate(spec_with(wired)),
                      Contains("unknown component type 'plugin.Missing'"));

  auto rejects = [&](std::vector<ConnectorSpec> connectors, const std::string& message) {
    const auto spec = spec_with(std::move(connectors));
    REQUIRE_THROWS_AS(patchbay::validate(spec, lenient), ModelError);
    REQUIRE_THROWS_WITH(patchbay::validate(spec, lenient), Contains(message));
  };
  rejects({{"it.nope", "m.x"}, {"m.y", "w.y"}}, "has no output 'nope'");
  rejects({{"it.x", "m.x"}, {"m.y", "w.nope"}}, "has no input 'nope'");
  rejects({{"it.x", "m.x"}}, "input 'y' is not connected");
  rejects({{"it.x", "m.x"}, {"m.y", "w.y"}, {"m.y", "ghost.x"}}, "no component named 'ghost'");
  rejects({{"it.x", "m.x"}, {"m.y", "w.y"}, {"m.y", "m.x"}}, "cycle without initial values");
  rejects({{"it.x", "m"}, {"m.y", "w.y"}}, "must be 'component.field'");
  REQUIRE_THROWS_WITH(
      patchbay::validate(spec_with({{"it.x", "m.x"}, {"m.y", "w.y"}, {"m.y", "m.x"}}), lenient),
      Contains("cycle without initial values: m -> m"));
  // An initial value on the cycle makes it valid, as for a known type.
  auto cycle = spec_with({{"it.x", "m.x"}, {"m.y", "w.y"}, {"m.y", "m.x"}});
  cycle.components[1].initial_values["x"] = {Value(0)};
  CHECK_NOTHROW(patchbay::validate(cycle, lenient));
  // A known type's arguments are checked.
  auto bad_argument = spec_with(wired);
  bad_argument.components[0].args["iter"] = Value(4);
  REQUIRE_THROWS_WITH(patchbay::validate(bad_argument, lenient),
                      Contains("unknown argument 'iter'"));
  CHECK_FALSE(std::filesystem::exists("never-written.csv"));
}

TEST_CASE("validation: every error message is one line and bounded", "[validation][messages]") {
  const std::string huge(1'000'000, 'x');
  auto check_line = [](const std::string& text) {
    CHECK(text.find('\n') == std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
    CHECK(text.size() <= patchbay::error_message_max_bytes);
  };
  SECTION("whatever text they are given") {
    check_line(patchbay::Error(huge).what());
    check_line(patchbay::ModelError(huge, {huge, 3}).what());
    check_line(patchbay::ComponentFailure(huge, huge, huge).what());
    const patchbay::ModelError located("bad value", {huge, 3});
    CHECK_THAT(located.what(), Contains(":3: bad value"));
    // A list of problems, one per line, reads as one line.
    CHECK(std::string(patchbay::ModelError("a: no gpu\nb: no licence\n").what()) ==
          "a: no gpu; b: no licence");
    CHECK(std::string(patchbay::Error("tab\there\x1b[31m\xff").what()) ==
          "tab\\x09here\\x1B[31m\\xFF");
    const patchbay::ComponentFailure failure("na\nme", "Type", "line one\nline two");
    CHECK(std::string(failure.what()) == "component 'na\\nme' (Type) failed: line one; line two");
    // The accessors keep the data as given.
    CHECK(failure.message() == "line one\nline two");
    CHECK(failure.component() == "na\nme");
  }
  SECTION("message_line() is idempotent and keeps what quote_text() escaped") {
    const std::string quoted = patchbay::quote_text("it's\na\\b");
    CHECK(quoted == "'it\\'s\\na\\\\b'");
    CHECK(patchbay::message_line("value " + quoted) == "value " + quoted);
    const std::string cut = patchbay::message_line(huge);
    CHECK(cut.size() <= patchbay::error_message_max_bytes);
    CHECK_THAT(cut, Catch::EndsWith("... (1000000 bytes)"));
    CHECK(patchbay::message_line(cut) == cut);
    const std::string fits(patchbay::error_message_max_bytes, 'y');
    CHECK(patchbay::message_line(fits) == fits);
    // A multi-byte character is never split.
    std::string euros;
    for (int i = 0; i < 2000; ++i)
      euros += "\xe2\x82\xac";
    const std::string line = patchbay::message_line(euros);
    const auto tail = line.find("... (");
    REQUIRE(tail != std::string::npos);
    CHECK(tail % 3 == 0);
  }
  SECTION("a plugin path that the system refuses is a ModelError naming it") {
    try {
      patchbay::load_plugin(huge + ".so");
      FAIL("a path of a million bytes was loaded");
    } catch (const ModelError& e) {
      check_line(e.what());
      CHECK_THAT(e.what(), Contains("plugin 'xxx") && Contains("(1000003 bytes)") &&
                               Contains("File name too long"));
    }
  }
  SECTION("what wiring puts in its messages is quoted") {
    Model m = chain();
    m.connect("src.out", "pa\nss.in");
    REQUIRE_THROWS_WITH(m.build("local"), Contains("no component named 'pa\\nss'"));
    Model n = chain();
    n.connect("src.out", huge + ".in");
    try {
      n.build("local");
      FAIL("a connector to a missing component was accepted");
    } catch (const ModelError& e) {
      check_line(e.what());
      CHECK_THAT(e.what(), Contains("...' (1000000 bytes)"));
    }
  }
}
