// ParallelProcess through the fork server: a host whose threads hold locks or allocate, models
// started and stopped repeatedly, every kind of worker failure, and nothing left behind.
#include <catch2/catch.hpp>

#include <patchbay/dag.hpp>
#include <patchbay/patchbay.hpp>
#include <patchbay/tasks.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "support/command.hpp"
#include "support/components.hpp"
#include "support/parallel_run.hpp"

using namespace std::chrono_literals;
using patchbay::Component;
using patchbay::ComponentArgs;
using patchbay::ParallelProcess;
using patchbay::ProcessSpec;
using patchbay::Status;
using patchbay::Value;
using patchbay::test::Counter;
using patchbay::test::dev_shm_entries;
using patchbay::test::Faulty;
using patchbay::test::process_exists;
using patchbay::test::RunOutcome;
using patchbay::test::SequenceCheck;
using patchbay::test::SlowSink;

namespace {

// A lock of the host's own. A thread of the host holds it while models start and run.
std::timed_mutex host_lock;

// A thread of the host holding host_lock from construction (once it holds it) to destruction.
class HostLockHolder {
 public:
  HostLockHolder()
      : thread_([this] {
          std::lock_guard<std::timed_mutex> hold(host_lock);
          phase_ = 1;
          while (phase_.load() != 2)
            std::this_thread::sleep_for(1ms);
        }) {
    while (phase_.load() != 1)
      std::this_thread::sleep_for(1ms);
  }
  ~HostLockHolder() {
    phase_ = 2;
    thread_.join();
  }
  HostLockHolder(const HostLockHolder&) = delete;
  HostLockHolder& operator=(const HostLockHolder&) = delete;

 private:
  std::atomic<int> phase_{0};
  std::thread thread_;
};

// Passes values on, taking the host's lock for each: in a worker forked from a process where
// another thread held it, the lock stays held forever.
class NeedsHostLock final : public Component {
 public:
  explicit NeedsHostLock(const ComponentArgs& args) : Component(args) {}
  patchbay::Input<std::int64_t> in{this, "in"};
  patchbay::Output<std::int64_t> out{this, "out"};
  void step() override {
    std::unique_lock<std::timed_mutex> lock(host_lock, std::defer_lock);
    if (!lock.try_lock_for(1s)) {
      throw std::runtime_error("the host's lock is held forever in this worker");
    }
    out = in.value();
  }
};

// Passes values on; its init() fails, naming them, if its worker holds descriptors other
// than 0, 1 and 2.
class DescriptorCheck final : public Component {
 public:
  explicit DescriptorCheck(const ComponentArgs& args) : Component(args) {}
  patchbay::Input<std::int64_t> in{this, "in"};
  patchbay::Output<std::int64_t> out{this, "out"};
  void init() override {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) throw std::runtime_error("cannot list /proc/self/fd");
    std::string open;
    while (const dirent* entry = readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      if (entry->d_name[0] == '.' || fd <= 2 || fd == dirfd(dir)) continue;
      std::error_code error;
      open += " " + std::to_string(fd) + " (" +
              std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), error).string() +
              ")";
    }
    closedir(dir);
    if (!open.empty()) throw std::runtime_error("descriptors open in the worker:" + open);
  }
  void step() override { out = in.value(); }
};

}  // namespace

PATCHBAY_REGISTER_COMPONENT(Counter);
PATCHBAY_REGISTER_COMPONENT(SequenceCheck);
PATCHBAY_REGISTER_COMPONENT(NeedsHostLock);
PATCHBAY_REGISTER_COMPONENT(Faulty);
PATCHBAY_REGISTER_COMPONENT(SlowSink);
PATCHBAY_REGISTER_COMPONENT(DescriptorCheck);

