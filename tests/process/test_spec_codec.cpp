// What the fork server is sent: a model and its plan survive encoding exactly; and a fork
// server refuses to start in a process that already runs threads.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "fork/spec_codec.hpp"

using patchbay::ProcessSpec;
using patchbay::Value;

namespace {

void check_same(const patchbay::SourceLocation& a, const patchbay::SourceLocation& b) {
  CHECK(a.file == b.file);
  CHECK(a.line == b.line);
}

void check_same(const ProcessSpec& a, const ProcessSpec& b) {
  CHECK(a.name == b.name);
  CHECK(a.kind == b.kind);
  REQUIRE(a.components.size() == b.components.size());
  for (std::size_t i = 0; i < a.components.size(); ++i) {
    const auto& x = a.components[i];
    const auto& y = b.components[i];
    CAPTURE(x.name);
    CHECK(x.type == y.type);
    CHECK(x.name == y.name);
    CHECK(x.args == y.args);
    CHECK(x.initial_values == y.initial_values);
    CHECK(x.resources == y.resources);
    CHECK(x.worker == y.worker);
    CHECK(x.replicas == y.replicas);
    CHECK(x.ordered == y.ordered);
    check_same(x.where, y.where);
    REQUIRE(x.arg_locations.size() == y.arg_locations.size());
    for (const auto& [key, where] : x.arg_locations) {
      REQUIRE(y.arg_locations.count(key) == 1);
      check_same(where, y.arg_locations.at(key));
    }
  }
  REQUIRE(a.connectors.size() == b.connectors.size());
  for (std::size_t i = 0; i < a.connectors.size(); ++i) {
    CHECK(a.connectors[i].source == b.connectors[i].source);
    CHECK(a.connectors[i].target == b.connectors[i].target);
    CHECK(a.connectors[i].capacity == b.connectors[i].capacity);
    CHECK(a.connectors[i].wait == b.connectors[i].wait);
    check_same(a.connectors[i].where, b.connectors[i].where);
  }
  CHECK(a.parameters == b.parameters);
  CHECK(a.options.channel_capacity == b.options.channel_capacity);
  CHECK(a.options.fiber_stack_size == b.options.fiber_stack_size);
  CHECK(a.options.workers == b.options.workers);
  CHECK(a.options.topology == b.options.topology);
  CHECK(a.options.wait == b.options.wait);
  CHECK(a.options.custom_resources == b.options.custom_resources);
  CHECK(a.extra_args == b.extra_args);
  CHECK(a.plugins == b.plugins);
  check_same(a.where, b.where);
  CHECK(a.base_dir == b.base_dir);
}

ProcessSpec rich_spec() {
  ProcessSpec spec;
  spec.name = "every field";
  spec.kind = patchbay::ProcessKind::parallel;
  patchbay::ComponentSpec source;
  source.type = "Iterator";
  source.name = "input";
  source.args = {{"iters", Value(1000)},
                 {"ratio", Value(0.1)},
                 {"tiny", Value(std::numeric_limits<double>::denorm_min())},
                 {"negative zero", Value(-0.0)},
                 {"flag", Value(true)},
                 {"nothing", Value()},
                 {"text", Value(std::string("a\0b\nc", 5))},
                 {"nested", Value(Value::List{1, 2.5, "x", Value::List{}, Value::List{false}})}};
  source.initial_values = {{"x", {Value(1), Value("two")}}, {"y", {}}};
  source.resources.cpu = 1.5;
  source.resources.memory = 536870912.0;
  source.resources.custom = {{"fpga", 2.0}};
  source.worker = "front";
  source.replicas = 3;
  source.ordered = false;
  source.where = {"model.yaml", 12};
  source.arg_locations = {{"iters", {"model.yaml", 14}}};
  patchbay::ComponentSpec sink;
  sink.type = "FileWriter";
  sink.name = "save";
  sink.args = {{"path", Value("out.csv")}, {"field_names", Value(Value::List{"x"})}};
  sink.resources.gpu = 0.5;
  spec.components = {source, sink};
  patchbay::ConnectorSpec fast("input.x", "save.x", 4096);
  fast.wait = patchbay::WaitMode::spin;
  fast.where = {"model.yaml", 30};
  patchbay::ConnectorSpec plain("input.y", "save.y");
  spec.connectors = {fast, plain};
  spec.parameters = {{"seed", Value(42)}, {"scale", Value(1e300)}};
  spec.options.channel_capacity = 1 << 20;
  spec.options.fiber_stack_size = 1 << 19;
  spec.options.workers = 3;
  spec.options.topology = "pack:2 core:4 pu:2";
  spec.options.wait = patchbay::WaitMode::block;
  spec.options.custom_resources = {{"fpga", 4.0}, {"licence", 0.5}};
  spec.extra_args = {{"ray_address", Value("auto")}};
  spec.plugins = {"/opt/plugins/libone.so", "relative/libtwo.so"};
  spec.where = {"model.yaml", 0};
  spec.base_dir = "models/csv";
  return spec;
}

}  // namespace

