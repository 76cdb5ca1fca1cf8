// engine-run: loads a YAML model and runs it (or validates it, or draws it).
//
// A plain user of the public API: everything here is available to any embedding program.
// Exit codes: 0 completed, 1 a component failed or the run failed, 2 bad model or arguments,
// 130 interrupted.

#include <patchbay/patchbay.hpp>

#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "engine_run.hpp"

namespace {

using engine_run::kExitBadModel;
using engine_run::kExitCompleted;
using engine_run::kExitFailed;
using engine_run::kExitInterrupted;

constexpr const char* kFooter =
    "COMP.ARG=VALUE: VALUE is a YAML scalar or flow sequence, e.g. --set input.iters=100.\n"
    "--stats is written after a failure or stop too. Ctrl-C stops the model cleanly;\n"
    "a second Ctrl-C exits at once.\n"
    "\n"
    "Plugins (--plugin, and the model's plugins:) are code: loading one runs it. The model's\n"
    "are loaded only when it names a component type that is not registered yet (every\n"
    "plugin named must exist either way). --validate, --plan and --diagram run no component\n"
    "(constructors only), start no process and allocate no channel; --plan and --diagram load\n"
    "plugins as a run would, since a component's resources and events come from its type;\n"
    "--validate --no-plugins loads none and checks components of unregistered types for what\n"
    "the model says (name, connectors, initial values, resources), not their arguments.\n"
    "\n"
    "Errors are one line on stderr, starting with 'engine-run: ' (file and line when known).\n"
    "Exit codes:\n"
    "  0    completed (or --validate / --plan / --diagram / --dump succeeded)\n"
    "  1    a component failed, or the run failed (e.g. deadlock, --stats not written)\n"
    "  2    bad model or arguments (YAML, unknown type, wiring, missing or unreadable file,\n"
    "       path too long, plugin, unknown option, --stats folder missing, a model that\n"
    "       cannot be placed, a model beyond a limit, a repeated key or a second YAML\n"
    "       document)\n"
    "  130  interrupted (SIGINT or SIGTERM)\n"
    "\n"
    "engine-run serve MODEL --port N serves the model over HTTP (engine-run serve --help).\n"
    "\n"
    "Plugboard's commands, and what runs them here (engine-run accepts Plugboard's shape,\n"
    "engine-run process run|validate|diagram MODEL.yaml [OPTIONS], as the flags below):\n"
    "  plugboard process run MODEL.yaml      engine-run MODEL.yaml (with --job-id and\n"
    "                                        --process-type local|ray as there)\n"
    "  plugboard process validate ...        engine-run --validate MODEL.yaml\n"
    "  plugboard process diagram MODEL.yaml  engine-run --diagram MODEL.yaml (Mermaid)\n"
    "  plugboard process tune MODEL.yaml     engine-run tune MODEL.yaml (docs/TUNING.md)\n"
    "  serve run (Ray Serve)                 engine-run serve MODEL.yaml --port N\n"
    "  --validate and --plan have none: they check the model and print its placement\n"
    "  without running it.";

// ---------------------------------------------------------------------------------------------
// Small output helpers

/// Writes all of `text` to file descriptor `fd` with write(2); async-signal-safe.
void write_fd(int fd, const char* text, std::size_t size) noexcept {
  while (size > 0) {
    const ssize_t n = ::write(fd, text, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    text += n;
    size -= static_cast<std::size_t>(n);
  }
}

void write_fd(int fd, std::string_view text) noexcept {
  write_fd(fd, text.data(), text.size());
}

/// Prints "engine-run: MESSAGE" as one bounded line, whatever the message holds.
void print_error(std::string_view message) {
  std::string line = "engine-run: ";
  line += patchbay::message_line(message);
  line += '\n';
  std::cout.flush();
  write_fd(STDERR_FILENO, line);
}

// ---------------------------------------------------------------------------------------------
// Signals: the first SIGINT/SIGTERM stops the process, the second exits at once.

std::atomic<patchbay::Process*> g_process{nullptr};
std::atomic<int> g_signals{0};
std::atomic<bool> g_progress_on_terminal{false};

static_assert(std::atomic<patchbay::Process*>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int /*signo*/) {
  const int saved_errno = errno;
  if (g_signals.fetch_add(1) > 0) {
    if (g_progress_on_terminal.load()) write_fd(STDERR_FILENO, "\r\033[K");
    write_fd(STDERR_FILENO, "engine-run: interrupted\n");
    ::_exit(kExitInterrupted);
  }
  if (patchbay::Process* process = g_process.load(); process != nullptr) process->stop();
  errno = saved_errno;
}

/// Catches SIGINT and SIGTERM from the start of the command (so that a signal while the model
/// loads or its workers start is a stop too) to the program's exit: the handlers are not
/// restored when it goes, or a signal in the last microseconds, after the run, would kill the
/// program by the default action instead of letting it exit with its status. A signal before
/// a process is attached is remembered, and stops it when attached.
class SignalScope {
 public:
  SignalScope() {
    struct sigaction action {};
    action.sa_handler = &on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: blocked system calls see EINTR and notice the stop
    (void)::sigaction(SIGINT, &action, nullptr);
    (void)::sigaction(SIGTERM, &action, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
  ~SignalScope() { g_process.store(nullptr); }

  /// True once a stop signal arrived.
  [[nodiscard]] static bool interrupted() { return g_signals.load() > 0; }

  /// Routes the signals to `process` (nullptr: to none); stops it at once if one came already.
  static void attach(patchbay::Process* process) {
    g_process.store(process);
    if (process != nullptr && interrupted()) process->stop();
  }
};

// ---------------------------------------------------------------------------------------------
// Progress line on a terminal

/// Calls `tick` on a thread of its own after `first`, then every `period`, until destroyed; then
/// `last` once if it ticked at all. The thread is joined by the destructor, so it ends on every
/// path out of the scope that owns this. Without a thread (it could not start) nothing ticks.
class Periodic {
 public:
  Periodic(std::chrono::milliseconds first, std::chrono::milliseconds period,
           std::function<void()> tick, std::function<void()> last = {})
      : first_(first), period_(period), tick_(std::move(tick)), last_(std::move(last)) {
    // The thread inherits a mask that blocks SIGINT/SIGTERM, so they reach the main thread
    // (the one running the model) rather than this one.
    sigset_t block;
    sigset_t old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    const bool masked = ::pthread_sigmask(SIG_BLOCK, &block, &old) == 0;
    try {
      thread_ = std::thread([this] { loop(); });
    } catch (...) {
      // No thread: the run goes on without it.
    }
    if (masked) ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;
  ~Periodic() {
    if (!thread_.joinable()) return;
    {
      const std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() noexcept {
    bool ticked = false;
    try {
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, first_, [this] { return done_; })) return;
      do {
        lock.unlock();
        ticked = true;
        tick_();
        lock.lock();
      } while (!cv_.wait_for(lock, period_, [this] { return done_; }));
    } catch (...) {
    }
    try {
      if (ticked && last_) last_();
    } catch (...) {
    }
  }

  std::chrono::milliseconds first_;
  std::chrono::milliseconds period_;
  std::function<void()> tick_;
  std::function<void()> last_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

/// Redraws one status line on stderr every 200 ms once the run has lasted 1 s, and clears it at
/// the end.
class ProgressLine {
 public:
  ProgressLine(const patchbay::Process& process, const std::string& job_id, bool enabled)
      : process_(process), job_id_(job_id) {
    if (!enabled) return;
    g_progress_on_terminal.store(true);
    thread_.emplace(
        std::chrono::seconds(1), std::chrono::milliseconds(200), [this] { draw(); },
        [] { write_fd(STDERR_FILENO, "\r\033[K"); });
  }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() {
    thread_.reset();
    g_progress_on_terminal.store(false);
  }

 private:
  void draw() const {
    std::uint64_t steps = 0;
    std::uint64_t messages = 0;
    std::size_t done = 0;
    const auto stats = process_.component_stats();
    for (const auto& c : stats) {
      steps += c.steps;
      messages += c.messages_out;
      if (patchbay::is_final(c.status)) ++done;
    }
    const double seconds = std::chrono::duration<double>(process_.elapsed()).count();
    char line[256];
    const int n = std::snprintf(line, sizeof line,
                                "\r[engine-run %s] %.1fs  steps %llu  messages %llu  components "
                                "%zu/%zu done%s\033[K",
                                job_id_.c_str(), seconds, static_cast<unsigned long long>(steps),
                                static_cast<unsigned long long>(messages), done, stats.size(),
                                g_signals.load() > 0 ? "  stopping (Ctrl-C again to quit)" : "");
    if (n > 0)
      write_fd(STDERR_FILENO, line, std::min(static_cast<std::size_t>(n), sizeof line - 1));
  }

  const patchbay::Process& process_;
  std::string job_id_;  // as printed: one line, at most kShownJobIdBytes
  std::optional<Periodic> thread_;
};

// ---------------------------------------------------------------------------------------------
// Statistics as JSON

using Json = nlohmann::ordered_json;

/// JSON text of a scalar, or of a container on one line ({"key": value, ...}): invalid UTF-8
/// becomes U+FFFD, a non-finite double null.
void append_inline(const Json& j, std::string& out) {
  if (j.is_object() || j.is_array()) {
    const bool object = j.is_object();
    out += object ? '{' : '[';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      if (object) {
        out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace);
        out += ": ";
      }
      append_inline(*it, out);
    }
    out += object ? '}' : ']';
    return;
  }
  out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// The --stats layout: the top object's members one a line, and the items of a member that is
/// a non-empty object or array one a line below it, each on one line.
std::string stats_text(const Json& top) {
  std::string out = "{";
  bool first = true;
  for (auto member = top.begin(); member != top.end(); ++member) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    append_inline(Json(member.key()), out);
    out += ": ";
    const Json& value = *member;
    if ((!value.is_object() && !value.is_array()) || value.empty()) {
      append_inline(value, out);
      continue;
    }
    const bool object = value.is_object();
    out += object ? '{' : '[';
    bool first_item = true;
    for (auto item = value.begin(); item != value.end(); ++item) {
      out += first_item ? "\n    " : ",\n    ";
      first_item = false;
      if (object) {
        append_inline(Json(item.key()), out);
        out += ": ";
      }
      append_inline(*item, out);
    }
    out += object ? "\n  }" : "\n  ]";
  }
  out += "\n}\n";
  return out;
}

double seconds(std::chrono::nanoseconds ns) {
  return std::chrono::duration<double>(ns).count();
}

/// The --stats JSON; `job_id` is left out when empty (engine-run serve names no job).
std::string stats_json(const patchbay::Process& process, const std::string& name,
                       const std::string& job_id) {
  Json top = Json::object();
  Json& about = top["process"] = Json::object();
  about["name"] = name;
  if (!job_id.empty()) about["job_id"] = job_id;
  about["status"] = patchbay::to_string(process.status());
  about["elapsed_seconds"] = seconds(process.elapsed());

  Json& components = top["components"] = Json::array();
  for (const auto& c : process.component_stats()) {
    Json entry = {{"name", c.name},
                  {"type", c.type},
                  {"status", patchbay::to_string(c.status)},
                  {"steps", c.steps},
                  {"messages_in", c.messages_in},
                  {"messages_out", c.messages_out},
                  {"bytes_in", c.bytes_in},
                  {"bytes_out", c.bytes_out},
                  {"failed_steps", c.failed_steps}};
    if (c.restarts != 0) entry["restarts"] = c.restarts;
    entry["time_in_step_seconds"] = seconds(c.time_in_step);
    entry["time_waiting_seconds"] = seconds(c.time_waiting);
    components.push_back(std::move(entry));
  }

  Json& channels = top["channels"] = Json::array();
  for (const auto& ch : process.channel_stats()) {
    channels.push_back({{"source", ch.source},
                        {"target", ch.target},
                        {"capacity", static_cast<std::uint64_t>(ch.capacity)},
                        {"messages", ch.messages},
                        {"bytes", ch.bytes},
                        {"times_full", ch.times_full},
                        {"times_empty", ch.times_empty}});
  }

  if (const auto* parallel = dynamic_cast<const patchbay::ParallelProcess*>(&process)) {
    Json& workers = top["workers"] = Json::array();
    for (const auto& w : parallel->worker_stats()) {
      workers.push_back({{"name", w.name},
                         {"pid", w.pid},
                         {"cpuset", w.cpuset},
                         {"numa_node", w.numa_node},
                         {"components", w.components},
                         {"gpus", w.gpus},
                         {"steps", w.steps},
                         {"time_busy_seconds", seconds(w.time_busy)},
                         {"time_waiting_seconds", seconds(w.time_waiting)},
                         {"activity", w.activity},
                         {"component", w.component},
                         {"since_progress_seconds", seconds(w.since_progress)}});
    }
  }
  // What the components exported (Component::export_value()), once the run has ended.
  const patchbay::Status status = process.status();
  if (status != patchbay::Status::created && status != patchbay::Status::running) {
    try {
      Json& exports = top["exports"] = Json::object();
      for (const auto& [component, values] : process.exports())
        exports[component] = engine_run::json_from_value(patchbay::Value(values));
    } catch (const std::exception& e) {
      top.erase("exports");
      top["exports_error"] = e.what();
    }
  }
  return stats_text(top);
}

/// Writes `content` to `path` atomically (PATH.tmp, then rename). Returns "" or the reason.
std::string write_file_atomically(const std::string& path, const std::string& content) {
  using patchbay::quote_text;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) return "cannot create " + quote_text(tmp) + ": " + std::strerror(errno);
    file.write(content.data(), static_cast<std::streamsize>(content.size()));
    file.close();
    if (!file) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return "cannot write " + quote_text(tmp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return "cannot rename " + quote_text(tmp) + " to " + quote_text(path) + ": " + ec.message();
  }
  return {};
}

/// "" when a file can probably be created at `path` (its folder exists and is writable).
std::string check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  using patchbay::quote_text;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return quote_text(path) + " is a directory";
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  const fs::file_status status = fs::status(parent, ec);
  if (status.type() == fs::file_type::not_found) {
    return "directory " + quote_text(parent.string()) + " does not exist";
  }
  if (ec) return "cannot use " + quote_text(path) + ": " + ec.message();
  if (status.type() != fs::file_type::directory) {
    return quote_text(parent.string()) + " is not a directory";
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    return "cannot write in " + quote_text(parent.string()) + ": " + std::strerror(errno);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The command

struct Options {
  std::string model;
  engine_run::ModelOptions model_options;
  std::string stats_path;
  double stats_every = 0;  // --stats-every: seconds between live writes of --stats; 0: at the end
  std::string job_id;      // --job-id; empty: the model's, else a new one
  bool validate = false;
  bool no_plugins = false;
  bool plan = false;
  bool diagram = false;
  std::string dump_path;  // --dump: where the model goes as YAML ("-": standard output)
  bool quiet = false;
};

// ---------------------------------------------------------------------------------------------
// The run's job id: --job-id, else the model's (Plugboard's process.args.state.args.job_id, which
// --job-id overrides there too), else a new one.

/// The most bytes of a job id shown on the progress line (the --stats JSON has all of it).
constexpr std::size_t kShownJobIdBytes = 64;
/// The most bytes of a --job-id.
constexpr std::size_t kMaxJobIdBytes = 256;

/// "" when `id` may name a run: not empty, at most kMaxJobIdBytes, no control character.
std::string check_job_id(const std::string& id) {
  if (id.empty()) return "must not be empty";
  if (id.size() > kMaxJobIdBytes) {
    return "must be at most " + std::to_string(kMaxJobIdBytes) + " bytes";
  }
  for (const char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      return "must not hold a control character";
  }
  return {};
}

/// A new job id: job-YYYYMMDD-HHMMSS-XXXX, local time and 16 random bits.
std::string new_job_id() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  char stamp[32] = "00000000-000000";
  if (::localtime_r(&now, &local) != nullptr) {
    (void)std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  }
  unsigned bits = 0;
  try {
    std::random_device random;
    bits = random();
  } catch (...) {
    // No entropy source: the time and the pid still tell runs apart.
    bits = static_cast<unsigned>(now) ^ static_cast<unsigned>(::getpid());
  }
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", bits & 0xFFFFu);
  return std::string("job-") + stamp + "-" + suffix;
}

/// The model's own job id (Plugboard's process.args.state.args.job_id); "" when it has none.
std::string model_job_id(const patchbay::ProcessSpec& spec) {
  const auto state = spec.extra_args.find("state");
  if (state == spec.extra_args.end() || !state->second.is_string()) return {};
  try {
    const YAML::Node node = YAML::Load(state->second.as_string());
    if (!node.IsMap() || !node["args"].IsMap()) return {};
    const YAML::Node id = node["args"]["job_id"];
    if (id.IsScalar()) return id.Scalar();
  } catch (const YAML::Exception&) {
    // The loader kept the state as the model wrote it; one it cannot read names no job.
  }
  return {};
}

/// The run's job id.
std::string job_id_of(const Options& options, const patchbay::ProcessSpec& spec) {
  if (!options.job_id.empty()) return options.job_id;
  if (std::string id = model_job_id(spec); !id.empty()) return id;
  return new_job_id();
}

/// `id` as the progress line shows it: one escaped line, cut at kShownJobIdBytes.
std::string shown_job_id(const std::string& id) {
  std::string shown = patchbay::message_line(id);
  if (shown.size() <= kShownJobIdBytes) return shown;
  std::size_t cut = kShownJobIdBytes;
  while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80)
    --cut;
  return shown.substr(0, cut) + "...";
}

/// Maps the exception being handled to an exit code, printing it.
int report_current_exception() {
  try {
    throw;
  } catch (const patchbay::ComponentFailure& e) {
    print_error(e.what());
    return kExitFailed;
  } catch (const patchbay::ModelError& e) {
    print_error(e.what());
    return kExitBadModel;
  } catch (const patchbay::Error& e) {
    print_error(e.what());
    return kExitFailed;
  } catch (const std::exception& e) {
    print_error(std::string("unexpected error: ") + e.what());
    return kExitFailed;
  } catch (...) {
    print_error("unexpected error of unknown type");
    return kExitFailed;
  }
}

/// Where the model's writers put their rows: FileWriter's and SQLWriter's paths (relative ones
/// as the components take them, against the model file's folder) or connection strings.
std::vector<std::string> output_paths(const patchbay::ProcessSpec& spec) {
  std::vector<std::string> paths;
  const patchbay::Registry& registry = patchbay::Registry::global();
  for (const auto& c : spec.components) {
    const std::string type = registry.resolve(c.type);
    if (type != "FileWriter" && type != "SQLWriter") continue;
    if (const auto path = c.args.find("path"); path != c.args.end() && path->second.is_string()) {
      const std::string& text = path->second.as_string();
      if (spec.base_dir.empty() || text.empty() || text.front() == '/') {
        paths.push_back(text);
      } else {
        paths.push_back((std::filesystem::path(spec.base_dir) / text).lexically_normal().string());
      }
    } else if (const auto url = c.args.find("connection_string");
               url != c.args.end() && url->second.is_string()) {
      paths.push_back(url->second.as_string());
    }
  }
  return paths;
}

/// The line a completed run ends with on stderr: the job, how long it took, how many
/// components and messages, and where its outputs went.
std::string summary_line(const patchbay::Process& process, const patchbay::ProcessSpec& spec,
                         const Options& options, const std::string& job_id) {
  std::uint64_t messages = 0;
  const auto stats = process.component_stats();
  for (const auto& c : stats)
    messages += c.messages_out;
  char head[160];
  std::snprintf(head, sizeof head, "completed in %.2f s: %zu component%s, %llu message%s",
                seconds(process.elapsed()), stats.size(), stats.size() == 1 ? "" : "s",
                static_cast<unsigned long long>(messages), messages == 1 ? "" : "s");
  std::string line = shown_job_id(job_id) + " " + head;
  std::vector<std::string> outputs = output_paths(spec);
  if (!options.stats_path.empty()) outputs.push_back(options.stats_path);
  for (std::size_t i = 0; i < outputs.size(); ++i)
    line += (i == 0 ? "; wrote " : ", ") + patchbay::quote_text(outputs[i]);
  return line;
}

/// Runs the process, writes --stats, and returns the exit code.
int run_process(patchbay::Process& process, const patchbay::ProcessSpec& spec,
                const Options& options, const std::string& job_id) {
  std::exception_ptr failure;
  bool interrupted = false;
  {
    SignalScope::attach(&process);
    {
      const ProgressLine progress(process, shown_job_id(job_id),
                                  !options.quiet && ::isatty(STDERR_FILENO) == 1);
      // --stats-every: the statistics file rewritten while the model runs (replaced whole, so a
      // reader never sees half of it), for a watcher without a terminal.
      std::optional<Periodic> live_stats;
      if (options.stats_every > 0) {
        const auto period = std::chrono::milliseconds(
            std::max<std::int64_t>(1, std::llround(options.stats_every * 1000)));
        live_stats.emplace(period, period, [&] {
          (void)write_file_atomically(options.stats_path, stats_json(process, spec.name, job_id));
        });
      }
      try {
        process.run();
      } catch (...) {
        failure = std::current_exception();
      }
    }  // progress line cleared, threads joined
    interrupted = SignalScope::interrupted();
    SignalScope::attach(nullptr);
  }

  int code = kExitCompleted;
  const patchbay::Status status = process.status();
  // A stop (ours or the engine's) wins over an error it may have caused while unwinding.
  const bool stopped = (interrupted && status != patchbay::Status::completed) ||
                       (!failure && status == patchbay::Status::stopped);
  if (stopped) {
    // What the stop itself ran into (workers that had to be killed, and what they were doing)
    // is worth a line; the exit code stays the stop's.
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        print_error(e.what());
      } catch (...) {
      }
    }
    print_error("stopped");
    code = kExitInterrupted;
  } else if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (...) {
      code = report_current_exception();
    }
  } else if (status == patchbay::Status::failed) {
    print_error("the process failed");
    code = kExitFailed;
  }

  if (!options.stats_path.empty()) {
    std::string reason;
    try {
      reason = write_file_atomically(options.stats_path, stats_json(process, spec.name, job_id));
    } catch (const std::exception& e) {
      reason = e.what();
    }
    if (!reason.empty()) {
      print_error("cannot write statistics: " + reason);
      if (code == kExitCompleted) code = kExitFailed;
    }
  }
  if (code == kExitCompleted && !options.quiet) {
    try {
      print_error(summary_line(process, spec, options, job_id));
    } catch (const std::exception&) {
      // The run is done and its outputs written: a summary that cannot be made changes nothing.
    }
  }
  return code;
}