namespace {

patchbay::ComponentSpec component(std::string type, std::string name,
                                  std::map<std::string, Value> args, std::string worker) {
  patchbay::ComponentSpec c;
  c.type = std::move(type);
  c.name = std::move(name);
  c.args = std::move(args);
  c.worker = std::move(worker);
  return c;
}

ProcessSpec parallel_spec(std::vector<patchbay::ComponentSpec> components,
                          std::vector<patchbay::ConnectorSpec> connectors) {
  ProcessSpec spec;
  spec.kind = patchbay::ProcessKind::parallel;
  spec.components = std::move(components);
  spec.connectors = std::move(connectors);
  spec.options.topology = "pack:1 core:4 pu:1";
  return spec;
}

// count -> pass through the host's lock -> check, on three workers.
ProcessSpec locked_chain(std::int64_t count) {
  return parallel_spec({component("Counter", "count", {{"count", count}}, "producer"),
                        component("NeedsHostLock", "locked", {}, "middle"),
                        component("SequenceCheck", "check", {{"expected", count}}, "consumer")},
                       {{"count.out", "locked.in"}, {"locked.out", "check.in"}});
}

struct ProcessEntry {
  int pid = 0;
  char state = '?';
  int parent = 0;
};

std::vector<ProcessEntry> all_processes() {
  std::vector<ProcessEntry> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (const dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) continue;
    // "pid (name) S ppid ...": the name may hold spaces and parentheses.
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 1));
    ProcessEntry e;
    e.pid = pid;
    rest >> e.state >> e.parent;
    out.push_back(e);
  }
  closedir(proc);
  return out;
}

// Every process below this one: the fork server, its launchers and their workers.
std::vector<ProcessEntry> descendants() {
  const auto processes = all_processes();
  std::vector<ProcessEntry> found;
  std::vector<int> roots{getpid()};
  while (!roots.empty()) {
    const int root = roots.back();
    roots.pop_back();
    for (const auto& p : processes) {
      if (p.parent == root) {
        found.push_back(p);
        roots.push_back(p.pid);
      }
    }
  }
  return found;
}

int parent_of(int pid) {
  for (const auto& p : all_processes()) {
    if (p.pid == pid) return p.parent;
  }
  return 0;
}

// After a run: only the fork server is left below us, soon (a launcher exits once it has
// reported its last worker), and nothing below us is a zombie.
void check_nothing_left() {
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  auto left = descendants();
  while (left.size() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    left = descendants();
  }
  std::string listing;
  for (const auto& p : left)
    listing +=
        std::to_string(p.pid) + " " + p.state + " (parent " + std::to_string(p.parent) + ")\n";
  INFO(listing);
  CHECK(left.size() == 1);  // the fork server
  for (const auto& p : left)
    CHECK(p.state != 'Z');
}

// The shared run_and_check_cleanup(), for workers the fork server started: none of them is a
// child of this process, and afterwards only the fork server is left.
RunOutcome run_and_check_cleanup(ParallelProcess& process) {
  for (int pid : process.worker_pids())
    CHECK(parent_of(pid) != getpid());  // started by the fork server, not forked here
  RunOutcome outcome = patchbay::test::run_and_check_cleanup(process);
  check_nothing_left();
  return outcome;
}

}  // namespace

TEST_CASE("workers started by the fork server do not inherit a lock a host thread holds",
          "[fork_server]") {
  REQUIRE(patchbay::ForkServer::running());
  // A thread of the host holds its lock while the model is built and run.
  const HostLockHolder holder;

  SECTION("through the fork server the model runs") {
    ParallelProcess process(locked_chain(2000));
    const auto outcome = run_and_check_cleanup(process);
    CHECK(outcome.error.empty());
    CHECK(process.status() == Status::completed);
  }
  SECTION("forked in place, the same model inherits the held lock and fails") {
    // Another registry than the global one keeps the model off the fork server: what every
    // model did before there was one. The test above is only meaningful if this one fails.
    patchbay::Registry registry;
    registry.add("Counter", [](const ComponentArgs& a) { return std::make_unique<Counter>(a); });
    registry.add("NeedsHostLock",
                 [](const ComponentArgs& a) { return std::make_unique<NeedsHostLock>(a); });
    registry.add("SequenceCheck",
                 [](const ComponentArgs& a) { return std::make_unique<SequenceCheck>(a); });
    ParallelProcess process(locked_chain(2000), registry);
    for (int pid : process.worker_pids())
      CHECK(parent_of(pid) == getpid());
    std::string error;
    try {
      process.run();
    } catch (const patchbay::Error& e) {
      error = e.what();
    }
    CHECK_THAT(error, Catch::Contains("held forever") && Catch::Contains("'locked'"));
  }
}

