#include "placement/cpuset_text.hpp"
#include "placement/machine.hpp"
#include "placement/memory_ledger.hpp"
#include "placement/planner.hpp"
#include "placement/strands.hpp"
#include "placement/units.hpp"

#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>

#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using Catch::Contains;
using patchbay::ModelError;
using patchbay::Resources;
using patchbay::detail::bind_to;
using patchbay::detail::cpuset_text;
using patchbay::detail::load_machine;
using patchbay::detail::Machine;
using patchbay::detail::PlacementInput;
using patchbay::detail::PlacementRequest;
using patchbay::detail::Plan;
using patchbay::detail::plan_placement;
using patchbay::detail::WorkerPlan;
using patchbay::detail::placement::MemoryLedger;
using patchbay::detail::placement::UnitList;
using patchbay::detail::placement::Units;

namespace {

constexpr double kGi = 1024.0 * 1024 * 1024;

const std::string kTwoSockets = "pack:2 numa:1(memory=64GiB) core:8 pu:2";

std::string topology_file(const std::string& name) {
  return std::string(PATCHBAY_SOURCE_DIR) + "/tests/data/topologies/" + name;
}

const std::string kXeon = topology_file("32em64t-2n8c2t-pci-normalio.xml");
const std::string kPower8 = topology_file("power8gpudistances.xml");

}  // namespace

// The topologies are the suite's own data (tests/data/topologies/): a test that needs one
// fails without it rather than skipping.
TEST_CASE("placement: the topology files the tests read are in the repository", "[placement]") {
  CHECK(std::filesystem::exists(kXeon));
  CHECK(std::filesystem::exists(kPower8));
}

namespace {

PlacementRequest component(std::string name, Resources resources = {}, std::string worker = {}) {
  return PlacementRequest{std::move(name), "Sleep", std::move(resources), std::move(worker)};
}

Resources with_cpu(double cpu) {
  Resources r;
  r.cpu = cpu;
  return r;
}

Resources with_gpu(double gpu, double cpu = 0.001) {
  Resources r;
  r.gpu = gpu;
  r.cpu = cpu;
  return r;
}

Resources with_memory(double bytes, double cpu = 0.001) {
  Resources r;
  r.memory = bytes;
  r.cpu = cpu;
  return r;
}

Resources with_custom(const std::string& name, double amount) {
  Resources r;
  r.custom[name] = amount;
  return r;
}

PlacementInput independent(std::size_t count) {
  PlacementInput input;
  for (std::size_t i = 0; i < count; ++i)
    input.components.push_back(component("c" + std::to_string(i)));
  return input;
}

const WorkerPlan& worker_of(const Plan& plan, std::size_t component) {
  return plan.workers.at(plan.worker_of.at(component));
}

// The message of the ModelError that planning throws, split into lines.
std::vector<std::string> failure_lines(const Machine& machine, const PlacementInput& input) {
  try {
    (void)plan_placement(machine, input);
  } catch (const ModelError& error) {
    std::vector<std::string> lines;
    std::istringstream stream(error.message());
    for (std::string line; std::getline(stream, line);)
      lines.push_back(line);
    return lines;
  }
  FAIL("planning succeeded where it should not");
  return {};
}

bool all_within(const std::vector<unsigned>& values, unsigned low, unsigned high) {
  return !values.empty() && std::all_of(values.begin(), values.end(),
                                        [&](unsigned v) { return v >= low && v <= high; });
}

}  // namespace

TEST_CASE("a synthetic topology loads with its cores, PUs and NUMA nodes", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  CHECK(machine.source == kTwoSockets);
  CHECK(machine.packages == 2);
  REQUIRE(machine.cores.size() == 16);
  CHECK(machine.pu_count() == 32);
  REQUIRE(machine.numa_nodes.size() == 2);
  CHECK(machine.gpus.empty());
  CHECK_FALSE(machine.is_this_system);
  CHECK(machine.cores[0].pus == std::vector<unsigned>{0, 1});
  CHECK(machine.cores[0].numa_node == 0);
  CHECK(machine.cores[15].numa_node == 1);
  CHECK(machine.numa_nodes[1].cores.size() == 8);
  CHECK(machine.numa_nodes[1].memory == 64ULL << 30);
  CHECK(machine.summary() == "2 packages, 16 cores, 32 PUs, 2 NUMA nodes (64Gi each), no GPU");
}

