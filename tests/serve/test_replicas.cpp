// Replicas (`replicas: N` on a component): copies fed by a least-loaded split and merged back
// in order (or as they come), on both engines, through a Client, a Receiver and a batch run.
#include <catch2/catch.hpp>

#include <patchbay/component.hpp>
#include <patchbay/component_args.hpp>
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/model.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/registry.hpp>
#include <patchbay/serve.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/model.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::ChannelOp;
using patchbay::ComponentArgs;
using patchbay::ComponentSpec;
using patchbay::ConnectorSpec;
using patchbay::ProcessSpec;
using patchbay::Value;
using patchbay::test::join_error;

// y = 10 x, and `pid` the process it ran in; takes `pause_us` per step; throws on a negative x.
class Work final : public patchbay::Component {
 public:
  explicit Work(const ComponentArgs& args)
      : Component(args),
        pause_(std::chrono::microseconds(args.get_or<std::int64_t>("pause_us", 0))) {}
  patchbay::Input<std::int64_t> x{this, "x"};
  patchbay::Output<std::int64_t> y{this, "y"};
  patchbay::Output<std::int64_t> pid{this, "pid"};
  void step() override {
    if (x.value() < 0) throw std::runtime_error("negative: " + std::to_string(x.value()));
    // Later messages of a copy take less time, so that copies finish out of order.
    std::this_thread::sleep_for(pause_ / (1 + x.value() % 3));
    y = 10 * x.value();
    pid = static_cast<std::int64_t>(getpid());
  }

 private:
  std::chrono::microseconds pause_;
};

// A source of 0, 1, ..., count - 1.
class Numbers final : public patchbay::Component {
 public:
  explicit Numbers(const ComponentArgs& args)
      : Component(args), count_(args.get<std::int64_t>("count")) {}
  patchbay::Output<std::int64_t> out{this, "out"};
  void step() override {
    if (next_ == count_) {
      close();
      return;
    }
    out = next_++;
  }

 private:
  std::int64_t count_;
  std::int64_t next_ = 0;
};

const patchbay::Registry& registry() {
  static const patchbay::Registry* r = [] {
    auto* made = new patchbay::Registry();  // never destroyed, as the global one
    patchbay::library::register_library(*made);
    made->add("Work", [](const ComponentArgs& a) { return std::make_unique<Work>(a); });
    made->add("Numbers", [](const ComponentArgs& a) { return std::make_unique<Numbers>(a); });
    return made;
  }();
  return *r;
}

ComponentSpec component(std::string type, std::string name,
                        std::map<std::string, Value> args = {}) {
  ComponentSpec c;
  c.type = std::move(type);
  c.name = std::move(name);
  c.args = std::move(args);
  return c;
}

// requests -> work (replicas) -> replies, and work.pid -> pids.
ProcessSpec service(const std::string& kind, std::size_t replicas, bool ordered = true,
                    std::int64_t pause_us = 200) {
  ProcessSpec spec;
  spec.kind = kind == "parallel" ? patchbay::ProcessKind::parallel : patchbay::ProcessKind::local;
  spec.components.push_back(component("Ingress", "requests", {{"type", "int64"}}));
  ComponentSpec work = component("Work", "work", {{"pause_us", pause_us}});
  work.replicas = replicas;
  work.ordered = ordered;
  spec.components.push_back(std::move(work));
  spec.components.push_back(component("Egress", "replies", {{"type", "int64"}}));
  spec.components.push_back(component("Egress", "pids", {{"type", "int64"}}));
  spec.connectors = {{"requests.out", "work.x"}, {"work.y", "replies.in"}, {"work.pid", "pids.in"}};
  return spec;
}

std::unique_ptr<patchbay::Process> build(const ProcessSpec& spec) {
  if (spec.kind == patchbay::ProcessKind::parallel) {
    return std::make_unique<patchbay::ParallelProcess>(spec, registry());
  }
  return std::make_unique<patchbay::LocalProcess>(spec, registry());
}

std::map<std::string, patchbay::ComponentStats> stats_by_name(const patchbay::Process& process) {
  std::map<std::string, patchbay::ComponentStats> out;
  for (const auto& c : process.component_stats())
    out[c.name] = c;
  return out;
}

}  // namespace

