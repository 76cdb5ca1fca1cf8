// The library's FileWriter: CSV written into place, partial files, links, FIFOs and devices,
// run through a LocalProcess in small models built in code; and a round trip with FileReader.
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
using patchbay::LocalProcess;
using patchbay::ModelError;
using patchbay::Status;
using patchbay::Value;
using patchbay::detail::quote;
using namespace std::chrono_literals;
namespace library = patchbay::library;
namespace fs = std::filesystem;

namespace {

using patchbay::test::FifoReader;
using patchbay::test::file_type;
using patchbay::test::lines_of;
using patchbay::test::ListSource;
using patchbay::test::make_fifo;
using patchbay::test::Model;
using patchbay::test::read_file;
using patchbay::test::run_and_stop;
using patchbay::test::run_failure;
using patchbay::test::TempDir;
using patchbay::test::ThrowingSource;
using patchbay::test::ThrowOnValue;
using patchbay::test::write_file;

}  // namespace

TEST_CASE("FileWriter writes a header and RFC 4180 rows, then renames into place", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  Model m;
  m.add<ListSource<Value>>("a", std::vector<Value>{1, "comma, and \"quote\"", 2.5, Value()});
  m.add<ListSource<Value>>("b", std::vector<Value>{"plain", true, " padded", "line\nbreak"});
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"first", "second"});
  m.connect("a.out", "writer.first");
  m.connect("b.out", "writer.second");
  auto process = m.build_local();
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".partial"));
  CHECK(read_file(path) ==
        "first,second\n"
        "1,plain\n"
        "\"comma, and \"\"quote\"\"\",true\n"
        "2.5,\" padded\"\n"
        ",\"line\nbreak\"\n");
}

TEST_CASE("FileWriter with no rows writes just the header", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  Model m;
  m.add<library::Iterator>("it", 0);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  process->run();
  CHECK(read_file(path) == "x\n");
}

TEST_CASE("FileWriter keeps the rows so far in PATH.partial when upstream fails", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  write_file(path, "old,complete,file\n");  // from an earlier run: removed at init
  Model m;
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.add<ThrowingSource>("src", 40);
  m.connect("src.out", "writer.x", 64);  // a small channel, so the writer keeps up
  auto process = m.build_local();
  const std::string message = run_failure(*process);
  CHECK_THAT(message, Contains("source gave up"));
  CHECK(process->component("writer")->status() == Status::stopped);

  CHECK_FALSE(fs::exists(path));
  REQUIRE(fs::exists(path + ".partial"));
  const auto lines = lines_of(read_file(path + ".partial"));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0] == "x");
  // Some rows made it, in order, and not more than were sent.
  CHECK(lines.size() > 1);
  CHECK(lines.size() <= 41);
  for (std::size_t i = 1; i < lines.size(); ++i)
    CHECK(lines[i] == std::to_string(i - 1));
}

TEST_CASE("FileWriter keeps the rows so far in PATH.partial when a sibling fails", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  Model m;
  m.add<library::Iterator>("it", 200);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.add<ThrowOnValue>("thrower", Value(100));
  m.connect("it.x", "writer.x", 64);
  m.connect("it.x", "thrower.x", 64);
  auto process = m.build_local();
  CHECK_THAT(run_failure(*process), Contains("'thrower'") && Contains("thrower hit 100"));
  CHECK_FALSE(fs::exists(path));
  REQUIRE(fs::exists(path + ".partial"));
  const auto lines = lines_of(read_file(path + ".partial"));
  REQUIRE(lines.size() > 1);
  CHECK(lines[0] == "x");
  CHECK(lines.size() < 201);
  for (std::size_t i = 1; i < lines.size(); ++i)
    CHECK(lines[i] == std::to_string(i - 1));
}

TEST_CASE("FileWriter removes a complete file from an earlier run at init", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  write_file(path, "stale\n");
  Model m;
  // The writer (first, so it starts first) initialises, then the run fails before any row.
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.add<ThrowingSource>("src", 0);
  m.connect("src.out", "writer.x");
  auto process = m.build_local();
  (void)run_failure(*process);
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("FileWriter into a directory that does not exist is a ModelError", "[library]") {
  TempDir dir;
  const std::string path = dir / "no/such/dir/out.csv";
  try {
    library::FileWriter writer("writer", path, {"x"});
    FAIL("FileWriter accepted a missing directory");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(path) && Contains("does not exist"));
  }
  CHECK_THROWS_AS(library::FileWriter("writer", "", {"x"}), ModelError);
  CHECK_THROWS_AS(library::FileWriter("writer", dir / "out.csv", {}), ModelError);
}

