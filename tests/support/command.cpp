#include "support/command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace patchbay::test {

namespace fs = std::filesystem;

// Where a command's output is kept until wait_command() reads it: named by its pid, so that
// suites run at once in the same directory keep theirs apart.
fs::path capture_path(const fs::path& cwd, int pid, const char* stream) {
  return cwd / (".command." + std::to_string(pid) + "." + stream);
}

int start_command(const std::vector<std::string>& argv, const fs::path& cwd,
                  const std::function<void()>& before_exec) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // The command dies with the test runner, even when the runner's time limit ends it.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    const std::string out = capture_path(cwd, getpid(), "out").string();
    const std::string err = capture_path(cwd, getpid(), "err").string();
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    if (before_exec) before_exec();
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

CommandResult wait_command(int pid, const fs::path& cwd, std::chrono::milliseconds limit,
                           rusage* usage) {
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (true) {
    const pid_t done = wait4(pid, &status, WNOHANG, usage);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, usage);
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // A command killed before it opened its output has none.
  const fs::path out = capture_path(cwd, pid, "out");
  const fs::path err = capture_path(cwd, pid, "err");
  if (fs::exists(out)) result.out = read_file(out);
  if (fs::exists(err)) result.err = read_file(err);
  fs::remove(out);
  fs::remove(err);
  return result;
}

CommandResult run_command(const std::vector<std::string>& argv, const fs::path& cwd,
                          std::chrono::milliseconds limit) {
  return wait_command(start_command(argv, cwd), cwd, limit);
}

TempDir::TempDir() {
  std::random_device device;
  path_ = fs::temp_directory_path() /
          ("patchbay-test-" + std::to_string(getpid()) + "-" + std::to_string(device()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

bool process_exists(int pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

bool process_running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // "pid (name) S ...": the name may hold spaces and parentheses, the state follows the last.
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z' &&
         text[paren + 2] != 'X';
}

std::size_t dev_shm_entries() {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/dev/shm", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace patchbay::test
