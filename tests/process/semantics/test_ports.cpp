// Execution semantics, ports: typed and Value ports, and messages of every kind. One rule per
// test case, run on every engine that process_kinds() names.
#include <catch2/catch.hpp>

#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "support/model.hpp"

namespace {

using Catch::Contains;
using patchbay::Value;
using patchbay::test::check_all_final;
using patchbay::test::Collector;
using patchbay::test::Counter;
using patchbay::test::ListSource;
using patchbay::test::Model;
using patchbay::test::Pass;
using patchbay::test::received;
using patchbay::test::run_guarded;
using patchbay::test::stats_of;
using patchbay::test::status_of;
using patchbay_test::process_kinds;

// A trivially copyable record, copied through the ring as it is.
struct Point {
  std::int32_t id = 0;
  double x = 0;
  std::array<char, 6> tag{};
  bool operator==(const Point&) const = default;
};

}  // namespace

TEST_CASE("ports: an int64 output feeds a Value input", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<Counter>("src", 3, 40);
  auto& sink = m.add<Collector<Value>>("sink");
  m.connect("src.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  CHECK(received(sink) == std::vector<Value>{40, 41, 42});
  for (const auto& v : received(sink))
    CHECK(v.is_int());
}

TEST_CASE("ports: a Value output feeds an int64 input, checked at run time", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("integers fit") {
    Model m;
    m.add<ListSource<Value>>("a", std::vector<Value>{1, -2, 3000000000});
    auto& sink = m.add<Collector<std::int64_t>>("b");
    m.connect("a.out", "b.in");
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == std::vector<std::int64_t>{1, -2, 3000000000});
  }
  SECTION("a string fails the consumer, naming the connector and the kind, not the value") {
    Model m;
    m.add<ListSource<Value>>("a", std::vector<Value>{1, "hello", 3});
    m.add<Collector<std::int64_t>>("b");
    m.connect("a.out", "b.in");
    auto process = m.build(kind);
    try {
      run_guarded(*process);
      FAIL("run() returned normally although a string reached an int64 input");
    } catch (const patchbay::ComponentFailure& e) {
      CHECK(e.component() == "b");
      CHECK_THAT(e.message(), Contains("a.out -> b.in") &&
                                  Contains("a string value does not fit input type int64"));
      // The value may be a data file's content, which errors never echo.
      CHECK_THAT(e.message(), !Contains("hello"));
    }
    CHECK(status_of(*process, "b") == "FAILED");
    CHECK(stats_of(*process, "b").steps == 1);
  }
}

TEST_CASE("ports: strings and trivially copyable structs arrive intact", "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  SECTION("std::string") {
    const std::vector<std::string> items{"", "hello", std::string("with\0nul", 8),
                                         std::string(1000, 'z'), "last"};
    Model m;
    m.add<ListSource<std::string>>("src", items);
    m.add<Pass<std::string>>("pass");
    auto& sink = m.add<Collector<std::string>>("sink");
    m.connect("src.out", "pass.in");
    m.connect("pass.out", "sink.in", 4096);
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == items);
  }
  SECTION("struct") {
    const std::vector<Point> items{{1, 0.5, {'a', 'b', 'c'}}, {-7, -1e300, {'x'}}, {}};
    Model m;
    m.add<ListSource<Point>>("src", items);
    m.add<Pass<Point>>("pass");
    auto& sink = m.add<Collector<Point>>("sink");
    m.connect("src.out", "pass.in");
    m.connect("pass.out", "sink.in", 128);
    auto process = m.build(kind);
    run_guarded(*process);
    CHECK(received(sink) == items);
    CHECK(stats_of(*process, "sink").bytes_in == 3 * sizeof(Point));
  }
}

TEST_CASE("ports: a message larger than its channel fails, saying to raise the capacity",
          "[semantics]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<ListSource<std::string>>("src", std::vector<std::string>{"ok", std::string(100, 'x')});
  m.add<Collector<std::string>>("sink");
  m.connect("src.out", "sink.in", 64);
  auto process = m.build(kind);
  try {
    run_guarded(*process);
    FAIL("run() returned normally although a message did not fit its channel");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "src");
    CHECK_THAT(e.message(), Contains("src.out -> sink.in"));
    CHECK_THAT(e.message(), Contains("100 bytes"));
    CHECK_THAT(e.message(), Contains("raise") && Contains("capacity"));
  }
  check_all_final(*process);
}
