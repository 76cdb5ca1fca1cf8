// Files of other kinds than regular ones in a test: FIFOs with a writer or a reader on a thread
// of their own, and the type of a path.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <utility>

namespace patchbay::test {

/// Creates the FIFO `path` (mode 0600).
inline void make_fifo(const std::string& path) {
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
}

/// The file type bits (S_IFMT) of `path`, not following a symbolic link.
inline mode_t file_type(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & S_IFMT;
}

// Opens `path` (a FIFO) for writing, blocking until it has a reader, and writes `text`, then
// `repeat` forever until the reader goes away; on its own thread. SIGPIPE is blocked on that
// thread, so the reader's going away is an EPIPE there and nothing else.
class FifoWriter {
 public:
  FifoWriter(std::string path, std::string text, std::string repeat = {})
      : thread_([path = std::move(path), text = std::move(text), repeat = std::move(repeat)] {
          sigset_t pipe_only;
          sigemptyset(&pipe_only);
          sigaddset(&pipe_only, SIGPIPE);
          pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
          const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
          if (fd < 0) return;
          bool open = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
          while (open && !repeat.empty())
            open = ::write(fd, repeat.data(), repeat.size()) > 0;
          ::close(fd);
        }) {}
  ~FifoWriter() { thread_.join(); }

 private:
  std::thread thread_;
};

// Reads `path` (a FIFO) to its end on its own thread, after `delay`, or closes it at once;
// text() joins it.
class FifoReader {
 public:
  explicit FifoReader(std::string path, bool close_at_once = false,
                      std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : thread_([this, path = std::move(path), close_at_once, delay] {
          std::this_thread::sleep_for(delay);
          const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0) return;
          char buffer[4096];
          ssize_t got = 0;
          while (!close_at_once && (got = ::read(fd, buffer, sizeof buffer)) > 0)
            text_.append(buffer, static_cast<std::size_t>(got));
          ::close(fd);
        }) {}
  ~FifoReader() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& text() {
    thread_.join();
    return text_;
  }

 private:
  std::string text_;
  std::thread thread_;
};

}  // namespace patchbay::test