TEST_CASE("a model built in code survives the fork server's encoding exactly", "[fork_server]") {
  const ProcessSpec spec = rich_spec();
  const std::string bytes = patchbay::detail::encode_spec(spec);
  const ProcessSpec back = patchbay::detail::decode_spec(bytes);
  check_same(spec, back);
  CHECK(std::signbit(back.components[0].args.at("negative zero").as_double()));
  CHECK(patchbay::detail::encode_spec(back) == bytes);
}

TEST_CASE("a model loaded from YAML survives the fork server's encoding exactly", "[fork_server]") {
  const ProcessSpec spec = patchbay::parse_model(
      "process:\n  type: parallel\n  args:\n    topology: \"pack:1 core:4 pu:1\"\n"
      "    workers: 2\n    wait: spin\n"
      "    components:\n"
      "    - type: Iterator\n      args: {name: input, iters: 7, resources: {cpu: 500m}}\n"
      "    - type: Sleep\n      args: {name: slow, sleep_seconds: 0.01, worker: sleeper,\n"
      "             resources: {memory: 1Gi}}\n"
      "    connectors:\n    - {source: input.x, target: slow.x}\n",
      "inline.yaml");
  check_same(spec, patchbay::detail::decode_spec(patchbay::detail::encode_spec(spec)));
}

TEST_CASE("a placement plan survives the fork server's encoding exactly", "[fork_server]") {
  patchbay::detail::Plan plan;
  plan.workers.resize(2);
  plan.workers[0] = {0, "front", {0, 1}, {0, 1, 8, 9}, 0, {"cuda0"}, {0, 2}, true};
  plan.workers[1] = {1, "w1", {3}, {3}, -1, {}, {1}, false};
  plan.worker_of = {0, 1, 0};
  plan.machine = "1 package, 4 cores";
  const auto back = patchbay::detail::decode_plan(patchbay::detail::encode_plan(plan));
  REQUIRE(back.workers.size() == 2);
  for (std::size_t w = 0; w < 2; ++w) {
    CHECK(back.workers[w].index == plan.workers[w].index);
    CHECK(back.workers[w].name == plan.workers[w].name);
    CHECK(back.workers[w].cores == plan.workers[w].cores);
    CHECK(back.workers[w].pus == plan.workers[w].pus);
    CHECK(back.workers[w].numa_node == plan.workers[w].numa_node);
    CHECK(back.workers[w].gpus == plan.workers[w].gpus);
    CHECK(back.workers[w].components == plan.workers[w].components);
    CHECK(back.workers[w].dedicated == plan.workers[w].dedicated);
  }
  CHECK(back.worker_of == plan.worker_of);
  CHECK(back.machine == plan.machine);
}

TEST_CASE("truncated or foreign bytes are refused, not misread", "[fork_server]") {
  const std::string bytes = patchbay::detail::encode_spec(rich_spec());
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    CAPTURE(cut);
    CHECK_THROWS_AS(patchbay::detail::decode_spec(bytes.substr(0, cut)), patchbay::Error);
  }
  CHECK_THROWS_AS(patchbay::detail::decode_plan(bytes), patchbay::Error);
  CHECK_THROWS_AS(patchbay::detail::decode_spec(bytes + "x"), patchbay::Error);
}