TEST_CASE("the Xeon XML has one GPU near package 1", "[placement]") {
  const Machine machine = load_machine(kXeon);
  CHECK(machine.packages == 2);
  REQUIRE(machine.cores.size() == 16);
  CHECK(machine.pu_count() == 32);
  CHECK(machine.cores[0].pus == std::vector<unsigned>{0, 16});
  REQUIRE(machine.numa_nodes.size() == 2);
  CHECK(machine.numa_nodes[0].memory == 34330173440ULL);  // 32Gi less what firmware keeps
  CHECK(machine.numa_nodes[1].memory == 32ULL << 30);
  REQUIRE(machine.gpus.size() == 1);
  const auto& gpu = machine.gpus[0];
  CHECK(gpu.name == "cuda0");
  // cuda0 and card0 on function 84:00.0, opencl0d1 on 84:00.1: one card.
  CHECK(std::set<std::string>(gpu.devices.begin(), gpu.devices.end()) ==
        std::set<std::string>{"cuda0", "card0", "opencl0d1"});
  CHECK(gpu.pci_bus_id == "0000:84:00.0");
  CHECK(gpu.numa_node == 1);
  CHECK(gpu.local_cores == std::vector<unsigned>{8, 9, 10, 11, 12, 13, 14, 15});
  CHECK(machine.summary() ==
        "2 packages, 16 cores, 32 PUs, 2 NUMA nodes (32Gi each), 1 GPU (cuda0 near NUMA 1)");
}

TEST_CASE("the POWER8 XML has two GPUs near each NUMA node", "[placement]") {
  const Machine machine = load_machine(kPower8);
  REQUIRE(machine.cores.size() == 8);
  CHECK(machine.pu_count() == 16);
  REQUIRE(machine.numa_nodes.size() == 2);
  REQUIRE(machine.gpus.size() == 4);
  for (unsigned g = 0; g < 4; ++g) {
    INFO("GPU " << g);
    CHECK(machine.gpus[g].name == "cuda" + std::to_string(g));
    CHECK(machine.gpus[g].devices.size() == 3);  // cudaN, opencl0dN, nvmlN
    CHECK(machine.gpus[g].pci_bus_id == std::vector<std::string>{"0002:01:00.0", "0003:01:00.0",
                                                                 "000a:01:00.0",
                                                                 "000b:01:00.0"}[g]);
    CHECK(machine.gpus[g].numa_node == (g < 2 ? 0 : 1));
    CHECK(machine.gpus[g].local_cores ==
          (g < 2 ? std::vector<unsigned>{0, 1, 2, 3} : std::vector<unsigned>{4, 5, 6, 7}));
  }
  CHECK_THAT(machine.summary(),
             Contains("4 GPUs (cuda0, cuda1 near NUMA 0; cuda2, cuda3 near NUMA 1)"));
}

TEST_CASE("this machine loads with the cores this process may use", "[placement]") {
  const Machine machine = load_machine("");
  CHECK(machine.source == "this machine");
  CHECK(machine.is_this_system);
  REQUIRE_FALSE(machine.cores.empty());
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  CHECK(machine.pu_count() == static_cast<std::size_t>(CPU_COUNT(&allowed)));
  for (const auto& core : machine.cores)
    for (unsigned pu : core.pus)
      CHECK(CPU_ISSET(pu, &allowed));
  INFO(machine.summary());
  CHECK_FALSE(machine.summary().empty());
}

TEST_CASE("topologies that cannot be read are model errors", "[placement]") {
  CHECK_THROWS_MATCHES(load_machine("garbage:3"), ModelError,
                       Catch::Matchers::Predicate<ModelError>([](const ModelError& e) {
                         return e.message().starts_with("topology 'garbage:3' cannot be loaded: ");
                       }));
  CHECK_THROWS_WITH(load_machine("/no/such/file.xml"),
                    Contains("topology '/no/such/file.xml' cannot be loaded: no such file"));
  const auto bad = std::filesystem::temp_directory_path() /
                   ("patchbay-bad-topology-" + std::to_string(getpid()) + ".xml");
  std::ofstream(bad) << "<topology><object type=\"Machine\"";
  CHECK_THROWS_WITH(
      load_machine(bad.string()),
      Contains("topology '" + bad.string() + "' cannot be loaded: not a valid hwloc XML"));
  std::filesystem::remove(bad);
}

