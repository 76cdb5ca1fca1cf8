// patchbay-fault-campaign: signals at random moments against engine-run running parallel
// models, and a sequence-checked soak. Every trial starts `engine-run` on a chain
// Counter -> Pass -> SequenceCheck spread over two or three workers, in one of the wait modes,
// sends SIGKILL, SIGTERM or SIGSTOP to a worker or to the supervisor at start-up, mid-run or
// around the end, and checks:
//   - the exit code and the message: a worker's death is exit 1 naming its signal; a SIGTERM of
//     the supervisor is exit 130; a SIGKILLed supervisor takes its workers with it; a stopped
//     worker is reported within the model's step_timeout;
//   - the time from the signal to the end (reported as p50, p99 and max);
//   - leftovers: no process of the run survives it (this program is the subreaper of the
//     workers, so orphans come back to it), /dev/shm holds what it held before.
// A run that completes instead (the signal arrived after the worker or the run had finished)
// must have completed correctly, and is counted as late. The soak runs the chain in every mode
// for --soak-messages messages and must complete with every message checked.
//
// Ends with "N passed, N failed" (trials plus soak runs). Exit 0 when none failed.
//
//   patchbay-fault-campaign --engine-run PATH --plugin PATH [--trials N] [--seed S]
//                           [--soak-messages M] [--signals kill,term[,stop]]
//                           [--step-timeout SECONDS] [--verbose]
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string engine_run;
  std::string plugin;
  int trials = 60;
  std::uint64_t seed = 0;
  std::int64_t soak_messages = 1'000'000;
  std::vector<int> signals = {SIGKILL, SIGTERM};
  double step_timeout = 0;  ///< the models' step_timeout in seconds; 0: none (and no SIGSTOP)
  bool verbose = false;
};

// How long a run may take after its signal before it counts as hung.
constexpr auto kHangLimit = 15s;
// How long the processes of a run may outlive it.
constexpr auto kLeftoverLimit = 2s;

const char* mode_names[] = {"spin", "adaptive", "block"};

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(signal);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::size_t dev_shm_entries() {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/dev/shm", ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++n;
  return n;
}

// The children of `pid`, from /proc (every thread's list).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (auto it = fs::directory_iterator(tasks, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::istringstream in(read_text(it->path() / "children"));
    pid_t child = 0;
    while (in >> child)
      out.push_back(child);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The state letter of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 when it is gone.
char process_state(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return 0;
  return stat[close + 2];
}

// Reaps every child that has ended (engine-run's orphans come here: we are their subreaper).
void reap_orphans() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// Whether a pid names a live process (not a zombie); reaps orphans first.
bool alive(pid_t pid) {
  reap_orphans();
  const char state = process_state(pid);
  return state != 0 && state != 'Z' && state != 'X';
}

