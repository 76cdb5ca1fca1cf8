// Serving: host threads push into Ingress components and take from Egress components (Sender,
// Receiver), and send requests whose replies come back in order (Client), on every engine
// that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>
#include <patchbay/registry.hpp>
#include <patchbay/serve.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/model.hpp"
#include "support/process_factory.hpp"

namespace {

using namespace std::chrono_literals;
using patchbay::ChannelOp;
using patchbay::Status;
using patchbay::library::Egress;
using patchbay::library::Ingress;
using patchbay::test::join_error;
using patchbay::test::Model;
using patchbay::test::Pass;
using patchbay_test::process_kinds;

// Doubles `in` to `out`; throws on a negative value ("negative: VALUE").
class Doubler final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<double> in{this, "in"};
  patchbay::Output<double> out{this, "out"};
  void step() override {
    if (in.value() < 0) throw std::runtime_error("negative: " + std::to_string(in.value()));
    out = in.value() * 2;
  }
};

// Adds 1.
class AddOne final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<double> in{this, "in"};
  patchbay::Output<double> out{this, "out"};
  void step() override { out = in.value() + 1; }
};

// total = previous + x; throws on a negative x.
class RunningSum final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<double> x{this, "x"};
  patchbay::Input<double> previous{this, "previous"};
  patchbay::Output<double> total{this, "total"};
  void step() override {
    if (x.value() < 0) throw std::runtime_error("negative: " + std::to_string(x.value()));
    total = previous.value() + x.value();
  }
};

// Sends -1 once, then closes.
class NegativeSource final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Output<double> out{this, "out"};
  void step() override {
    if (sent_) close();
    out = -1;
    sent_ = true;
  }

 private:
  bool sent_ = false;
};

// requests (Ingress<double>) -> twice (Doubler) -> replies (Egress<double>).
std::unique_ptr<patchbay::Process> doubling_service(const std::string& kind,
                                                    std::size_t capacity = 0) {
  Model m;
  m.add<Ingress<double>>("requests", capacity);
  m.add<Doubler>("twice");
  m.add<Egress<double>>("replies", capacity);
  m.connect("requests.out", "twice.in");
  m.connect("twice.out", "replies.in");
  return m.build(kind);
}

// numbers (Ingress<int64>) -> pass -> out (Egress<int64>).
std::unique_ptr<patchbay::Process> passing(const std::string& kind, std::size_t capacity = 0) {
  Model m;
  m.add<Ingress<std::int64_t>>("numbers", capacity);
  m.add<Pass<std::int64_t>>("pass");
  m.add<Egress<std::int64_t>>("out", capacity);
  m.connect("numbers.out", "pass.in", 256);
  m.connect("pass.out", "out.in", 256);
  return m.build(kind);
}

}  // namespace

TEST_CASE("what a host pushes into an ingress comes out of its egress in order", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = passing(kind);
  auto in = process->sender<std::int64_t>("numbers");
  auto out = process->receiver<std::int64_t>("out");
  process->start();
  constexpr std::int64_t n = 5000;
  std::thread producer([&in] {
    for (std::int64_t i = 0; i < n; ++i)
      (void)in.push(i);
    in.close();
  });
  std::vector<std::int64_t> got;
  std::int64_t value = 0;
  while (out.take(value) == ChannelOp::success)
    got.push_back(value);
  producer.join();
  REQUIRE(join_error(*process) == "");
  REQUIRE(got.size() == static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    REQUIRE(got[static_cast<std::size_t>(i)] == i);
  CHECK(process->status() == Status::completed);
  // Taking after the end: closed at once, and pushing too.
  CHECK(out.try_take(value) == ChannelOp::closed);
  CHECK(in.push(1) == ChannelOp::closed);
}

TEST_CASE("many host threads push and take at once; each one's messages keep their order",
          "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = passing(kind, 128);  // small rings: pushes and takes wait often
  auto in = process->sender<std::int64_t>("numbers");
  auto out = process->receiver<std::int64_t>("out");
  process->start();
  constexpr int threads = 4;
  constexpr std::int64_t each = 2000;
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&in, t] {
      for (std::int64_t i = 0; i < each; ++i)
        (void)in.push(t * 1'000'000 + i);
    });
  }
  std::vector<std::vector<std::int64_t>> taken(threads);
  std::vector<std::thread> consumers;
  for (int t = 0; t < threads; ++t) {
    consumers.emplace_back([&out, &taken, t] {
      std::int64_t v = 0;
      while (out.take(v) == ChannelOp::success)
        taken[static_cast<std::size_t>(t)].push_back(v);
    });
  }
  for (auto& p : producers)
    p.join();
  in.close();
  for (auto& c : consumers)
    c.join();
  REQUIRE(join_error(*process) == "");
  // Every message once; and from each producer in order within every consumer's share.
  std::map<std::int64_t, int> seen;
  for (const auto& share : taken) {
    std::map<std::int64_t, std::int64_t> last;
    for (const std::int64_t v : share) {
      ++seen[v];
      const std::int64_t producer = v / 1'000'000;
      if (last.count(producer) != 0) REQUIRE(last[producer] < v);
      last[producer] = v;
    }
  }
  REQUIRE(seen.size() == static_cast<std::size_t>(threads * each));
  CHECK(std::all_of(seen.begin(), seen.end(), [](const auto& kv) { return kv.second == 1; }));
}