TEST_CASE("FileReader -> FileWriter round-trips a CSV", "[library]") {
  TempDir dir;
  const std::string in = dir / "in.csv";
  const std::string out = dir / "out.csv";
  const std::string text =
      "id,name,score,comment\n"
      "1,\"hello, world\",2.5,plain\n"
      "2,\"say \"\"hi\"\"\",-3,\n"
      "3,,0.125,\"two\nlines\"\n"
      "4,x,100,\" lead\"\n";
  write_file(in, text);
  const std::vector<std::string> fields = {"id", "name", "score", "comment"};
  Model m;
  m.add<library::FileReader>("reader", in, fields);
  m.add<library::FileWriter>("writer", out, fields);
  for (const auto& field : fields)
    m.connect("reader." + field, "writer." + field);
  auto process = m.build_local();
  process->run();
  CHECK(process->status() == Status::completed);
  CHECK(read_file(out) == text);

  // A subset of the columns, in another order.
  const std::string subset = dir / "subset.csv";
  Model m2;
  m2.add<library::FileReader>("reader", in, std::vector<std::string>{"score", "id"});
  m2.add<library::FileWriter>("writer", subset, std::vector<std::string>{"score", "id"});
  m2.connect("reader.score", "writer.score");
  m2.connect("reader.id", "writer.id");
  auto second = m2.build_local();
  second->run();
  CHECK(read_file(subset) == "score,id\n2.5,1\n-3,2\n0.125,3\n100,4\n");
}

TEST_CASE("FileWriter writes through a symbolic link, which stays a link", "[library]") {
  TempDir dir;
  fs::create_directory(dir / "data");
  const std::string real = dir / "data/real.csv";
  write_file(real, "old\n");
  fs::create_symlink("data/real.csv", dir / "link.csv");     // relative to the link's directory
  fs::create_symlink(dir / "link.csv", dir / "link2.csv");   // a chain of links
  fs::create_symlink("data/new.csv", dir / "dangling.csv");  // to a file not there yet
  for (const std::string name : {"link.csv", "link2.csv", "dangling.csv"}) {
    INFO(name);
    Model m;
    m.add<library::Iterator>("it", 3);
    m.add<library::FileWriter>("writer", dir / name, std::vector<std::string>{"x"});
    m.connect("it.x", "writer.x");
    auto process = m.build_local();
    process->run();
    CHECK(process->status() == Status::completed);
    CHECK(fs::is_symlink(dir / name));
    CHECK_FALSE(fs::exists(dir / (name + ".partial")));
  }
  CHECK(fs::read_symlink(dir / "link.csv") == "data/real.csv");
  CHECK(file_type(real) == S_IFREG);
  CHECK(read_file(real) == "x\n0\n1\n2\n");
  CHECK(read_file(dir / "data/new.csv") == "x\n0\n1\n2\n");
  CHECK_FALSE(fs::exists(real + ".partial"));

  // A failed run leaves the rows next to the target, and the link in place.
  Model failing;
  failing.add<library::FileWriter>("writer", dir / "link.csv", std::vector<std::string>{"x"});
  failing.add<ThrowingSource>("src", 5);
  failing.connect("src.out", "writer.x");
  auto process = failing.build_local();
  (void)run_failure(*process);
  CHECK(fs::is_symlink(dir / "link.csv"));
  CHECK_FALSE(fs::exists(real));
  CHECK(fs::exists(real + ".partial"));
}

TEST_CASE("FileWriter writes a FIFO in place, waiting for its reader", "[library]") {
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  Model m;
  m.add<library::Iterator>("it", 30000);  // more than a block and than the pipe holds
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  FifoReader reader(path, false, 100ms);  // the writer waits for it
  process->run();
  CHECK(process->status() == Status::completed);
  std::string expected = "x\n";
  for (int i = 0; i < 30000; ++i)
    expected += std::to_string(i) + "\n";
  CHECK(reader.text() == expected);
  CHECK(file_type(path) == S_IFIFO);
  CHECK_FALSE(fs::exists(path + ".partial"));
}

TEST_CASE("FileWriter to a FIFO whose reader leaves fails the run, without SIGPIPE", "[library]") {
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  Model m;
  m.add<library::Iterator>("it", 1000000);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  FifoReader reader(path, true);
  CHECK_THAT(run_failure(*process), Contains(quote(path) + " has no reader any more"));
  CHECK(file_type(path) == S_IFIFO);
}

