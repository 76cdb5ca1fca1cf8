#include <patchbay/internal/value_codec.hpp>
#include <patchbay/library.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/text.hpp"
#include "library/sqlite.hpp"

namespace patchbay::library {

using detail::quote;

namespace {

// How long a write waits for a lock that another connection holds before it fails.
constexpr int kBusyMs = 5000;

// The columns of `table` in `db`; empty when there is no such table.
std::vector<std::string> columns_of(sqlite::Database& db, const std::string& table) {
  sqlite::Statement statement(db, "SELECT name FROM pragma_table_info(?1)");
  statement.bind(1, Value(table));
  std::vector<std::string> columns;
  while (statement.step())
    columns.push_back(statement.column(0).to_string());
  return columns;
}

// The fields that name no column of `columns`, quoted, as SQLite compares names (ASCII case
// ignored); empty when each has its column.
std::string missing_columns(const std::vector<std::string>& fields,
                            const std::vector<std::string>& columns) {
  std::string missing;
  for (const auto& field : fields) {
    bool found = false;
    for (const auto& column : columns)
      found = found || sqlite3_stricmp(field.c_str(), column.c_str()) == 0;
    if (!found) missing += (missing.empty() ? "" : ", ") + quote(field);
  }
  return missing;
}

// The directory that holds `path`.
std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

struct SQLWriter::State {
  std::optional<sqlite::Database> db;
  std::optional<sqlite::Statement> insert;  // destroyed before the database
  bool in_transaction = false;              // BEGIN ran, COMMIT not yet
  std::size_t pending = 0;                  // rows inserted in the open transaction
  std::uint64_t rows = 0;                   // rows inserted
};

SQLWriter::SQLWriter(const ComponentArgs& args)
    : Component(args),
      path_(sqlite::database_arg(args, "SQLWriter").path),
      table_(args.get<std::string>("table")),
      field_names_(args.get<std::vector<std::string>>("field_names")) {
  const char* key = args.contains("path") ? "path" : "connection_string";
  if (table_.empty()) throw args.error("table", "must not be empty");
  if (field_names_.empty()) throw args.error("field_names", "must name at least one column");
  if (args.contains("chunk_size")) {
    const auto rows = args.get<std::int64_t>("chunk_size");
    if (rows < 1) throw args.error("chunk_size", "must be at least 1 (rows)");
    chunk_rows_ = static_cast<std::size_t>(rows);
  }
  for (const auto& field : field_names_)
    inputs_by_field_.push_back(&add_input<Value>(field));

  // Checked now, creating nothing, so that a database that cannot be written is a model error
  // before anything runs. init() looks again: the file may change meanwhile.
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      throw args.error(key, quote(path_) + ": " + std::strerror(errno));
    }
    const std::string directory = directory_of(path_);
    if (::stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw args.error(key, quote(path_) + ": directory " + quote(directory) + " does not exist");
    }
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    throw args.error(key, quote(path_) +
                              " is not a regular file: SQLWriter writes a "
                              "database file");
  }
  std::vector<std::string> columns;
  try {
    sqlite::Database db(path_, SQLITE_OPEN_READONLY, kBusyMs);
    columns = columns_of(db, table_);
  } catch (const sqlite::Failure& e) {
    throw args.error(key, quote(path_) + ": cannot read the database: " + e.what());
  }
  if (columns.empty()) return;  // created by init()
  if (const std::string missing = missing_columns(field_names_, columns); !missing.empty()) {
    throw args.error("field_names", "table " + quote(table_) + " in " + quote(path_) +
                                        " exists and has no column " + missing +
                                        ": write to another table, or give the fields its "
                                        "column names");
  }
}

SQLWriter::~SQLWriter() = default;

void SQLWriter::init() {
  state_ = std::make_unique<State>();
  State& state = *state_;
  const std::string where = "table " + quote(table_) + " in " + quote(path_);
  try {
    state.db.emplace(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, kBusyMs);
  } catch (const sqlite::Failure& e) {
    throw Error(quote(path_) + ": cannot open the database for writing: " + e.what());
  }
  try {
    state.db->exec("CREATE TABLE IF NOT EXISTS " + sqlite::quote_identifier(table_) + " (" +
                   sqlite::identifier_list(field_names_) + ")");
    if (const std::string missing = missing_columns(field_names_, columns_of(*state.db, table_));
        !missing.empty()) {
      throw Error(where + " exists and has no column " + missing);
    }
    std::string values;
    for (std::size_t i = 0; i < field_names_.size(); ++i)
      values += i == 0 ? "?" : ", ?";
    state.insert.emplace(*state.db, "INSERT INTO " + sqlite::quote_identifier(table_) + " (" +
                                        sqlite::identifier_list(field_names_) + ") VALUES (" +
                                        values + ")");
  } catch (const sqlite::Failure& e) {
    throw Error(where + ": " + e.what());
  }
}

void SQLWriter::step() {
  State& state = *state_;
  try {
    if (!state.in_transaction) {
      state.db->exec("BEGIN");
      state.in_transaction = true;
    }
    for (std::size_t i = 0; i < inputs_by_field_.size(); ++i) {
      // A string that is exactly how a number is written ("7", "2.5": a CSV cell) goes in as
      // that number, which reads back as the same text; any other string ("007") as text.
      const Value& value = inputs_by_field_[i]->value();
      const std::optional<Value> number =
          value.is_string() ? detail::canonical_number(value.as_string()) : std::nullopt;
      state.insert->bind(static_cast<int>(i + 1), number ? *number : value);
    }
    (void)state.insert->step();
    state.insert->reset();
    ++state.rows;
    if (++state.pending >= chunk_rows_) {
      state.db->exec("COMMIT");
      state.in_transaction = false;
      state.pending = 0;
    }
  } catch (const sqlite::Failure& e) {
    throw Error("table " + quote(table_) + " in " + quote(path_) + ": writing row " +
                std::to_string(state.rows + 1) + " failed: " + e.what());
  }
}

void SQLWriter::teardown(Status) {
  if (!state_) return;
  // The rows received are committed whatever the end, as FileWriter keeps them.
  std::unique_ptr<State> state = std::move(state_);
  if (!state->in_transaction) return;
  try {
    state->insert.reset();
    state->db->exec("COMMIT");
  } catch (const sqlite::Failure& e) {
    throw Error("table " + quote(table_) + " in " + quote(path_) + ": committing the last " +
                std::to_string(state->pending) + " rows failed: " + e.what());
  }
}

}  // namespace patchbay::library
