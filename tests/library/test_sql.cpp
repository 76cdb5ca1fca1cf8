// SQLReader and SQLWriter: SQLite databases read and written as rows of values, checked against
// database files made and read through SQLite's own API (not the code under test).
#include <patchbay/component_args.hpp>
#include <patchbay/error.hpp>
#include <patchbay/library.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/command.hpp"
#include "support/components.hpp"
#include "support/model.hpp"

using Catch::Contains;
using patchbay::ComponentArgs;
using patchbay::ModelError;
using patchbay::Status;
using patchbay::Value;
namespace library = patchbay::library;

namespace {

using patchbay::test::ListSource;
using patchbay::test::Model;
using patchbay::test::read_file;
using patchbay::test::Row;
using patchbay::test::RowCollector;
using patchbay::test::run_command;
using patchbay::test::run_failure;
using patchbay::test::run_guarded;
using patchbay::test::TempDir;
using patchbay::test::write_file;

// A database file opened with SQLite itself, for making fixtures and reading results.
class Db {
 public:
  explicit Db(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK); }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error != nullptr ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }
  // Each row of `sql`'s result as text, its columns joined by '|' (NULL as "NULL").
  std::vector<std::string> rows(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    INFO(sql);
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i > 0) row += '|';
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        row += text != nullptr ? text : "NULL";
      }
      out.push_back(row);
    }
    sqlite3_finalize(stmt);
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// people(id, name, score, note): four rows, one of them with NULLs.
void make_people(const std::string& path) {
  Db db(path);
  db.exec(
      "CREATE TABLE people (id INTEGER, name TEXT, score REAL, note);"
      "INSERT INTO people VALUES (1, 'Ada', 9.5, 'first'), (2, 'Brian', 7.25, NULL),"
      " (3, 'Cleo, \"the\" third', 8.0, 'x'), (4, NULL, NULL, NULL);");
}

Value names(const std::vector<std::string>& fields) {
  Value::List list;
  for (const auto& f : fields)
    list.emplace_back(f);
  return Value(std::move(list));
}

// A model file's text, its components and connectors given as YAML lines.
std::string model(const std::string& components, const std::string& connectors) {
  return "process:\n  args:\n    components:\n" + components + "    connectors:\n" + connectors;
}

// Runs a model given as YAML on the engine it names, to its end; returns its final status.
Status run_model(const std::string& yaml) {
  INFO(yaml);
  const auto process = patchbay::make_process(patchbay::parse_model(yaml, "model.yaml"));
  run_guarded(*process, std::chrono::seconds(30));
  return process->status();
}

// The ModelError that building the model throws (before anything runs).
std::string model_error(const std::string& yaml) {
  INFO(yaml);
  try {
    (void)patchbay::make_process(patchbay::parse_model(yaml, "model.yaml"));
  } catch (const ModelError& e) {
    return e.what();
  }
  FAIL("the model was accepted");
  return {};
}

// The rows a reader with `args` sends, collected on a LocalProcess.
std::vector<Row> read_rows(std::map<std::string, Value> args,
                           const std::vector<std::string>& fields) {
  Model m;
  m.add<library::SQLReader>(ComponentArgs("reader", std::move(args)));
  auto& sink = m.add<RowCollector>("sink", fields);
  for (const auto& field : fields)
    m.connect("reader." + field, "sink." + field);
  auto process = m.build_local();
  run_guarded(*process);
  REQUIRE(process->status() == Status::completed);
  return sink.rows;
}

}  // namespace

TEST_CASE("SQLReader reads a table's columns, a row per step, and closes after the last",
          "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "people.db";
  make_people(db);
  const std::string yaml = model(
      "    - type: SQLReader\n"
      "      args: {name: reader, path: '" +
          db +
          "', table: people,"
          " field_names: [name, id]}\n"
          "    - type: FileWriter\n"
          "      args: {name: writer, path: '" +
          std::string(dir / "out.csv") +
          "',"
          " field_names: [id, name]}\n",
      "    - {source: reader.id, target: writer.id}\n"
      "    - {source: reader.name, target: writer.name}\n");
  // Completing at all needs the reader to close: the writer waits for input until it does.
  REQUIRE(run_model(yaml) == Status::completed);
  CHECK(read_file(dir / "out.csv") ==
        "id,name\n1,Ada\n2,Brian\n3,\"Cleo, \"\"the\"\" third\"\n4,\n");
}

