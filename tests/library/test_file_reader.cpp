// The library's FileReader: CSV files, FIFOs and devices read as typed values, run through a
// LocalProcess in small models built in code.
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
#include "support/fifo.hpp"
#include "support/model.hpp"

using Catch::Contains;
using Catch::EndsWith;
using patchbay::LocalProcess;
using patchbay::ModelError;
using patchbay::Status;
using patchbay::Value;
using patchbay::detail::quote;
using namespace std::chrono_literals;
namespace library = patchbay::library;
namespace fs = std::filesystem;

namespace {

using patchbay::test::FifoWriter;
using patchbay::test::file_type;
using patchbay::test::make_fifo;
using patchbay::test::Model;
using patchbay::test::read_file;
using patchbay::test::Row;
using patchbay::test::RowCollector;
using patchbay::test::run_and_stop;
using patchbay::test::run_failure;
using patchbay::test::TempDir;
using patchbay::test::write_file;

}  // namespace

TEST_CASE("FileReader emits each cell's text, null for an empty one, and closes at the end",
          "[library]") {
  TempDir dir;
  const std::string path = dir / "in.csv";
  write_file(path,
             "id,name,score,note,empty\r\n"
             "1,\"hello, world\",2.5,plain,\r\n"
             "-2,\"say \"\"hi\"\"\",1e3,\"multi\nline\",\n"
             "3,,0.125,007x,\"\"\n");
  Model m;
  m.add<library::FileReader>("reader", path,
                             std::vector<std::string>{"score", "id", "name", "note", "empty"});
  auto& sink =
      m.add<RowCollector>("sink", std::vector<std::string>{"score", "id", "name", "note", "empty"});
  for (const char* field : {"score", "id", "name", "note", "empty"})
    m.connect(std::string("reader.") + field, std::string("sink.") + field);
  auto process = m.build_local();
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(process->component("reader")->status() == Status::completed);
  REQUIRE(sink.rows.size() == 3);

  // The text as the file has it: a number stays as it was written.
  CHECK(sink.rows[0] == Row{"2.5", "1", "hello, world", "plain", Value()});
  CHECK(sink.rows[1] == Row{"1e3", "-2", "say \"hi\"", "multi\nline", Value()});
  CHECK(sink.rows[2] == Row{"0.125", "3", Value(), "007x", Value()});
  CHECK(sink.rows[0][0].is_string());
  CHECK(sink.rows[2][2].is_null());
  // A component that asks for a number gets the number the text spells.
  CHECK(sink.rows[1][0].as_double() == 1000.0);
  CHECK(sink.rows[1][1].as_int() == -2);
}

namespace {

// Reads `x` as a double and `n` as an int64 (typed ports fed by FileReader's Value outputs).
class TypedReader final : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<double> x{this, "x"};
  patchbay::Input<std::int64_t> n{this, "n"};
  patchbay::Output<double> twice{this, "twice"};
  std::vector<double> xs;
  std::vector<std::int64_t> ns;
  void step() override {
    xs.push_back(x.value());
    ns.push_back(n.value());
    twice = 2 * x.value();
  }
};

}  // namespace

TEST_CASE("FileReader's cells read as numbers where a component's port is typed", "[library]") {
  TempDir dir;
  write_file(dir / "in.csv", "x,n\n1e3,007\n-0.5,+12\n100000.0,-3\n");
  Model m;
  m.add<library::FileReader>("reader", dir / "in.csv", std::vector<std::string>{"x", "n"});
  auto& typed = m.add<TypedReader>("typed");
  m.add<library::FileWriter>("writer", dir / "out.csv", std::vector<std::string>{"twice"});
  m.connect("reader.x", "typed.x");
  m.connect("reader.n", "typed.n");
  m.connect("typed.twice", "writer.twice");
  auto process = m.build_local();
  process->run();
  REQUIRE(process->status() == Status::completed);
  CHECK(typed.xs == std::vector<double>{1000.0, -0.5, 100000.0});
  CHECK(typed.ns == std::vector<std::int64_t>{7, 12, -3});
  // Numbers a component makes are written in their shortest exact form, positionally.
  CHECK(read_file(dir / "out.csv") == "twice\n2000.0\n-1.0\n200000.0\n");
}

TEST_CASE("FileReader of a cell that spells no number fails a typed port, naming it", "[library]") {
  TempDir dir;
  write_file(dir / "in.csv", "x,n\n1.5,seven\n");
  Model m;
  m.add<library::FileReader>("reader", dir / "in.csv", std::vector<std::string>{"x", "n"});
  m.add<TypedReader>("typed");
  m.add<library::FileWriter>("writer", dir / "out.csv", std::vector<std::string>{"twice"});
  m.connect("reader.x", "typed.x");
  m.connect("reader.n", "typed.n");
  m.connect("typed.twice", "writer.twice");
  auto process = m.build_local();
  const std::string failure = run_failure(*process);
  CHECK_THAT(failure, Contains("reader.n") && Contains("typed"));
}