/// Every plugin the model names must exist, even one that is not loaded.
void check_plugin_files(const patchbay::ProcessSpec& spec) {
  namespace fs = std::filesystem;
  for (const auto& path : spec.plugins) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found) {
      throw patchbay::ModelError("plugin " + patchbay::quote_text(path) + " does not exist",
                                 spec.where);
    }
    if (ec) {
      throw patchbay::ModelError("plugin " + patchbay::quote_text(path) + ": " + ec.message(),
                                 spec.where);
    }
  }
}

/// Loads the --plugin libraries, then the model's own plugins if it names a type that is still
/// unknown (as load_model() does in a program): a plugin is code, run as it loads, so none is
/// loaded that the model does not need.
void load_needed_plugins(const patchbay::ProcessSpec& spec,
                         const std::vector<std::string>& plugins) {
  check_plugin_files(spec);
  for (const auto& plugin : plugins)
    patchbay::load_plugin(plugin);
  patchbay::load_needed_plugins(spec);
}

/// `bytes` in base64's URL-safe alphabet, without padding (what the Mermaid Live Editor's
/// links hold, as js-base64 writes them).
std::string base64url(const unsigned char* bytes, std::size_t size) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    const std::uint32_t chunk = (std::uint32_t{bytes[i]} << 16) |
                                (i + 1 < size ? std::uint32_t{bytes[i + 1]} << 8 : 0) |
                                (i + 2 < size ? std::uint32_t{bytes[i + 2]} : 0);
    out += alphabet[(chunk >> 18) & 63];
    out += alphabet[(chunk >> 12) & 63];
    if (i + 1 < size) out += alphabet[(chunk >> 6) & 63];
    if (i + 2 < size) out += alphabet[chunk & 63];
  }
  return out;
}