TEST_CASE("SQLReader runs a query, its result columns as the outputs", "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "people.db";
  make_people(db);
  SECTION("WHERE and ORDER BY are the query's, and field_names choose among its columns") {
    const auto rows = read_rows({{"path", db},
                                 {"query",
                                  "SELECT id, name, score * 2 AS doubled FROM people "
                                  "WHERE score >= 8 ORDER BY id DESC"},
                                 {"field_names", names({"doubled", "id"})}},
                                {"doubled", "id"});
    CHECK(rows == std::vector<Row>{{Value(16.0), Value(3)}, {Value(19.0), Value(1)}});
  }
  SECTION("without field_names every result column is an output, named as in the result") {
    const auto rows = read_rows({{"path", db},
                                 {"query",
                                  "SELECT id AS n, upper(name) AS big FROM people "
                                  "WHERE id < 3"}},
                                {"n", "big"});
    CHECK(rows == std::vector<Row>{{Value(1), Value("ADA")}, {Value(2), Value("BRIAN")}});
  }
  SECTION("a query without rows closes at once") {
    const auto rows =
        read_rows({{"path", db}, {"query", "SELECT id FROM people WHERE id > 100"}}, {"id"});
    CHECK(rows.empty());
  }
}

TEST_CASE("SQLReader and SQLWriter take Plugboard's type names and SQLite connection strings",
          "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "people.db";  // absolute: sqlite:////tmp/.../people.db
  make_people(db);
  const std::string out = dir / "out.db";
  const std::string yaml = model(
      "    - type: plugboard.library.SQLReader\n"
      "      args: {name: reader, connection_string: 'sqlite:///" +
          db +
          "',"
          " query: 'SELECT id, name FROM people WHERE id <= 2 ORDER BY id', field_names: [id, "
          "name]}\n"
          "    - type: plugboard.library.sql_io.SQLWriter\n"
          "      args: {name: writer, connection_string: 'sqlite+aiosqlite:///" +
          out +
          "',"
          " table: copy, field_names: [id, name]}\n",
      "    - {source: reader.id, target: writer.id}\n"
      "    - {source: reader.name, target: writer.name}\n");
  REQUIRE(run_model(yaml) == Status::completed);
  CHECK(Db(out).rows("SELECT id, name FROM copy ORDER BY id") ==
        std::vector<std::string>{"1|Ada", "2|Brian"});

  auto reader = [&](const std::string& url) {
    return model("    - type: SQLReader\n      args: {name: reader, connection_string: '" + url +
                     "', query: 'SELECT 1 AS one'}\n",
                 "    []\n");
  };
  CHECK_THAT(model_error(reader("postgresql://host/db")),
             Contains("'connection_string'") && Contains("SQLite"));
  CHECK_THAT(model_error(reader("sqlite://")), Contains("in-memory"));
  CHECK_THAT(model_error(reader("sqlite:///" + db + "?mode=ro")), Contains("'?'"));
  CHECK_THAT(model_error(model("    - type: SQLReader\n      args: {name: reader, path: '" + db +
                                   "', connection_string: 'sqlite:///" + db +
                                   "', query: 'SELECT 1 AS one'}\n",
                               "    []\n")),
             Contains("both"));
}

TEST_CASE("SQLReader gives INTEGER, REAL, TEXT and NULL as int, double, string and null",
          "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "types.db";
  {
    Db fixture(db);
    fixture.exec(
        "CREATE TABLE t (v);"
        "INSERT INTO t VALUES (4611686018427387905), (-7), (0.1), (2.0), ('text'), (''),"
        " ('12'), (NULL);");
  }
  const auto rows = read_rows({{"path", db}, {"table", "t"}, {"field_names", names({"v"})}}, {"v"});
  REQUIRE(rows.size() == 8);
  CHECK(rows[0][0] == Value(std::int64_t{4611686018427387905}));
  CHECK(rows[1][0] == Value(-7));
  CHECK(rows[2][0] == Value(0.1));
  CHECK(rows[3][0].is_double());
  CHECK(rows[3][0] == Value(2.0));
  CHECK(rows[4][0] == Value("text"));
  CHECK(rows[5][0] == Value(""));    // empty text is a string, not null
  CHECK(rows[6][0] == Value("12"));  // text stays text, whatever it spells
  CHECK(rows[7][0].is_null());

  SECTION("a BLOB fails the run, naming the row and the column") {
    Db(db).exec("INSERT INTO t VALUES (x'00ff')");
    Model m;
    m.add<library::SQLReader>(
        ComponentArgs("reader", {{"path", db}, {"table", "t"}, {"field_names", names({"v"})}}));
    m.add<RowCollector>("sink", std::vector<std::string>{"v"});
    m.connect("reader.v", "sink.v");
    auto process = m.build_local();
    const std::string message = run_failure(*process);
    CHECK_THAT(message,
               Contains("row 9") && Contains("'v'") && Contains("BLOB") && Contains("types.db"));
  }
}

