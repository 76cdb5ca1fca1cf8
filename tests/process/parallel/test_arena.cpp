// ParallelProcess, the arena: its size limit, and memory taken only as messages reach a ring.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <thread>

#include "parallel/parallel_runtime.hpp"
#include "placement/machine.hpp"
#include "shm/arena.hpp"
#include "support/command.hpp"
#include "support/components.hpp"
#include "support/parallel_run.hpp"
#include "support/shared_record.hpp"

using namespace std::chrono_literals;
using patchbay::Component;
using patchbay::ConnectorSpec;
using patchbay::ParallelProcess;
using patchbay::test::add;
using patchbay::test::Counter;
using patchbay::test::dev_shm_entries;
using patchbay::test::run_and_check_cleanup;
using patchbay::test::ScopedEnvironment;
using patchbay::test::SequenceCheck;
using patchbay::test::split_options;

// Bytes of shared memory this process has touched (RssShmem in /proc/self/status).
std::uint64_t shared_memory_touched() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssShmem:", 0) == 0) return std::stoull(line.substr(9)) * 1024;  // in kB
  }
  return 0;
}

TEST_CASE("an arena over its limit is refused before anything is allocated", "[parallel][arena]") {
  // One source fanned out to `sinks` sinks, each connector of `capacity` bytes.
  auto fan_out = [](int sinks, std::size_t capacity) {
    std::vector<std::unique_ptr<Component>> parts;
    add<Counter>(parts, "source", "count", 1000);
    std::vector<ConnectorSpec> connectors;
    for (int i = 0; i < sinks; ++i) {
      const std::string name = "sink" + std::to_string(i);
      add<SequenceCheck>(parts, name, name, 1000);
      connectors.push_back({"count.out", name + ".in", capacity});
    }
    return std::make_pair(std::move(parts), std::move(connectors));
  };
  SECTION("the default limit: half the memory, at most 16 GiB") {
    // 5 x 4 GiB: over the limit on any machine.
    auto [parts, connectors] = fan_out(5, std::size_t{4} << 30);
    const ScopedEnvironment unset("PATCHBAY_ARENA_LIMIT", nullptr);
    const std::size_t shm_before = dev_shm_entries();
    try {
      ParallelProcess process(std::move(parts), connectors, split_options());
      FAIL("no error");
    } catch (const patchbay::ModelError& e) {
      CHECK_THAT(e.message(),
                 Catch::StartsWith("the shared arena would need 20.0 GiB for 5 connectors, more "
                                   "than its limit of ") &&
                     Catch::Contains("half the machine's memory, at most 16 GiB") &&
                     Catch::Contains("PATCHBAY_ARENA_LIMIT") &&
                     Catch::Contains("the largest: 'count.out -> sink0.in' 4 GiB, "
                                     "'count.out -> sink1.in' 4 GiB, 'count.out -> sink2.in' "
                                     "4 GiB;"));
    }
    CHECK(dev_shm_entries() == shm_before);
  }
  SECTION("PATCHBAY_ARENA_LIMIT sets it") {
    const ScopedEnvironment limit("PATCHBAY_ARENA_LIMIT", "1Mi");
    {
      auto [parts, connectors] = fan_out(1, std::size_t{2} << 20);
      CHECK_THROWS_WITH(ParallelProcess(std::move(parts), connectors, split_options()),
                        Catch::Contains("need 2.1 MiB for 1 connectors, more than its limit of "
                                        "1 MiB (PATCHBAY_ARENA_LIMIT)"));
    }
    auto [parts, connectors] = fan_out(2, std::size_t{256} << 10);
    ParallelProcess process(std::move(parts), connectors, split_options());
    const auto outcome = run_and_check_cleanup(process);
    CHECK(outcome.error.empty());
  }
  SECTION("a value that is not a number of bytes") {
    const ScopedEnvironment limit("PATCHBAY_ARENA_LIMIT", "0.5");
    auto [parts, connectors] = fan_out(1, 1024);
    CHECK_THROWS_AS(ParallelProcess(std::move(parts), connectors, split_options()),
                    patchbay::ModelError);
  }
}

TEST_CASE("a large ring takes memory only as messages reach it", "[parallel][arena]") {
  // int64 messages travel as fixed-size records; formatting the ring must not clear each of
  // its 16 Mi slots, which would touch all of its 256 MiB.
  const auto before = shared_memory_touched();
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "producer", "count", 1000);
  add<SequenceCheck>(parts, "consumer", "check", 1000);
  ParallelProcess process(std::move(parts), {{"count.out", "check.in", std::size_t{256} << 20}},
                          split_options());
  CHECK(shared_memory_touched() - before < (std::uint64_t{8} << 20));
  const auto outcome = run_and_check_cleanup(process);
  CHECK(outcome.error.empty());
}
