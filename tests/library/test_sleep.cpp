// The library's Sleep: a pass-through that sleeps in every step, run through a LocalProcess in
// small models built in code.
#include <patchbay/component.hpp>
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/process_spec.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/text.hpp"
#include "support/command.hpp"
#include "support/model.hpp"

using Catch::Contains;
using patchbay::LocalProcess;
using patchbay::ModelError;
using patchbay::Value;
using namespace std::chrono_literals;
namespace library = patchbay::library;

namespace {

using patchbay::test::ints;
using patchbay::test::ListSource;
using patchbay::test::Model;
using patchbay::test::RowCollector;

}  // namespace

TEST_CASE("Sleep passes values through unchanged", "[library]") {
  const std::vector<Value> values = {
      Value(),    Value(true),          Value(-3),
      Value(2.5), Value("text, \"q\""), Value(Value::List{1, "a", Value(Value::List{})})};
  Model m;
  m.add<ListSource<Value>>("src", values);
  m.add<library::Sleep>("sleep", 0.0);
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"y"});
  m.connect("src.out", "sleep.x");
  m.connect("sleep.y", "sink.y");
  auto process = m.build_local();
  process->run();
  REQUIRE(sink.rows.size() == values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(i);
    CHECK(sink.rows[i][0] == values[i]);
    CHECK(sink.rows[i][0].kind() == values[i].kind());
  }
}

TEST_CASE("Sleep really sleeps on every step", "[library]") {
  constexpr int n = 5;
  constexpr double seconds = 0.01;
  Model m;
  m.add<library::Iterator>("it", n);
  m.add<library::Sleep>("sleep", seconds);
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"y"});
  m.connect("it.x", "sleep.x");
  m.connect("sleep.y", "sink.y");
  auto process = m.build_local();
  const auto start = std::chrono::steady_clock::now();
  process->run();
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(sink.rows == ints(n));
  // A generous lower bound only: the sleeps alone take n * seconds.
  const auto lower = std::chrono::duration<double>(n * seconds * 0.9);
  CHECK(took >= lower);
  CHECK(process->elapsed() >= lower);
  const auto stats = process->component_stats();
  CHECK(stats[1].time_in_step >= lower);
}

TEST_CASE("Sleep rejects a negative or non-finite duration", "[library]") {
  CHECK_THROWS_WITH(library::Sleep("s", -0.5), Contains("sleep_seconds"));
  CHECK_THROWS_AS(library::Sleep("s", std::numeric_limits<double>::infinity()), ModelError);
  CHECK_THROWS_AS(library::Sleep("s", std::numeric_limits<double>::quiet_NaN()), ModelError);
}

TEST_CASE("Sleep rejects a duration beyond one year that would overflow or not sleep",
          "[library]") {
  // 9223372036 s overflows int64 nanoseconds; 1e300 converted to a negative duration.
  for (const double seconds : {9223372036.0, 1e300, 31536000.5, 1e10}) {
    CAPTURE(seconds);
    CHECK_THROWS_WITH(library::Sleep("s", seconds), Contains("component 's'") &&
                                                        Contains("argument 'sleep_seconds'") &&
                                                        Contains("from 0 to 31536000 (one year)"));
  }
  CHECK_THROWS_WITH(library::Sleep("s", 1e300), Contains("got 1e+300"));
  CHECK_NOTHROW(library::Sleep("s", 31536000.0));
  CHECK_NOTHROW(library::Sleep("s", 0.0));
}