TEST_CASE("binding applies to this machine only", "[placement]") {
  const Machine synthetic = load_machine(kTwoSockets);
  CHECK_FALSE(bind_to(synthetic, {0}, 0));

  const Machine machine = load_machine("");
  const unsigned last = static_cast<unsigned>(machine.cores.size() - 1);
  // In a child, so this test process keeps its own binding.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (!bind_to(machine, {last}, machine.cores[last].numa_node)) _exit(2);
    cpu_set_t bound;
    CPU_ZERO(&bound);
    if (sched_getaffinity(0, sizeof bound, &bound) != 0) _exit(3);
    if (static_cast<std::size_t>(CPU_COUNT(&bound)) != machine.cores[last].pus.size()) _exit(4);
    for (unsigned pu : machine.cores[last].pus)
      if (!CPU_ISSET(pu, &bound)) _exit(5);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("by default there is one worker per usable core", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);

  SECTION("fewer components than cores: a worker and a core each") {
    const Plan plan = plan_placement(machine, independent(5));
    REQUIRE(plan.workers.size() == 5);
    std::set<unsigned> cores;
    for (const auto& worker : plan.workers) {
      REQUIRE(worker.cores.size() == 1);
      cores.insert(worker.cores[0]);
      CHECK(worker.components.size() == 1);
      CHECK_FALSE(worker.dedicated);
    }
    CHECK(cores.size() == 5);
    CHECK(plan.workers[0].name == "w0");
    CHECK(plan.workers[0].pus == std::vector<unsigned>{0, 1});
    CHECK(plan.workers[0].numa_node == 0);
  }

  SECTION("more components than cores: 16 workers, components share them") {
    const Plan plan = plan_placement(machine, independent(40));
    REQUIRE(plan.workers.size() == 16);
    std::set<unsigned> cores;
    for (const auto& worker : plan.workers) {
      cores.insert(worker.cores.at(0));
      CHECK(worker.components.size() >= 2);
      CHECK(worker.components.size() <= 3);
    }
    CHECK(cores.size() == 16);
  }
}

TEST_CASE("workers: N sets the number of shared workers", "[placement]") {
  SECTION("fewer workers than cores") {
    const Machine machine = load_machine(kTwoSockets);
    PlacementInput input = independent(20);
    input.workers = 4;
    const Plan plan = plan_placement(machine, input);
    REQUIRE(plan.workers.size() == 4);
    for (const auto& worker : plan.workers)
      CHECK(worker.components.size() == 5);
  }

  SECTION("more workers than cores: they share cores") {
    const Machine machine = load_machine("pack:1 core:2 pu:1");
    PlacementInput input = independent(6);
    input.workers = 6;
    const Plan plan = plan_placement(machine, input);
    REQUIRE(plan.workers.size() == 6);
    std::size_t on_core0 = 0;
    for (const auto& worker : plan.workers)
      on_core0 += worker.cores.at(0) == 0 ? 1 : 0;
    CHECK(on_core0 == 3);
  }

  SECTION("workers: 0 is refused") {
    const Machine machine = load_machine(kTwoSockets);
    PlacementInput input = independent(2);
    input.workers = 0;
    CHECK_THROWS_AS(plan_placement(machine, input), ModelError);
  }
}

TEST_CASE("cpu >= 1 gets a worker of its own on dedicated cores", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input = independent(30);
  input.components.insert(input.components.begin() + 1, component("heavy", with_cpu(2.5)));
  const Plan plan = plan_placement(machine, input);
  const WorkerPlan& heavy = worker_of(plan, 1);
  CHECK(heavy.dedicated);
  CHECK(heavy.components == std::vector<std::size_t>{1});
  REQUIRE(heavy.cores.size() == 3);
  CHECK(heavy.numa_node >= 0);
  // 13 cores are left for the 30 others, none of them the heavy worker's.
  CHECK(plan.workers.size() == 14);
  for (const auto& worker : plan.workers) {
    if (worker.index == heavy.index) continue;
    for (unsigned core : worker.cores)
      CHECK(std::find(heavy.cores.begin(), heavy.cores.end(), core) == heavy.cores.end());
  }
}

TEST_CASE("fan-out siblings land on different workers", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input;
  for (const char* name : {"source", "a", "b", "c", "sink"})
    input.components.push_back(component(name));
  input.edges = {{0, 1}, {0, 2}, {0, 3}, {1, 4}, {2, 4}, {3, 4}};

  SECTION("while cores allow") {
    const Plan plan = plan_placement(machine, input);
    const std::set<std::size_t> branches{plan.worker_of[1], plan.worker_of[2], plan.worker_of[3]};
    CHECK(branches.size() == 3);
  }

  SECTION("with two workers, siblings still avoid each other first") {
    input.workers = 2;
    const Plan plan = plan_placement(machine, input);
    REQUIRE(plan.workers.size() == 2);
    CHECK(plan.worker_of[1] != plan.worker_of[2]);
    CHECK(plan.worker_of[2] != plan.worker_of[3]);
  }
}