TEST_CASE("a host with threads busy allocating starts and stops models through the fork server",
          "[fork_server]") {
  std::atomic<bool> quit{false};
  std::vector<std::thread> host;
  for (int t = 0; t < 4; ++t) {
    host.emplace_back([&quit, t] {
      std::vector<std::unique_ptr<char[]>> keep(64);
      for (std::size_t i = 0; !quit.load(std::memory_order_relaxed); ++i) {
        keep[i % keep.size()] = std::make_unique<char[]>(16 + (i * (t + 1)) % 4096);
      }
    });
  }
  constexpr std::int64_t count = 1000;
  const ProcessSpec spec =
      parallel_spec({component("Counter", "count", {{"count", count}}, "producer"),
                     component("SequenceCheck", "check", {{"expected", count}}, "consumer")},
                    {{"count.out", "check.in"}});
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    auto process = patchbay::make_process(spec);
    auto& parallel = dynamic_cast<ParallelProcess&>(*process);
    const bool stop_at_once = round % 4 == 3;
    if (stop_at_once) parallel.stop();
    const auto outcome = run_and_check_cleanup(parallel);
    CHECK(outcome.error.empty());
    CHECK(outcome.took < 10s);
    if (!stop_at_once) {
      CHECK(parallel.status() == Status::completed);
      for (const auto& s : parallel.component_stats()) {
        INFO(s.name);
        CHECK(s.status == Status::completed);
        if (s.name == "check") CHECK(s.messages_in == count);
        if (s.name == "count") CHECK(s.messages_out == count);
      }
    }
  }
  quit = true;
  for (auto& t : host)
    t.join();
}

TEST_CASE("models started from several host threads at once all go through the fork server",
          "[fork_server]") {
  constexpr std::int64_t count = 500;
  const ProcessSpec spec =
      parallel_spec({component("Counter", "count", {{"count", count}}, "producer"),
                     component("SequenceCheck", "check", {{"expected", count}}, "consumer")},
                    {{"count.out", "check.in"}});
  std::mutex mutex;
  std::vector<std::string> outcomes;  // Catch2 assertions are for the main thread only
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int round = 0; round < 3; ++round) {
        std::string outcome;
        try {
          auto process = patchbay::make_process(spec);
          process->run();
          outcome = std::string(patchbay::to_string(process->status()));
        } catch (const std::exception& e) {
          outcome = e.what();
        }
        const std::lock_guard<std::mutex> lock(mutex);
        outcomes.push_back(outcome);
      }
    });
  }
  for (auto& t : callers)
    t.join();
  REQUIRE(outcomes.size() == 9);
  for (const auto& outcome : outcomes)
    CHECK(outcome == patchbay::to_string(Status::completed));
  check_nothing_left();
}

TEST_CASE("every kind of worker failure through the fork server is reported and cleaned up",
          "[fork_server]") {
  struct Case {
    const char* fault;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"exception", "bad value 100"},
      {"abort", "SIGABRT"},
      {"segfault", "SIGSEGV"},
      {"exit", "called exit()"},
  };
  const std::size_t shm_before = dev_shm_entries();
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.fault) {
      ParallelProcess process(
          parallel_spec({component("Counter", "source", {{"count", -1}}, "source"),
                         component("Faulty", "faulty", {{"fault", c.fault}, {"at", 100}}, "middle"),
                         component("SlowSink", "sink", {}, "sink")},
                        {{"source.out", "faulty.in", 256}, {"faulty.out", "sink.in", 256}}));
      const auto outcome = run_and_check_cleanup(process);
      INFO(outcome.error);
      CHECK_THAT(outcome.error, Catch::Contains("'faulty'") && Catch::Contains(c.message));
      CHECK_THAT(outcome.error, Catch::Contains("worker middle") && Catch::Contains("pid ") &&
                                    Catch::Contains("cpuset"));
      CHECK(outcome.took < 1s);  // 100 steps of the sink, then a prompt end
      CHECK(process.status() == Status::failed);
      for (const auto& s : process.component_stats()) {
        INFO(s.name << " " << patchbay::to_string(s.status));
        CHECK(s.status != Status::running);
        CHECK(s.status != Status::waiting);
      }
    }
  }
  CHECK(dev_shm_entries() == shm_before);
}

TEST_CASE("a worker of the fork server killed from outside is named with its signal",
          "[fork_server]") {
  ParallelProcess process(
      parallel_spec({component("Counter", "source", {{"count", -1}}, "source"),
                     component("Faulty", "faulty", {{"fault", "hang"}, {"at", 10}}, "middle")},
                    {{"source.out", "faulty.in"}}));
  const auto pids = process.worker_pids();
  REQUIRE(pids.size() == 2);
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    kill(pids.back(), SIGKILL);
  });
  const auto outcome = run_and_check_cleanup(process);
  killer.join();
  CHECK_THAT(outcome.error, Catch::Contains("SIGKILL") && Catch::Contains("'faulty'") &&
                                Catch::Contains("pid " + std::to_string(pids.back())));
  CHECK(outcome.took < 1s);
  CHECK(process.status() == Status::failed);
}