TEST_CASE("FileWriter to a FIFO honours a stop while it waits for a reader", "[library]") {
  TempDir dir;
  const std::string path = dir / "pipe";
  make_fifo(path);
  Model m;
  m.add<library::Iterator>("it", 10);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  run_and_stop(*process, 100ms);
  CHECK(process->status() == Status::stopped);
  CHECK(file_type(path) == S_IFIFO);
  CHECK_FALSE(fs::exists(path + ".partial"));
}

TEST_CASE("FileWriter writes a character device in place and leaves it a device", "[library]") {
  TempDir dir;
  // A null device of our own: if this test fails, it is this one that is replaced, not
  // /dev/null. Creating it needs CAP_MKNOD.
  const std::string path = dir / "null";
  if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    WARN("cannot create a character device here (" << std::strerror(errno) << "): skipped");
    return;
  }
  fs::create_symlink(path, dir / "link");
  const auto still_null = [&] {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(1, 3));
    CHECK_FALSE(fs::exists(path + ".partial"));
  };
  for (const std::string& target : {path, (dir / "link").string()}) {
    INFO(target);
    Model m;
    m.add<library::Iterator>("it", 100000);
    m.add<library::FileWriter>("writer", target, std::vector<std::string>{"x"});
    m.connect("it.x", "writer.x");
    auto process = m.build_local();
    process->run();
    CHECK(process->status() == Status::completed);
    still_null();
  }
  CHECK(fs::is_symlink(dir / "link"));

  Model failing;
  failing.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  failing.add<ThrowingSource>("src", 5);
  failing.connect("src.out", "writer.x");
  auto process = failing.build_local();
  (void)run_failure(*process);
  still_null();
}

TEST_CASE("FileWriter refuses a directory, before the run and at init", "[library]") {
  TempDir dir;
  try {
    library::FileWriter writer("writer", dir.path(), {"x"});
    FAIL("FileWriter accepted a directory");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains(quote(dir.path().string()) + " is a directory"));
  }
  // A directory that appears after the model was checked.
  const std::string path = dir / "out.csv";
  Model m;
  m.add<library::Iterator>("it", 3);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  fs::create_directory(path);
  CHECK_THAT(run_failure(*process), Contains(quote(path) + " is a directory"));
  CHECK(fs::is_directory(path));
  CHECK_FALSE(fs::exists(path + ".partial"));

  const std::string huge(1 << 20, 'p');
  try {
    library::FileWriter writer("writer", huge, {"x"});
    FAIL("FileWriter accepted a 1 MiB path");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Contains("File name too long"));
    CHECK(std::string(e.what()).size() < 1000);
  }
}

TEST_CASE("FileWriter never writes through a symbolic link planted at PATH.partial", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  const std::string victim = dir / "victim.txt";
  write_file(victim, "precious\n");
  for (const std::string& planted : {victim, (dir / "not-there.txt").string()}) {
    INFO(planted);
    fs::remove(path + ".partial");
    fs::create_symlink(planted, path + ".partial");
    Model m;
    m.add<library::Iterator>("it", 3);
    m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
    m.connect("it.x", "writer.x");
    auto process = m.build_local();
    CHECK_THAT(run_failure(*process),
               Contains(quote(path + ".partial") + " exists and is not a regular file"));
    CHECK(fs::is_symlink(path + ".partial"));
    CHECK(read_file(victim) == "precious\n");
    CHECK_FALSE(fs::exists(dir / "not-there.txt"));
    CHECK_FALSE(fs::exists(path));
  }

  // What an earlier failed run left (a regular file) is replaced.
  fs::remove(path + ".partial");
  write_file(path + ".partial", "rows of a failed run\n");
  Model m;
  m.add<library::Iterator>("it", 2);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  process->run();
  CHECK(read_file(path) == "x\n0\n1\n");
  CHECK_FALSE(fs::exists(path + ".partial"));
}

TEST_CASE("FileWriter creates its file with the permissions of a new file", "[library]") {
  TempDir dir;
  const std::string path = dir / "out.csv";
  const mode_t old_mask = ::umask(027);
  Model m;
  m.add<library::Iterator>("it", 2);
  m.add<library::FileWriter>("writer", path, std::vector<std::string>{"x"});
  m.connect("it.x", "writer.x");
  auto process = m.build_local();
  process->run();
  ::umask(old_mask);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
}
