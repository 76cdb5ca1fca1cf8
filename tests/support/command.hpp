// Running a program from a test (its exit code and what it printed, with a time limit), and the
// files it reads and writes.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace patchbay::test {

struct CommandResult {
  int exit_code = -1;  ///< the exit status, or 128 + signal number when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

/// Runs `argv` in `cwd`, waits at most `limit` (then SIGKILL, timed_out = true), and reaps it.
CommandResult run_command(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          std::chrono::milliseconds limit = std::chrono::seconds(60));

/// Where the output stream `stream` ("out" or "err") of the command with pid `pid`, started in
/// `cwd`, is kept until wait_command() reads it.
std::filesystem::path capture_path(const std::filesystem::path& cwd, int pid, const char* stream);

/// Starts `argv` in `cwd` and returns its pid (stdout/stderr go to files in cwd).
/// `before_exec`, when given, runs in the child just before exec (after the redirections); it
/// may only make async-signal-safe calls, and _exit() to fail.
int start_command(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                  const std::function<void()>& before_exec = {});
/// Waits for a started command (at most `limit`, then SIGKILL) and collects its result; with
/// `usage`, its resource usage too (peak memory in ru_maxrss).
CommandResult wait_command(int pid, const std::filesystem::path& cwd,
                           std::chrono::milliseconds limit, rusage* usage = nullptr);

/// A fresh directory under the system temp directory, removed when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

/// The whole content of `path`; throws std::runtime_error when it cannot be read.
std::string read_file(const std::filesystem::path& path);
/// Replaces the content of `path` with `text`; throws std::runtime_error when it cannot.
void write_file(const std::filesystem::path& path, const std::string& text);
/// `text` cut into lines, without their line ends.
std::vector<std::string> lines_of(const std::string& text);

/// Whether a process with this pid exists (a zombie counts).
bool process_exists(int pid);
/// Whether a process with this pid runs: it exists and is not a zombie. An orphan that ended is
/// a zombie until its new parent (init, or a subreaper) reaps it, which some inits do only every
/// second or two: tests of what ends with a killed parent ask this rather than process_exists().
bool process_running(int pid);
/// How many entries /dev/shm holds: a run must leave it as it found it.
std::size_t dev_shm_entries();

}  // namespace patchbay::test
