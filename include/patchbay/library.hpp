// The library components that Registry::global() holds. Each is a Component, with its
// thread-safety: constructed on one thread, run on its fiber.
#pragma once

#include <patchbay/component.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace patchbay {
class Registry;
}

namespace patchbay::detail {
/// The `capacity` argument of an Ingress or Egress (bytes of its ring to the host; 0, the
/// default: the process's channel_capacity), checked; the `type` argument checked against
/// `type`. Throws ModelError.
std::size_t host_port_capacity(const ComponentArgs& args, const PortType& type);
}  // namespace patchbay::detail

namespace patchbay::library {

/// Emits 0, 1, ..., iters-1 on output `x` (int64), then closes.
/// Arguments: `iters` (integer >= 0).
class Iterator final : public Component {
 public:
  explicit Iterator(const ComponentArgs& args);
  Iterator(std::string name, std::int64_t iters);
  void step() override;

  Output<std::int64_t> x{this, "x"};

 private:
  std::int64_t iters_;
  std::int64_t next_ = 0;
};

/// Passes input `x` to output `y` after blocking the thread for `sleep_seconds` (on purpose:
/// it stands for a computation that holds its core).
/// Arguments: `sleep_seconds` (number >= 0).
class Sleep final : public Component {
 public:
  explicit Sleep(const ComponentArgs& args);
  Sleep(std::string name, double sleep_seconds);
  void step() override;

  Input<Value> x{this, "x"};
  Output<Value> y{this, "y"};

 private:
  std::chrono::nanoseconds duration_;
};

/// When inputs `x` and `y` both hold a new value, emits the current local time as ISO 8601
/// with microseconds (2026-01-31T12:34:56.123456) on output `timestamp` (string).
class Timestamper final : public Component {
 public:
  explicit Timestamper(const ComponentArgs& args);
  explicit Timestamper(std::string name);
  void step() override;

  Input<Value> x{this, "x"};
  Input<Value> y{this, "y"};
  Output<std::string> timestamp{this, "timestamp"};
};

/// Reads a CSV file with a header row and emits one output per name in `field_names`, one row
/// per step; closes at the end of the file. Cells become int, double, or string (empty: null).
/// Arguments: `path`, `field_names` (list of column names, each must exist in the header).
///
/// `path` is a regular file, a FIFO or a character device (`/dev/stdin`); a missing or
/// unreadable path, a directory, a socket or a block device is a ModelError at construction,
/// which only looks at the path: the file is opened and read in init() and step(), never while
/// a model is validated. It is read as it is needed, a row at a time, and a stop is honoured
/// before each read and while waiting for a FIFO's writer or input. A row is at most 1 MiB
/// (1,048,576 bytes, quotes and separators included) and holds no NUL byte: anything else
/// fails the run naming the file and line, so an endless input (`/dev/zero`) ends at once.
/// Error messages name the file, the line and what was expected, never the file's content.
/// While it waits for a FIFO's input it holds its thread, like Sleep: the components on that
/// thread run when it has a row, so give a reader of live input a worker of its own. A stop that
/// comes during that wait ends the step early, and the run stops before another step.
class FileReader final : public Component {
 public:
  explicit FileReader(const ComponentArgs& args);
  FileReader(std::string name, std::string path, std::vector<std::string> field_names);
  ~FileReader() override;
  void init() override;
  void step() override;
  void teardown(Status final_status) override;

 private:
  struct State;
  std::string path_;
  std::vector<std::string> field_names_;
  std::vector<Output<Value>*> outputs_by_field_;
  unsigned char format_ = 0;  // csv::FileFormat
  std::unique_ptr<State> state_;
};

/// Writes one CSV row per step with a header row of `field_names` (one input per name), with
/// RFC 4180 quoting. Arguments: `path`, `field_names` (list of names).
///
/// What `path` names decides how it is written; nothing but a regular file is ever replaced:
///  - a regular file, or nothing yet: symbolic links are followed to the final target, and rows
///    go to `TARGET.partial` next to it (created new, never through a link, mode 0666 less the
///    umask). When the inputs close it is renamed over TARGET, so a link stays a link. An older
///    TARGET is removed at init(), and if the process fails or is stopped the rows received so
///    far stay in `TARGET.partial`: a file under TARGET is always complete;
///  - a character device, a FIFO or a socket (`/dev/null`, `/dev/stdout`, a named pipe) is
///    written in place, with no partial file and no rename. A FIFO without a reader is waited
///    for, as is room in it; a stop ends either wait. Rows already written cannot be taken
///    back: after a failure or a stop the target has the rows written so far (in blocks of
///    64 KiB), and those still buffered if it takes them without waiting;
///  - a directory or anything else is a ModelError naming the path.
class FileWriter final : public Component {
 public:
  explicit FileWriter(const ComponentArgs& args);
  FileWriter(std::string name, std::string path, std::vector<std::string> field_names);
  ~FileWriter() override;
  void init() override;
  void step() override;
  void teardown(Status final_status) override;

 private:
  struct State;
  void open_direct();
  void open_partial();
  bool write_out(bool wait);  // writes the buffered rows; false if a stop left some unwritten
  void pack(bool finish);     // the rows gathered into the bytes to write (compressed for gzip)

