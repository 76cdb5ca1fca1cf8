// The Ray tutorial's two Aggregator actors, each aggregating its own table of one SQLite
// database file (the tutorial used MongoDB): each actor opens its own connection in its
// factory, as the tutorial's actors each hold a client, and keeps it for its calls.
//
//   aggregators DATABASE.sqlite
//
// Creates the file with a `movies` and a `comments` table when it does not exist.
#include <patchbay/tasks.hpp>

#include <sqlite3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// One row: its columns as text.
using Rows = std::vector<std::vector<std::string>>;

class Aggregator {
 public:
  explicit Aggregator(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path + ": " + why);
    }
  }
  ~Aggregator() { sqlite3_close(db_); }
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // The rows of `table` that `where` selects (an SQL condition; "1" for all).
  Rows aggregate(const std::string& table, const std::string& where) {
    const std::string sql = "SELECT * FROM \"" + table + "\" WHERE " + where;
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("bad query: ") + sqlite3_errmsg(db_));
    Rows rows;
    int step = 0;
    while ((step = sqlite3_step(statement)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(statement); ++c) {
        const auto* text = sqlite3_column_text(statement, c);
        row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
    if (step != SQLITE_DONE)
      throw std::runtime_error(std::string("query failed: ") + sqlite3_errmsg(db_));
    return rows;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<Aggregator> make_aggregator(std::string path) {
  return std::make_unique<Aggregator>(path);
}
PATCHBAY_REMOTE(make_aggregator);
PATCHBAY_REMOTE_METHOD(Aggregator::aggregate);

// The sample data: 12 movies, 30 comments.
void create_database(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK)
    throw std::runtime_error("cannot create " + path);
  std::string sql =
      "CREATE TABLE movies (id INTEGER PRIMARY KEY, title TEXT, year INTEGER);"
      "CREATE TABLE comments (id INTEGER PRIMARY KEY, movie INTEGER, text TEXT);";
  for (int m = 1; m <= 12; ++m)
    sql += "INSERT INTO movies VALUES (" + std::to_string(m) + ", 'Movie " + std::to_string(m) +
           "', " + std::to_string(1990 + m) + ");";
  for (int c = 1; c <= 30; ++c)
    sql += "INSERT INTO comments VALUES (" + std::to_string(c) + ", " + std::to_string(1 + c % 12) +
           ", 'Comment " + std::to_string(c) + "');";
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string why = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("cannot fill " + path + ": " + why);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: aggregators DATABASE.sqlite\n");
    return 2;
  }
  const std::string path = argv[1];
  try {
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      std::fclose(f);
    } else {
      create_database(path);
    }
    patchbay::Runtime runtime;  // before any other thread: it forks the workers
    auto aggregator1 = runtime.create_actor(make_aggregator, path);
    auto aggregator2 = runtime.create_actor(make_aggregator, path);
    auto result1 =
        aggregator1.call(&Aggregator::aggregate, std::string("movies"), std::string("1"));
    auto result2 =
        aggregator2.call(&Aggregator::aggregate, std::string("comments"), std::string("1"));
    Rows combined = result1.get();
    const Rows comments = result2.get();
    combined.insert(combined.end(), comments.begin(), comments.end());
    std::printf("Number of results: %zu\n", combined.size());
    std::printf("actors on workers %s and %s\n", aggregator1.worker().c_str(),
                aggregator2.worker().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aggregators: %s\n", e.what());
    return 1;
  }
}