/// A Mermaid Live Editor link that opens `diagram`: its state (the code and the editor's
/// settings, as JSON) deflated with zlib and written in base64url, the editor's "#pako:" form.
/// The editor's address alone when the state cannot be compressed.
std::string mermaid_live_url(const std::string& diagram) {
  const nlohmann::json state = {{"code", diagram},
                                {"mermaid", "{\n  \"theme\": \"default\"\n}"},
                                {"autoSync", true},
                                {"updateDiagram", true}};
  const std::string text = state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::vector<unsigned char> compressed(size);
  if (compress2(compressed.data(), &size, reinterpret_cast<const Bytef*>(text.data()),
                static_cast<uLong>(text.size()), Z_BEST_COMPRESSION) != Z_OK) {
    return "https://mermaid.live";
  }
  return "https://mermaid.live/edit#pako:" + base64url(compressed.data(), size);
}

/// "MODEL: valid (...)" for --validate, with what could not be checked.
std::string validation_line(const std::string& model, const patchbay::ValidationReport& report) {
  auto count = [](std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  std::string line = model + ": valid (" + count(report.components, "component") + ", " +
                     count(report.connectors, "connector");
  if (report.workers > 0) line += ", " + count(report.workers, "worker");
  line += ")";
  if (!report.unknown.empty()) {
    line += "; type unknown (plugin not loaded), arguments not checked:";
    for (std::size_t i = 0; i < report.unknown.size(); ++i) {
      line += (i == 0 ? " " : ", ") + patchbay::quote_text(report.unknown[i].name) + " (type " +
              patchbay::quote_text(report.unknown[i].type) + ")";
    }
  }
  return patchbay::message_line(line);
}

/// Loads the model and does what the options ask short of running it. Returns the exit code
/// when that is all there is to do (--validate, --plan, --diagram, an error).
std::optional<int> prepare(const Options& options, patchbay::ProcessSpec& spec,
                           std::unique_ptr<patchbay::Process>& process) {
  std::error_code ec;
  if (std::filesystem::is_directory(options.model, ec)) {
    print_error("cannot open model file " + patchbay::quote_text(options.model) +
                ": it is a directory");
    return kExitBadModel;
  }

  spec = engine_run::load_spec(options.model, options.model_options);

  if (!options.dump_path.empty()) {
    // The model as it would run: --set and --process applied. Reads the file only.
    const std::string yaml = patchbay::dump_model(spec);
    if (options.dump_path == "-") {
      std::cout << yaml;
      if (!std::cout.flush()) {
        print_error("cannot write the model to standard output");
        return kExitFailed;
      }
    } else if (const std::string reason = write_file_atomically(options.dump_path, yaml);
               !reason.empty()) {
      print_error("--dump: " + reason);
      return kExitFailed;
    }
    return kExitCompleted;
  }

  if (options.no_plugins) {
    check_plugin_files(spec);
  } else {
    load_needed_plugins(spec, options.model_options.plugins);
  }

  if (options.diagram) {
    // The events each component declares come from building it (constructors only).
    const std::string chart = patchbay::mermaid_diagram(spec, patchbay::Registry::global());
    std::cout << chart;
    if (!std::cout.flush()) {
      print_error("cannot write the diagram to standard output");
      return kExitFailed;
    }
    // On stderr, so that standard output stays the chart alone; the link is written whole
    // (not cut as an error line would be), its characters all URL-safe.
    if (!options.quiet) {
      write_fd(STDERR_FILENO, "engine-run: view and edit it at " + mermaid_live_url(chart) + "\n");
    }
    return kExitCompleted;
  }

  if (options.plan) {
    std::cout << patchbay::plan_placement_text(spec);
    return std::cout.flush() ? kExitCompleted : kExitFailed;
  }

  if (options.validate) {
    patchbay::ValidationOptions validation;
    validation.allow_unknown_types = options.no_plugins;
    const patchbay::ValidationReport report = patchbay::validate(spec, validation);
    std::cout << validation_line(options.model, report) << '\n';
    return std::cout.flush() ? kExitCompleted : kExitFailed;
  }

  if (!options.stats_path.empty()) {
    // Fail before a long run rather than after it.
    if (std::string reason = check_writable(options.stats_path); !reason.empty()) {
      print_error("--stats: " + reason);
      return kExitBadModel;
    }
  }

  process = patchbay::make_process(spec);
  if (!process) {
    print_error("the engine returned no process for this model");
    return kExitFailed;
  }
  return std::nullopt;
}

int execute(const Options& options) {
  patchbay::ProcessSpec spec;
  std::unique_ptr<patchbay::Process> process;
  try {
    if (const std::optional<int> code = prepare(options, spec, process)) return *code;
  } catch (const std::filesystem::filesystem_error& e) {
    // Before the run, a path that the system refuses (too long, a loop, no permission) is
    // one the model or the command line gave.
    std::string message = "cannot use ";
    message += patchbay::quote_text(e.path1().string());
    message += ": ";
    message += e.code().message();
    print_error(message);
    return kExitBadModel;
  }
  return run_process(*process, spec, options, job_id_of(options, spec));
}

int main_impl(int argc, char** argv) {
  // First thing: a SIGINT or SIGTERM from here on is a stop, even before the model runs.
  const SignalScope signals;
  Options options;
  CLI::App app{"Runs a patchbay dataflow model described in a YAML file.", "engine-run"};
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("engine-run (patchbay) ") + patchbay::version(),
                       "Print the version and exit");

  app.add_option("MODEL", options.model, "The model file (YAML)")->required()->type_name("FILE");
  auto* plugin = engine_run::add_model_options(app, options.model_options);
  auto* validate = app.add_flag(
      "--validate", options.validate,
      "Check the model without running it: types, arguments, wiring, and the placement of a "
      "parallel model; no component runs, no process starts, no channel is allocated");
  auto* no_plugins = app.add_flag("--no-plugins", options.no_plugins,
                                  "With --validate: load no plugin (neither the model's nor "
                                  "--plugin); components of unregistered types are checked "
                                  "for what the model says, not for their arguments");
  auto* plan = app.add_flag("--plan", options.plan,
                            "Print the parallel placement plan without running (loads the "
                            "model's plugins: resources come from the component types)");
  auto* diagram = app.add_flag("--diagram", options.diagram,
                               "Print a Mermaid flowchart, events included (loads plugins, builds "
                               "the components: constructors only)");
  auto* dump = app.add_option("--dump", options.dump_path,
                              "Write the model as YAML, with --set and --process applied, to "
                              "FILE ('-': standard output) instead of running it (reads the "
                              "model file only)")
                   ->type_name("FILE");
  auto* stats =
      app.add_option("--stats", options.stats_path, "Write run statistics as JSON after the run")
          ->type_name("FILE");
  auto* job_id =
      app.add_option("--job-id", options.job_id,
                     "Name the run, as `plugboard process run --job-id`: in --stats and on the "
                     "progress line (default: the model's state job_id, else a new "
                     "job-YYYYMMDD-HHMMSS-XXXX)")
          ->type_name("ID")
          ->check(CLI::Validator(check_job_id, "", "job id"));
  auto* stats_every =
      app.add_option("--stats-every", options.stats_every,
                     "With --stats: also rewrite FILE every SECONDS while the model runs (live "
                     "statistics to watch without a terminal)")
          ->type_name("SECONDS")
          ->check(CLI::Range(0.001, 86400.0));
  stats_every->needs(stats);
  app.add_flag("-q,--quiet", options.quiet,
               "No progress line on the terminal, and no summary line after a completed run");
  validate->excludes(plan)->excludes(diagram)->excludes(stats)->excludes(job_id);
  plan->excludes(diagram)->excludes(stats)->excludes(job_id);
  diagram->excludes(stats)->excludes(job_id)->excludes(dump);
  dump->excludes(validate)->excludes(plan)->excludes(stats)->excludes(job_id);
  no_plugins->needs(validate)->excludes(plugin);

  if (const auto code = engine_run::parse_arguments(app, argc, argv, "engine-run --help")) {
    return *code;
  }
  try {
    return execute(options);
  } catch (...) {
    return report_current_exception();
  }
}

}  // namespace