TEST_CASE("a plain chain may share one worker", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input;
  for (const char* name : {"read", "parse", "filter", "write"})
    input.components.push_back(component(name));
  input.edges = {{0, 1}, {1, 2}, {2, 3}, {2, 3}};
  const Plan plan = plan_placement(machine, input);
  REQUIRE(plan.workers.size() == 1);
  CHECK(plan.workers[0].components == std::vector<std::size_t>{0, 1, 2, 3});
}

TEST_CASE("GPU components run on cores local to their GPU", "[placement]") {
  SECTION("Xeon: the GPU near package 1") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input = independent(2);
    input.components.push_back(component("train", with_gpu(1, 4)));
    const Plan plan = plan_placement(machine, input);
    const WorkerPlan& train = worker_of(plan, 2);
    CHECK(train.gpus == std::vector<std::string>{"cuda0"});
    CHECK(train.cores.size() == 4);
    CHECK(all_within(train.cores, 8, 15));
    CHECK(train.numa_node == 1);
    CHECK(train.dedicated);
  }

  SECTION("Xeon: fractional GPUs share the device, each in its own worker") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input;
    input.components = {component("infer_a", with_gpu(0.5)), component("infer_b", with_gpu(0.5))};
    const Plan plan = plan_placement(machine, input);
    REQUIRE(plan.workers.size() == 2);
    for (const auto& worker : plan.workers) {
      CHECK(worker.gpus == std::vector<std::string>{"cuda0"});
      CHECK(all_within(worker.cores, 8, 15));
    }
    CHECK(plan.workers[0].cores != plan.workers[1].cores);
  }

  SECTION("POWER8: each GPU's NUMA node") {
    const Machine machine = load_machine(kPower8);
    PlacementInput input;
    for (int i = 0; i < 4; ++i)
      input.components.push_back(component("gpu" + std::to_string(i), with_gpu(1)));
    const Plan plan = plan_placement(machine, input);
    std::set<std::string> gpus;
    for (std::size_t c = 0; c < 4; ++c) {
      const WorkerPlan& worker = worker_of(plan, c);
      REQUIRE(worker.gpus.size() == 1);
      gpus.insert(worker.gpus[0]);
      const int node = worker.gpus[0] == "cuda0" || worker.gpus[0] == "cuda1" ? 0 : 1;
      CHECK(worker.numa_node == node);
      CHECK(all_within(worker.cores, node == 0 ? 0 : 4, node == 0 ? 3 : 7));
    }
    CHECK(gpus.size() == 4);
  }

  SECTION("POWER8: two GPUs for one component come from one NUMA node") {
    const Machine machine = load_machine(kPower8);
    PlacementInput input;
    input.components = {component("small", with_gpu(1)), component("big", with_gpu(2, 2))};
    const Plan plan = plan_placement(machine, input);
    CHECK(worker_of(plan, 1).gpus == std::vector<std::string>{"cuda2", "cuda3"});
    CHECK(worker_of(plan, 1).numa_node == 1);
    CHECK(all_within(worker_of(plan, 1).cores, 4, 7));
  }
}

TEST_CASE("memory is checked per NUMA node", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);

  SECTION("components that do not fit one node go to the other") {
    PlacementInput input;
    input.components = {component("a", with_memory(40 * kGi)),
                        component("b", with_memory(40 * kGi)),
                        component("c", with_memory(20 * kGi, 2))};
    const Plan plan = plan_placement(machine, input);
    CHECK(worker_of(plan, 0).numa_node != worker_of(plan, 1).numa_node);
    CHECK(worker_of(plan, 2).numa_node >= 0);
  }

  SECTION("more than a node holds") {
    PlacementInput input;
    input.components = {component("huge", with_memory(512 * kGi))};
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0],
               Contains("component 'huge' asks for memory=512Gi but NUMA node 0 has 64Gi"));
  }

  SECTION("what others left") {
    PlacementInput input;
    input.components = {component("a", with_memory(40 * kGi)),
                        component("b", with_memory(40 * kGi)),
                        component("c", with_memory(40 * kGi))};
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] ==
          "component 'c' asks for memory=40Gi but NUMA node 0 has 64Gi (24Gi left after 'a'), "
          "NUMA node 1 has 64Gi (24Gi left after 'b')");
  }

  SECTION("a dedicated worker's node") {
    PlacementInput input;
    input.components = {component("big", with_memory(100 * kGi, 1))};
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == "component 'big' asks for memory=100Gi but NUMA node 0 has 64Gi");
  }
}

