// CSV codec (RFC 4180) for the file components of the library.
//
// Reading follows RFC 4180 and is lenient where that costs nothing:
//  - fields are separated by ',' and rows end with CRLF, LF or a lone CR; the last row may lack
//    a line ending;
//  - a field that starts with '"' is quoted: it runs to the next lone '"', may hold ',', CR and
//    LF, and "" inside it stands for one '"'. Text between the closing quote and the next ',' or
//    line ending is kept literally ("ab"c -> abc);
//  - a '"' inside an unquoted field is kept literally (a"b -> a"b);
//  - completely empty lines (outside quotes) are skipped, so a trailing blank line gives no row;
//    a line with only spaces is a row with one field of spaces. Whitespace is never trimmed;
//  - a UTF-8 byte order mark at the very start of the input is skipped;
//  - a quoted field still open at the end of the input is a ModelError.
// Hostile input is bounded: a row longer than the Reader's max_row_bytes (1 MiB unless told
// otherwise) and a NUL byte anywhere in a row are ModelErrors too, so that a binary file or an
// endless stream (/dev/zero) ends with a clear error instead of growing without bound.
// Writing produces what the reader reads back exactly (see write_row for the exception).
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay::csv {

/// Reads rows one at a time from a stream: the entry point for parsing CSV from a file, a
/// pipe or a buffer in memory (an std::istringstream; this is what a fuzzer drives).
/// Not thread-safe: one Reader (and its stream) belongs to one thread at a time.
///
///     std::istringstream in("a,b\n1,2\n");
///     patchbay::csv::Reader reader(in, "'data.csv'");
///     for (std::vector<std::string> row; reader.next_row(row);) use(row);
class Reader {
 public:
  /// The longest row accepted unless the constructor is told otherwise: its bytes from the
  /// first of its first field to the last of its last, quotes and separators included.
  static constexpr std::size_t default_max_row_bytes = std::size_t{1} << 20;

  /// Reads from `in`, which must outlive the Reader. `name` names the input in error messages
  /// as it is: a caller with a name from outside (a path) passes it quoted
  /// (patchbay::detail::quote). The Reader reads `in`'s stream buffer directly and ahead of the
  /// rows it returned (up to 64 KiB already available), so nothing else should read `in`
  /// meanwhile. Blocks only for input it needs to complete the current row. Holds at most
  /// about `max_row_bytes` + 64 KiB of input, however long the input's rows are.
  Reader(std::istream& in, std::string name, std::size_t max_row_bytes = default_max_row_bytes);

  /// Reads the next row into `fields` (replacing its contents; the strings' storage is reused).
  /// Returns false, with `fields` empty, once the input is exhausted.
  /// Throws patchbay::ModelError located at `name` and the 1-based line where the row began
  /// (also what line() then returns) when a quoted field is not closed before the end of the
  /// input, when the row is longer than max_row_bytes, or when it holds a NUL byte; the message
  /// names the field but never quotes the input. Later calls return false.
  /// Exceptions from the stream buffer pass through, and leave the Reader unusable.
  bool next_row(std::vector<std::string>& fields);

  /// The 1-based line on which the row last returned by next_row() began; 0 before the first.
  [[nodiscard]] std::int64_t line() const { return row_line_; }

  /// The longest row this Reader accepts, in bytes.
  [[nodiscard]] std::size_t max_row_bytes() const { return max_row_bytes_; }

  /// The name given at construction.
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  static constexpr std::size_t kCapacity = std::size_t{64} * 1024;
  static constexpr int kEnd = -1;

  int peek();
  void advance() { ++pos_; }
  bool fill();  // reads more input after what is unread; false (and nothing read) at the end
  void skip_bom();
  void read_quoted(std::string& field, std::size_t index);
  void read_unquoted(std::string& field, std::size_t index);
  void end_of_line();  // consumes CRLF, LF or CR at pos_ and counts the line
  // Throws if the row read so far is longer than max_row_bytes_ or `stop` is a NUL byte.
  void check_row(char stop, std::size_t index);
  [[noreturn]] void fail(const std::string& message);

  std::istream& in_;
  std::string name_;
  std::size_t max_row_bytes_;
  std::unique_ptr<char[]> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::uint64_t offset_ = 0;     // bytes of the input before buffer_[0]
  std::uint64_t row_start_ = 0;  // offset of the current row's first byte
  bool at_end_ = false;
  bool started_ = false;
  bool failed_ = false;
  std::int64_t line_ = 1;      // line of the next unread character
  std::int64_t row_line_ = 0;  // line where the last returned row began
};

/// Appends one field to `out`, quoting it only when needed: when it contains ',', '"', CR or
/// LF, starts or ends with a space or tab, or starts with a UTF-8 byte order mark. Quotes are
/// doubled inside quoted fields. Thread-safety: as safe as changing `out`.
void append_field(std::string& out, std::string_view field);

/// Appends one row to `out`: the fields separated by ',' and terminated by "\n" (RFC 4180 says
/// CRLF; LF suits POSIX tools and the Reader accepts both). A row of one empty field is written
/// as "" so that it does not read back as a skipped blank line; a row of no fields is written as
/// a bare "\n" and so reads back as nothing. Thread-safety: as safe as changing `out`.
void append_row(std::string& out, const std::vector<std::string>& fields);

/// append_field() to a stream. Thread-safety: as safe as writing to `out`.
void write_field(std::ostream& out, std::string_view field);

/// append_row() to a stream. Thread-safety: as safe as writing to `out`.
void write_row(std::ostream& out, const std::vector<std::string>& fields);

/// How FileReader and FileWriter store rows, from the file name a path ends in.
enum class FileFormat : unsigned char { csv, csv_gzip };

/// The format `path` names: a name ending in ".csv" is CSV, one ending in ".csv.gz" is
/// gzip-compressed CSV (letter case aside), and a name without a '.' after its first character
/// (a device, a FIFO: "/dev/stdout") is CSV. Anything else is nullopt, with `why` saying what
/// the name says and what is expected.
std::optional<FileFormat> format_of(std::string_view path, std::string& why);

}  // namespace patchbay::csv