TEST_CASE("FileReader to FileWriter gives the file back byte for byte", "[library]") {
  TempDir dir;
  // Leading zeros, exponents, trailing zeros, signs, big and small numbers, text that looks
  // like a number: each cell is written back as it was read.
  const std::string csv =
      "a,b,c\n"
      "007,1e3,100000.0\n"
      "2.50,-0,+5\n"
      "1E-7,0x1A,inf\n"
      "12345678901234567890,.5,5.\n"
      "\"quoted, 1\",,nan\n";
  write_file(dir / "in.csv", csv);
  for (const char* kind : {"local", "parallel"}) {
    INFO(kind);
    Model m;
    m.add<library::FileReader>("reader", dir / "in.csv", std::vector<std::string>{"a", "b", "c"});
    m.add<library::FileWriter>("writer", dir / "out.csv", std::vector<std::string>{"a", "b", "c"});
    for (const char* field : {"a", "b", "c"})
      m.connect(std::string("reader.") + field, std::string("writer.") + field);
    auto process = m.build(kind);
    process->run();
    REQUIRE(process->status() == Status::completed);
    CHECK(read_file(dir / "out.csv") == csv);
  }
}

TEST_CASE("FileReader of a file with only a header emits nothing", "[library]") {
  TempDir dir;
  const std::string path = dir / "header.csv";
  write_file(path, "a,b\n");
  Model m;
  m.add<library::FileReader>("reader", path, std::vector<std::string>{"b"});
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"b"});
  m.connect("reader.b", "sink.b");
  auto process = m.build_local();
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(sink.rows.empty());
}

TEST_CASE("FileReader of a missing file is a ModelError at construction", "[library]") {
  TempDir dir;
  const std::string path = dir / "missing.csv";
  try {
    library::FileReader reader("reader", path, {"a"});
    FAIL("FileReader accepted a missing file");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(path) && Contains("'reader'"));
  }
}

TEST_CASE("FileReader fails the run naming a column missing from the header", "[library]") {
  TempDir dir;
  const std::string path = dir / "in.csv";
  write_file(path, "a,b\n1,2\n");
  Model m;
  m.add<library::FileReader>("reader", path, std::vector<std::string>{"a", "c"});
  m.add<RowCollector>("sink", std::vector<std::string>{"a", "c"});
  m.connect("reader.a", "sink.a");
  m.connect("reader.c", "sink.c");
  auto process = m.build_local();
  const std::string message = run_failure(*process);
  CHECK_THAT(message, Contains("'reader'") && Contains("'c'") && Contains(path));
  CHECK(process->status() == Status::failed);
}

TEST_CASE("FileReader fails on a row with the wrong number of fields, naming file:line",
          "[library]") {
  TempDir dir;
  const std::string path = dir / "in.csv";
  write_file(path, "a,b\n1,2\n3,4,5\n6,7\n");
  Model m;
  m.add<library::FileReader>("reader", path, std::vector<std::string>{"a"});
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"a"});
  m.connect("reader.a", "sink.a");
  auto process = m.build_local();
  const std::string message = run_failure(*process);
  CHECK_THAT(message, Contains(quote(path) + ":3") && Contains("3 fields") && Contains("has 2"));
  CHECK(sink.rows.size() <= 1);

  // Too few fields as well.
  write_file(path, "a,b\n1\n");
  Model short_row;
  short_row.add<library::FileReader>("reader", path, std::vector<std::string>{"a"});
  short_row.add<RowCollector>("sink", std::vector<std::string>{"a"});
  short_row.connect("reader.a", "sink.a");
  auto second = short_row.build_local();
  CHECK_THAT(run_failure(*second), Contains(quote(path) + ":2"));
}

TEST_CASE("FileReader construction opens nothing: a FIFO without a writer does not block it",
          "[library]") {
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  // If construction blocks in open(), a writer comes after 5 s to release it, and the test fails.
  std::atomic<bool> built{false};
  std::atomic<bool> rescued{false};
  std::thread rescue([&] {
    for (int i = 0; i < 500 && !built; ++i)
      std::this_thread::sleep_for(10ms);
    if (built) return;
    rescued = true;
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
  });
  library::FileReader reader("reader", path, {"a"});
  built = true;
  rescue.join();
  CHECK_FALSE(rescued);
}

TEST_CASE("FileReader refuses a directory or an unusable path at construction", "[library]") {
  TempDir dir;
  try {
    library::FileReader reader("reader", dir.path(), {"a"});
    FAIL("FileReader accepted a directory");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(quote(dir.path().string()) + " is a directory"));
  }
  CHECK_THROWS_WITH(library::FileReader("reader", "", {"a"}), Contains("must not be empty"));
  // A path far beyond PATH_MAX: a ModelError with a bounded message, not a filesystem error.
  const std::string huge(1 << 20, 'p');
  try {
    library::FileReader reader("reader", huge, {"a"});
    FAIL("FileReader accepted a 1 MiB path");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("File name too long"));
    CHECK(std::string(e.what()).size() < 1000);
  }
}