TEST_CASE("custom resources are checked against the process's capacities", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input;
  input.components = {component("a", with_custom("custom_hardware", 2)),
                      component("b", with_custom("custom_hardware", 1))};

  SECTION("within capacity") {
    input.custom_capacities["custom_hardware"] = 3;
    CHECK(plan_placement(machine, input).workers.size() == 2);
  }

  SECTION("undeclared") {
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] ==
          "component 'a' asks for custom resource 'custom_hardware'=2 but the process declares "
          "none");
    CHECK_THAT(lines[1], Contains("component 'b' asks for custom resource 'custom_hardware'=1"));
  }

  SECTION("declared under other names") {
    input.custom_capacities["fpga"] = 1;
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 2);
    CHECK_THAT(lines[0], Contains("does not declare it (it declares 'fpga'=1)"));
  }

  SECTION("exceeded") {
    input.custom_capacities["custom_hardware"] = 2.5;
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] ==
          "component 'b' asks for custom resource 'custom_hardware'=1 but the process declares "
          "'custom_hardware'=2.5 and 'a' already take 2");
  }
}

TEST_CASE("components with one worker label share a worker", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input;
  input.components = {component("a", with_cpu(0.6), "pair"), component("solo"),
                      component("b", with_cpu(0.6), "pair"), component("c", {}, "trio")};
  input.edges = {{0, 1}, {0, 2}};
  const Plan plan = plan_placement(machine, input);
  CHECK(plan.worker_of[0] == plan.worker_of[2]);
  const WorkerPlan& pair = worker_of(plan, 0);
  CHECK(pair.name == "pair");
  CHECK(pair.components == std::vector<std::size_t>{0, 2});
  CHECK(pair.dedicated);  // 0.6 + 0.6 = 1.2 cpu: two dedicated cores
  CHECK(pair.cores.size() == 2);
  CHECK(worker_of(plan, 3).name == "trio");
  CHECK(worker_of(plan, 1).name == "w1");
}

TEST_CASE("a labelled worker holds its components only, even inside a chain", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input;
  input.components = {component("read"), component("parse", {}, "parsers"), component("write")};
  input.edges = {{0, 1}, {1, 2}};
  const Plan plan = plan_placement(machine, input);
  REQUIRE(plan.workers.size() == 3);
  CHECK(worker_of(plan, 1).name == "parsers");
  CHECK(worker_of(plan, 1).components == std::vector<std::size_t>{1});
}

TEST_CASE("memory a NUMA node does not report is not checked", "[placement]") {
  Machine machine;
  machine.source = "handmade";
  machine.packages = 1;
  for (unsigned i = 0; i < 4; ++i)
    machine.cores.push_back({i, {i}, 0});
  machine.numa_nodes.push_back({0, 0, {0, 1, 2, 3}});
  PlacementInput input;
  input.components = {component("a", with_memory(1e15)), component("b", with_memory(1e15, 2))};
  const Plan plan = plan_placement(machine, input);
  CHECK(plan.workers.size() == 2);
  CHECK(worker_of(plan, 1).cores.size() == 2);
}

TEST_CASE("demands that cannot be met name the component and what exists", "[placement]") {
  SECTION("too many GPUs") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input;
    input.components = {component("train", with_gpu(2))};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{
              "component 'train' asks for gpu=2, the machine has 1 GPU (cuda0)"});
  }

  SECTION("a GPU already taken") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input;
    input.components = {component("a", with_gpu(1)), component("b", with_gpu(1))};
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] ==
          "component 'b' asks for gpu=1 but only 0 of the machine's 1 GPU (cuda0) remain: 'a' "
          "uses cuda0");
  }

  SECTION("fractions beyond what the GPU has left") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input;
    input.components = {component("a", with_gpu(0.5)), component("b", with_gpu(0.5)),
                        component("c", with_gpu(0.25))};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{"component 'c' asks for gpu=0.25 but no GPU has that much "
                                   "left: cuda0 has 0 left after 'a', 'b'"});
  }

  SECTION("more cores than are near the GPU") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input;
    input.components = {component("train", with_gpu(1, 10))};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{
              "component 'train' asks for cpu=10 with gpu=1 but 8 cores are near cuda0"});
  }

  SECTION("no GPU at all") {
    const Machine machine = load_machine(kTwoSockets);
    PlacementInput input;
    input.components = {component("infer", with_gpu(0.5))};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{"component 'infer' asks for gpu=0.5, the machine has no GPU"});
  }

  SECTION("too many cores") {
    const Machine machine = load_machine("pack:1 core:2 pu:1");
    PlacementInput input;
    input.components = {component("wide", with_cpu(3))};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{"component 'wide' asks for cpu=3 but the machine has 2 cores"});
  }

  SECTION("cores taken by others") {
    const Machine machine = load_machine("pack:1 core:4 pu:1");
    PlacementInput input;
    input.components = {component("a", with_cpu(3)), component("b", with_cpu(2))};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{"component 'b' asks for cpu=2 but only 1 of the machine's 4 "
                                   "cores remain after 'a' (cpu=3)"});
  }

  SECTION("every core dedicated, nothing left for the rest") {
    const Machine machine = load_machine("pack:1 core:2 pu:1");
    PlacementInput input;
    input.components = {component("a", with_cpu(2)), component("light")};
    CHECK(failure_lines(machine, input) ==
          std::vector<std::string>{"component 'light' asks for cpu=0.001 but no core remains: "
                                   "the machine's 2 cores are dedicated to 'a' (cpu=2)"});
  }

  SECTION("several at once: one line each") {
    const Machine machine = load_machine(kXeon);
    PlacementInput input;
    input.components = {component("train", with_gpu(2)), component("wide", with_cpu(20)),
                        component("huge", with_memory(512 * kGi)),
                        component("hw", with_custom("custom_hardware", 2)), component("fine")};
    const auto lines = failure_lines(machine, input);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] ==
          "component 'hw' asks for custom resource 'custom_hardware'=2 but the process declares "
          "none");
    CHECK(lines[1] == "component 'train' asks for gpu=2, the machine has 1 GPU (cuda0)");
    CHECK(lines[2] == "component 'wide' asks for cpu=20 but the machine has 16 cores");
    CHECK_THAT(lines[3],
               Contains("component 'huge' asks for memory=512Gi but NUMA node 0 has 32Gi"));
  }
}