TEST_CASE("replicas answer every request, in order, each copy taking a share", "[replicas]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  auto process = build(service(kind, 3));
  auto client = process->client<std::int64_t, std::int64_t>("requests", "replies");
  auto pids = process->receiver<std::int64_t>("pids");
  process->start();
  std::vector<patchbay::Reply<std::int64_t>> replies;
  for (std::int64_t i = 0; i < 300; ++i)
    replies.push_back(client.call(i));
  for (std::int64_t i = 0; i < 300; ++i)
    REQUIRE(replies[static_cast<std::size_t>(i)].get() == 10 * i);
  std::set<std::int64_t> workers;
  for (int i = 0; i < 300; ++i) {
    std::int64_t pid = 0;
    REQUIRE(pids.take_for(pid, 20s) == ChannelOp::success);
    workers.insert(pid);
  }
  process->drain();
  REQUIRE(join_error(*process) == "");
  auto stats = stats_by_name(*process);
  std::uint64_t total = 0;
  for (const char* copy : {"work#1", "work#2", "work#3"}) {
    INFO(copy);
    REQUIRE(stats.contains(copy));
    CHECK(stats[copy].steps > 0);  // least loaded: every copy takes some
    total += stats[copy].steps;
  }
  CHECK(total == 300);
  CHECK(stats["work#split"].steps == 300);
  CHECK(stats["work#merge"].steps == 300);
  CHECK_FALSE(stats.contains("work"));
  // On a ParallelProcess the copies run in distinct workers (one per core, here two).
  if (kind == "parallel") CHECK(workers.size() >= 2);
}

TEST_CASE("unordered replicas hand on every message as it comes", "[replicas]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  auto process = build(service(kind, 2, false));
  // A Client needs the order: unordered replicas are refused.
  CHECK_THROWS_WITH((process->client<std::int64_t, std::int64_t>("requests", "replies")),
                    Catch::Contains("replicas of 'work'") && Catch::Contains("ordered: false"));
  auto in = process->sender<std::int64_t>("requests");
  auto out = process->receiver<std::int64_t>("replies");
  auto pids = process->receiver<std::int64_t>("pids");
  process->start();
  for (std::int64_t i = 0; i < 200; ++i)
    REQUIRE(in.push(i) == ChannelOp::success);
  in.close();
  std::multiset<std::int64_t> got;
  std::int64_t v = 0;
  while (out.take_for(v, 20s) == ChannelOp::success)
    got.insert(v);
  while (pids.take_for(v, 20s) == ChannelOp::success) {
  }
  REQUIRE(join_error(*process) == "");
  std::multiset<std::int64_t> expected;
  for (std::int64_t i = 0; i < 200; ++i)
    expected.insert(10 * i);
  CHECK(got == expected);
}

TEST_CASE("a request that fails in a copy gets the copy's error; the others are answered",
          "[replicas]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  auto process = build(service(kind, 2, true, 0));
  auto client = process->client<std::int64_t, std::int64_t>("requests", "replies");
  auto pids = process->receiver<std::int64_t>("pids");
  process->start();
  std::vector<patchbay::Reply<std::int64_t>> replies;
  for (const std::int64_t x : {1, -1, 2, -2, 3})
    replies.push_back(client.call(x));
  CHECK(replies[0].get() == 10);
  try {
    (void)replies[1].get();
    FAIL("no error");
  } catch (const patchbay::RequestError& e) {
    CHECK_THAT(e.component(), Catch::StartsWith("work#"));
    CHECK_THAT(e.what(), Catch::Contains("negative: -1"));
  }
  CHECK(replies[2].get() == 20);
  CHECK_THROWS_AS(replies[3].get(), patchbay::RequestError);
  CHECK(replies[4].get() == 30);
  int taken = 0;
  std::int64_t pid = 0;
  for (int i = 0; i < 5; ++i) {
    try {
      if (pids.take_for(pid, 20s) == ChannelOp::success) ++taken;
    } catch (const patchbay::RequestError&) {
      ++taken;
    }
  }
  CHECK(taken == 5);
  process->drain();
  REQUIRE(join_error(*process) == "");
}