TEST_CASE("SQLWriter stores each value by its kind, in a table it creates", "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "out.db";
  Model m;
  m.add<ListSource<Value>>(
      "source", std::vector<Value>{Value(4611686018427387905), Value(0.1), Value("text"), Value(),
                                   Value(true), Value("")});
  m.add<library::SQLWriter>(
      ComponentArgs("writer", {{"path", db}, {"table", "t"}, {"field_names", names({"v"})}}));
  m.connect("source.out", "writer.v");
  auto process = m.build_local();
  run_guarded(*process);
  REQUIRE(process->status() == Status::completed);
  Db out(db);
  CHECK(out.rows("SELECT typeof(v), quote(v) FROM t ORDER BY rowid") ==
        std::vector<std::string>{"integer|4611686018427387905", "real|0.1", "text|'text'",
                                 "null|NULL", "integer|1", "text|''"});
  // Created without column types: SQLite keeps what it is given.
  CHECK(out.rows("SELECT name, type FROM pragma_table_info('t')") ==
        std::vector<std::string>{"v|"});
}

TEST_CASE("CSV to SQLWriter, then SQLReader to CSV, through model files, gives the CSV back",
          "[library][sql]") {
  TempDir dir;
  const std::string csv =
      "id,name,score\n1,Ada,9.5\n2,\"Brian, \"\"B\"\"\",\n3,,-0.25\n4,\"line\nbreak\",100\n";
  write_file(dir / "in.csv", csv);
  const std::string db = dir / "data.db";
  const std::string fields = "[id, name, score]";
  for (const std::string kind : {"local", "parallel"}) {
    INFO(kind);
    std::filesystem::remove(db);
    std::filesystem::remove(dir / "out.csv");
    const std::string header = "process:\n  type: " + kind + "\n  args:\n    components:\n";
    REQUIRE(run_model(header +
                      "    - type: FileReader\n"
                      "      args: {name: reader, path: '" +
                      std::string(dir / "in.csv") + "', field_names: " + fields +
                      "}\n"
                      "    - type: SQLWriter\n"
                      "      args: {name: writer, path: '" +
                      db +
                      "', table: scores,"
                      " field_names: " +
                      fields +
                      ", chunk_size: 2}\n"
                      "    connectors:\n"
                      "    - {source: reader.id, target: writer.id}\n"
                      "    - {source: reader.name, target: writer.name}\n"
                      "    - {source: reader.score, target: writer.score}\n") == Status::completed);
    CHECK(Db(db).rows("SELECT typeof(id), typeof(name), typeof(score) FROM scores") ==
          std::vector<std::string>{"integer|text|real", "integer|text|null", "integer|null|real",
                                   "integer|text|integer"});
    REQUIRE(run_model(header +
                      "    - type: SQLReader\n"
                      "      args: {name: reader, path: '" +
                      db +
                      "', table: scores,"
                      " field_names: " +
                      fields +
                      ", chunk_size: 3}\n"
                      "    - type: FileWriter\n"
                      "      args: {name: writer, path: '" +
                      std::string(dir / "out.csv") + "', field_names: " + fields +
                      "}\n"
                      "    connectors:\n"
                      "    - {source: reader.id, target: writer.id}\n"
                      "    - {source: reader.name, target: writer.name}\n"
                      "    - {source: reader.score, target: writer.score}\n") == Status::completed);
    CHECK(read_file(dir / "out.csv") == csv);
  }
}

TEST_CASE("SQLReader and SQLWriter move every row when chunk_size is less than the rows",
          "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "chunks.db";
  std::vector<Value> values;
  for (int i = 0; i < 10; ++i)
    values.emplace_back(i * 10);
  {
    Model m;
    m.add<ListSource<Value>>("source", values);
    m.add<library::SQLWriter>(ComponentArgs(
        "writer",
        {{"path", db}, {"table", "t"}, {"field_names", names({"v"})}, {"chunk_size", 3}}));
    m.connect("source.out", "writer.v");
    auto process = m.build_local();
    run_guarded(*process);
    REQUIRE(process->status() == Status::completed);
  }
  CHECK(Db(db).rows("SELECT count(*), sum(v) FROM t") == std::vector<std::string>{"10|450"});
  for (const std::int64_t chunk : {1, 3, 4, 10, 11}) {
    INFO("chunk_size " << chunk);
    const auto rows = read_rows(
        {{"path", db}, {"query", "SELECT v FROM t ORDER BY v"}, {"chunk_size", chunk}}, {"v"});
    std::vector<Row> expected;
    for (const auto& v : values)
      expected.push_back({v});
    CHECK(rows == expected);
  }
}