TEST_CASE("try and timed forms: full, empty and timeout", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  // 64-byte rings hold four 8-byte records (16 bytes each with their header).
  Model m;
  m.add<Ingress<std::int64_t>>("numbers", 64);
  m.add<Egress<std::int64_t>>("out", 64);
  m.connect("numbers.out", "out.in", 64);
  auto process = m.build(kind);
  auto in = process->sender<std::int64_t>("numbers");
  auto out = process->receiver<std::int64_t>("out");
  std::int64_t v = 0;
  // Not started: nothing moves, so the ingress's ring fills and the egress stays empty.
  int pushed = 0;
  while (in.try_push(pushed) == ChannelOp::success)
    ++pushed;
  CHECK(pushed == 4);
  CHECK(in.try_push(99) == ChannelOp::full);
  CHECK(in.push_for(99, 5ms) == ChannelOp::timeout);
  CHECK(out.try_take(v) == ChannelOp::empty);
  CHECK(out.take_for(v, 5ms) == ChannelOp::timeout);
  process->start();
  for (int i = 0; i < pushed; ++i) {
    REQUIRE(out.take_for(v, 20s) == ChannelOp::success);
    CHECK(v == i);
  }
  in.close();
  CHECK(out.take_for(v, 20s) == ChannelOp::closed);
  REQUIRE(join_error(*process) == "");
}

