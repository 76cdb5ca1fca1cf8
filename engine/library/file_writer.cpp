#include <patchbay/library.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "core/text.hpp"
#include "library/csv.hpp"
#include "library/gzip.hpp"

namespace patchbay::library {

using detail::quote;

namespace {

// Rows are gathered and written in blocks of this size (and at the end).
constexpr std::size_t kBlockBytes = std::size_t{64} * 1024;
// How long a write waits for a FIFO's reader (or for room in it) before it looks for a stop.
constexpr int kStopPollMs = 20;
// As many symbolic links as the kernel follows in one path (MAXSYMLINKS).
constexpr int kMaxLinks = 40;

std::string errno_text(int error) {
  return std::strerror(error);
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  return "neither a file nor a device";
}

// Where rows go. A regular file (or none yet) is written as TARGET.partial and renamed over
// TARGET at the end, TARGET being `path` with its symbolic links followed, so that a link stays
// a link. A character device, a FIFO or a socket is written directly: it cannot be replaced,
// and renaming a file over it is what must never happen.
struct Target {
  std::string file;     // the final target; `path` itself when direct
  bool direct = false;  // written in place: no partial file, no rename
  std::string problem;  // why `path` cannot be written; empty when it can
};

// `path` with the symbolic links of its last component followed, whether or not the final
// target exists; the directories on the way are left to the kernel.
std::string follow_links(const std::string& path, std::string& problem) {
  std::string current = path;
  for (int hops = 0; hops <= kMaxLinks; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno != ENOENT) problem = quote(current) + ": " + errno_text(errno);
      return current;
    }
    if (!S_ISLNK(st.st_mode)) return current;
    char link[PATH_MAX];
    const ssize_t size = ::readlink(current.c_str(), link, sizeof link);
    if (size < 0 || static_cast<std::size_t>(size) == sizeof link) {
      problem = "cannot follow the symbolic link " + quote(current) + ": " +
                errno_text(size < 0 ? errno : ENAMETOOLONG);
      return current;
    }
    const std::string_view target(link, static_cast<std::size_t>(size));
    const std::size_t slash = current.rfind('/');
    if (target.starts_with('/') || slash == std::string::npos) {
      current = target;
    } else {
      current = current.substr(0, slash + 1);
      current += target;
    }
  }
  problem = quote(path) + ": " + errno_text(ELOOP);
  return current;
}

Target locate(const std::string& path) {
  Target target;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
      target.file = path;
      target.direct = true;
      return target;
    }
    if (!S_ISREG(st.st_mode)) {
      target.problem = quote(path) + " is " + file_kind(st.st_mode) +
                       ": FileWriter writes a regular file (through symbolic links), a "
                       "character device, a FIFO or a socket";
      return target;
    }
  } else if (errno != ENOENT) {
    target.problem = quote(path) + ": " + errno_text(errno);
    return target;
  }
  target.file = follow_links(path, target.problem);
  if (!target.problem.empty()) return target;
  const std::size_t slash = target.file.rfind('/');
  const std::string directory = slash == std::string::npos ? "."
                                : slash == 0               ? "/"
                                                           : target.file.substr(0, slash);
  if (::stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    target.problem = quote(path) + ": directory " + quote(directory) + " does not exist";
  }
  return target;
}

// write(2) that reports a FIFO or socket without a reader as EPIPE instead of raising SIGPIPE,
// which would kill the host: the signal is blocked in this thread for the call, and one it
// raised is taken before it is unblocked.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  const ssize_t written = ::write(fd, data, size);
  const int error = errno;
  if (written < 0 && error == EPIPE && !was_pending) {
    const timespec none{};
    while (sigtimedwait(&pipe_only, nullptr, &none) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = error;
  return written;
}

}  // namespace

struct FileWriter::State {
  ~State() {
    if (fd >= 0) ::close(fd);
  }

  Target target;
  std::string partial;  // TARGET.partial; empty when direct
  int fd = -1;
  std::string text;                        // rows not yet packed into `buffer`
  std::size_t rows = 0;                    // rows in `text`
  std::optional<gzip::Deflater> deflater;  // a .csv.gz target
  std::string buffer;                      // bytes not yet written (packed rows)
  std::size_t written = 0;                 // bytes written so far
  bool interrupted = false;                // a stop came while waiting for a FIFO's reader
};