TEST_CASE("SQLWriter commits the rows it received when the run fails", "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "unique.db";
  Db(db).exec("CREATE TABLE t (v INTEGER UNIQUE, extra DEFAULT 'd')");
  Model m;
  m.add<ListSource<Value>>("source",
                           std::vector<Value>{Value(1), Value(2), Value(3), Value(2), Value(5)});
  m.add<library::SQLWriter>(ComponentArgs(
      "writer",
      {{"path", db}, {"table", "t"}, {"field_names", names({"v"})}, {"chunk_size", 100}}));
  m.connect("source.out", "writer.v");
  auto process = m.build_local();
  const std::string message = run_failure(*process);
  CHECK_THAT(message, Contains("'t'") && Contains("unique.db") && Contains("row 4") &&
                          Contains("UNIQUE constraint failed"));
  // One transaction of 100 rows was open: the three rows before the failure were committed
  // at teardown, the table's other column taking its default.
  CHECK(Db(db).rows("SELECT v, extra FROM t ORDER BY v") ==
        std::vector<std::string>{"1|d", "2|d", "3|d"});
}

TEST_CASE("SQL names are quoted: a table or field may be any text, and adds no SQL",
          "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "names.db";
  Db(db).exec("CREATE TABLE victim (x); INSERT INTO victim VALUES (1);");
  const std::string table = "odd \"table\"; DROP TABLE victim; --";
  const std::vector<std::string> fields{"select", "a \"b\" c"};
  Model m;
  m.add<ListSource<Value>>("source", std::vector<Value>{Value(1), Value(2)});
  m.add<library::SQLWriter>(
      ComponentArgs("writer", {{"path", db}, {"table", table}, {"field_names", names(fields)}}));
  m.connect("source.out", "writer.select");
  m.connect("source.out", "writer.a \"b\" c");
  auto process = m.build_local();
  run_guarded(*process);
  REQUIRE(process->status() == Status::completed);
  CHECK(Db(db).rows("SELECT count(*) FROM victim") == std::vector<std::string>{"1"});
  const auto rows =
      read_rows({{"path", db}, {"table", table}, {"field_names", names(fields)}}, fields);
  CHECK(rows == std::vector<Row>{{Value(1), Value(1)}, {Value(2), Value(2)}});
}

TEST_CASE(
    "SQLReader's problems are model errors naming the component, the path and SQLite's "
    "message",
    "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "people.db";
  make_people(db);
  const std::string missing = dir / "missing.db";
  auto reader = [](const std::string& args) {
    return model("    - type: SQLReader\n      args: {name: reader, " + args + "}\n", "    []\n");
  };
  SECTION("a missing database file, which is not created") {
    const std::string e = model_error(reader("path: '" + missing +
                                             "', table: people, "
                                             "field_names: [id]"));
    CHECK_THAT(e, Contains("model.yaml:5") && Contains("'reader'") && Contains("SQLReader") &&
                      Contains("'path'") && Contains("missing.db") &&
                      Contains("unable to open database file") &&
                      Contains("No such file or directory"));
    CHECK_FALSE(std::filesystem::exists(missing));
  }
  SECTION("a file that is not a database") {
    write_file(dir / "notes.txt", "id,name\n1,a\nsome more text to make it look like a file\n");
    const std::string e = model_error(
        reader("path: '" + std::string(dir / "notes.txt") + "', table: people, field_names: [id]"));
    CHECK_THAT(e,
               Contains("'reader'") && Contains("notes.txt") && Contains("file is not a database"));
  }
  SECTION("a directory") {
    const std::string e =
        model_error(reader("path: '" + dir.path().string() + "', query: 'SELECT 1'"));
    CHECK_THAT(e, Contains("'path'") && Contains("is a directory"));
  }
  SECTION("a query SQLite rejects") {
    const std::string e = model_error(reader("path: '" + db + "', query: 'SELEC id FROM people'"));
    CHECK_THAT(e, Contains("'reader'") && Contains("'query'") && Contains("people.db") &&
                      Contains("syntax error"));
  }
  SECTION("a missing table") {
    const std::string e = model_error(reader("path: '" + db + "', table: nope, field_names: [id]"));
    CHECK_THAT(e, Contains("'table'") && Contains("'nope'") && Contains("people.db") &&
                      Contains("no such table: nope"));
  }
  SECTION("a missing column of a table") {
    const std::string e =
        model_error(reader("path: '" + db + "', table: people, field_names: [id, age]"));
    CHECK_THAT(e, Contains("people.db") && Contains("no such column: age"));
  }
  SECTION("a field the query's result does not have") {
    const std::string e = model_error(
        reader("path: '" + db + "', query: 'SELECT id FROM people', field_names: [id, name]"));
    CHECK_THAT(e, Contains("'field_names'") && Contains("'name'"));
  }
  SECTION("a table without field_names") {
    const std::string e = model_error(reader("path: '" + db + "', table: people"));
    CHECK_THAT(e, Contains("'field_names'") && Contains("required"));
  }
  SECTION("neither query nor table, or both") {
    CHECK_THAT(model_error(reader("path: '" + db + "'")),
               Contains("'query'") && Contains("'table'"));
    CHECK_THAT(model_error(reader("path: '" + db +
                                  "', table: people, field_names: [id], "
                                  "query: 'SELECT id FROM people'")),
               Contains("both"));
  }
  SECTION("a statement that is not a SELECT, or more than one") {
    CHECK_THAT(model_error(reader("path: '" + db + "', query: 'DELETE FROM people'")),
               Contains("must be a SELECT"));
    CHECK_THAT(model_error(reader("path: '" + db + "', query: 'SELECT 1; DROP TABLE people'")),
               Contains("more than one"));
    CHECK(Db(db).rows("SELECT count(*) FROM people") == std::vector<std::string>{"4"});
  }
  SECTION("chunk_size below 1") {
    CHECK_THAT(model_error(reader("path: '" + db +
                                  "', table: people, field_names: [id], "
                                  "chunk_size: 0")),
               Contains("'chunk_size'"));
  }
}

