#include <patchbay/library.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>

#include "core/text.hpp"
#include "library/sqlite.hpp"

namespace patchbay::library {

using detail::quote;

namespace {

// How long a statement waits for a lock that a writer holds before it fails.
constexpr int kBusyMs = 5000;

// What a path that exists but is no regular file is, for a message; nullptr for a file.
const char* not_a_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return nullptr;
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  return "not a regular file";
}

}  // namespace

struct SQLReader::State {
  std::optional<sqlite::Database> db;
  std::optional<sqlite::Statement> statement;  // destroyed before the database
  std::deque<std::vector<Value>> rows;         // fetched, not yet sent
  std::uint64_t rows_read = 0;
  bool done = false;         // the statement has no more rows
  bool interrupted = false;  // a stop interrupted it; the runner ends the run
};

SQLReader::SQLReader(const ComponentArgs& args) : Component(args) {
  const sqlite::DatabaseArg database = sqlite::database_arg(args, "SQLReader");
  path_ = database.path;
  const bool has_query = args.contains("query");
  const bool has_table = args.contains("table");
  if (has_query && has_table) {
    throw args.error("query", "and 'table' are both given: SQLReader reads one or the other");
  }
  if (!has_query && !has_table) {
    throw args.error("query", "is required but missing: give 'query' (a SELECT) or 'table'");
  }
  std::string table;
  if (has_table) {
    table = args.get<std::string>("table");
    if (table.empty()) throw args.error("table", "must not be empty");
    if (!args.contains("field_names")) {
      throw args.error("field_names", "is required with 'table': the columns to read");
    }
  } else {
    sql_ = args.get<std::string>("query");
  }
  if (args.contains("field_names")) {
    field_names_ = args.get<std::vector<std::string>>("field_names");
    if (field_names_.empty()) throw args.error("field_names", "must name at least one column");
  }
  if (args.contains("chunk_size")) {
    const auto rows = args.get<std::int64_t>("chunk_size");
    if (rows < 1) throw args.error("chunk_size", "must be at least 1 (rows)");
    chunk_rows_ = static_cast<std::size_t>(rows);
  }
  if (has_table) {
    // Each column named as the field (AS): without it, SQLite's name for a result column is
    // unspecified, and may differ from the field in letter case.
    sql_ = "SELECT ";
    for (std::size_t i = 0; i < field_names_.size(); ++i) {
      const std::string name = sqlite::quote_identifier(field_names_[i]);
      sql_ += (i == 0 ? "" : ", ") + name + " AS " + name;
    }
    sql_ += " FROM " + sqlite::quote_identifier(table);
  }

  // Opened and prepared now, then closed, so that what SQLite would refuse is a model error
  // before anything runs. A FIFO is never opened (it would block): SQLite reads files only.
  const char* key = has_table ? "table" : "query";
  if (const char* kind = not_a_file(path_)) {
    throw args.error(database.key,
                     quote(path_) + " is " + kind + ": SQLReader reads a database file");
  }
  std::optional<sqlite::Database> db;
  try {
    db.emplace(path_, SQLITE_OPEN_READONLY, kBusyMs);
  } catch (const sqlite::Failure& e) {
    throw args.error(database.key, quote(path_) + ": cannot open the database: " + e.what());
  }
  std::optional<sqlite::Statement> statement;
  try {
    statement.emplace(*db, sql_);
  } catch (const sqlite::Failure& e) {
    throw args.error(key, has_table ? quote(table) + " in " + quote(path_) + ": " + e.what()
                                    : "on " + quote(path_) + ": " + e.what());
  }
  if (!statement->read_only() || statement->column_count() == 0) {
    throw args.error(key,
                     "must be a SELECT: SQLReader runs a statement that returns rows, on a "
                     "database opened read-only");
  }

  std::vector<std::string> result;
  for (int i = 0; i < statement->column_count(); ++i)
    result.push_back(statement->column_name(i));
  if (field_names_.empty()) {
    // Every column of the query's result, by its name: the names must tell them apart.
    std::set<std::string> seen;
    for (const auto& name : result) {
      if (!seen.insert(name).second) {
        throw args.error("query", "has two result columns named " + quote(name) +
                                      ": name them apart (AS) or choose with 'field_names'");
      }
    }
    field_names_ = result;
  }
  std::string missing;
  for (const auto& field : field_names_) {
    int column = 0;
    while (column < static_cast<int>(result.size()) && result[column] != field)
      ++column;
    if (column == static_cast<int>(result.size())) {
      missing += (missing.empty() ? "" : ", ") + quote(field);
    }
    columns_.push_back(column);
  }
  if (!missing.empty()) throw args.error("field_names", "names no column of the query: " + missing);
  for (const auto& field : field_names_)
    outputs_by_field_.push_back(&add_output<Value>(field));
}

SQLReader::~SQLReader() = default;

void SQLReader::init() {
  state_ = std::make_unique<State>();
  try {
    state_->db.emplace(path_, SQLITE_OPEN_READONLY, kBusyMs);
  } catch (const sqlite::Failure& e) {
    throw Error(quote(path_) + ": cannot open the database: " + e.what());
  }
  try {
    state_->statement.emplace(*state_->db, sql_);
  } catch (const sqlite::Failure& e) {
    throw Error(quote(path_) + ": cannot prepare " + quote(sql_) + ": " + e.what());
  }
  if (state_->statement->column_count() <= *std::max_element(columns_.begin(), columns_.end())) {
    throw Error(quote(path_) + ": the query's result changed since the model was checked");
  }
  state_->db->interrupt_when([this] { return stop_requested(); });
}

bool SQLReader::fetch() {
  State& state = *state_;
  sqlite::Statement& statement = *state.statement;
  for (std::size_t n = 0; n < chunk_rows_; ++n) {
    try {
      if (!statement.step()) {
        state.done = true;
        return true;
      }
    } catch (const sqlite::Failure& e) {
      if ((e.code() & 0xff) == SQLITE_INTERRUPT) return false;
      throw Error(quote(path_) + ": reading row " + std::to_string(state.rows_read + 1) +
                  " failed: " + e.what());
    }
    ++state.rows_read;
    std::vector<Value> row;
    row.reserve(columns_.size());
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (statement.is_blob(columns_[i])) {
        throw Error(quote(path_) + ": row " + std::to_string(state.rows_read) + ", column " +
                    quote(field_names_[i]) +
                    " is a BLOB: SQLReader reads INTEGER, REAL, TEXT and NULL (convert it in "
                    "the query, e.g. hex() or CAST(... AS TEXT))");
      }
      row.push_back(statement.column(columns_[i]));
    }
    state.rows.push_back(std::move(row));
  }
  return true;
}

void SQLReader::step() {
  State& state = *state_;
  if (state.interrupted) return;
  if (state.rows.empty() && !state.done && !fetch()) {
    state.interrupted = true;
    return;
  }
  if (state.rows.empty()) {
    close();
    return;
  }
  std::vector<Value>& row = state.rows.front();
  for (std::size_t i = 0; i < outputs_by_field_.size(); ++i)
    *outputs_by_field_[i] = std::move(row[i]);
  state.rows.pop_front();
}

void SQLReader::teardown(Status) {
  state_.reset();
}

}  // namespace patchbay::library