TEST_CASE("a client's replies answer its requests, from many threads at once", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = doubling_service(kind, 256);
  auto client = process->client<double, double>("requests", "replies");
  process->start();
  constexpr int threads = 4;
  constexpr int each = 1500;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      // Several requests in flight per thread, waited for out of order.
      std::vector<std::pair<double, patchbay::Reply<double>>> flight;
      for (int i = 0; i < each; ++i) {
        const double x = t * 10'000 + i;
        flight.emplace_back(x, client.call(x));
        if (flight.size() == 8) {
          for (auto it = flight.rbegin(); it != flight.rend(); ++it) {
            if (it->second.get() != 2 * it->first) ++wrong;
          }
          flight.clear();
        }
      }
      for (auto& [x, reply] : flight) {
        if (reply.get() != 2 * x) ++wrong;
      }
    });
  }
  for (auto& c : callers)
    c.join();
  CHECK(wrong.load() == 0);
  process->drain();
  REQUIRE(join_error(*process) == "");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("drain() answers what was sent and refuses what comes after", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = doubling_service(kind);
  auto client = process->client<double, double>("requests", "replies");
  // Sent before the run starts: in the ring when drain() comes.
  std::vector<patchbay::Reply<double>> replies;
  for (int i = 0; i < 5; ++i)
    replies.push_back(client.call(i));
  process->drain();
  process->start();
  for (int i = 0; i < 5; ++i)
    CHECK(replies[static_cast<std::size_t>(i)].get() == 2.0 * i);
  const auto late = client.call(7);
  CHECK_THROWS_WITH(late.get(), Catch::Contains("takes no more requests"));
  REQUIRE(join_error(*process) == "");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("drain() ends a service that waits for requests", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = doubling_service(kind);
  auto client = process->client<double, double>("requests", "replies");
  process->start();
  CHECK(client.call(1.5).get() == 3.0);
  std::this_thread::sleep_for(30ms);  // long enough for its workers to sleep
  process->drain();
  REQUIRE(join_error(*process) == "");
  CHECK(process->status() == Status::completed);
}

TEST_CASE("a request that fails in a component gets its error; the service goes on", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  // requests -> twice (throws on a negative value) -> plus (adds 1) -> replies: the error of
  // `twice` passes `plus` (which skips that step) on its way to the egress.
  Model m;
  m.add<Ingress<double>>("requests");
  m.add<Doubler>("twice");
  m.add<AddOne>("plus");
  m.add<Egress<double>>("replies");
  m.connect("requests.out", "twice.in");
  m.connect("twice.out", "plus.in");
  m.connect("plus.out", "replies.in");
  auto process = m.build(kind);
  auto client = process->client<double, double>("requests", "replies");
  process->start();
  CHECK(client.call(2).get() == 5.0);
  // Several in flight: only the bad one fails, and the others keep their order.
  std::vector<patchbay::Reply<double>> replies;
  for (const double x : {1.0, -1.0, 3.0, -2.5, 4.0})
    replies.push_back(client.call(x));
  CHECK(replies[0].get() == 3.0);
  try {
    (void)replies[1].get();
    FAIL("no error for a negative request");
  } catch (const patchbay::RequestError& e) {
    CHECK(e.component() == "twice");
    CHECK_THAT(e.what(), Catch::Contains("component 'twice'") && Catch::Contains("negative: -1"));
  }
  CHECK(replies[2].get() == 7.0);
  CHECK_THROWS_WITH(replies[3].get(), Catch::Contains("negative: -2.5"));
  CHECK(replies[4].get() == 9.0);
  CHECK(client.call(10).get() == 21.0);
  process->drain();
  REQUIRE(join_error(*process) == "");
  CHECK(process->status() == Status::completed);
  std::map<std::string, patchbay::ComponentStats> stats;
  for (const auto& c : process->component_stats())
    stats[c.name] = c;
  CHECK(stats["twice"].failed_steps == 2);
  CHECK(stats["twice"].steps == 5);
  CHECK(stats["plus"].failed_steps == 0);
  CHECK(stats["plus"].steps == 5);  // skipped the two failed requests
  CHECK(stats["replies"].messages_in == 7);
}

TEST_CASE("a receiver takes a failed message as a RequestError, then the next", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = doubling_service(kind);
  auto in = process->sender<double>("requests");
  auto out = process->receiver<double>("replies");
  process->start();
  for (const double x : {1.0, -1.0, 2.0})
    REQUIRE(in.push(x) == ChannelOp::success);
  in.close();
  double v = 0;
  REQUIRE(out.take_for(v, 20s) == ChannelOp::success);
  CHECK(v == 2.0);
  CHECK_THROWS_AS(out.take_for(v, 20s), patchbay::RequestError);
  REQUIRE(out.take_for(v, 20s) == ChannelOp::success);
  CHECK(v == 4.0);
  CHECK(out.take_for(v, 20s) == ChannelOp::closed);
  REQUIRE(join_error(*process) == "");
}

TEST_CASE("a failed request does not go round a cycle into the next request", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  // sum.total = sum.previous + requests; total feeds back into `previous` (initial 0). The
  // failed request's step is skipped: the loop carries the last total, not the error.
  Model m;
  m.add<Ingress<double>>("requests");
  m.add<RunningSum>("sum").set_initial_values("previous", {patchbay::Value(0.0)});
  m.add<Egress<double>>("replies");
  m.connect("requests.out", "sum.x");
  m.connect("sum.total", "sum.previous");
  m.connect("sum.total", "replies.in");
  auto process = m.build(kind);
  auto client = process->client<double, double>("requests", "replies");
  process->start();
  CHECK(client.call(1).get() == 1.0);
  CHECK(client.call(2).get() == 3.0);
  CHECK_THROWS_AS(client.call(-5).get(), patchbay::RequestError);
  CHECK(client.call(4).get() == 7.0);
  process->drain();
  REQUIRE(join_error(*process) == "");
}

TEST_CASE("a step that throws away from every request's way still fails the run", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  // ticks (a source) -> twice: not downstream of the ingress, so its failure is the run's.
  Model m;
  m.add<Ingress<double>>("requests");
  m.add<Egress<double>>("replies");
  m.connect("requests.out", "replies.in");
  m.add<NegativeSource>("ticks");
  m.add<Doubler>("twice");
  m.connect("ticks.out", "twice.in");
  auto process = m.build(kind);
  auto client = process->client<double, double>("requests", "replies");
  process->start();
  CHECK_THAT(join_error(*process), Catch::Contains("twice") && Catch::Contains("negative"));
  CHECK(process->status() == Status::failed);
  // Requests after the failure fail at once, saying how the run ended.
  CHECK_THROWS_WITH(client.call(1).get(),
                    Catch::Contains("no more requests") || Catch::Contains("the run failed"));
}

TEST_CASE("stop() fails the replies still pending; none hangs", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Ingress<double>>("requests");
  m.add<Egress<double>>("replies", 64);  // four replies fill it
  m.connect("requests.out", "replies.in", 64);
  auto process = m.build(kind);
  auto in = process->sender<double>("requests");
  auto out = process->receiver<double>("replies");
  process->start();
  for (int i = 0; i < 20; ++i)
    REQUIRE(in.push(i) == ChannelOp::success);
  double v = 0;
  REQUIRE(out.take_for(v, 20s) == ChannelOp::success);
  process->stop();
  (void)join_error(*process);
  CHECK(process->status() == Status::stopped);
  // What the egress had sent can still be taken; then it is closed, and the ingress too.
  ChannelOp op = ChannelOp::success;
  int left = 0;
  while ((op = out.take_for(v, 20s)) == ChannelOp::success)
    ++left;
  CHECK(op == ChannelOp::closed);
  CHECK(left <= 19);
  CHECK(in.push(1) == ChannelOp::closed);
}

TEST_CASE("client() checks that each request gets exactly one reply", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("a fan-in doubles the replies") {
    Model m;
    m.add<Ingress<std::int64_t>>("requests");
    m.add<Pass<std::int64_t>>("a");
    m.add<Pass<std::int64_t>>("b");
    m.add<Egress<std::int64_t>>("replies");
    m.connect("requests.out", "a.in");
    m.connect("requests.out", "b.in");
    m.connect("a.out", "replies.in");
    m.connect("b.out", "replies.in");
    auto process = m.build(kind);
    CHECK_THROWS_WITH((process->client<std::int64_t, std::int64_t>("requests", "replies")),
                      Catch::Contains("one for one") && Catch::Contains("2 per request"));
    // Plain channels do not care.
    CHECK_NOTHROW(process->sender<std::int64_t>("requests"));
  }
  SECTION("another source feeds the replies") {
    Model m;
    m.add<Ingress<std::int64_t>>("requests");
    m.add<patchbay::test::Counter>("ticks", 3);
    m.add<patchbay::test::Adder>("add");
    m.add<Egress<std::int64_t>>("replies");
    m.connect("requests.out", "add.a");
    m.connect("ticks.out", "add.b");
    m.connect("add.sum", "replies.in");
    auto process = m.build(kind);
    CHECK_THROWS_WITH((process->client<std::int64_t, std::int64_t>("requests", "replies")),
                      Catch::Contains("'ticks' sends messages of its own"));
  }
  SECTION("wrong types, names and owners") {
    auto process = doubling_service(kind);
    CHECK_THROWS_WITH(process->sender<std::int64_t>("requests"),
                      Catch::Contains("carries double, not int64"));
    CHECK_THROWS_WITH(process->sender<double>("nope"),
                      Catch::Contains("no Ingress component named 'nope'"));
    CHECK_THROWS_WITH(process->sender<double>("replies"),
                      Catch::Contains("no Ingress component named 'replies'"));
    auto client = process->client<double, double>("requests", "replies");
    CHECK_THROWS_WITH(process->sender<double>("requests"), Catch::Contains("belongs to a Client"));
    CHECK_THROWS_WITH((process->client<double, double>("requests", "replies")),
                      Catch::Contains("belongs to a Client"));
  }
}

TEST_CASE("a connector to a host port is a model error", "[serve]") {
  Model m;
  m.add<Ingress<std::int64_t>>("requests");
  m.add<Pass<std::int64_t>>("pass");
  m.connect("pass.out", "requests.host");
  m.connect("requests.out", "pass.in");
  CHECK_THROWS_WITH(m.build("local"), Catch::Contains("'requests.host' is the host's end of"));
}

TEST_CASE("Ingress and Egress from YAML carry the type they name", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  patchbay::ProcessSpec spec = patchbay::parse_model(R"(
plugboard:
  process:
    type: )" + std::string(kind == "local" ? "local" : "parallel") +
                                                     R"(
    args:
      components:
        - type: Ingress
          args: {name: requests, type: string, capacity: 8192}
        - type: Egress
          args: {name: replies, type: string}
      connectors:
        - source: requests.out
          target: replies.in
)");
  auto process = patchbay_test::make_test_process(kind, spec, patchbay::Registry::global());
  auto client = process->client<std::string, std::string>("requests", "replies");
  process->start();
  CHECK(client.call("hello").get() == "hello");
  CHECK(client.call(std::string(3000, 'x')).get().size() == 3000);
  process->drain();
  REQUIRE(join_error(*process) == "");
  bool host_in = false;
  bool host_out = false;
  for (const auto& s : process->channel_stats()) {
    if (s.source == "host" || s.target == "requests.host") host_in = host_in || s.messages == 2;
    if (s.target == "host" || s.source == "replies.host") host_out = host_out || s.messages == 2;
  }
  CHECK(host_in);
  CHECK(host_out);
}