TEST_CASE("the plan prints as a table with workers and the machine", "[placement]") {
  const Machine machine = load_machine(kXeon);
  PlacementInput input;
  input.components = {component("source"), component("train", with_gpu(1, 2)), component("sink")};
  input.components[0].type = "Iterator";
  input.edges = {{0, 1}, {1, 2}};
  const Plan plan = plan_placement(machine, input);
  const std::string text = plan.to_string(input.components);
  INFO(text);
  CHECK(text.starts_with("component  type      worker  cpuset     numa  gpu\n"));
  CHECK_THAT(text, Contains("source     Iterator  w0      0,16       0     -\n"));
  CHECK_THAT(text, Contains("train      Sleep     w1      8-9,24-25  1     cuda0\n"));
  CHECK_THAT(text, Contains("worker w1: cores 8-9 (PUs 8-9,24-25), NUMA node 1, dedicated, GPU "
                            "cuda0; train\n"));
  CHECK_THAT(text, Contains("worker w0: core 0 (PUs 0,16), NUMA node 0, shared; source\n"));
  CHECK_THAT(text, Contains("machine: " + machine.summary() + "\n"));
  CHECK(plan.machine == machine.summary());
}

TEST_CASE("synthetic topologies beyond the PU and object limits are refused before hwloc",
          "[placement]") {
  // hwloc loops on the first and takes minutes on the second; the others overflow or exceed.
  for (const std::string description :
       {"2147483648", "pack:16 core:1024 pu:16", "pack:2 core:2048 pu:2", "pu:4097",
        "pack:4294967295 core:4294967295 pu:4294967295", "pack:65536 core:2 pu:1",
        "pack:2 core:1 pu:0x10000", "group:64 group:64 group:16 pu:1"}) {
    CAPTURE(description);
    CHECK_THROWS_WITH(load_machine(description),
                      Contains("topology '" + description + "' cannot be loaded: ") &&
                          Contains("at most 4096 PUs and 65536 objects"));
  }
  // At the limit: 4096 PUs load.
  const Machine largest = load_machine("pack:16 core:256 pu:1");
  CHECK(largest.pu_count() == 4096);
  // Bad syntax is still hwloc's to reject.
  CHECK_THROWS_WITH(load_machine("pack:2 core:x"), Contains("not a valid hwloc synthetic"));
}

TEST_CASE("an XML topology file larger than the limit is refused unread", "[placement]") {
  const auto big = std::filesystem::temp_directory_path() /
                   ("patchbay-big-topology-" + std::to_string(getpid()) + ".xml");
  std::ofstream(big) << "<topology>";
  std::filesystem::resize_file(big, std::uintmax_t{17} << 20);  // sparse
  CHECK_THROWS_WITH(load_machine(big.string()),
                    Contains("cannot be loaded: the XML file is 17825792 bytes, more than the "
                             "16777216 allowed"));
  std::filesystem::remove(big);
}