TEST_CASE("workers of the fork server hold no descriptor but 0, 1 and 2", "[fork_server]") {
  // The launcher forks the workers one after another: each later one would inherit the pidfds
  // of those before it, and the launcher's session and arena descriptors.
  ProcessSpec spec =
      parallel_spec({component("Counter", "count", {{"count", 100}}, "one"),
                     component("DescriptorCheck", "first", {}, "one"),
                     component("DescriptorCheck", "second", {}, "two"),
                     component("DescriptorCheck", "third", {}, "three"),
                     component("SequenceCheck", "check", {{"expected", 100}}, "three")},
                    {{"count.out", "first.in"},
                     {"first.out", "second.in"},
                     {"second.out", "third.in"},
                     {"third.out", "check.in"}});
  ParallelProcess process(spec);
  const auto outcome = run_and_check_cleanup(process);
  CHECK(outcome.error.empty());
  CHECK(process.status() == Status::completed);
}

TEST_CASE("a model the fork server cannot build fails with the server's reason", "[fork_server]") {
  // Registered in the host after the server started: the server has never heard of it.
  patchbay::Registry::global().add(
      "RegisteredTooLate", [](const ComponentArgs& a) { return std::make_unique<SlowSink>(a); });
  const ProcessSpec spec = parallel_spec({component("Counter", "source", {{"count", 10}}, "source"),
                                          component("RegisteredTooLate", "late", {}, "late")},
                                         {{"source.out", "late.in"}});
  CHECK_THROWS_WITH(ParallelProcess(spec), Catch::Contains("RegisteredTooLate"));
  check_nothing_left();
}

TEST_CASE("the fork server loads the model's plugins and works in the host's directory",
          "[fork_server]") {
  patchbay::test::TempDir dir;
  std::filesystem::create_directories(dir / "lib");
  std::filesystem::create_symlink(PATCHBAY_TEST_PLUGIN, dir / "lib/libdoubler.so");
  patchbay::test::write_file(dir / "model.yaml", R"(plugins:
- lib/libdoubler.so
process:
  type: parallel
  args:
    topology: "pack:1 core:4 pu:1"
    components:
    - {type: Iterator, args: {name: input, iters: 5}}
    - {type: Sleep, args: {name: pass, sleep_seconds: 0}}
    - {type: my_plugins.Doubler, args: {name: double, worker: doubler}}
    - {type: FileWriter, args: {name: save, path: doubled.csv, field_names: [y]}}
    connectors:
    - {source: input.x, target: pass.x}
    - {source: pass.y, target: double.x}
    - {source: double.y, target: save.y}
)");
  const ProcessSpec spec = patchbay::load_model((dir / "model.yaml").string());
  // The host needs the plugin too (it validates the model); the server never saw it.
  patchbay::load_plugins(spec);
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());  // the relative output path is the host's
  std::string error;
  {
    ParallelProcess process(spec);
    try {
      process.run();
    } catch (const patchbay::Error& e) {
      error = e.what();
    }
  }
  std::filesystem::current_path(previous);
  CHECK(error.empty());
  std::istringstream lines(patchbay::test::read_file(dir / "doubled.csv"));
  std::vector<std::string> rows;
  for (std::string row; std::getline(lines, row);)
    rows.push_back(row);
  REQUIRE(rows.size() == 6);
  for (std::size_t i = 1; i < rows.size(); ++i)
    CHECK(std::stod(rows[i]) == 2.0 * static_cast<double>(i - 1));
  check_nothing_left();
}

TEST_CASE("a ParallelProcess of the fork server destroyed without run() ends its workers",
          "[fork_server]") {
  std::vector<int> pids;
  {
    ParallelProcess process(locked_chain(10));
    pids = process.worker_pids();
    CHECK(pids.size() == 3);
  }
  for (int pid : pids)
    CHECK_FALSE(process_exists(pid));
  check_nothing_left();
}

