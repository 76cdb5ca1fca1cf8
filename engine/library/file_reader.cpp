#include <patchbay/library.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <istream>
#include <optional>
#include <streambuf>

#include "core/text.hpp"
#include "library/csv.hpp"
#include "library/gzip.hpp"

namespace patchbay::library {

using detail::quote;

namespace {

// How long a read waits for input before it looks for a stop again.
constexpr int kStopPollMs = 20;

// A cell as its text, unchanged ("007", "1e3" and "2.50" stay as written); an empty cell is
// null. A component that reads a number gets the number the text spells (Value::as_double(),
// a typed port).
Value parse_cell(const std::string& cell) {
  if (cell.empty()) return {};
  return Value(cell);
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

// Thrown through the CSV reader when the run stops while a read waits for input.
struct Interrupted {};

// The file's bytes for the CSV reader, read as they are needed (64 KiB at a time), so that an
// endless input (/dev/zero, a FIFO) is parsed row by row within the reader's bounds. Before each
// read it looks for a stop; on a FIFO or a device it waits for input in slices of kStopPollMs,
// so that a stop ends a wait for a writer that never comes.
class InputFile final : public std::streambuf {
 public:
  InputFile(const Component& owner, const std::string& path, csv::FileFormat format)
      : owner_(owner), quoted_path_(quote(path)) {
    if (format == csv::FileFormat::csv_gzip) inflater_.emplace(path);
    // O_NONBLOCK: opening a FIFO waits for no writer (poll() below waits, stoppably).
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) {
      throw Error("cannot open " + quoted_path_ + " for reading: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int error = errno;
      ::close(fd_);
      throw Error("cannot read " + quoted_path_ + ": " + std::strerror(error));
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
      ::close(fd_);
      throw Error(quoted_path_ + " is " + file_kind(st.st_mode) +
                  ": FileReader reads a regular file, a FIFO or a character device");
    }
    regular_ = S_ISREG(st.st_mode);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() override { ::close(fd_); }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (!inflater_) {
      const std::size_t got = read_some(buffer_, sizeof buffer_);
      if (got == 0) return traits_type::eof();
      setg(buffer_, buffer_, buffer_ + got);
      return traits_type::to_int_type(*gptr());
    }
    // gzip: decompress what was read; read more when it is used up.
    for (;;) {
      if (const std::size_t made = inflater_->inflate(buffer_, sizeof buffer_); made != 0) {
        setg(buffer_, buffer_, buffer_ + made);
        return traits_type::to_int_type(*gptr());
      }
      const std::size_t got = read_some(compressed_, sizeof compressed_);
      if (got == 0) {
        if (!inflater_->at_member_end()) {
          throw Error(quoted_path_ + " ends in the middle of its gzip stream (truncated?)");
        }
        return traits_type::eof();
      }
      inflater_->feed(reinterpret_cast<const unsigned char*>(compressed_), got);
    }
  }

 private:
  // Reads up to `capacity` bytes of the file; 0 at its end.
  std::size_t read_some(char* into, std::size_t capacity) {
    for (;;) {
      if (owner_.stop_requested()) throw Interrupted{};
      if (!regular_) {
        pollfd ready{fd_, POLLIN, 0};
        const int polled = ::poll(&ready, 1, kStopPollMs);
        if (polled == 0 || (polled < 0 && errno == EINTR)) continue;
      }
      const ssize_t got = ::read(fd_, into, capacity);
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR && errno != EAGAIN) {
        throw Error("reading " + quoted_path_ + " failed: " + std::strerror(errno));
      }
    }
  }

  const Component& owner_;
  std::string quoted_path_;
  int fd_ = -1;
  bool regular_ = false;
  char buffer_[64 * 1024];
  std::optional<gzip::Inflater> inflater_;
  char compressed_[64 * 1024];
};

}  // namespace

struct FileReader::State {
  State(const Component& owner, const std::string& path, csv::FileFormat format)
      : file(owner, path, format), in(&file), reader(in, quote(path)) {}

