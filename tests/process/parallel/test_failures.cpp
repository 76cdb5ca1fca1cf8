// ParallelProcess, failures: every kind of worker failure and garbage in the arena fail the run
// with a message naming the component; what a worker inherits from its host.
#include <catch2/catch.hpp>

#include <patchbay/patchbay.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <thread>

#include "parallel/parallel_runtime.hpp"
#include "placement/machine.hpp"
#include "shm/arena.hpp"
#include "support/command.hpp"
#include "support/components.hpp"
#include "support/parallel_run.hpp"
#include "support/shared_record.hpp"

using namespace std::chrono_literals;
using patchbay::Component;
using patchbay::Input;
using patchbay::ParallelProcess;
using patchbay::Status;
using patchbay::test::add;
using patchbay::test::Counter;
using patchbay::test::dev_shm_entries;
using patchbay::test::Fault;
using patchbay::test::Faulty;
using patchbay::test::run_and_check_cleanup;
using patchbay::test::SlowSink;
using patchbay::test::split_options;

namespace {

// Where this worker maps the arena: the engine names its memfd "patchbay-arena".
patchbay::detail::ArenaHeader& mapped_arena() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:patchbay-arena") == std::string::npos) continue;
    const auto base = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    return *reinterpret_cast<patchbay::detail::ArenaHeader*>(static_cast<std::uintptr_t>(base));
  }
  throw std::runtime_error("no arena mapped in this process");
}

// This worker's control block and its index, found by pid.
std::pair<patchbay::detail::WorkerControl*, std::uint32_t> own_control_block() {
  auto& header = mapped_arena();
  auto* workers = reinterpret_cast<patchbay::detail::WorkerControl*>(
      reinterpret_cast<char*>(&header) + header.workers_offset);
  for (std::uint32_t w = 0; w < header.worker_count; ++w) {
    if (workers[w].pid == getpid()) return {&workers[w], w};
  }
  throw std::runtime_error("no control block for this worker");
}

enum class Vandalism {
  failed_worker,  // an index far past the workers
  table_offsets,  // the header's offsets of the worker, component and channel tables
  report,         // a failure report: unterminated text, a component it does not run
  report_text,    // a failure report of its own component: unterminated text with newlines
  status_word,    // its own status word holds no status
  exit_status,    // an exit status exit() cannot have passed, then the worker's exit code 4
};

// Passes values on; at its 100th step writes garbage into the arena, as a stray write or
// another process of the same user could.
class Vandal final : public Component {
 public:
  Vandal(std::string name, Vandalism what) : Component(std::move(name)), what_(what) {}
  Input<std::int64_t> in{this, "in"};
  void step() override {
    if (++steps_ != 100) return;
    auto& header = mapped_arena();
    auto [me, index] = own_control_block();
    switch (what_) {
      case Vandalism::failed_worker:
        header.failed_worker = 0x7fffffff;
        break;
      case Vandalism::table_offsets:
        header.workers_offset = header.components_offset = header.channels_offset = std::uint64_t{1}
                                                                                    << 62;
        throw std::runtime_error("vandalised the tables");
      case Vandalism::report:
      case Vandalism::report_text:
        std::memset(me->message, '\n', sizeof me->message);
        me->failed_component = what_ == Vandalism::report ? 77777 : 1;  // 1: this component
        header.failed_worker = index;
        header.abort = 1;
        break;
      case Vandalism::status_word:
        reinterpret_cast<patchbay::detail::ComponentSlot*>(reinterpret_cast<char*>(&header) +
                                                           header.components_offset)[1]
            .status = 0xdeadbeef;
        while (!stop_requested())
          std::this_thread::sleep_for(1ms);
        break;
      case Vandalism::exit_status:
        me->exit_status = 0x12345678;
        _exit(4);
    }
  }

 private:
  Vandalism what_;
  int steps_ = 0;
};

// Records, from its worker, which descriptors are open there besides 0, 1 and 2.
class DescriptorProbe final : public Component {
 public:
  DescriptorProbe(std::string name, patchbay::test::SharedRecord& open_fds)
      : Component(std::move(name)), open_fds_(open_fds) {}
  Input<std::int64_t> in{this, "in"};
  void init() override {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) throw std::runtime_error("cannot list /proc/self/fd");
    std::vector<int> fds;
    while (const dirent* entry = readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      if (entry->d_name[0] != '.' && fd > 2 && fd != dirfd(dir)) fds.push_back(fd);
    }
    closedir(dir);
    for (int fd : fds)
      open_fds_.append(fd);
  }
  void step() override {}

 private:
  patchbay::test::SharedRecord& open_fds_;
};

}  // namespace