TEST_CASE("a host killed by SIGKILL takes its fork server and their workers with it",
          "[fork_server]") {
  patchbay::test::TempDir dir;
  patchbay::test::write_file(
      dir / "model.yaml",
      "process:\n  type: parallel\n  args:\n    topology: \"pack:1 core:4 pu:1\"\n"
      "    components:\n"
      "    - {type: Iterator, args: {name: input, iters: 1000000}}\n"
      "    - {type: Sleep, args: {name: slow, sleep_seconds: 0.01, worker: sleeper}}\n"
      "    connectors:\n    - {source: input.x, target: slow.x}\n");
  const int host = patchbay::test::start_command(
      {"/proc/self/exe", "--host-model", (dir / "model.yaml").string()}, dir.path());
  std::vector<int> pids;  // the host's fork server, then its workers
  const auto out_path = patchbay::test::capture_path(dir.path(), host, "out");
  for (int attempt = 0; attempt < 500 && pids.size() < 3; ++attempt) {
    std::this_thread::sleep_for(10ms);
    // The host's output file appears once it has started (later on a loaded machine).
    if (!std::filesystem::exists(out_path)) continue;
    std::istringstream out(patchbay::test::read_file(out_path));
    std::string word;
    pids.clear();
    while (out >> word) {
      if (word != "server" && word != "workers") pids.push_back(std::stoi(word));
    }
  }
  if (pids.size() != 3) {
    // Never leave the host behind (a zombie would fail the next tests' clean-up checks).
    kill(host, SIGKILL);
    (void)patchbay::test::wait_command(host, dir.path(), 5s);
  }
  REQUIRE(pids.size() == 3);
  kill(host, SIGKILL);
  (void)patchbay::test::wait_command(host, dir.path(), 5s);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  auto alive = [&] {
    // Each ended one is init's zombie until init reaps it, in its own time.
    for (int pid : pids) {
      if (patchbay::test::process_running(pid)) return true;
    }
    return false;
  };
  while (alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK_FALSE(alive());
}

// ---- the task runtime (patchbay::Runtime) through the fork server ----

namespace {

// Takes the host's lock, as NeedsHostLock does: in a worker forked from a process where
// another thread held it, it stays held.
std::int32_t pid_if_lock_free(int) {
  std::unique_lock<std::timed_mutex> lock(host_lock, std::defer_lock);
  if (!lock.try_lock_for(1s)) throw std::runtime_error("the host's lock is held forever here");
  return static_cast<std::int32_t>(getpid());
}
PATCHBAY_REMOTE(pid_if_lock_free);

class Tally {
 public:
  explicit Tally(int start) : total_(start) {}
  int add(int by) { return total_ += by; }
  std::int32_t pid() const { return static_cast<std::int32_t>(getpid()); }

 private:
  int total_;
};
Tally* make_tally(int start) {
  return new Tally(start);
}
PATCHBAY_REMOTE(make_tally);
PATCHBAY_REMOTE_METHOD(Tally::add);
PATCHBAY_REMOTE_METHOD(Tally::pid);

}  // namespace

TEST_CASE(
    "a task runtime built while a host thread holds a lock starts its workers through the "
    "fork server",
    "[fork_server][tasks]") {
  REQUIRE(patchbay::ForkServer::running());
  const HostLockHolder holder;  // while the runtime starts and runs
  std::vector<std::int32_t> workers;
  {
    patchbay::RuntimeOptions options;
    options.workers = 2;
    patchbay::Runtime runtime(options);
    for (const auto& w : runtime.worker_stats()) {
      workers.push_back(w.pid);
      const int zygote = parent_of(w.pid);
      CHECK(zygote != getpid());  // forked by the server's child, not here
      CHECK(parent_of(zygote) != getpid());
    }
    // Tasks run, with the lock free in the workers.
    for (int i = 0; i < 10; ++i)
      CHECK(runtime.submit(pid_if_lock_free, i).get() > 0);
    // Actors too; one restarts on the replacement the zygote forks.
    patchbay::TaskOptions restartable;
    restartable.max_restarts = 1;
    auto tally = runtime.create_actor(restartable, make_tally, 5);
    CHECK(tally.call(&Tally::add, 1).get() == 6);
    const std::int32_t first = tally.call(&Tally::pid).get();
    REQUIRE(kill(first, SIGKILL) == 0);
    bool replaced = false;
    for (int i = 0; i < 5000 && !replaced; ++i) {
      for (const auto& w : runtime.worker_stats())
        replaced |= w.replacements == 1 && w.alive;
      if (!replaced) std::this_thread::sleep_for(1ms);
    }
    REQUIRE(replaced);
    const std::int32_t second = tally.call(&Tally::pid).get();
    CHECK(second != first);
    CHECK(tally.call(&Tally::add, 1).get() == 6);  // constructed again from its arguments
    workers.push_back(second);
  }
  // The zygote and the workers are gone with the runtime.
  for (const std::int32_t pid : workers)
    CHECK_FALSE(process_exists(pid));
  check_nothing_left();
}

TEST_CASE("a DAG compiled while a host thread holds a lock runs on the fork server's workers",
          "[fork_server][dag]") {
  REQUIRE(patchbay::ForkServer::running());
  const HostLockHolder holder;  // while the DAG is compiled and executed
  std::int32_t worker = 0;
  {
    patchbay::DagInput<int> x;
    auto dag = patchbay::compile(patchbay::bind(pid_if_lock_free, x), x);
    for (int i = 0; i < 10; ++i) {
      worker = dag.execute(i).get();
      CHECK(worker > 0);
    }
    CHECK(parent_of(worker) != getpid());  // forked by the server, not here
    dag.close();
  }
  CHECK_FALSE(process_exists(worker));
  check_nothing_left();
}

TEST_CASE("a model with replicas runs through the fork server, in order",
          "[fork_server][replicas]") {
  REQUIRE(patchbay::ForkServer::running());
  const HostLockHolder holder;
  patchbay::ComponentSpec locked = component("NeedsHostLock", "locked", {}, "");
  locked.replicas = 3;
  ParallelProcess process(
      parallel_spec({component("Counter", "count", {{"count", std::int64_t{3000}}}, ""), locked,
                     component("SequenceCheck", "check", {{"expected", std::int64_t{3000}}}, "")},
                    {{"count.out", "locked.in"}, {"locked.out", "check.in"}}));
  const auto outcome = run_and_check_cleanup(process);
  CHECK(outcome.error.empty());
  CHECK(process.status() == Status::completed);
  std::uint64_t steps = 0;
  for (const auto& c : process.component_stats()) {
    if (c.name.starts_with("locked#") && c.name != "locked#split" && c.name != "locked#merge") {
      CHECK(c.steps > 0);
      steps += c.steps;
    }
  }
  CHECK(steps == 3000);
}

TEST_CASE("a copy whose fork-server worker dies is started again by the server's launcher",
          "[fork_server][replicas][restart]") {
  REQUIRE(patchbay::ForkServer::running());
  const HostLockHolder holder;
  patchbay::ComponentSpec locked = component("NeedsHostLock", "locked", {}, "");
  locked.replicas = 2;
  ProcessSpec spec =
      parallel_spec({component("Ingress", "requests", {{"type", "int64"}}, ""), locked,
                     component("Egress", "replies", {{"type", "int64"}}, "")},
                    {{"requests.out", "locked.in"}, {"locked.out", "replies.in"}});
  spec.options.topology = "pack:1 core:6 pu:1";  // a worker for each copy
  ParallelProcess process(spec);
  auto client = process.client<std::int64_t, std::int64_t>("requests", "replies");
  process.start();
  REQUIRE(client.call(1).get() == 1);
  const auto copy_pid = [&process] {
    for (const auto& w : process.worker_stats()) {
      if (w.components == std::vector<std::string>{"locked#2"}) return w.pid;
    }
    return 0;
  };
  const int victim = copy_pid();
  REQUIRE(victim > 0);
  REQUIRE(kill(victim, SIGKILL) == 0);
  // Whatever it held fails naming it; every request is answered.
  for (std::int64_t x = 0; x < 200; ++x) {
    auto reply = client.call(x);
    try {
      const std::int64_t y = reply.get();
      CHECK(y == x);
    } catch (const patchbay::RequestError& e) {
      CHECK(e.component() == "locked#2");
      CHECK_THAT(e.what(), Catch::Contains("died of SIGKILL"));
    }
  }
  int restarted = 0;
  for (int tries = 0; tries < 2000 && (restarted == 0 || restarted == victim); ++tries) {
    restarted = copy_pid();
    std::this_thread::sleep_for(5ms);
  }
  CHECK(restarted != victim);
  for (std::int64_t x = 0; x < 100; ++x)
    CHECK(client.call(x).get() == x);
  std::uint64_t restarts = 0;
  for (const auto& c : process.component_stats()) {
    if (c.name == "locked#2") restarts = c.restarts;
  }
  CHECK(restarts == 1);
  process.drain();
  process.join();
  CHECK(process.status() == Status::completed);
}
