// SQLite for SQLReader and SQLWriter: a connection and a prepared statement that close
// themselves, values bound and read as patchbay::Value, and identifiers quoted for SQL text.
#pragma once

#include <patchbay/component_args.hpp>
#include <patchbay/value.hpp>

#include <sqlite3.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay::library::sqlite {

/// What SQLite refused, with its own message (errmsg). The components turn it into a
/// ModelError or an Error naming themselves and the database.
class Failure : public std::runtime_error {
 public:
  Failure(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  /// SQLite's result code (SQLITE_INTERRUPT for a statement interrupted by a stop).
  [[nodiscard]] int code() const { return code_; }

 private:
  int code_;
};

/// The database file that a component's arguments name, and the argument that named it.
struct DatabaseArg {
  std::string path;
  const char* key = "path";
};

/// `path`, or Plugboard's `connection_string` as SQLAlchemy spells an SQLite database:
/// sqlite:///relative/file.db or sqlite:////absolute/file.db, with or without a driver
/// (sqlite+aiosqlite://...). Throws ModelError for both, neither, an empty path, another
/// database, an in-memory one or URL parameters.
DatabaseArg database_arg(const ComponentArgs& args, const char* component);

/// `name` as an SQL identifier: between double quotes, each double quote doubled, so that any
/// name (a keyword, spaces, quotes) names exactly itself and never adds SQL.
std::string quote_identifier(std::string_view name);

/// "\"a\", \"b\"": the names as a column list.
std::string identifier_list(const std::vector<std::string>& names);

/// An open connection to a database file.
class Database {
 public:
  /// Opens `path` with sqlite3_open_v2 `flags` (SQLITE_OPEN_READONLY, or SQLITE_OPEN_READWRITE |
  /// SQLITE_OPEN_CREATE); URIs are not interpreted: the path is a file name. Waits up to
  /// `busy_ms` for a lock another connection holds. Throws Failure.
  Database(const std::string& path, int flags, int busy_ms);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  [[nodiscard]] sqlite3* handle() const { return db_; }
  /// SQLite's message about the last call on this connection.
  [[nodiscard]] std::string message() const;
  /// Runs `sql` (statements without results: BEGIN, COMMIT, CREATE TABLE). Throws Failure.
  void exec(const std::string& sql);
  /// While it is set, a running statement asks `stop` every few thousand instructions and is
  /// interrupted (Failure with SQLITE_INTERRUPT) when it returns true. Empty: never.
  void interrupt_when(std::function<bool()> stop);

 private:
  static int progress(void* self);

  sqlite3* db_ = nullptr;
  std::function<bool()> stop_;
};

/// One prepared statement of a Database, which must outlive it.
class Statement {
 public:
  /// Prepares `sql`, which must be a single statement (a trailing ';' allowed). Throws Failure.
  Statement(Database& db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  /// Runs the statement to its next row: true when there is one, false when it is done.
  /// Throws Failure.
  bool step();
  /// Makes it ready to run again, its bindings cleared. Throws Failure.
  void reset();

  /// Binds `value` to parameter `index` (from 1): null as NULL, a bool as 0 or 1, an integer as
  /// INTEGER, a double as REAL, a string as TEXT, anything else as the TEXT of to_string().
  void bind(int index, const Value& value);

  /// Whether the statement leaves the database as it was (a SELECT).
  [[nodiscard]] bool read_only() const;
  [[nodiscard]] int column_count() const;
  [[nodiscard]] std::string column_name(int column) const;
  /// Whether column `column` of the current row is a BLOB.
  [[nodiscard]] bool is_blob(int column) const;
  /// Column `column` of the current row: INTEGER as int64, REAL as double, TEXT as string,
  /// NULL as null. A BLOB is for the caller to refuse (is_blob()); here it reads as null.
  [[nodiscard]] Value column(int column) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace patchbay::library::sqlite
