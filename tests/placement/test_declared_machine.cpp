// The machine as declared from outside a model (MachineResources): custom resources, cores,
// GPUs and memory, from engine-run's options and the environment, as Ray's `ray start` declares
// a node; so that Plugboard's resources tutorial (custom_hardware declared by the cluster, not
// the model) places unchanged.
#include <patchbay/error.hpp>
#include <patchbay/process_spec.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "placement/declared_machine.hpp"
#include "placement/machine.hpp"
#include "support/command.hpp"

using Catch::Contains;
using patchbay::MachineResources;
using patchbay::ModelError;
using patchbay::parse_custom_resources;

TEST_CASE("custom resources parse from Ray's JSON and from NAME=AMOUNT lists", "[placement]") {
  const auto json = parse_custom_resources(R"( {"custom_hardware": 5, "fpga": "500m"} )", "x");
  CHECK(json.at("custom_hardware") == 5.0);
  CHECK(json.at("fpga") == 0.5);
  const auto list = parse_custom_resources("custom_hardware=2, licence=1k", "x");
  CHECK(list.at("custom_hardware") == 2.0);
  CHECK(list.at("licence") == 1000.0);
  CHECK(parse_custom_resources("{}", "x").empty());
  CHECK_THROWS_WITH(parse_custom_resources("custom_hardware", "--resources"),
                    Contains("--resources") && Contains("NAME=AMOUNT"));
  CHECK_THROWS_WITH(parse_custom_resources("{custom: 2}", "PATCHBAY_RESOURCES"),
                    Contains("PATCHBAY_RESOURCES") && Contains("JSON string"));
  CHECK_THROWS_WITH(parse_custom_resources("a=-1", "x"), Contains("'a'"));
  CHECK_THROWS_AS(parse_custom_resources("{\"a\": 1", "x"), ModelError);
}

TEST_CASE("a declared machine limits the cores, GPUs and memory placement plans for",
          "[placement]") {
  patchbay::detail::Machine machine =
      patchbay::detail::load_machine("pack:1 numa:2(memory=16GiB) core:4 pu:1");
  REQUIRE(machine.cores.size() == 8);
  MachineResources declared;
  declared.cpus = 3;
  declared.memory = std::uint64_t{8} << 30;
  patchbay::detail::limit_machine(machine, declared);
  CHECK(machine.cores.size() == 3);
  std::size_t listed = 0;
  for (const auto& node : machine.numa_nodes) {
    for (const unsigned c : node.cores)
      CHECK(c < 3);
    listed += node.cores.size();
  }
  CHECK(listed == 3);
  CHECK(machine.memory() == (std::uint64_t{8} << 30));
  MachineResources none;
  none.cpus = 0;
  CHECK_THROWS_WITH(patchbay::detail::limit_machine(machine, none), Contains("0 CPUs"));
  // More than the machine has changes nothing: a declaration is a limit, not hardware.
  MachineResources more;
  more.cpus = 64;
  more.gpus = 4;
  patchbay::detail::limit_machine(machine, more);
  CHECK(machine.cores.size() == 3);
  CHECK(machine.gpus.empty());
}

TEST_CASE("a declared machine's custom resources win over the model's", "[placement]") {
  MachineResources declared;
  declared.custom = {{"custom_hardware", 5.0}};
  const auto merged =
      patchbay::detail::custom_capacities({{"custom_hardware", 1.0}, {"other", 2.0}}, declared);
  CHECK(merged.at("custom_hardware") == 5.0);
  CHECK(merged.at("other") == 2.0);
}

TEST_CASE("engine-run: the resources tutorial places once the machine declares custom_hardware",
          "[placement][engine-run]") {
  patchbay::test::TempDir dir;
  // Plugboard's tutorial: the model asks for custom_hardware and declares none.
  patchbay::test::write_file(dir / "model.yaml", R"(plugboard:
  process:
    type: plugboard.process.RayProcess
    args:
      name: resource-example-process
      components:
        - type: Iterator
          args: {name: producer, iters: 10, resources: {cpu: 1.0}}
        - type: Sleep
          args:
            name: gpu-task
            sleep_seconds: 0
            resources:
              cpu: "500m"
              resources:
                custom_hardware: 2
      connectors:
        - source: producer.x
          target: gpu-task.x
)");
  const std::string engine_run = PATCHBAY_ENGINE_RUN;
  const std::string topology = "PATCHBAY_TOPOLOGY=pack:1 core:8 pu:1";
  const auto bare = patchbay::test::run_command(
      {"/usr/bin/env", topology, engine_run, "--plan", "model.yaml"}, dir.path());
  CHECK(bare.exit_code == 2);
  CHECK_THAT(bare.err, Contains("custom_hardware"));
  const auto option =
      patchbay::test::run_command({"/usr/bin/env", topology, engine_run, "--plan", "--resources",
                                   R"({"custom_hardware": 5})", "model.yaml"},
                                  dir.path());
  INFO(option.err);
  CHECK(option.exit_code == 0);
  CHECK_THAT(option.out, Contains("gpu-task"));
  const auto environment =
      patchbay::test::run_command({"/usr/bin/env", topology, "PATCHBAY_RESOURCES=custom_hardware=5",
                                   engine_run, "--plan", "model.yaml"},
                                  dir.path());
  CHECK(environment.exit_code == 0);
  // --num-cpus 2: the plan is made for two of the eight cores.
  const auto two =
      patchbay::test::run_command({"/usr/bin/env", topology, "PATCHBAY_RESOURCES=custom_hardware=5",
                                   engine_run, "--plan", "--num-cpus", "2", "model.yaml"},
                                  dir.path());
  INFO(two.out << two.err);
  CHECK(two.exit_code == 0);
  CHECK_THAT(two.out, Contains("machine: 1 package, 2 cores"));
  const auto bad = patchbay::test::run_command(
      {engine_run, "--plan", "--resources", "custom_hardware", "model.yaml"}, dir.path());
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Contains("--resources"));
}