TEST_CASE("SQLWriter's problems are model errors before anything runs", "[library][sql]") {
  TempDir dir;
  const std::string db = dir / "people.db";
  make_people(db);
  auto writer = [](const std::string& args) {
    return model("    - type: SQLWriter\n      args: {name: writer, " + args + "}\n", "    []\n");
  };
  SECTION("an existing table without a column for each field") {
    const std::string e =
        model_error(writer("path: '" + db + "', table: people, field_names: [id, age, name]"));
    CHECK_THAT(e, Contains("model.yaml:5") && Contains("'writer'") && Contains("'people'") &&
                      Contains("people.db") && Contains("no column 'age'"));
  }
  SECTION("an existing table with a column for each field, in any case, is written") {
    CHECK(run_model(model("    - type: Iterator\n      args: {name: it, iters: 2}\n"
                          "    - type: SQLWriter\n      args: {name: writer, path: '" +
                              db + "', table: people, field_names: [ID]}\n",
                          "    - {source: it.x, target: writer.ID}\n")) == Status::completed);
    CHECK(Db(db).rows("SELECT id, name FROM people WHERE name IS NULL ORDER BY id") ==
          std::vector<std::string>{"0|NULL", "1|NULL", "4|NULL"});
  }
  SECTION("a directory that does not exist") {
    const std::string e = model_error(
        writer("path: '" + std::string(dir / "no/such/dir.db") + "', table: t, field_names: [a]"));
    CHECK_THAT(e, Contains("'path'") && Contains("does not exist"));
  }
  SECTION("a file that is not a database") {
    write_file(dir / "text.db", "not a database, but long enough to look like a file's content\n");
    const std::string e = model_error(
        writer("path: '" + std::string(dir / "text.db") + "', table: t, field_names: [a]"));
    CHECK_THAT(e, Contains("text.db") && Contains("file is not a database"));
  }
  SECTION("checking creates nothing: neither the file nor the table") {
    const std::string fresh = dir / "fresh.db";
    const library::SQLWriter created(
        ComponentArgs("writer", {{"path", fresh}, {"table", "t"}, {"field_names", names({"a"})}}));
    CHECK_FALSE(std::filesystem::exists(fresh));
    const library::SQLWriter existing(
        ComponentArgs("writer", {{"path", db}, {"table", "other"}, {"field_names", names({"a"})}}));
    CHECK(Db(db).rows("SELECT name FROM sqlite_schema ORDER BY name") ==
          std::vector<std::string>{"people"});
  }
}

TEST_CASE("engine-run exits 2 for an SQLReader whose database is missing", "[library][sql]") {
  TempDir dir;
  write_file(dir / "model.yaml",
             model("    - type: SQLReader\n      args: {name: reader, path: gone.db, "
                   "query: 'SELECT 1 AS one'}\n",
                   "    []\n"));
  const auto r =
      run_command({std::string(PATCHBAY_ENGINE_RUN), "--quiet", "model.yaml"}, dir.path());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("engine-run: ") && Contains("'reader'") && Contains("gone.db") &&
                        Contains("unable to open database file"));
}