namespace {

// The first field of an encoding: its magic number.
std::uint64_t magic_of(const std::string& encoding) {
  std::uint64_t magic = 0;
  std::memcpy(&magic, encoding.data(), sizeof magic);
  return magic;
}

// An empty model's encoding, field by field in encode_spec()'s order, with the kind, wait mode,
// custom resource names (each of amount 1) and line given.
std::string empty_model_bytes(std::uint64_t kind, std::uint64_t wait,
                              const std::vector<std::string>& resource_names, std::int64_t line) {
  const ProcessSpec defaults;
  patchbay::detail::ByteWriter out;
  out.u64(magic_of(patchbay::detail::encode_spec(defaults)));
  out.text(defaults.name);
  out.u64(kind);
  out.u64(0);  // components
  out.u64(0);  // connectors
  out.u64(0);  // parameters
  out.u64(defaults.options.channel_capacity);
  out.u64(defaults.options.fiber_stack_size);
  out.u64(0);  // workers
  out.text("");
  out.u64(wait);
  out.u64(resource_names.size());
  for (const auto& name : resource_names) {
    out.text(name);
    out.f64(1);
  }
  out.u64(0);  // extra args
  out.u64(0);  // plugins
  out.text("");
  out.i64(line);
  out.text("");  // base_dir
  return out.bytes();
}

// A plan of one worker on core `core` of NUMA node `numa_node`, in encode_plan()'s order.
std::string one_worker_plan_bytes(std::uint64_t core, std::int64_t numa_node,
                                  std::uint64_t dedicated) {
  patchbay::detail::ByteWriter out;
  out.u64(magic_of(patchbay::detail::encode_plan({})));
  out.u64(1);  // workers
  out.u64(0);  // index
  out.text("w0");
  out.u64(1);  // cores
  out.u64(core);
  out.u64(0);  // pus
  out.i64(numa_node);
  out.u64(0);  // gpus
  out.u64(0);  // components
  out.u64(dedicated);
  out.u64(0);  // worker_of
  out.text("");
  return out.bytes();
}

}  // namespace

// What the fuzzer found (tests/fuzz/regressions/wire): the decoders took values that the
// encoders never write and read them as something else, so a model could reach the launcher
// other than the supervisor built it.
TEST_CASE("bytes the encoder could not have written are refused", "[fork_server]") {
  using patchbay::detail::decode_plan;
  using patchbay::detail::decode_spec;
  ProcessSpec expected;
  expected.kind = patchbay::ProcessKind::parallel;
  expected.options.wait = patchbay::WaitMode::block;
  expected.options.custom_resources = {{"a", 1.0}, {"b", 1.0}};
  expected.where.line = -7;
  const std::string valid = empty_model_bytes(1, 2, {"a", "b"}, -7);
  REQUIRE(valid == patchbay::detail::encode_spec(expected));
  check_same(decode_spec(valid), expected);

  CHECK_THROWS_AS(decode_spec(empty_model_bytes(2, 2, {"a", "b"}, 1)), patchbay::Error);
  CHECK_THROWS_AS(decode_spec(empty_model_bytes(1, 3, {"a", "b"}, 1)), patchbay::Error);
  CHECK_THROWS_AS(decode_spec(empty_model_bytes(1, 2, {"a", "a"}, 1)), patchbay::Error);
  CHECK_THROWS_AS(decode_spec(empty_model_bytes(1, 2, {"b", "a"}, 1)), patchbay::Error);
  CHECK_THROWS_AS(decode_spec(empty_model_bytes(1, 2, {}, std::int64_t{1} << 31)), patchbay::Error);
  CHECK_THROWS_AS(decode_spec(empty_model_bytes(1, 2, {}, -(std::int64_t{1} << 31) - 1)),
                  patchbay::Error);

  const patchbay::detail::Plan plan = decode_plan(one_worker_plan_bytes(3, -1, 1));
  REQUIRE(plan.workers.size() == 1);
  CHECK(plan.workers[0].cores == std::vector<unsigned>{3});
  CHECK(plan.workers[0].numa_node == -1);
  CHECK(plan.workers[0].dedicated);
  CHECK_THROWS_AS(decode_plan(one_worker_plan_bytes(std::uint64_t{1} << 32, 0, 1)),
                  patchbay::Error);
  CHECK_THROWS_AS(decode_plan(one_worker_plan_bytes(3, std::int64_t{1} << 32, 1)), patchbay::Error);
  CHECK_THROWS_AS(decode_plan(one_worker_plan_bytes(3, 0, 2)), patchbay::Error);
}

TEST_CASE("a fork server refuses to start in a process that already runs threads",
          "[fork_server]") {
  std::atomic<bool> quit{false};
  std::thread other([&quit] {
    while (!quit.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  CHECK_THROWS_WITH(patchbay::ForkServer(),
                    Catch::Contains("already runs") && Catch::Contains("top of main()"));
  CHECK_FALSE(patchbay::ForkServer::running());
  quit = true;
  other.join();
}