FileWriter::FileWriter(const ComponentArgs& args)
    : Component(args),
      path_(args.get_path("path")),
      field_names_(args.get<std::vector<std::string>>("field_names")) {
  if (field_names_.empty()) throw args.error("field_names", "must name at least one column");
  if (path_.empty()) throw args.error("path", "must not be empty");
  std::string why;
  const auto format = csv::format_of(path_, why);
  if (!format) throw args.error("path", quote(path_) + ": " + why);
  gzip_ = *format == csv::FileFormat::csv_gzip;
  if (args.contains("chunk_size")) {
    const auto rows = args.get<std::int64_t>("chunk_size");
    if (rows < 1) throw args.error("chunk_size", "must be at least 1 (rows)");
    chunk_rows_ = static_cast<std::size_t>(rows);
  }
  for (const auto& field : field_names_)
    inputs_by_field_.push_back(&add_input<Value>(field));
  // Checked now, opening and creating nothing, so that a path that cannot be written is a model
  // error before anything runs. init() looks again: the file system may change meanwhile.
  if (const Target target = locate(path_); !target.problem.empty()) {
    throw args.error("path", target.problem);
  }
}

FileWriter::FileWriter(std::string name, std::string path, std::vector<std::string> field_names)
    : FileWriter(ComponentArgs(std::move(name), {{"path", path}, {"field_names", [&] {
                                                                    Value::List list;
                                                                    for (auto& f : field_names)
                                                                      list.emplace_back(f);
                                                                    return Value(std::move(list));
                                                                  }()}})) {}

FileWriter::~FileWriter() = default;

void FileWriter::init() {
  state_ = std::make_unique<State>();
  State& state = *state_;
  state.target = locate(path_);
  if (!state.target.problem.empty()) throw Error(state.target.problem);
  if (state.target.direct) {
    open_direct();
  } else {
    open_partial();
  }
  if (state.interrupted) return;
  if (gzip_) state.deflater.emplace();
  csv::append_row(state.text, field_names_);
  row_.resize(field_names_.size());
}

// Moves the rows gathered into the bytes to write: as they are, or compressed; `finish` ends a
// gzip stream.
void FileWriter::pack(bool finish) {
  State& state = *state_;
  if (state.deflater) {
    state.deflater->compress(state.text, state.buffer, finish);
  } else if (state.buffer.empty()) {
    state.buffer.swap(state.text);
  } else {
    state.buffer += state.text;
  }
  state.text.clear();
  state.rows = 0;
}