// What `engine-run serve` (serve.cpp) shares with the rest of the tool.
namespace engine_run {

void error_line(std::string_view message) {
  print_error(message);
}

int exit_code_of_current_exception() {
  return report_current_exception();
}

std::string stats_json(const patchbay::Process& process, const std::string& name) {
  return ::stats_json(process, name, {});
}

nlohmann::ordered_json json_from_value(const patchbay::Value& v) {
  using Kind = patchbay::Value::Kind;
  switch (v.kind()) {
    case Kind::null:
      return nullptr;
    case Kind::boolean:
      return v.as_bool();
    case Kind::integer:
      return v.as_int();
    case Kind::real:
      return v.as_double();
    case Kind::string:
      return v.as_string();
    case Kind::list: {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const patchbay::Value& item : v.as_list())
        out.push_back(json_from_value(item));
      return out;
    }
    case Kind::map: {
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      for (const auto& [key, item] : v.as_map())
        out[key] = json_from_value(item);
      return out;
    }
  }
  return nullptr;
}

void load_plugins_for(const patchbay::ProcessSpec& spec, const std::vector<std::string>& plugins) {
  load_needed_plugins(spec, plugins);
}

CLI::Option* add_model_options(CLI::App& app, ModelOptions& options) {
  app.add_option("--set", options.overrides, "Override a component argument (repeatable)")
      ->type_name("COMP.ARG=VALUE")
      ->allow_extra_args(false);
  CLI::Option* plugin =
      app.add_option("--plugin", options.plugins, "Load a component library (repeatable)")
          ->type_name("PATH")
          ->allow_extra_args(false);
  CLI::Option* process =
      app.add_option("--process", options.process_kind, "Engine to run on, instead of the model's")
          ->type_name("KIND")
          ->check(CLI::IsMember({"local", "parallel"}));
  // Plugboard's spelling (`plugboard process run --process-type`): ray is the parallel engine.
  CLI::Option* process_type =
      app.add_option_function<std::string>(
             "--process-type",
             [&options](const std::string& type) {
               options.process_kind = CLI::detail::to_lower(type) == "ray" ? "parallel" : "local";
             },
             "Plugboard's --process: local (LocalProcess) or ray (RayProcess: the parallel "
             "engine)")
          ->type_name("local|ray")
          ->check(CLI::IsMember({"local", "ray"}, CLI::ignore_case).description(""));
  process->excludes(process_type);
  app.add_option("--num-cpus", options.num_cpus,
                 "Plan for at most N cores of the machine (as `ray start --num-cpus`; "
                 "PATCHBAY_NUM_CPUS)")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  app.add_option("--num-gpus", options.num_gpus,
                 "Plan for at most N of the machine's GPUs (PATCHBAY_NUM_GPUS)")
      ->type_name("N");
  app.add_option("--memory", options.memory,
                 "Plan for at most this much memory, a quantity such as 8Gi (PATCHBAY_MEMORY)")
      ->type_name("QTY");
  app.add_option("--resources", options.resources,
                 "Custom resources the machine has, as `ray start --resources`: "
                 "'{\"NAME\": N}' or NAME=N,... (PATCHBAY_RESOURCES)")
      ->type_name("SPEC");
  app.add_option("--workers", options.workers,
                 "Parallel engine: workers to plan, in place of the model's `workers` (default: "
                 "one per usable core)")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}));
  app.add_option("--wait", options.wait,
                 "Parallel engine: how a worker waits for others, in place of the model's `wait`")
      ->type_name("MODE")
      ->check(CLI::IsMember({"spin", "adaptive", "block"}));
  app.add_option("--topology", options.topology,
                 "Parallel engine: plan for this machine (hwloc XML file or synthetic "
                 "description), in place of the model's `topology` (nothing is bound)")
      ->type_name("TOPOLOGY");
  return plugin;
}

