// The library's Iterator: a source of 0..n-1, run through a LocalProcess in small models built
// in code.
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
using patchbay::Status;
using patchbay::Value;
using namespace std::chrono_literals;
namespace library = patchbay::library;

namespace {

using patchbay::test::ints;
using patchbay::test::Model;
using patchbay::test::RowCollector;

}  // namespace

TEST_CASE("Iterator emits 0..n-1 as integers and then closes", "[library]") {
  Model m;
  m.add<library::Iterator>("it", 5);
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"x"});
  m.connect("it.x", "sink.x");
  auto process = m.build_local();
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(sink.rows == ints(5));
  for (const auto& row : sink.rows)
    CHECK(row[0].is_int());
  CHECK(process->component("it")->status() == Status::completed);
  CHECK(process->component_stats()[0].messages_out == 5);
}

TEST_CASE("Iterator with zero iterations emits nothing", "[library]") {
  Model m;
  m.add<library::Iterator>("it", 0);
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"x"});
  m.connect("it.x", "sink.x");
  auto process = m.build_local();
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(sink.rows.empty());
}

TEST_CASE("Iterator rejects a negative or missing iters", "[library]") {
  CHECK_THROWS_AS(library::Iterator("it", -1), ModelError);
  CHECK_THROWS_WITH(library::Iterator("it", -1), Contains("iters") && Contains("negative"));
  CHECK_THROWS_AS(library::Iterator(patchbay::ComponentArgs("it")), ModelError);
}

TEST_CASE("Iterator takes a whole non-negative count within int64 only", "[library]") {
  auto iterator = [](Value iters) {
    return library::Iterator(patchbay::ComponentArgs("it", {{"iters", std::move(iters)}}));
  };
  CHECK_THROWS_WITH(iterator(Value(1e300)), Contains("'iters' must be an integer"));
  CHECK_THROWS_WITH(iterator(Value(2.5)), Contains("'iters' must be an integer"));
  CHECK_THROWS_WITH(iterator(Value(std::numeric_limits<double>::quiet_NaN())),
                    Contains("'iters' must be an integer"));
  CHECK_THROWS_WITH(iterator(Value(-1.0)), Contains("'iters' must not be negative"));
  CHECK_THROWS_WITH(iterator(Value("10")), Contains("'iters' must be an integer, got string '10'"));
  CHECK_NOTHROW(iterator(Value(std::numeric_limits<std::int64_t>::max())));
  CHECK_NOTHROW(iterator(Value(1e18)));
}