namespace {

// Plans `input` in a child process with a memory limit and a generous time limit, so that a
// planner gone quadratic fails this test instead of exhausting the machine. Returns the child's
// exit code: 0 when `check` accepted the plan.
int plan_in_child(const Machine& machine, const PlacementInput& input, bool (*check)(const Plan&)) {
  const pid_t child = fork();
  if (child == 0) {
    alarm(60);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    const rlimit memory{std::size_t{2} << 30, std::size_t{2} << 30};
    setrlimit(RLIMIT_AS, &memory);
#endif
    try {
      _exit(check(plan_placement(machine, input)) ? 0 : 3);
    } catch (...) {
      _exit(4);
    }
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

PlacementInput fan_out(std::size_t width) {
  PlacementInput input;
  input.components.push_back(component("source"));
  for (std::size_t i = 0; i < width; ++i) {
    input.components.push_back(component("sink" + std::to_string(i)));
    input.edges.emplace_back(0, i + 1);
  }
  return input;
}

}  // namespace

TEST_CASE("a fan-out to 20000 sinks plans without blowing up and spreads the siblings evenly",
          "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  // The siblings of each sink were compared with every other: 10,000 took 28 s and 4.7 GB.
  CHECK(plan_in_child(machine, fan_out(20'000), [](const Plan& plan) {
          if (plan.workers.size() != 16) return false;
          for (const WorkerPlan& worker : plan.workers) {
            // 20,001 components over 16 workers: 1,250 sinks each, the source with one.
            if (worker.components.size() < 1250 || worker.components.size() > 1251) return false;
          }
          return true;
        }) == 0);
}

TEST_CASE("more workers than the limit are refused naming the count and the limit", "[placement]") {
  SECTION("worker labels, on a machine with 32 PUs: at most 1024") {
    const Machine machine = load_machine(kTwoSockets);
    PlacementInput input;
    for (std::size_t i = 0; i < 1024; ++i)
      input.components.push_back(component("c" + std::to_string(i), {}, "w" + std::to_string(i)));
    CHECK(plan_placement(machine, input).workers.size() == 1024);
    input.components.push_back(component("one-more", {}, "w-extra"));
    CHECK_THROWS_WITH(plan_placement(machine, input),
                      Contains("the plan needs 1025 workers, more than the 1024 allowed"));
    for (std::size_t i = 0; i < 9000; ++i)
      input.components.push_back(component("d" + std::to_string(i), {}, "x" + std::to_string(i)));
    CHECK_THROWS_WITH(plan_placement(machine, input), Contains("the plan needs 10025 workers"));
  }

  SECTION("on a machine with 2 PUs: 64 per PU") {
    const Machine machine = load_machine("pack:1 core:2 pu:1");
    PlacementInput input;
    for (std::size_t i = 0; i < 129; ++i)
      input.components.push_back(component("c" + std::to_string(i), {}, "w" + std::to_string(i)));
    CHECK_THROWS_WITH(plan_placement(machine, input),
                      Contains("the plan needs 129 workers, more than the 128 allowed on this "
                               "machine (64 per usable PU, at most 1024)"));
    input.components.pop_back();
    CHECK(plan_placement(machine, input).workers.size() == 128);
  }

  SECTION("the workers option") {
    const Machine machine = load_machine("pack:1 core:2 pu:1");
    PlacementInput input = independent(4);
    input.workers = 129;
    CHECK_THROWS_WITH(plan_placement(machine, input),
                      Contains("process option workers=129 is more than the 128 workers allowed"));
    input.workers = 128;
    CHECK(plan_placement(machine, input).workers.size() == 4);
  }

  SECTION("a default of one worker per core stays within the limit") {
    const Machine machine = load_machine("pack:16 core:256 pu:1");
    const Plan plan = plan_placement(machine, independent(2000));
    CHECK(plan.workers.size() == 1024);
  }
}

TEST_CASE("a plan failing in every component reports the first lines and a count", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);
  PlacementInput input;
  for (std::size_t i = 0; i < 500; ++i)
    input.components.push_back(component("c" + std::to_string(i), with_cpu(100)));
  const std::vector<std::string> lines = failure_lines(machine, input);
  REQUIRE(lines.size() == 21);
  CHECK_THAT(lines.front(), Contains("'c0' asks for cpu=100 but the machine has 16 cores"));
  CHECK(lines.back() == "... and 480 more unmet demands");
}

TEST_CASE("cpuset text writes runs of numbers as ranges", "[placement]") {
  CHECK(cpuset_text({}) == "-");
  CHECK(cpuset_text({7}) == "7");
  CHECK(cpuset_text({0, 1}) == "0-1");
  CHECK(cpuset_text({0, 1, 2, 3, 16, 17, 18, 19}) == "0-3,16-19");
  CHECK(cpuset_text({0, 2, 4}) == "0,2,4");
  CHECK(cpuset_text({1, 2, 3, 5, 8, 9}) == "1-3,5,8-9");
}

TEST_CASE("the memory ledger counts per NUMA node and for the machine", "[placement]") {
  const Machine machine = load_machine(kTwoSockets);  // two nodes of 64Gi
  MemoryLedger ledger(machine);
  CHECK(ledger.has_room(0, 64 * kGi));
  CHECK_FALSE(ledger.has_room(0, 65 * kGi));
  CHECK(ledger.has_room(-1, 128 * kGi));
  CHECK(ledger.has_room(0, 0));
  CHECK(ledger.describe(0) == "NUMA node 0 has 64Gi");
  CHECK(ledger.describe(-1) == "the machine has 128Gi");

  SECTION("a node's takers are named, and what they take leaves the machine too") {
    ledger.take(0, 40 * kGi, "'a'");
    ledger.take(0, 8 * kGi, "'b'");
    CHECK(ledger.has_room(0, 16 * kGi));
    CHECK_FALSE(ledger.has_room(0, 17 * kGi));
    CHECK(ledger.has_room(1, 64 * kGi));
    CHECK(ledger.describe(0) == "NUMA node 0 has 64Gi (16Gi left after 'a', 'b')");
    CHECK(ledger.describe(1) == "NUMA node 1 has 64Gi");
    CHECK(ledger.describe(-1) == "the machine has 128Gi (80Gi left)");
    CHECK_FALSE(ledger.has_room(-1, 81 * kGi));
  }

  SECTION("a worker spanning nodes counts against the machine only") {
    ledger.take(-1, 100 * kGi, "'wide'");
    CHECK(ledger.has_room(0, 64 * kGi));
    CHECK(ledger.describe(0) == "NUMA node 0 has 64Gi");
    CHECK(ledger.describe(-1) == "the machine has 128Gi (28Gi left)");
    CHECK_FALSE(ledger.has_room(-1, 29 * kGi));
  }

  SECTION("a node may be overcommitted, and then has nothing left") {
    ledger.take(1, 70 * kGi, "'big'");
    CHECK_FALSE(ledger.has_room(1, 1));
    CHECK(ledger.describe(1) == "NUMA node 1 has 64Gi (0 left after 'big')");
  }

  SECTION("nothing taken is nothing charged") {
    ledger.take(0, 0, "'none'");
    CHECK(ledger.describe(0) == "NUMA node 0 has 64Gi");
  }
}

TEST_CASE("the memory ledger never refuses memory a node does not report", "[placement]") {
  Machine machine;
  for (unsigned i = 0; i < 2; ++i)
    machine.cores.push_back({i, {i}, static_cast<int>(i)});
  machine.numa_nodes.push_back({0, 0, {0}});
  machine.numa_nodes.push_back({1, std::uint64_t{1} << 30, {1}});
  MemoryLedger ledger(machine);
  CHECK(ledger.has_room(0, 1e15));
  CHECK_FALSE(ledger.has_room(1, 2 * kGi));
  CHECK(ledger.has_room(-1, 1e15));  // the machine's total is unknown while a node's is
}

TEST_CASE("strands follow chain links, and fan-out siblings spread apart", "[placement]") {
  // source fans out to a, b and c; a -> a2 is a chain; d stands alone. c weighs 0.5 cpu.
  PlacementInput input;
  input.components = {
      component("source"),           component("a"), component("a2"), component("b"),
      component("c", with_cpu(0.5)), component("d")};
  input.edges = {{0, 1}, {1, 2}, {0, 3}, {0, 4}};
  const Units units(input);
  const UnitList pool = {0, 1, 2, 3, 4, 5};
  const auto strands = patchbay::detail::placement::pool_strands(units, pool, input.edges);
  CHECK(strands == std::vector<UnitList>{{0}, {1, 2}, {3}, {4}, {5}});
  const auto sources = patchbay::detail::placement::strand_sources(units, strands, input.edges);
  CHECK(sources == std::vector<UnitList>{{}, {0, 1}, {0}, {0}, {}});  // a feeds a2 in its strand
  // On two workers: the source and a's strand start one each; b joins the worker without a
  // sibling of its own, c ties on siblings and load and takes the first, d the lighter.
  const auto workers = patchbay::detail::placement::spread_strands(units, strands, sources, 2);
  CHECK(workers == std::vector<UnitList>{{0, 3, 4}, {1, 2, 5}});
}