TEST_CASE("replicas in a batch model keep the order of the messages", "[replicas]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  ProcessSpec spec;
  spec.kind = kind == "parallel" ? patchbay::ProcessKind::parallel : patchbay::ProcessKind::local;
  spec.components.push_back(component("Numbers", "numbers", {{"count", std::int64_t{500}}}));
  ComponentSpec work = component("Work", "work", {{"pause_us", std::int64_t{20}}});
  work.replicas = 4;
  spec.components.push_back(std::move(work));
  spec.components.push_back(component("Egress", "out", {{"type", "int64"}}));
  spec.connectors = {{"numbers.out", "work.x"}, {"work.y", "out.in"}};
  auto process = build(spec);
  auto out = process->receiver<std::int64_t>("out");
  process->start();
  std::vector<std::int64_t> got;
  std::int64_t v = 0;
  while (out.take_for(v, 20s) == ChannelOp::success)
    got.push_back(v);
  REQUIRE(join_error(*process) == "");
  REQUIRE(got.size() == 500);
  for (std::size_t i = 0; i < got.size(); ++i)
    REQUIRE(got[i] == 10 * static_cast<std::int64_t>(i));
}

TEST_CASE("replicas that cannot be are model errors naming the component", "[replicas]") {
  SECTION("an ingress") {
    ProcessSpec spec = service("local", 2);
    spec.components[0].replicas = 2;
    CHECK_THROWS_WITH(
        build(spec), Catch::Contains("'requests' cannot have replicas") && Catch::Contains("host"));
  }
  SECTION("a source") {
    ProcessSpec spec;
    ComponentSpec numbers = component("Numbers", "numbers", {{"count", std::int64_t{3}}});
    numbers.replicas = 2;
    spec.components.push_back(std::move(numbers));
    CHECK_THROWS_WITH(build(spec), Catch::Contains("'numbers' cannot have replicas") &&
                                       Catch::Contains("no inputs"));
  }
  SECTION("initial values") {
    ProcessSpec spec = service("local", 2);
    spec.components[1].initial_values["x"] = {Value(std::int64_t{1})};
    CHECK_THROWS_WITH(build(spec), Catch::Contains("initial_values"));
  }
  SECTION("a worker label") {
    ProcessSpec spec = service("parallel", 2);
    spec.components[1].worker = "hot";
    CHECK_THROWS_WITH(build(spec), Catch::Contains("worker 'hot'"));
  }
}

TEST_CASE("replicas: from YAML, and the plan puts each copy in a worker of its own", "[replicas]") {
  const std::string yaml = R"(plugboard:
  process:
    type: RayProcess
    args:
      components:
        - type: Ingress
          args: {name: requests, type: int64}
        - type: Work
          args: {name: work, replicas: 4, pause_us: 10}
        - type: Egress
          args: {name: replies, type: int64}
        - type: Egress
          args: {name: pids, type: int64}
      connectors:
        - {source: requests.out, target: work.x}
        - {source: work.y, target: replies.in}
        - {source: work.pid, target: pids.in}
)";
  ProcessSpec spec = patchbay::parse_model(yaml);
  REQUIRE(spec.components[1].replicas == 4);
  CHECK(spec.components[1].ordered);
  spec.options.topology = "pack:1 core:6 pu:1";  // room for one copy per core
  patchbay::ValidationOptions options;
  const auto report = patchbay::validate(spec, registry(), options);
  INFO(report.plan);
  std::set<std::string> workers;
  for (const char* copy : {"work#1", "work#2", "work#3", "work#4"}) {
    const auto at = report.plan.find(std::string(copy) + " ");
    REQUIRE(at != std::string::npos);
    const std::string row = report.plan.substr(at, report.plan.find('\n', at) - at);
    std::vector<std::string> cells;
    for (std::size_t p = 0; p < row.size();) {
      const auto start = row.find_first_not_of(' ', p);
      if (start == std::string::npos) break;
      const auto stop = row.find(' ', start);
      cells.push_back(row.substr(start, stop - start));
      p = stop == std::string::npos ? row.size() : stop;
    }
    REQUIRE(cells.size() >= 3);
    workers.insert(cells[2]);  // component, type, worker
  }
  CHECK(workers.size() == 4);
  const std::string bad = R"(plugboard:
  process:
    args:
      components:
        - type: Work
          args: {name: work, replicas: 0}
)";
  CHECK_THROWS_WITH(patchbay::parse_model(bad), Catch::Contains("'replicas' must be"));
}