void FileWriter::open_direct() {
  State& state = *state_;
  const std::string& file = state.target.file;
  // O_NONBLOCK: a FIFO without a reader fails with ENXIO instead of blocking; it is waited for
  // here, in slices, so that a stop ends the wait. Writes then wait in write_out().
  for (;;) {
    state.fd = ::open(file.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (state.fd >= 0) break;
    const int error = errno;
    struct stat st {};
    if (error != ENXIO || ::stat(file.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
      throw Error("cannot open " + quote(file) + " for writing: " + errno_text(error));
    }
    if (stop_requested()) {
      state.interrupted = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kStopPollMs));
  }
  struct stat st {};
  if (::fstat(state.fd, &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    throw Error(quote(file) + " changed while it was opened: it is no longer a device or FIFO");
  }
}

void FileWriter::open_partial() {
  State& state = *state_;
  const std::string& file = state.target.file;
  state.partial = file + ".partial";
  // A file under the target always means a complete run: an older one goes before writing.
  // Only a regular file is removed; anything else there now is an error.
  struct stat st {};
  if (::lstat(file.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      throw Error(quote(file) +
                  " changed since the model was checked: it is no longer a "
                  "regular file, and FileWriter replaces only a regular file");
    }
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      throw Error("cannot remove the earlier " + quote(file) + ": " + errno_text(errno));
    }
  }
  // O_EXCL | O_NOFOLLOW: the partial file is always a new file of ours, never something that
  // was there, so that a symbolic link planted at TARGET.partial cannot redirect the rows.
  // A regular file there is what an earlier failed run left: it is replaced.
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  constexpr mode_t kMode = 0666;  // less the umask, as for any new file
  for (int attempt = 0; attempt < 2; ++attempt) {
    state.fd = ::open(state.partial.c_str(), kFlags, kMode);
    if (state.fd >= 0) return;
    if (errno != EEXIST) break;
    if (::lstat(state.partial.c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode)) {
      throw Error(quote(state.partial) +
                  " exists and is not a regular file (a symbolic link?): FileWriter writes its "
                  "rows there and replaces only a regular file; remove it");
    }
    if (::unlink(state.partial.c_str()) != 0 && errno != ENOENT) {
      throw Error("cannot remove the earlier " + quote(state.partial) + ": " + errno_text(errno));
    }
  }
  throw Error("cannot create " + quote(state.partial) + " for writing: " + errno_text(errno));
}

bool FileWriter::write_out(bool wait) {
  State& state = *state_;
  const std::string& name = state.target.direct ? state.target.file : state.partial;
  std::size_t done = 0;
  while (done < state.buffer.size()) {
    const ssize_t count =
        write_without_sigpipe(state.fd, state.buffer.data() + done, state.buffer.size() - done);
    if (count > 0) {
      done += static_cast<std::size_t>(count);
      continue;
    }
    if (count < 0 && errno == EINTR) continue;
    if (count < 0 && errno == EAGAIN) {
      // A FIFO or device that is full: wait for room as long as the run goes on.
      if (!wait || stop_requested()) break;
      pollfd room{state.fd, POLLOUT, 0};
      (void)::poll(&room, 1, kStopPollMs);
      continue;
    }
    const int error = count < 0 ? errno : EIO;
    state.buffer.erase(0, done);
    if (error == EPIPE) {
      throw Error(quote(name) + " has no reader any more: its reader closed it after " +
                  std::to_string(state.written + done) + " bytes");
    }
    throw Error("writing " + quote(name) + " failed: " + errno_text(error));
  }
  state.written += done;
  state.buffer.erase(0, done);
  return state.buffer.empty();
}

void FileWriter::step() {
  State& state = *state_;
  if (state.interrupted) return;
  for (std::size_t i = 0; i < inputs_by_field_.size(); ++i)
    row_[i] = inputs_by_field_[i]->value().to_string();
  csv::append_row(state.text, row_);
  ++state.rows;
  // Written every chunk_size rows, else in blocks. A write cut short by a stop leaves the rest
  // in the buffer: the run ends before another step.
  if (chunk_rows_ != 0 ? state.rows >= chunk_rows_ : state.text.size() >= kBlockBytes) {
    pack(false);
    (void)write_out(true);
  }
}

void FileWriter::teardown(Status final_status) {
  if (!state_ || state_->fd < 0) return;
  State& state = *state_;
  const bool completed = final_status == Status::completed;
  // Every row received, and a gzip stream ended, whatever the end: a file (or the rows a
  // device takes) is whole up to its last row.
  pack(true);
  if (state.target.direct) {
    // Rows reach a device or FIFO as they are written, and cannot be taken back: after a stop
    // or a failure it has the rows written so far, and the rest still buffered if it takes
    // them at once (a stopped run does not wait for a slow reader).
    const bool all_written = write_out(completed);
    const int closed = ::close(std::exchange(state.fd, -1));
    if (!completed) return;
    if (!all_written) {
      throw Error("stopped before all rows reached " + quote(state.target.file) + ": " +
                  std::to_string(state.buffer.size()) + " bytes were not written");
    }
    if (closed != 0 && errno != EINTR) {
      throw Error("writing " + quote(state.target.file) + " failed: " + errno_text(errno));
    }
    return;
  }
  // A regular file never waits for room: everything buffered is written, even after a stop,
  // so that TARGET.partial holds every row received.
  (void)write_out(true);
  if (::close(std::exchange(state.fd, -1)) != 0) {
    throw Error("writing " + quote(state.partial) + " failed: " + errno_text(errno));
  }
  if (!completed) return;  // the rows so far stay in TARGET.partial
  const std::string& file = state.target.file;
  // RENAME_NOREPLACE: init() removed the older file, so the target is normally free; if
  // something appeared there since, only a regular file is replaced.
  if (::renameat2(AT_FDCWD, state.partial.c_str(), AT_FDCWD, file.c_str(), RENAME_NOREPLACE) == 0) {
    return;
  }
  int error = errno;
  if (error == EEXIST || error == EINVAL) {  // EINVAL: a file system without RENAME_NOREPLACE
    struct stat st {};
    if (::lstat(file.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      throw Error(quote(file) +
                  " appeared during the run and is not a regular file: it is left "
                  "as it is, and the rows are in " +
                  quote(state.partial));
    }
    if (::rename(state.partial.c_str(), file.c_str()) == 0) return;
    error = errno;
  }
  throw Error("cannot rename " + quote(state.partial) + " to " + quote(file) + ": " +
              errno_text(error));
}

}  // namespace patchbay::library
