// FileReader and FileWriter choose the format from the path: CSV (".csv", or a name without an
// extension: a device, a FIFO), gzip-compressed CSV (".csv.gz", through zlib), and nothing else;
// and Plugboard's chunk_size.
#include <patchbay/component_args.hpp>
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/local_process.hpp>

#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/command.hpp"
#include "support/model.hpp"

using Catch::Contains;
using patchbay::ComponentArgs;
using patchbay::ModelError;
using patchbay::Status;
using patchbay::Value;
namespace library = patchbay::library;

namespace {

using patchbay::test::Model;
using patchbay::test::read_file;
using patchbay::test::run_failure;
using patchbay::test::TempDir;
using patchbay::test::write_file;

// `text` as a gzip file, written by zlib itself (not by the code under test).
void write_gzip(const std::string& path, const std::string& text) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, text.data(), static_cast<unsigned>(text.size())) ==
          static_cast<int>(text.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

// The text of a gzip file, read by zlib itself.
std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  REQUIRE(file != nullptr);
  std::string text;
  char buffer[4096];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(got));
  REQUIRE(got == 0);
  REQUIRE(gzclose(file) == Z_OK);
  return text;
}

// reader -> writer over `fields`, run to the end on a LocalProcess.
void copy_file(const std::string& in, const std::string& out,
               const std::vector<std::string>& fields, std::int64_t chunk_size = 0) {
  Value::List names;
  for (const auto& f : fields)
    names.emplace_back(f);
  std::map<std::string, Value> writer_args{{"path", out}, {"field_names", Value(names)}};
  if (chunk_size != 0) writer_args["chunk_size"] = chunk_size;
  Model m;
  m.add<library::FileReader>("reader", in, fields);
  m.add<library::FileWriter>(ComponentArgs("writer", writer_args));
  for (const auto& field : fields)
    m.connect("reader." + field, "writer." + field);
  auto process = m.build_local();
  process->run();
  REQUIRE(process->status() == Status::completed);
}

// Enough rows to span several 64 KiB blocks, compressed or not.
std::string many_rows() {
  std::string text = "id,name\n";
  for (int i = 0; i < 20000; ++i)
    text += std::to_string(i) + ",row number " + std::to_string(i * 7) + "\n";
  return text;
}

}  // namespace

TEST_CASE("FileReader and FileWriter read and write gzip-compressed CSV", "[library][gzip]") {
  TempDir dir;
  const std::string text = many_rows();
  SECTION("gzip in, gzip out: zlib reads back what it wrote") {
    write_gzip(dir / "in.csv.gz", text);
    copy_file(dir / "in.csv.gz", dir / "out.csv.gz", {"id", "name"});
    CHECK(read_gzip(dir / "out.csv.gz") == text);
    CHECK(read_file(dir / "out.csv.gz").substr(0, 2) == "\x1f\x8b");  // the gzip magic
  }
  SECTION("CSV in, gzip out, and back to CSV") {
    write_file(dir / "in.csv", text);
    copy_file(dir / "in.csv", dir / "mid.CSV.GZ", {"id", "name"});
    copy_file(dir / "mid.CSV.GZ", dir / "out.csv", {"id", "name"});
    CHECK(read_file(dir / "out.csv") == text);
  }
  SECTION("two gzip members one after the other read as one file (as cat a.gz b.gz)") {
    write_gzip(dir / "a.gz.part", "id,name\n1,a\n");
    write_gzip(dir / "b.gz.part", "2,b\n");
    write_file(dir / "both.csv.gz", read_file(dir / "a.gz.part") + read_file(dir / "b.gz.part"));
    copy_file(dir / "both.csv.gz", dir / "out.csv", {"id", "name"});
    CHECK(read_file(dir / "out.csv") == "id,name\n1,a\n2,b\n");
  }
  SECTION("a truncated or corrupt gzip file fails the run, naming the file") {
    write_gzip(dir / "whole.csv.gz", text);
    const std::string whole = read_file(dir / "whole.csv.gz");
    write_file(dir / "cut.csv.gz", whole.substr(0, whole.size() / 2));
    write_file(dir / "plain.csv.gz", text);  // not compressed at all
    for (const char* name : {"cut.csv.gz", "plain.csv.gz"}) {
      INFO(name);
      Model m;
      m.add<library::FileReader>("reader", dir / name, std::vector<std::string>{"id"});
      m.add<library::FileWriter>("writer", dir / "out.csv", std::vector<std::string>{"id"});
      m.connect("reader.id", "writer.id");
      auto process = m.build_local();
      CHECK_THAT(run_failure(*process),
                 Contains(name) && (Contains("truncated") || Contains("not valid gzip")));
    }
  }
}