namespace {

// The service of `service()` in a ParallelProcess whose plan gives each copy a worker of its
// own, so that a copy's worker can die alone.
ProcessSpec spread_service(std::size_t replicas, bool ordered, std::int64_t pause_us) {
  ProcessSpec spec = service("parallel", replicas, ordered, pause_us);
  spec.options.topology = "pack:1 core:6 pu:1";
  return spec;
}

// The pid of each copy's worker, from the plan and the process's workers.
std::map<std::string, int> copy_pids(const patchbay::ParallelProcess& process) {
  std::map<std::string, int> out;
  const auto workers = process.worker_stats();
  for (const auto& w : workers) {
    for (const auto& c : w.components) {
      if (c.rfind("work#", 0) == 0 && c.find("#split") == std::string::npos &&
          c.find("#merge") == std::string::npos) {
        out[c] = w.pid;
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a copy whose worker dies fails what it held, is started again, and serves on",
          "[replicas][restart]") {
  const bool ordered = GENERATE(true, false);
  INFO("ordered: " << ordered);
  patchbay::ParallelProcess process(spread_service(2, ordered, 20000), registry());
  auto pids = process.receiver<std::int64_t>("pids");
  auto replies = process.receiver<std::int64_t>("replies");
  auto sender = process.sender<std::int64_t>("requests");
  process.start();
  const auto before = copy_pids(process);
  REQUIRE(before.size() == 2);
  // 12 requests of 20 ms on two copies: each holds several when one is killed.
  for (std::int64_t x = 0; x < 12; ++x)
    REQUIRE(sender.push(x * 3) == ChannelOp::success);
  std::this_thread::sleep_for(30ms);
  const int victim = before.at("work#1");
  REQUIRE(kill(victim, SIGKILL) == 0);
  // Every request is answered: with its value, or with an error naming the copy and its end.
  std::size_t values = 0;
  std::size_t errors = 0;
  for (int i = 0; i < 12; ++i) {
    std::int64_t y = 0;
    try {
      const ChannelOp op = replies.take_for(y, 20s);
      REQUIRE(op == ChannelOp::success);
      CHECK(y % 30 == 0);
      ++values;
    } catch (const patchbay::RequestError& e) {
      CHECK(e.component() == "work#1");
      CHECK_THAT(e.what(), Catch::Contains("died of SIGKILL") &&
                               Catch::Contains("pid " + std::to_string(victim)));
      ++errors;
    }
  }
  CHECK(errors >= 1);
  CHECK(values + errors == 12);
  // The copy is back, in a new worker, and takes its share again.
  std::map<std::string, int> after;
  for (int tries = 0; tries < 2000; ++tries) {
    after = copy_pids(process);
    if (after.at("work#1") != victim && after.at("work#1") > 0) break;
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(after.at("work#1") != victim);
  CHECK(after.at("work#2") == before.at("work#2"));
  std::set<std::int64_t> served_by;
  for (std::int64_t x = 0; x < 8; ++x)
    REQUIRE(sender.push(x) == ChannelOp::success);
  for (int i = 0; i < 8; ++i) {
    std::int64_t y = 0;
    REQUIRE(replies.take_for(y, 20s) == ChannelOp::success);
  }
  for (int i = 0; i < 20; ++i) {
    std::int64_t pid = 0;
    try {
      if (pids.try_take(pid) == ChannelOp::success) served_by.insert(pid);
    } catch (const patchbay::RequestError&) {
    }
  }
  CHECK(served_by.count(after.at("work#1")) == 1);
  const auto stats = stats_by_name(process);
  CHECK(stats.at("work#1").restarts == 1);
  CHECK(stats.at("work#2").restarts == 0);
  process.drain();
  REQUIRE(join_error(process) == "");
  for (const auto& [copy, pid] : after)
    CHECK(kill(pid, 0) != 0);  // reaped
}

TEST_CASE("a copy's death fails the run once its restarts are spent, or with none allowed",
          "[replicas][restart]") {
  ProcessSpec spec = spread_service(2, true, 0);
  spec.options.replica_restarts = 0;
  patchbay::ParallelProcess process(spec, registry());
  auto client = process.client<std::int64_t, std::int64_t>("requests", "replies");
  process.start();
  REQUIRE(client.call(1).get() == 10);
  const auto pids = copy_pids(process);
  REQUIRE(kill(pids.at("work#2"), SIGKILL) == 0);
  const std::string error = join_error(process);
  CHECK_THAT(error, Catch::Contains("died of SIGKILL"));
  const std::string yaml = R"(plugboard:
  process:
    args:
      replica_restarts: -1
      components: []
)";
  CHECK_THROWS_WITH(patchbay::parse_model(yaml),
                    Catch::Contains("'replica_restarts' must be a whole number from 0"));
}