TEST_CASE("FileReader of /dev/zero fails at once, naming the file and line", "[library]") {
  if (!fs::is_character_file("/dev/zero")) {
    WARN("no /dev/zero here: skipped");
    return;
  }
  Model m;
  m.add<library::FileReader>("reader", "/dev/zero", std::vector<std::string>{"a"});
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"a"});
  m.connect("reader.a", "sink.a");
  auto process = m.build_local();
  CHECK_THAT(run_failure(*process),
             Contains("'reader'") && Contains("'/dev/zero':1: field 1 holds a NUL byte"));
  CHECK(sink.rows.empty());
}

TEST_CASE("FileReader of an endless row from a FIFO fails at the row limit", "[library]") {
  // Under AddressSanitizer, the exception this test ends on is thrown on a fiber's stack after
  // a long read loop; ASan does not know that stack ("ignoring requested
  // __asan_handle_no_return ... False positive error reports may follow") and reports its own
  // sigaltstack() call as a stack-use-after-scope. The normal build runs it, and the CSV
  // reader's own test of the row limit runs in every build.
#if defined(__SANITIZE_ADDRESS__)
  WARN("skipped: AddressSanitizer reports false positives for this throw on a fiber stack");
  return;
#endif
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  FifoWriter writer(path, "a\n",
                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  Model m;
  m.add<library::FileReader>("reader", path, std::vector<std::string>{"a"});
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"a"});
  m.connect("reader.a", "sink.a");
  auto process = m.build_local();
  CHECK_THAT(run_failure(*process),
             Contains(quote(path) + ":2: row is longer than 1048576 bytes, the limit of a row"));
  CHECK(sink.rows.empty());
}

TEST_CASE("FileReader reads a FIFO as its writer writes, and ends when it closes", "[library]") {
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  Model m;
  m.add<library::FileReader>("reader", path, std::vector<std::string>{"b"});
  auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"b"});
  m.connect("reader.b", "sink.b");
  auto process = m.build_local();
  FifoWriter writer(path, "a,b\n1,2\n3,4\n");
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(sink.rows == std::vector<Row>{{"2"}, {"4"}});
}

TEST_CASE("FileReader on a FIFO honours a stop while it waits", "[library]") {
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  SECTION("for a writer, in init()") {
    Model m;
    m.add<library::FileReader>("reader", path, std::vector<std::string>{"a"});
    auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"a"});
    m.connect("reader.a", "sink.a");
    auto process = m.build_local();
    run_and_stop(*process, 100ms);
    CHECK(process->status() == Status::stopped);
    CHECK(sink.rows.empty());
    // The FIFO is left for a writer that never came: release nothing, remove nothing.
    CHECK(file_type(path) == S_IFIFO);
  }
  SECTION("for a row, in step()") {
    Model m;
    m.add<library::FileReader>("reader", path, std::vector<std::string>{"a"});
    auto& sink = m.add<RowCollector>("sink", std::vector<std::string>{"a"});
    m.connect("reader.a", "sink.a");
    auto process = m.build_local();
    // The writer keeps the FIFO open, having written the header and half a row.
    std::atomic<bool> done{false};
    std::thread writer([&] {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      REQUIRE(::write(fd, "a\n1\n\"2", 6) == 6);
      while (!done)
        std::this_thread::sleep_for(10ms);
      ::close(fd);
    });
    run_and_stop(*process, 200ms);
    done = true;
    writer.join();
    CHECK(process->status() == Status::stopped);
    CHECK(process->component("reader")->status() == Status::stopped);
    // The reader holds its thread while it waits, so the sink (on the same thread) may not
    // have taken row 1 before the stop; it never sees anything else.
    CHECK(sink.rows.size() <= 1);
    for (const Row& row : sink.rows)
      CHECK(row == Row{"1"});
  }
}

TEST_CASE("FileReader header error names the missing columns, never the file's content",
          "[library]") {
  TempDir dir;
  const std::string path = dir / "accounts.csv";
  write_file(path, "user,password_hash\nroot,$6$saltsalt$hashhashhash\n");
  Model m;
  m.add<library::FileReader>("reader", path,
                             std::vector<std::string>{"name", "user", "pass\nword"});
  m.add<RowCollector>("sink", std::vector<std::string>{"name", "user", "pass\nword"});
  m.connect("reader.name", "sink.name");
  m.connect("reader.user", "sink.user");
  m.connect("reader.pass\nword", "sink.pass\nword");
  auto process = m.build_local();
  const std::string message = run_failure(*process);
  CHECK_THAT(message,
             EndsWith(quote(path) + ":1: the header row has no column 'name', " + "'pass\\nword'"));
  CHECK_THAT(message, !Contains("password_hash") && !Contains("hashhash") && !Contains("root"));
}