// What is wrong with engine-run's stderr, or "": at most 3 lines of its own, each starting
// "engine-run: ". A sanitizer build's runtime adds warnings of its own ("==PID==...", and the
// lines that follow them), which are not engine-run's and are left out.
std::string check_lines(const std::string& err) {
  std::istringstream in(err);
  std::string line;
  int own = 0;
  bool sanitizer = false;
  while (std::getline(in, line)) {
    if (line.rfind("engine-run: ", 0) == 0) {
      ++own;
      sanitizer = false;
    } else if (line.rfind("==", 0) == 0) {
      sanitizer = true;
    } else if (!sanitizer) {
      return "a line that is not engine-run's";
    }
  }
  return own > 3 ? "more than 3 lines" : "";
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

std::string model_yaml(const Options& options, int mode, int workers, std::int64_t count) {
  const char* labels2[] = {"a", "a", "b"};
  const char* labels3[] = {"a", "b", "c"};
  const char** labels = workers == 2 ? labels2 : labels3;
  std::ostringstream y;
  y << "plugins: [\"" << options.plugin << "\"]\n"
    << "process:\n  type: parallel\n  args:\n    name: fault\n"
    << "    wait: " << mode_names[mode] << "\n"
    << (options.step_timeout > 0
            ? "    step_timeout: " + std::to_string(options.step_timeout) + "\n"
            : std::string())
    << "    components:\n"
    << "    - {type: Counter, args: {name: source, count: " << count << ", worker: " << labels[0]
    << "}}\n"
    << "    - {type: Pass, args: {name: pass, worker: " << labels[1] << "}}\n"
    << "    - {type: SequenceCheck, args: {name: sink, expected: " << count
    << ", worker: " << labels[2] << "}}\n"
    << "    connectors:\n"
    << "    - {source: source.out, target: pass.in}\n"
    << "    - {source: pass.out, target: sink.in}\n";
  return y.str();
}

struct Run {
  pid_t pid = -1;
  Clock::time_point started;
  fs::path out;
  fs::path err;
};

Run start_engine(const Options& options, const fs::path& model, const fs::path& dir, int n) {
  Run run;
  run.out = dir / ("out" + std::to_string(n));
  run.err = dir / ("err" + std::to_string(n));
  // Closed on exec: the run starts when engine-run does, not before (a signal to the child
  // before its exec would hit this program's copy).
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  run.pid = fork();
  if (run.pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (run.pid == 0) {
    close(exec_pipe[0]);
    const int out = open(run.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(run.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0) _exit(127);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl(options.engine_run.c_str(), options.engine_run.c_str(), "--quiet", model.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(exec_pipe[1]);
  char byte = 0;
  while (read(exec_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  close(exec_pipe[0]);
  run.started = Clock::now();
  return run;
}

// Waits for engine-run to end, at most `limit`; then kills it. Returns its wait status.
std::optional<int> wait_engine(pid_t pid, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (Clock::now() < deadline) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    std::this_thread::sleep_for(200us);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return std::nullopt;
}

// Waits until engine-run has `want` children (its workers); empty if it ended first.
std::vector<pid_t> wait_for_workers(pid_t pid, std::size_t want, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    std::vector<pid_t> children = children_of(pid);
    if (children.size() >= want) return children;
    if (process_state(pid) == 'Z' || process_state(pid) == 0) return {};
    std::this_thread::sleep_for(50us);
  }
  return {};
}

struct Tally {
  int passed = 0;
  int failed = 0;
  int late = 0;
  std::map<std::string, std::vector<double>> latency_ms;  // by kind of trial
};

enum class Phase { startup, midrun, shutdown };
const char* phase_name(Phase p) {
  return p == Phase::startup ? "start-up" : p == Phase::midrun ? "mid-run" : "shutdown";
}

class Campaign {
 public:
  Campaign(Options options, fs::path dir)
      : options_(std::move(options)), dir_(std::move(dir)), random_(options_.seed) {}

  // Measures how long a run of `calibration_count` messages takes, for the shutdown phase.
  void calibrate() {
    const fs::path model = dir_ / "calibrate.yaml";
    std::ofstream(model) << model_yaml(options_, 1, 2, calibration_count);
    std::vector<double> ms;
    for (int i = 0; i < 3; ++i) {
      Run run = start_engine(options_, model, dir_, 0);
      const auto status = wait_engine(run.pid, 60s);
      if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error("the calibration run failed: " + read_text(run.err));
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - run.started).count());
    }
    run_ms_ = percentile(ms, 0.5);
    std::printf("calibration: %lld messages in %.1f ms (median of 3)\n",
                static_cast<long long>(calibration_count), run_ms_);
  }

  void trial(int n) {
    const int mode = n % 3;
    const int workers = 2 + static_cast<int>(pick(0, 1));
    const int signal = options_.signals[pick(0, options_.signals.size() - 1)];
    const bool supervisor = signal != SIGSTOP && pick(0, 3) == 0;
    const auto phase = static_cast<Phase>(pick(0, 2));
    // Mid-run and start-up trials run for ever unless ended; shutdown trials end by themselves.
    const std::int64_t count = phase == Phase::shutdown ? calibration_count : -1;
    const fs::path model = dir_ / "model.yaml";
    std::ofstream(model) << model_yaml(options_, mode, workers, count);

    std::ostringstream what;
    what << "trial " << n << ": " << signal_name(signal) << " to "
         << (supervisor ? "the supervisor" : "a worker") << ", " << phase_name(phase) << ", wait "
         << mode_names[mode] << ", " << workers << " workers";
    const std::size_t shm_before = dev_shm_entries();
    Run run = start_engine(options_, model, dir_, 1);

    // When to send the signal.
    Clock::duration delay{};
    if (phase == Phase::midrun) delay = std::chrono::microseconds(pick(20'000, 300'000));
    if (phase == Phase::shutdown) {
      delay = std::chrono::microseconds(
          static_cast<std::int64_t>(run_ms_ * 1000.0 * (0.7 + 0.5 * unit())));
    }
    std::vector<pid_t> worker_pids;
    pid_t target = run.pid;
    if (supervisor && phase == Phase::startup) {
      std::this_thread::sleep_for(std::chrono::microseconds(pick(0, 5'000)));
      worker_pids = children_of(run.pid);
    } else {
      worker_pids = wait_for_workers(run.pid, static_cast<std::size_t>(workers), 5s);
      std::this_thread::sleep_until(run.started + delay);
      if (!supervisor) {
        if (worker_pids.empty()) {
          // The run ended before its workers could be seen (a shutdown trial on a fast run).
          finish_late(what.str(), run, shm_before);
          return;
        }
        target = worker_pids[pick(0, worker_pids.size() - 1)];
      }
    }
    const char state_before = process_state(target);
    const auto signalled = Clock::now();
    const bool delivered = kill(target, signal) == 0 && state_before != 'Z' && state_before != 0;

    const auto status = wait_engine(run.pid, kHangLimit);
    const auto ended = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(ended - signalled).count();
    const std::string err = read_text(run.err);
    std::vector<std::string> problems;
    if (!status)
      problems.push_back("hung: no exit within " + std::to_string(kHangLimit.count()) + " s");

    // What must have happened.
    const int code = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    const int killed_by = status && WIFSIGNALED(*status) ? WTERMSIG(*status) : 0;
    bool late = false;
    std::string kind;
    if (status && supervisor && signal == SIGKILL) {
      kind = "supervisor SIGKILL, until its workers are gone";
      if (killed_by != SIGKILL && code != 0) problems.push_back("engine-run was not killed");
      late = killed_by != SIGKILL;
    } else if (status && supervisor) {
      kind = "supervisor " + signal_name(signal) + ", to exit";
      if (killed_by == signal && worker_pids.empty()) {
        // Before engine-run could install its handler (it does so first thing): the default
        // action, with nothing started yet to leave behind.
        late = true;
      } else if (code == 0) {
        late = true;
      } else if (code != 130) {
        problems.push_back("exit " + std::to_string(code) + ", expected 130");
      }
    } else if (status) {
      kind = "worker " + signal_name(signal) + ", to exit";
      if (code == 0) {
        late = true;  // the worker had finished; the run must have completed correctly
        if (delivered && phase != Phase::shutdown)
          problems.push_back("exit 0 after a delivered signal mid-run");
      } else if (code != 1) {
        problems.push_back("exit " + std::to_string(code) + ", expected 1");
      } else if (signal == SIGSTOP) {
        if (err.find("step_timeout") == std::string::npos &&
            err.find("timed out") == std::string::npos &&
            err.find("no progress") == std::string::npos)
          problems.push_back("no liveness report for the stopped worker");
        if (ms > options_.step_timeout * 1000.0 + 100.0 + 500.0)
          problems.push_back("reported after " + std::to_string(ms) + " ms");
      } else if (err.find("died of " + signal_name(signal)) == std::string::npos) {
        problems.push_back("the message does not name " + signal_name(signal));
      }
    }
    if (const std::string lines = check_lines(err); !lines.empty()) problems.push_back(lines);
    if (err.find("unexpected") != std::string::npos) problems.push_back("an unexpected error");

    // Leftovers: every worker gone within the limit, /dev/shm as before.
    const auto leftovers_deadline = Clock::now() + kLeftoverLimit;
    std::vector<pid_t> left;
    do {
      left.clear();
      for (const pid_t w : worker_pids) {
        if (alive(w)) left.push_back(w);
      }
      if (left.empty()) break;
      std::this_thread::sleep_for(1ms);
    } while (Clock::now() < leftovers_deadline);
    const double gone_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - signalled).count();
    if (!left.empty()) {
      problems.push_back(std::to_string(left.size()) + " worker(s) outlived the run");
      for (const pid_t w : left)
        kill(w, SIGKILL);
      reap_orphans();
    }
    if (dev_shm_entries() != shm_before) problems.push_back("/dev/shm changed");

    if (!kind.empty() && !late) {
      tally_.latency_ms[kind].push_back(supervisor && signal == SIGKILL ? gone_ms : ms);
    }
    report(what.str(), problems, late, err);
  }

  void soak() {
    for (int mode = 0; mode < 3; ++mode) {
      const fs::path model = dir_ / "soak.yaml";
      std::ofstream(model) << model_yaml(options_, mode, 2 + mode % 2, options_.soak_messages);
      Run run = start_engine(options_, model, dir_, 2);
      const auto status = wait_engine(run.pid, 3600s);
      const double s = std::chrono::duration<double>(Clock::now() - run.started).count();
      std::vector<std::string> problems;
      if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        problems.push_back("did not complete: " + read_text(run.err));
      std::ostringstream what;
      what << "soak: " << options_.soak_messages << " sequence-checked messages, wait "
           << mode_names[mode] << ", " << (2 + mode % 2) << " workers, "
           << static_cast<double>(options_.soak_messages) / s / 1e6 << " M msg/s";
      // Its rate is a figure of the long form: shown whether or not --verbose is given.
      if (problems.empty() && !options_.verbose) std::printf("ok    %s\n", what.str().c_str());
      report(what.str(), problems, false, "");
    }
  }

  int summary() const {
    for (const auto& [kind, values] : tally_.latency_ms) {
      std::printf("%-50s n=%-4zu p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", kind.c_str(),
                  values.size(), percentile(values, 0.5), percentile(values, 0.99),
                  *std::max_element(values.begin(), values.end()));
    }
    std::printf("late (the run had completed when the signal came): %d\n", tally_.late);
    std::printf("%d passed, %d failed\n", tally_.passed, tally_.failed);
    return tally_.failed == 0 ? 0 : 1;
  }

 private:
  static constexpr std::int64_t calibration_count = 2'000'000;

  std::size_t pick(std::size_t low, std::size_t high) {
    return std::uniform_int_distribution<std::size_t>(low, high)(random_);
  }
  double unit() { return std::uniform_real_distribution<double>(0, 1)(random_); }

  void finish_late(const std::string& what, Run& run, std::size_t shm_before) {
    const auto status = wait_engine(run.pid, kHangLimit);
    std::vector<std::string> problems;
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
      problems.push_back("ended without its workers being seen, and not cleanly");
    if (dev_shm_entries() != shm_before) problems.push_back("/dev/shm changed");
    report(what, problems, true, read_text(run.err));
  }

  void report(const std::string& what, const std::vector<std::string>& problems, bool late,
              const std::string& err) {
    if (late) ++tally_.late;
    if (problems.empty()) {
      ++tally_.passed;
      if (options_.verbose) std::printf("ok    %s%s\n", what.c_str(), late ? " (late)" : "");
      return;
    }
    ++tally_.failed;
    std::printf("FAIL  %s:", what.c_str());
    for (const auto& p : problems)
      std::printf(" %s;", p.c_str());
    std::printf(" stderr: %s\n", err.substr(0, 400).c_str());
  }

  Options options_;
  fs::path dir_;
  std::mt19937_64 random_;
  double run_ms_ = 0;
  Tally tally_;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--engine-run") {
      o.engine_run = value();
    } else if (a == "--plugin") {
      o.plugin = value();
    } else if (a == "--trials") {
      o.trials = std::stoi(value());
    } else if (a == "--seed") {
      o.seed = std::stoull(value());
    } else if (a == "--soak-messages") {
      o.soak_messages = std::stoll(value());
    } else if (a == "--signals") {
      o.signals.clear();
      std::istringstream in(value());
      std::string name;
      while (std::getline(in, name, ',')) {
        if (name == "kill")
          o.signals.push_back(SIGKILL);
        else if (name == "term")
          o.signals.push_back(SIGTERM);
        else if (name == "stop")
          o.signals.push_back(SIGSTOP);
        else
          throw std::runtime_error("unknown signal '" + name + "' (kill, term, stop)");
      }
      if (o.signals.empty()) throw std::runtime_error("--signals names none");
    } else if (a == "--step-timeout") {
      o.step_timeout = std::stod(value());
    } else if (a == "--verbose") {
      o.verbose = true;
    } else {
      throw std::runtime_error("unknown argument '" + a + "'");
    }
  }
  if (o.engine_run.empty() || o.plugin.empty())
    throw std::runtime_error("--engine-run and --plugin are required");
  if (o.step_timeout <= 0 && std::count(o.signals.begin(), o.signals.end(), SIGSTOP) != 0)
    throw std::runtime_error("--signals stop needs --step-timeout");
  if (o.seed == 0) o.seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // Line by line, so that a run ended by a time limit still shows how far it got.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const Options options = parse(argc, argv);
    // Orphaned workers come back to this process, which can then tell them from the living.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const fs::path dir = fs::temp_directory_path() / ("patchbay-fault-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::printf("seed %llu, %d trials, soak %lld messages per mode\n",
                static_cast<unsigned long long>(options.seed), options.trials,
                static_cast<long long>(options.soak_messages));
    Campaign campaign(options, dir);
    campaign.calibrate();
    for (int n = 0; n < options.trials; ++n)
      campaign.trial(n);
    if (options.soak_messages > 0) campaign.soak();
    const int code = campaign.summary();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchbay-fault-campaign: %s\n", e.what());
    std::printf("0 passed, 1 failed\n");
    return 2;
  }
}