  std::string path_;
  std::vector<std::string> field_names_;
  std::vector<Input<Value>*> inputs_by_field_;
  std::unique_ptr<State> state_;
  std::vector<std::string> row_;
  bool gzip_ = false;           // the path ends in .csv.gz
  std::size_t chunk_rows_ = 0;  // chunk_size: rows per write; 0: blocks of 64 KiB
};

/// Reads the rows of an SQLite database, one row per step, on one output per name in
/// `field_names`; closes when the rows run out.
/// Arguments: `path` (the database file; or Plugboard's `connection_string`, sqlite:///FILE),
/// then either `table` with `field_names` (the columns read; rows in the order SQLite gives
/// them: a `query` with ORDER BY sets one), or `query` (one SELECT statement, run as written) with
/// optional `field_names` (columns of its result, by name; default: all of them, which must then
/// be named apart); `chunk_size` (rows fetched from SQLite at a time, at least 1; default: one
/// row as it is needed).
///
/// Values: INTEGER becomes an int, REAL a double, TEXT a string, NULL null. A BLOB fails the run
/// naming the row and column: convert it in the query (`hex(data)`, `CAST(data AS TEXT)`).
///
/// The database is opened read-only (SQLITE_OPEN_READONLY) and the statement prepared at
/// construction, then closed again: a missing or unreadable file, a file that is not a
/// database, a missing table or column and a query SQLite rejects are a ModelError naming the
/// component, the path and SQLite's message, before anything runs. init() opens it again for
/// the run. A stop interrupts a statement that is running (a long sort, say).
class SQLReader final : public Component {
 public:
  explicit SQLReader(const ComponentArgs& args);
  ~SQLReader() override;
  void init() override;
  void step() override;
  void teardown(Status final_status) override;

 private:
  struct State;
  bool fetch();  // reads the next rows into the state; false when a stop interrupted it

  std::string path_;
  std::string sql_;  // the SELECT run
  std::vector<std::string> field_names_;
  std::vector<int> columns_;  // per field, its column in the result
  std::vector<Output<Value>*> outputs_by_field_;
  std::size_t chunk_rows_ = 1;  // rows fetched at a time
  std::unique_ptr<State> state_;
};

/// Writes one row per step into table `table` of an SQLite database, one column per name in
/// `field_names` (one input per name).
/// Arguments: `path` (the database file, created when missing; or Plugboard's
/// `connection_string`, sqlite:///FILE), `table`, `field_names`,
/// `chunk_size` (rows per transaction, at least 1; default 1000).
///
/// A missing table is created with the fields as its columns, without types (SQLite keeps each
/// value as it comes). An existing table must have a column for every field (compared as SQLite
/// compares names, ignoring ASCII case); its other columns take their defaults. Names are quoted
/// as SQL identifiers, so any name is a name and never SQL. Rows are inserted with a prepared
/// statement, each value bound by its kind: null as NULL, a bool as 0 or 1, an int as INTEGER,
/// a double as REAL, a string as TEXT, any other value (a list) as its text (to_string()).
///
/// Rows are committed every `chunk_size` rows and at teardown, whatever the end: after a run
/// (completed, stopped or failed) the table holds every row the writer received. A directory
/// that does not exist, a file that is not a database and a table without a field's column
/// are a ModelError at construction, which creates nothing; init() creates the file and table.
class SQLWriter final : public Component {
 public:
  explicit SQLWriter(const ComponentArgs& args);
  ~SQLWriter() override;
  void init() override;
  void step() override;
  void teardown(Status final_status) override;

 private:
  struct State;

  std::string path_;
  std::string table_;
  std::vector<std::string> field_names_;
  std::vector<Input<Value>*> inputs_by_field_;
  std::size_t chunk_rows_ = 1000;  // rows per transaction
  std::unique_ptr<State> state_;
};

/// Where a model's host sends messages in (serve.hpp): what host threads push through a Sender,
/// or send as requests through a Client, comes out of output `out` in order, one per step. Its
/// input `host` is the host's end: no connector reaches it. It completes, once it has sent what
/// was pushed, when the host closes it (Sender::close()) or the process drains.
/// Arguments: `type` (what it carries: int64, double, bool, string, bytes, or Value, the
/// default; in code, T), `capacity` (bytes of its ring from the host, a power of two from 64;
/// default: the process's channel_capacity; a full ring makes pushes wait).
template <class T>
class Ingress final : public Component {
 public:
  explicit Ingress(const ComponentArgs& args) : Component(args) {
    patchbay::detail::make_host_port(host,
                                     patchbay::detail::host_port_capacity(args, port_type<T>()));
  }
  explicit Ingress(std::string name, std::size_t capacity = 0)
      : Ingress(
            ComponentArgs(std::move(name), {{"capacity", static_cast<std::int64_t>(capacity)}})) {}
  void step() override { out = host.value(); }

  Input<T> host{this, "host"};
  Output<T> out{this, "out"};
};

/// Where a model's messages leave for its host (serve.hpp): what reaches input `in` is taken by
/// host threads through a Receiver, or answers a Client's requests, in order. Its output `host`
/// is the host's end: no connector reaches it. While the host takes nothing its ring fills and
/// it waits, as on any full channel.
/// Arguments: `type` and `capacity`, as Ingress.
template <class T>
class Egress final : public Component {
 public:
  explicit Egress(const ComponentArgs& args) : Component(args) {
    patchbay::detail::make_host_port(host,
                                     patchbay::detail::host_port_capacity(args, port_type<T>()));
  }
  explicit Egress(std::string name, std::size_t capacity = 0)
      : Egress(
            ComponentArgs(std::move(name), {{"capacity", static_cast<std::int64_t>(capacity)}})) {}
  void step() override { host = in.value(); }

  Input<T> in{this, "in"};
  Output<T> host{this, "host"};
};

/// Registers the library components in `registry` (Registry::global() holds them already).
/// Throws patchbay::Error when one of their names is already registered there. Thread-safe.
void register_library(Registry& registry);

}  // namespace patchbay::library