TEST_CASE("a bad Ingress type is a model error naming it", "[serve]") {
  CHECK_THROWS_WITH(patchbay::make_process(patchbay::parse_model(R"(
plugboard:
  process:
    args:
      components:
        - type: Ingress
          args: {name: requests, type: float128}
)")),
                    Catch::Contains("type") && Catch::Contains("float128"));
}

TEST_CASE("Value handles convert to and from the ports' own types", "[serve]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  auto process = doubling_service(kind);
  auto client = process->client<patchbay::Value, patchbay::Value>("requests", "replies");
  process->start();
  const patchbay::Value twice = client.call(patchbay::Value(std::int64_t{21})).get();
  CHECK(twice.is_number());
  CHECK(twice.as_double() == 42.0);
  CHECK_THROWS_WITH(client.call(patchbay::Value(std::string("abc"))),
                    Catch::Contains("ingress 'requests': value 'abc' (string) does not fit its "
                                    "type double"));
  // Nothing was sent for the refused request: the next reply answers the next request.
  CHECK(client.call(patchbay::Value(1.5)).get().as_double() == 3.0);
  process->drain();
  REQUIRE(join_error(*process) == "");
}

TEST_CASE("a Value handle on a type without a Value form is refused", "[serve]") {
  Model m;
  m.add<Ingress<std::vector<std::byte>>>("blobs");
  m.add<Egress<std::vector<std::byte>>>("out");
  m.connect("blobs.out", "out.in");
  auto process = m.build("local");
  CHECK_THROWS_WITH(process->sender<patchbay::Value>("blobs"),
                    Catch::Contains("Ingress 'blobs' carries bytes, not Value"));
  CHECK_NOTHROW(process->receiver<std::vector<std::byte>>("out"));
}

namespace {

// Passes `in` to `out` after holding its step for `pause`.
class Slow final : public patchbay::Component {
 public:
  Slow(std::string name, std::chrono::milliseconds pause)
      : Component(std::move(name)), pause_(pause) {}
  patchbay::Input<double> in{this, "in"};
  patchbay::Output<double> out{this, "out"};
  void step() override {
    std::this_thread::sleep_for(pause_);
    out = in.value();
  }

 private:
  std::chrono::milliseconds pause_;
};

}  // namespace

TEST_CASE("a worker that dies fails the requests it held, naming how it died", "[serve]") {
  const std::string kind = GENERATE(as<std::string>{}, "parallel", "parallel-split");
  INFO("process kind: " << kind);
  Model m;
  m.add<Ingress<double>>("requests");
  m.add<Slow>("slow", 300ms);
  m.add<Egress<double>>("replies");
  m.connect("requests.out", "slow.in");
  m.connect("slow.out", "replies.in");
  auto process = m.build(kind);
  auto client = process->client<double, double>("requests", "replies");
  process->start();
  const auto held = client.call(1.0);
  std::this_thread::sleep_for(100ms);  // inside the slow step
  const auto& parallel = dynamic_cast<const patchbay_test::ReapCheckedProcess&>(*process);
  // worker_stats(), not worker_pids(): the run's thread reaps the workers meanwhile.
  std::vector<int> pids;
  for (const auto& w : parallel.parallel().worker_stats()) {
    if (w.pid > 0) pids.push_back(w.pid);
  }
  REQUIRE_FALSE(pids.empty());
  for (const int pid : pids)
    kill(pid, SIGKILL);
  CHECK_THROWS_AS(held.get(), patchbay::ReplyError);
  CHECK_THROWS_WITH(held.get(), Catch::Contains("no reply") && Catch::Contains("SIGKILL"));
  CHECK_THAT(join_error(*process), Catch::Contains("SIGKILL"));
  CHECK(process->status() == Status::failed);
}
