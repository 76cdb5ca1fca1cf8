#include "library/sqlite.hpp"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>

namespace patchbay::library::sqlite {

namespace {

// Virtual machine instructions between two looks for a stop while a statement runs.
constexpr int kProgressInstructions = 10000;

}  // namespace

DatabaseArg database_arg(const ComponentArgs& args, const char* component) {
  DatabaseArg arg;
  const bool has_path = args.contains("path");
  if (has_path && args.contains("connection_string")) {
    throw args.error("connection_string", "and 'path' are both given: name the database once");
  }
  if (has_path || !args.contains("connection_string")) {
    arg.path = args.get_path("path");
    if (arg.path.empty()) throw args.error("path", "must not be empty");
    return arg;
  }
  arg.key = "connection_string";
  const std::string url = args.get<std::string>("connection_string");
  const std::size_t colon = url.find("://");
  const std::string scheme = url.substr(0, colon);
  if (colon == std::string::npos || (scheme != "sqlite" && !scheme.starts_with("sqlite+"))) {
    throw args.error("connection_string", std::string("must name an SQLite database file: ") +
                                              component +
                                              " takes sqlite:///FILE (or 'path: FILE')");
  }
  std::string rest = url.substr(colon + 3);
  if (rest.find('?') != std::string::npos) {
    throw args.error("connection_string", "takes no parameters after '?'");
  }
  // sqlite:///a.db is the relative path a.db, sqlite:////tmp/a.db the absolute /tmp/a.db.
  if (rest.size() < 2 || rest[0] != '/') {
    throw args.error("connection_string",
                     "must name a database file (sqlite:///FILE): an in-memory database holds "
                     "nothing before the run and nothing after it");
  }
  arg.path = args.resolve_path(rest.substr(1));
  return arg;
}

std::string quote_identifier(std::string_view name) {
  std::string quoted = "\"";
  for (const char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string identifier_list(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& name : names) {
    if (!list.empty()) list += ", ";
    list += quote_identifier(name);
  }
  return list;
}

Database::Database(const std::string& path, int flags, int busy_ms) {
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    // The handle (when there is one) carries the message, and must be closed all the same.
    std::string what = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    // "unable to open database file" says little: the system's reason says why.
    if (const int error = db_ != nullptr ? sqlite3_system_errno(db_) : 0; error != 0) {
      what += std::string(" (") + std::strerror(error) + ")";
    }
    sqlite3_close(db_);
    db_ = nullptr;
    throw Failure(rc, what);
  }
  sqlite3_extended_result_codes(db_, 1);
  // A double-quoted name is an identifier, never a string literal: without this, SQLite reads
  // a quoted column that does not exist as the text of its name.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_busy_timeout(db_, busy_ms);
}

Database::~Database() {
  // A transaction still open is rolled back; statements are finalized before (they are
  // members of the components, declared after their Database).
  sqlite3_close(db_);
}

std::string Database::message() const {
  return sqlite3_errmsg(db_);
}

void Database::exec(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string what = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw Failure(rc, what);
  }
}

void Database::interrupt_when(std::function<bool()> stop) {
  stop_ = std::move(stop);
  if (stop_) {
    sqlite3_progress_handler(db_, kProgressInstructions, &Database::progress, this);
  } else {
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
  }
}

int Database::progress(void* self) {
  const auto* db = static_cast<const Database*>(self);
  return db->stop_ && db->stop_() ? 1 : 0;
}

Statement::Statement(Database& db, const std::string& sql) : db_(db) {
  const char* tail = nullptr;
  const int rc =
      sqlite3_prepare_v2(db.handle(), sql.c_str(), static_cast<int>(sql.size() + 1), &stmt_, &tail);
  if (rc != SQLITE_OK) throw Failure(rc, db.message());
  if (stmt_ == nullptr) throw Failure(SQLITE_MISUSE, "it holds no SQL statement");
  // Anything after the statement but spaces and semicolons would be silently ignored.
  for (; tail != nullptr && *tail != '\0'; ++tail) {
    if (*tail != ';' && std::isspace(static_cast<unsigned char>(*tail)) == 0) {
      sqlite3_finalize(std::exchange(stmt_, nullptr));
      throw Failure(SQLITE_MISUSE, "it holds more than one SQL statement");
    }
  }
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const int code = sqlite3_extended_errcode(db_.handle());
  std::string what = db_.message();
  sqlite3_reset(stmt_);
  throw Failure(code, what);
}

void Statement::reset() {
  sqlite3_clear_bindings(stmt_);
  if (const int rc = sqlite3_reset(stmt_); rc != SQLITE_OK) throw Failure(rc, db_.message());
}

void Statement::bind(int index, const Value& value) {
  int rc = SQLITE_OK;
  switch (value.kind()) {
    case Value::Kind::null:
      rc = sqlite3_bind_null(stmt_, index);
      break;
    case Value::Kind::boolean:
      rc = sqlite3_bind_int64(stmt_, index, value.as_bool() ? 1 : 0);
      break;
    case Value::Kind::integer:
      rc = sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(value.as_int()));
      break;
    case Value::Kind::real:
      rc = sqlite3_bind_double(stmt_, index, value.as_double());
      break;
    case Value::Kind::string: {
      const std::string& text = value.as_string();
      rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
      break;
    }
    default: {
      const std::string text = value.to_string();
      rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
      break;
    }
  }
  if (rc != SQLITE_OK) throw Failure(rc, db_.message());
}

bool Statement::read_only() const {
  return sqlite3_stmt_readonly(stmt_) != 0;
}

int Statement::column_count() const {
  return sqlite3_column_count(stmt_);
}

std::string Statement::column_name(int column) const {
  const char* name = sqlite3_column_name(stmt_, column);
  return name != nullptr ? name : "";
}

bool Statement::is_blob(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_BLOB;
}

Value Statement::column(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_INTEGER:
      return Value(static_cast<std::int64_t>(sqlite3_column_int64(stmt_, column)));
    case SQLITE_FLOAT:
      return Value(sqlite3_column_double(stmt_, column));
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
      return Value(std::string(text != nullptr ? text : "", size));
    }
    default:
      return {};
  }
}

}  // namespace patchbay::library::sqlite
