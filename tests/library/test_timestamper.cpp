// The library's Timestamper, run through a LocalProcess in a small model built in code.
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

using patchbay::LocalProcess;
using patchbay::Value;
using namespace std::chrono_literals;
namespace library = patchbay::library;

namespace {

using patchbay::test::Model;
using patchbay::test::RowCollector;

}  // namespace

TEST_CASE("Timestamper emits ISO 8601 local time with microseconds once per pair", "[library]") {
  Model m;
  m.add<library::Iterator>("it", 4);
  m.add<library::Timestamper>("ts");
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"t"});
  m.connect("it.x", "ts.x");
  m.connect("it.x", "ts.y");
  m.connect("ts.timestamp", "sink.t");
  auto process = m.build_local();
  process->run();
  REQUIRE(sink.rows.size() == 4);
  const std::regex iso(
      R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-6]\d\.\d{6})");
  for (std::size_t i = 0; i < sink.rows.size(); ++i) {
    const Value& v = sink.rows[i][0];
    REQUIRE(v.is_string());
    CAPTURE(v.as_string());
    CHECK(std::regex_match(v.as_string(), iso));
    if (i > 0) CHECK(sink.rows[i - 1][0].as_string() <= v.as_string());
  }
}