TEST_CASE("a path whose extension is not CSV is a model error, not a plain-text file",
          "[library][gzip]") {
  TempDir dir;
  write_file(dir / "in.csv", "x\n1\n");
  write_file(dir / "in.parquet", "x\n1\n");
  for (const char* name : {"out.parquet", "out.txt", "out.json.gz", "out.csv.bz2"}) {
    INFO(name);
    try {
      library::FileWriter writer("writer", dir / name, {"x"});
      FAIL("accepted");
    } catch (const ModelError& e) {
      CHECK_THAT(e.what(), Contains(name) && Contains("'.csv'") && Contains("'.csv.gz'"));
    }
  }
  CHECK_THROWS_WITH(library::FileReader("reader", dir / "in.parquet", {"x"}),
                    Contains("Parquet") && Contains("'.parquet'"));
  // A name without an extension is a device or a FIFO: CSV, as always.
  CHECK_NOTHROW(library::FileWriter("writer", "/dev/null", {"x"}));
  CHECK_NOTHROW(library::FileWriter("writer", dir / ".hidden", {"x"}));
}

TEST_CASE("chunk_size: FileWriter writes every chunk_size rows; both check it", "[library]") {
  TempDir dir;
  const std::string text = many_rows();
  write_file(dir / "in.csv", text);
  copy_file(dir / "in.csv", dir / "out.csv", {"id", "name"}, 3);
  CHECK(read_file(dir / "out.csv") == text);
  copy_file(dir / "in.csv", dir / "out.csv.gz", {"id", "name"}, 1000);
  CHECK(read_gzip(dir / "out.csv.gz") == text);
  Value::List x{Value("x")};
  CHECK_THROWS_WITH(library::FileWriter(ComponentArgs("writer", {{"path", (dir / "o.csv").string()},
                                                                 {"field_names", Value(x)},
                                                                 {"chunk_size", std::int64_t{0}}})),
                    Contains("chunk_size") && Contains("at least 1"));
  CHECK_THROWS_WITH(
      library::FileReader(ComponentArgs("reader", {{"path", (dir / "in.csv").string()},
                                                   {"field_names", Value(x)},
                                                   {"chunk_size", std::int64_t{-5}}})),
      Contains("chunk_size"));
  CHECK_NOTHROW(library::FileReader(ComponentArgs("reader", {{"path", (dir / "in.csv").string()},
                                                             {"field_names", Value(x)},
                                                             {"chunk_size", std::int64_t{100}}})));
}

TEST_CASE("engine-run: a FileWriter to a .parquet path exits 2 before anything runs",
          "[library][engine-run]") {
  TempDir dir;
  write_file(dir / "model.yaml", R"(plugboard:
  process:
    args:
      components:
        - type: Iterator
          args: {name: it, iters: 3}
        - type: FileWriter
          args: {name: out, path: out.parquet, field_names: [x]}
      connectors:
        - {source: it.x, target: out.x}
)");
  const auto r = patchbay::test::run_command({PATCHBAY_ENGINE_RUN, "model.yaml"}, dir.path());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("model.yaml:8") && Contains("'.parquet'"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.parquet"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.parquet.partial"));
}