  InputFile file;
  std::istream in;
  csv::Reader reader;
  std::vector<std::size_t> columns;  // per field, its column in the file
  std::size_t width = 0;             // columns in the header
  std::vector<std::string> row;
  bool interrupted = false;  // a stop came while a read waited; the runner ends the run
};

FileReader::FileReader(const ComponentArgs& args)
    : Component(args),
      path_(args.get_path("path")),
      field_names_(args.get<std::vector<std::string>>("field_names")) {
  if (field_names_.empty()) throw args.error("field_names", "must name at least one column");
  if (path_.empty()) throw args.error("path", "must not be empty");
  std::string why;
  const auto format = csv::format_of(path_, why);
  if (!format) throw args.error("path", quote(path_) + ": " + why);
  format_ = static_cast<unsigned char>(*format);
  // Plugboard's rows per read: the file is read as rows are needed, whatever it says.
  if (args.contains("chunk_size") && args.get<std::int64_t>("chunk_size") < 1) {
    throw args.error("chunk_size", "must be at least 1 (rows)");
  }
  for (const auto& field : field_names_)
    outputs_by_field_.push_back(&add_output<Value>(field));
  // Checked now, without opening the file (a FIFO would block, a device could be read), so
  // that a missing or unreadable file or a directory is a model error before anything runs.
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0 || ::faccessat(AT_FDCWD, path_.c_str(), R_OK, AT_EACCESS)) {
    throw args.error("path", quote(path_) + ": cannot read it: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
    throw args.error("path", quote(path_) + " is " + file_kind(st.st_mode) +
                                 ": FileReader reads a regular file, a FIFO or a character device");
  }
}

FileReader::FileReader(std::string name, std::string path, std::vector<std::string> field_names)
    : FileReader(ComponentArgs(std::move(name), {{"path", path}, {"field_names", [&] {
                                                                    Value::List list;
                                                                    for (auto& f : field_names)
                                                                      list.emplace_back(f);
                                                                    return Value(std::move(list));
                                                                  }()}})) {}

FileReader::~FileReader() = default;

void FileReader::init() {
  state_ = std::make_unique<State>(*this, path_, static_cast<csv::FileFormat>(format_));
  std::vector<std::string> header;
  try {
    if (!state_->reader.next_row(header)) {
      throw Error(quote(path_) + " is empty: expected a header row naming the columns");
    }
  } catch (const Interrupted&) {
    state_->interrupted = true;
    return;
  }
  state_->width = header.size();
  std::string missing;
  for (const auto& field : field_names_) {
    std::size_t column = 0;
    while (column < header.size() && header[column] != field)
      ++column;
    if (column == header.size()) missing += (missing.empty() ? "" : ", ") + quote(field);
    state_->columns.push_back(column);
  }
  // The header is the file's content: the message names what was expected, never what is there.
  if (!missing.empty()) {
    throw Error(quote(path_) + ":" + std::to_string(state_->reader.line()) +
                ": the header row has no column " + missing);
  }
}

void FileReader::step() {
  if (state_->interrupted) return;
  auto& row = state_->row;
  try {
    if (!state_->reader.next_row(row)) {
      close();
      return;
    }
  } catch (const Interrupted&) {
    state_->interrupted = true;
    return;
  }
  if (row.size() != state_->width) {
    throw Error(quote(path_) + ":" + std::to_string(state_->reader.line()) + ": row has " +
                std::to_string(row.size()) + " fields, the header has " +
                std::to_string(state_->width));
  }
  for (std::size_t i = 0; i < field_names_.size(); ++i) {
    *outputs_by_field_[i] = parse_cell(row[state_->columns[i]]);
  }
}

void FileReader::teardown(Status) {
  state_.reset();
}

}  // namespace patchbay::library