TEST_CASE("every kind of worker failure fails the run promptly and names the component",
          "[parallel]") {
  struct Case {
    const char* what;
    Fault fault;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"exception in step", Fault::exception, "bad value 1000"},
      {"abort()", Fault::abort, "SIGABRT"},
      {"segmentation fault", Fault::segfault, "SIGSEGV"},
      {"exit() from a component", Fault::exit, "called exit()"},
      {"exit() in the first step", Fault::exit_at_once, "called exit()"},
  };
  const std::size_t shm_before = dev_shm_entries();
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      std::vector<std::unique_ptr<Component>> parts;
      add<Counter>(parts, "source", "count", -1);  // never ends by itself
      add<Faulty>(parts, "middle", "faulty", c.fault, 1000);
      add<SlowSink>(parts, "sink", "sink");
      ParallelProcess process(std::move(parts),
                              {{"count.out", "faulty.in", 256}, {"faulty.out", "sink.in", 256}},
                              split_options());
      const auto outcome = run_and_check_cleanup(process);
      INFO(outcome.error);
      CHECK_THAT(outcome.error, Catch::Contains("'faulty'") && Catch::Contains(c.message));
      CHECK_THAT(outcome.error, Catch::Contains("worker middle") && Catch::Contains("pid ") &&
                                    Catch::Contains("cpuset"));
      CHECK(outcome.took < 3s);  // the blocked producer and the sleeping sink were woken
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

TEST_CASE("garbage in the arena fails the run with a message, never the supervisor",
          "[parallel][arena]") {
  struct Case {
    const char* what;
    Vandalism vandalism;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"failed_worker out of range", Vandalism::failed_worker,
       "arena corrupted: the failed worker's index reads 2147483647, but this process has 2 "
       "workers"},
      {"table offsets", Vandalism::table_offsets, "vandalised the tables (in worker vandal"},
      {"a report naming a component the worker does not run", Vandalism::report,
       "arena corrupted: worker vandal"},
      {"an exit status exit() cannot pass", Vandalism::exit_status,
       "arena corrupted: its exit status reads 305419896"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      std::vector<std::unique_ptr<Component>> parts;
      add<Counter>(parts, "source", "count", -1);
      add<Vandal>(parts, "vandal", "vandal", c.vandalism);
      ParallelProcess process(std::move(parts), {{"count.out", "vandal.in"}}, split_options());
      const auto outcome = run_and_check_cleanup(process);
      CHECK_THAT(outcome.error, Catch::Contains(c.message));
      CHECK(process.status() == Status::failed);
      CHECK(outcome.took < 5s);
    }
  }
  SECTION("a report of its own component, unterminated and all newlines") {
    std::vector<std::unique_ptr<Component>> parts;
    add<Counter>(parts, "source", "count", -1);
    add<Vandal>(parts, "vandal", "vandal", Vandalism::report_text);
    ParallelProcess process(std::move(parts), {{"count.out", "vandal.in"}}, split_options());
    std::optional<patchbay::ComponentFailure> failure;
    try {
      process.run();
    } catch (const patchbay::ComponentFailure& e) {
      failure = e;
    }
    REQUIRE(failure);
    CHECK(failure->component() == "vandal");
    const std::string message = failure->what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK_THAT(message, Catch::Contains("\\n\\n") && Catch::Contains("worker vandal"));
    CHECK(message.size() < 4 * 1024 + 200);
    CHECK(process.worker_pids().empty());
  }
  SECTION("a status word that holds no status") {
    std::vector<std::unique_ptr<Component>> parts;
    add<Counter>(parts, "source", "count", -1);
    add<Vandal>(parts, "vandal", "vandal", Vandalism::status_word);
    ParallelProcess process(std::move(parts), {{"count.out", "vandal.in"}}, split_options());
    std::atomic<bool> seen{false};
    std::thread watcher([&] {
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (!seen && std::chrono::steady_clock::now() < deadline) {
        seen = process.component_stats()[1].status == Status::failed;
        std::this_thread::sleep_for(1ms);
      }
      process.stop();
    });
    const auto outcome = run_and_check_cleanup(process);
    watcher.join();
    CHECK(seen);                   // shown as failed while the word holds garbage
    CHECK(outcome.error.empty());  // the vandal's worker wrote its final status at the end
  }
}

TEST_CASE("workers inherit no descriptor of the host, and the arena is its owner's only",
          "[parallel][hygiene]") {
  // Opened as a host might: without O_CLOEXEC, and before the process forks its workers.
  const int host_fd = open("/dev/null", O_RDONLY);
  REQUIRE(host_fd > 2);
  patchbay::test::SharedRecord open_fds;
  std::vector<std::unique_ptr<Component>> parts;
  add<Counter>(parts, "source", "count", 10);
  add<DescriptorProbe>(parts, "probe", "probe", open_fds);
  ParallelProcess process(std::move(parts), {{"count.out", "probe.in"}}, split_options());
  // The arena's memfd, as this process holds it: reachable through /proc by its owner only.
  std::optional<mode_t> arena_mode;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const auto target = std::filesystem::read_symlink(entry.path(), error);
    struct stat st {};
    if (!error && target.string().find("memfd:patchbay-arena") != std::string::npos &&
        stat(entry.path().c_str(), &st) == 0) {
      arena_mode = st.st_mode & 07777;
    }
  }
  REQUIRE(arena_mode);
  CHECK(*arena_mode == 0600);
  const auto outcome = run_and_check_cleanup(process);
  close(host_fd);
  REQUIRE(outcome.error.empty());
  CHECK(open_fds.read<int>().empty());
}
