// Workers that share a core: found from the plan (bound) or the affinity (unbound), they wait
// without spinning, whatever the wait mode, since what they wait for may need that very core.
// Their speed is measured by bench/model_bench.cpp's oversubscribed_chain; here, that a worker
// that waits on a shared core leaves the core alone (its CPU time stays a small part of the run),
// where spinning would take as much of it as the scheduler gives.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/parallel_run.hpp"
#include "support/shared_record.hpp"

using namespace std::chrono_literals;
using patchbay::Component;
using patchbay::ConnectorSpec;
using patchbay::Input;
using patchbay::Output;
using patchbay::ParallelProcess;
using patchbay::ProcessOptions;
using patchbay::test::run_and_check_cleanup;
using patchbay::test::SharedRecord;

namespace {

// Sends 0, 1, ... `count` - 1, one every 2 ms: whoever waits for it waits most of the run.
class Ticker final : public Component {
 public:
  Ticker(std::string name, std::int64_t count) : Component(std::move(name)), count_(count) {}
  Output<std::int64_t> out{this, "out"};
  void step() override {
    if (next_ == count_) {
      close();
      return;
    }
    std::this_thread::sleep_for(2ms);
    out = next_++;
  }

 private:
  std::int64_t count_;
  std::int64_t next_ = 0;
};

// Passes its input on. At the end it records the CPU time its worker used since its init()
// (the worker runs it alone) as a fraction of the time since then: start-up, which costs the
// same whatever the worker does while it waits, is left out.
class CpuProbe final : public Component {
 public:
  CpuProbe(std::string name, SharedRecord& record) : Component(std::move(name)), record_(record) {}
  Input<std::int64_t> in{this, "in"};
  Output<std::int64_t> out{this, "out"};
  void init() override {
    started_ = std::chrono::steady_clock::now();
    cpu_at_start_ = cpu_seconds();
  }
  void step() override { out = in.value(); }
  void teardown(patchbay::Status) override {
    const double cpu = cpu_seconds() - cpu_at_start_;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    record_.append(std::pair<std::string, double>(name(), cpu / wall));
  }

 private:
  static double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  }

  SharedRecord& record_;
  std::chrono::steady_clock::time_point started_;
  double cpu_at_start_ = 0;
};

// A chain ticker -> probe0 -> ... -> probe{n-1}, the ticker in worker t, each probe in a worker
// of its own (labels p0, p1, ...).
struct ProbeChain {
  std::vector<std::unique_ptr<Component>> parts;
  std::vector<ConnectorSpec> connectors;
};

ProbeChain probe_chain(std::size_t probes, SharedRecord& record) {
  ProbeChain chain;
  chain.parts.push_back(std::make_unique<Ticker>("ticker", 100));
  chain.parts.back()->set_worker_label("t");
  std::string previous = "ticker";
  for (std::size_t i = 0; i < probes; ++i) {
    const std::string name = "probe" + std::to_string(i);
    chain.parts.push_back(std::make_unique<CpuProbe>(name, record));
    chain.parts.back()->set_worker_label("p" + std::to_string(i));
    chain.connectors.emplace_back(previous + ".out", name + ".in");
    previous = name;
  }
  return chain;
}

// Without spinning, a probe's worker uses a few percent of a run spent waiting for the ticker;
// spinning on a core it shares, it would use about half of it or more.
constexpr double kMostCpuWhenShared = 0.25;

std::map<std::string, double> cpu_fractions(const SharedRecord& record) {
  std::map<std::string, double> out;
  for (const auto& [name, fraction] : record.read<std::pair<std::string, double>>())
    out[name] = fraction;
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

TEST_CASE("a worker bound to a core another worker has waits without spinning in spin mode",
          "[parallel][shared_core]") {
  // One worker more than this process has CPUs: the plan binds two of them to one core.
  const std::size_t probes = usable_cpus().size();
  {
    SharedRecord record;
    ProbeChain chain = probe_chain(probes, record);
    ProcessOptions options;
    options.wait = patchbay::WaitMode::spin;
    ParallelProcess process(std::move(chain.parts), chain.connectors, options);
    // Which workers the plan put on a core another worker also has.
    std::map<std::string, bool> shared;
    const auto workers = process.worker_stats();
    REQUIRE(workers.size() == probes + 1);
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
    const auto outcome = run_and_check_cleanup(process);
    REQUIRE(outcome.error.empty());
    const auto fractions = cpu_fractions(record);
    REQUIRE(fractions.size() == probes);
    std::size_t checked = 0;
    for (std::size_t i = 0; i < probes; ++i) {
      if (!shared.at("p" + std::to_string(i))) continue;
      CAPTURE(i);
      CHECK(fractions.at("probe" + std::to_string(i)) < kMostCpuWhenShared);
      ++checked;
    }
    CHECK(checked >= 1);
  }
}

TEST_CASE("unbound workers share cores when there are more of them than usable CPUs",
          "[parallel][shared_core]") {
  const std::vector<int> cpus = usable_cpus();
  REQUIRE(!cpus.empty());
  ProcessOptions options;
  options.topology = "core:4 pu:1";  // a plan for another machine: nothing is bound
  options.wait = patchbay::WaitMode::spin;
  const AffinityScope one({cpus.front()});
  SharedRecord record;
  ProbeChain chain = probe_chain(1, record);
  ParallelProcess process(std::move(chain.parts), chain.connectors, options);
  REQUIRE(run_and_check_cleanup(process).error.empty());
  const auto fractions = cpu_fractions(record);
  REQUIRE(fractions.size() == 1);
  CHECK(fractions.at("probe0") < kMostCpuWhenShared);
}

TEST_CASE("--plan says which workers share cores, or that nothing is bound",
          "[parallel][shared_core]") {
  const std::size_t labels = usable_cpus().size() + 1;
  patchbay::ProcessSpec spec;
  spec.kind = patchbay::ProcessKind::parallel;
  std::string previous;
  for (std::size_t i = 0; i < labels; ++i) {
    patchbay::ComponentSpec c;
    c.type = i == 0 ? "Iterator" : "Sleep";
    c.name = "c" + std::to_string(i);
    if (i == 0) {
      c.args["iters"] = patchbay::Value(std::int64_t{1});
    } else {
      c.args["sleep_seconds"] = patchbay::Value(0.0);
    }
    c.worker = "w" + std::to_string(i);
    spec.components.push_back(c);
    if (i > 0) spec.connectors.emplace_back(previous, c.name + ".x");
    previous = c.name + (i == 0 ? ".x" : ".y");
  }
  SECTION("bound to this machine") {
    const std::string plan = patchbay::plan_placement_text(spec);
    INFO(plan);
    CHECK_THAT(plan, Catch::Contains("share cores with another worker: they wait without "
                                     "spinning"));
    CHECK_THAT(plan, !Catch::Contains("not bound"));
  }
  SECTION("planned for another machine") {
    spec.options.topology = "core:64 pu:1";
    const std::string plan = patchbay::plan_placement_text(spec);
    INFO(plan);
    CHECK_THAT(plan, Catch::Contains("not bound"));
    CHECK_THAT(plan, !Catch::Contains("share cores"));
  }
}