std::optional<int> parse_arguments(CLI::App& app, int argc, char** argv, std::string_view help) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    print_error(std::string(e.what()) + " (see " + std::string(help) + ")");
    return kExitBadModel;
  }
  return std::nullopt;
}

patchbay::ProcessSpec load_spec(const std::string& model, const ModelOptions& options) {
  // The file only: which plugins to load is decided once --plugin's are (load_needed_plugins).
  patchbay::LoadOptions load;
  load.load_plugins = false;
  patchbay::ProcessSpec spec = patchbay::load_model(model, load);
  patchbay::apply_overrides(spec, options.overrides);
  if (options.process_kind == "local") spec.kind = patchbay::ProcessKind::local;
  if (options.process_kind == "parallel") spec.kind = patchbay::ProcessKind::parallel;
  patchbay::MachineResources& machine = spec.options.machine;
  machine.cpus = options.num_cpus;
  machine.gpus = options.num_gpus;
  if (!options.memory.empty()) {
    double bytes = 0;
    try {
      bytes = patchbay::parse_quantity(options.memory);
    } catch (const std::exception& e) {
      throw patchbay::ModelError(std::string("--memory: ") + e.what());
    }
    if (bytes < 1) throw patchbay::ModelError("--memory: must be at least 1 byte");
    machine.memory = static_cast<std::uint64_t>(bytes);
  }
  if (!options.resources.empty()) {
    machine.custom = patchbay::parse_custom_resources(options.resources, "--resources");
  }
  if (options.workers) spec.options.workers = *options.workers;
  if (!options.wait.empty()) spec.options.wait = patchbay::parse_wait_mode(options.wait);
  if (!options.topology.empty()) spec.options.topology = options.topology;
  return spec;
}

}  // namespace engine_run

