// Workers that share a core: found from the plan (bound) or the affinity (unbound), and run
// without spinning and without wake-up preemption (SCHED_BATCH), so that a worker waiting for
// another never holds the core that one needs. Their speed is measured by
// bench/model_bench.cpp's oversubscribed_chain; here, that the mode is chosen where it should be.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <sched.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support/parallel_run.hpp"
#include "support/sequence_components.hpp"
#include "support/shared_record.hpp"

using patchbay::Component;
using patchbay::ConnectorSpec;
using patchbay::Input;
using patchbay::Output;
using patchbay::ParallelProcess;
using patchbay::ProcessOptions;
using patchbay::test::run_and_check_cleanup;
using patchbay::test::SharedRecord;

namespace {

// Passes its input on, and records its worker's scheduling policy on its first step.
class PolicyProbe final : public Component {
 public:
  PolicyProbe(std::string name, SharedRecord& record)
      : Component(std::move(name)), record_(record) {}
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (!recorded_) {
      recorded_ = true;
      record_.append(std::pair<std::string, int>(name(), sched_getscheduler(0)));
    }
    out = in.value();
  }

 private:
  SharedRecord& record_;
  bool recorded_ = false;
};

// A chain source -> probe0 -> ... -> probe{n-1} -> sink, each probe in a worker of its own
// (labels p0, p1, ...); the source shares p0's worker and the sink the last probe's.
struct ProbeChain {
  std::vector<std::unique_ptr<Component>> parts;
  std::vector<ConnectorSpec> connectors;
};

ProbeChain probe_chain(std::size_t probes, SharedRecord& record) {
  ProbeChain chain;
  chain.parts.push_back(std::make_unique<patchbay::test::Counter>("source", 2'000));
  chain.parts.back()->set_worker_label("p0");
  std::string previous = "source";
  for (std::size_t i = 0; i < probes; ++i) {
    const std::string name = "probe" + std::to_string(i);
    chain.parts.push_back(std::make_unique<PolicyProbe>(name, record));
    chain.parts.back()->set_worker_label("p" + std::to_string(i));
    chain.connectors.emplace_back(previous + ".out", name + ".in");
    previous = name;
  }
  chain.parts.push_back(std::make_unique<patchbay::test::SequenceCheck>("sink", 2'000));
  chain.parts.back()->set_worker_label("p" + std::to_string(probes - 1));
  chain.connectors.emplace_back(previous + ".out", "sink.in");
  return chain;
}

std::map<std::string, int> policies(const SharedRecord& record) {
  std::map<std::string, int> out;
  for (const auto& [name, policy] : record.read<std::pair<std::string, int>>())
    out[name] = policy;
  return out;
}

// Restricts the calling thread (and so the workers it forks) to `cpus` for its lifetime.
class AffinityScope {
 public:
  explicit AffinityScope(const std::vector<int>& cpus) {
    REQUIRE(sched_getaffinity(0, sizeof saved_, &saved_) == 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const int cpu : cpus)
      CPU_SET(cpu, &set);
    REQUIRE(sched_setaffinity(0, sizeof set, &set) == 0);
  }
  AffinityScope(const AffinityScope&) = delete;
  AffinityScope& operator=(const AffinityScope&) = delete;
  ~AffinityScope() { sched_setaffinity(0, sizeof saved_, &saved_); }

 private:
  cpu_set_t saved_{};
};

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  }
  return out;
}

}  // namespace

std::set<int> parse_cpuset(const std::string& text) {
  std::set<int> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string part = text.substr(at, comma - at);
    const std::size_t dash = part.find('-');
    const int first = std::stoi(part.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int cpu = first; cpu <= last; ++cpu)
      out.insert(cpu);
    at = comma + 1;
  }
  return out;
}

TEST_CASE("workers bound to a shared core run as SCHED_BATCH, the others as they were",
          "[parallel][shared_core]") {
  // One worker more than this process has CPUs: the plan binds two of them to one core.
  const std::size_t probes = usable_cpus().size() + 1;
  for (const auto mode :
       {patchbay::WaitMode::spin, patchbay::WaitMode::adaptive, patchbay::WaitMode::block}) {
    CAPTURE(to_string(mode));
    SharedRecord record;
    ProbeChain chain = probe_chain(probes, record);
    ProcessOptions options;
    options.wait = mode;
    ParallelProcess process(std::move(chain.parts), chain.connectors, options);
    // Which workers the plan put on a core another worker also has.
    std::map<std::string, bool> shared;
    const auto workers = process.worker_stats();
    REQUIRE(workers.size() == probes);
    for (const auto& w : workers) {
      const std::set<int> mine = parse_cpuset(w.cpuset);
      bool overlaps = false;
      for (const auto& other : workers) {
        if (other.name == w.name) continue;
        const std::set<int> theirs = parse_cpuset(other.cpuset);
        overlaps = overlaps || std::any_of(mine.begin(), mine.end(),
                                           [&](int cpu) { return theirs.count(cpu) != 0; });
      }
      shared[w.name] = overlaps;
    }
    REQUIRE(std::count_if(shared.begin(), shared.end(), [](const auto& s) { return s.second; }) >=
            2);
    const auto outcome = run_and_check_cleanup(process);
    REQUIRE(outcome.error.empty());
    const auto seen = policies(record);
    REQUIRE(seen.size() == probes);
    for (std::size_t i = 0; i < probes; ++i) {
      const bool expect_shared = shared.at("p" + std::to_string(i));
      CAPTURE(i, expect_shared);
      CHECK(seen.at("probe" + std::to_string(i)) == (expect_shared ? SCHED_BATCH : SCHED_OTHER));
    }
  }
}

TEST_CASE("unbound workers share cores when there are more of them than usable CPUs",
          "[parallel][shared_core]") {
  const std::vector<int> cpus = usable_cpus();
  REQUIRE(!cpus.empty());
  ProcessOptions options;
  options.topology = "core:4 pu:1";  // a plan for another machine: nothing is bound
  SECTION("two workers on one usable CPU share it") {
    const AffinityScope one({cpus.front()});
    SharedRecord record;
    ProbeChain chain = probe_chain(2, record);
    ParallelProcess process(std::move(chain.parts), chain.connectors, options);
    REQUIRE(run_and_check_cleanup(process).error.empty());
    for (const auto& [name, policy] : policies(record)) {
      CAPTURE(name);
      CHECK(policy == SCHED_BATCH);
    }
  }
  SECTION("two workers on two usable CPUs do not") {
    if (cpus.size() < 2) {
      WARN("needs two usable CPUs");
      return;
    }
    const AffinityScope two({cpus[0], cpus[1]});
    SharedRecord record;
    ProbeChain chain = probe_chain(2, record);
    ParallelProcess process(std::move(chain.parts), chain.connectors, options);
    REQUIRE(run_and_check_cleanup(process).error.empty());
    for (const auto& [name, policy] : policies(record)) {
      CAPTURE(name);
      CHECK(policy == SCHED_OTHER);
    }
  }
}