int main(int argc, char** argv) {
  try {
    // `engine-run serve ...`: a subcommand with its own options, ahead of the MODEL argument.
    if (argc > 1 && std::string_view(argv[1]) == "serve") {
      return engine_run::serve_main(argc - 1, argv + 1);
    }
    // `engine-run tune MODEL ...` and Plugboard's `process tune MODEL ...`: the tuner.
    if (argc > 1 && std::string_view(argv[1]) == "tune") {
      return engine_run::tune_main(argc - 1, argv + 1);
    }
    if (argc > 2 && std::string_view(argv[1]) == "process" && std::string_view(argv[2]) == "tune") {
      return engine_run::tune_main(argc - 2, argv + 2);
    }
    // Plugboard's command shape, `plugboard process run|validate|diagram MODEL ...`: the same
    // as engine-run's flags.
    if (argc > 1 && std::string_view(argv[1]) == "process") {
      const std::string_view verb = argc > 2 ? std::string_view(argv[2]) : std::string_view();
      std::vector<char*> args{argv[0]};
      static char validate[] = "--validate";
      static char diagram[] = "--diagram";
      if (verb == "validate") {
        args.push_back(validate);
      } else if (verb == "diagram") {
        args.push_back(diagram);
      } else if (verb != "run") {
        print_error("process: expected run, validate, diagram or tune, got " +
                    patchbay::quote_text(verb) + " (see engine-run --help)");
        return kExitBadModel;
      }
      for (int i = 3; i < argc; ++i)
        args.push_back(argv[i]);
      return main_impl(static_cast<int>(args.size()), args.data());
    }
    return main_impl(argc, argv);
  } catch (...) {
    // Printing itself failed (e.g. out of memory): say as little as possible.
    write_fd(STDERR_FILENO, "engine-run: unexpected error\n");
    return kExitFailed;
  }
}
