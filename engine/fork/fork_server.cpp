// The fork server: a single-threaded copy of the host, forked before the host's threads exist,
// that forks one launcher per model; the launcher rebuilds the model and forks its workers.
//
//   host (threads) --control socket--> server --fork--> launcher --fork--> workers
//        \________________________ session socket ________/
#include <patchbay/error.hpp>
#include <patchbay/fork_server.hpp>
#include <patchbay/model.hpp>
#include <patchbay/registry.hpp>

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "fork/fork_protocol.hpp"
#include "fork/spec_codec.hpp"
#include "parallel/child_signals.hpp"
#include "parallel/parallel_runtime.hpp"
#include "placement/machine.hpp"
#include "run/instantiate.hpp"
#include "tasks/zygote.hpp"

namespace patchbay {

namespace detail {

namespace {

std::atomic<int> control_socket{-1};

// How often a launcher looks for ended workers when no descriptor woke it.
constexpr int launcher_poll_ms = 10;

// Threads of this process, or 0 when /proc cannot tell.
std::size_t thread_count() {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  std::size_t n = 0;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(tasks);
  return n;
}

void set_environment(const std::vector<std::string>& environment) {
  clearenv();
  for (const std::string& entry : environment) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) continue;
    setenv(entry.substr(0, equals).c_str(), entry.substr(equals + 1).c_str(), 1);
  }
}

// Rebuilds the model the supervisor built, over the arena it formatted.
std::unique_ptr<ParallelRuntime> rebuild(ByteReader& in, int arena_memfd) {
  const ProcessSpec spec = decode_spec(in.text());
  Plan plan = decode_plan(in.text());
  const std::string topology = in.text();
  const std::string directory = in.text();
  std::vector<std::string> environment;
  for (std::size_t n = in.count(); n > 0; --n)
    environment.push_back(in.text());
  if (chdir(directory.c_str()) != 0) {
    throw Error("the fork server cannot enter the working directory '" + directory +
                "': " + std::strerror(errno));
  }
  set_environment(environment);
  load_plugins(spec);
  ParallelModel model;
  Instantiated built = instantiate(spec, Registry::global());
  model.components = std::move(built.components);
  model.connectors = std::move(built.connectors);
  model.options = std::move(built.options);
  std::vector<Component*> raw;
  for (const auto& c : model.components)
    raw.push_back(c.get());
  model.wiring = build_wiring(raw, model.connectors, model.options, built.locations);
  model.copies = find_copies(model.components, model.wiring);
  model.topology = topology;
  model.machine = load_machine(topology);
  if (plan.worker_of.size() != model.components.size()) {
    throw Error("the fork server's plan does not match the model");
  }
  model.plan = std::move(plan);
  auto arena = std::make_unique<Arena>(arena_memfd);
  if (arena->worker_count() != model.plan.workers.size() ||
      arena->component_count() != model.components.size() ||
      arena->channel_count() != model.wiring.wires.size() + model.wiring.host_wires.size() ||
      arena->replica_count() != model.copies.size()) {
    throw Error("the fork server's arena does not match the model");
  }
  return std::make_unique<ParallelRuntime>(std::move(model), std::move(arena));
}

// A worker of a replicated component's copy, started again at the supervisor's request
// (docs/SERVING.md, "Replicas"): answered with its pid, or why it could not be.
void restart_worker(ForkLauncher& forks, int session, const std::string& payload,
                    std::vector<std::size_t>& workers, std::vector<bool>& reported) {
  try {
    ByteReader in(payload);
    const std::size_t worker = in.u64();
    const auto known = std::find(workers.begin(), workers.end(), worker);
    if (known == workers.end() || !reported[static_cast<std::size_t>(known - workers.begin())])
      throw Error("worker " + std::to_string(worker) + " is not one that ended");
    const pid_t pid = forks.start({worker}).front();
    reported[static_cast<std::size_t>(known - workers.begin())] = false;
    ByteWriter out;
    out.i64(pid);
    (void)send_frame(session, FrameKind::started, out.bytes());
  } catch (const std::exception& e) {
    (void)send_frame(session, FrameKind::failed, e.what());
  }
}

// A launcher: starts one model's workers, reaps them and reports each end to the supervisor.
[[noreturn]] void run_launcher(int session, int arena_memfd, pid_t server) noexcept {
  // Die with the server (which dies with the host); the workers die with us.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != server) _exit(1);
  prctl(PR_SET_NAME, "patchbay-launch");
  close_inherited_descriptors({session, arena_memfd});
  signal(SIGCHLD, SIG_DFL);  // the server ignores it; we reap our workers ourselves
  FrameReader reader(session);
  std::optional<std::pair<FrameKind, std::string>> launch;
  for (bool open = true; !(launch = reader.next());) {
    if (!open) _exit(0);  // the supervisor gave up before asking
    open = reader.fill(-1);
  }
  std::unique_ptr<ParallelRuntime> runtime;
  std::unique_ptr<ForkLauncher> forks;
  std::vector<std::size_t> workers;
  try {
    if (launch->first != FrameKind::launch) throw Error("unexpected request to the fork server");
    ByteReader in(launch->second);
    std::string model = in.text();
    ByteReader model_in(model);
    runtime = rebuild(model_in, arena_memfd);
    close(arena_memfd);
    for (std::size_t n = in.count(); n > 0; --n)
      workers.push_back(in.u64());
    forks = runtime->make_fork_launcher([session] { close(session); });
    const std::vector<pid_t> pids = forks->start(workers);
    ByteWriter out;
    for (pid_t pid : pids)
      out.i64(pid);
    if (!send_frame(session, FrameKind::started, out.bytes())) forks->kill_all();
  } catch (const std::exception& e) {
    (void)send_frame(session, FrameKind::failed,
                     std::string("the fork server cannot start the workers: ") + e.what() +
                         " (it knows the components registered before it started, and those of "
                         "the model's plugins)");
    _exit(1);
  }
  std::vector<bool> reported(workers.size(), false);
  bool host_gone = false;
  while (!forks->all_reaped() ||
         std::find(reported.begin(), reported.end(), false) != reported.end()) {
    std::vector<pollfd> fds;
    for (int fd : forks->wait_fds())
      fds.push_back({fd, POLLIN, 0});
    if (!host_gone) fds.push_back({session, POLLIN, 0});
    (void)poll(fds.data(), fds.size(), launcher_poll_ms);
    if (!host_gone) {
      if (!reader.fill(0)) {
        host_gone = true;  // the supervisor is gone or has given up on us: nothing may linger
        forks->kill_all();
      }
      while (auto frame = reader.next()) {
        if (frame->first == FrameKind::kill) forks->kill_all();
        if (frame->first == FrameKind::restart)
          restart_worker(*forks, session, frame->second, workers, reported);
      }
    }
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (reported[i]) continue;
      const std::optional<int> status = forks->try_reap(workers[i], false);
      if (!status) continue;
      reported[i] = true;
      ByteWriter out;
      out.u64(workers[i]);
      out.i64(*status);
      if (!host_gone) (void)send_frame(session, FrameKind::exited, out.bytes());
    }
  }
  _exit(0);
}

// The server: waits for requests until the host says quit, closes its end, or dies.
[[noreturn]] void run_server(int control, pid_t host) noexcept {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != host) _exit(0);
  prctl(PR_SET_NAME, "patchbay-forksrv");
  reset_signals_in_child();
  close_inherited_descriptors({control});
  signal(SIGCHLD, SIG_IGN);  // launchers are reaped by the kernel: no zombies
  // Read this machine once, here: every launcher and task zygote forked from the server then
  // finds it in load_machine()'s cache instead of walking sysfs again (tens of milliseconds
  // on some machines) before it can fork a worker. A machine that cannot be read is an error
  // for the request that needs it, not for the server.
  try {
    (void)load_machine("");
  } catch (...) {
  }
  const pid_t self = getpid();
  while (true) {
    std::vector<int> fds;
    char what = 0;
    try {
      what = receive_with_fds(control, fds);
    } catch (...) {
      _exit(1);
    }
    if (what == 0 || what == control_quit) _exit(0);
    if (what == control_task_zygote && fds.size() == 2) {
      const pid_t pid = fork();
      if (pid == 0) {
        close(control);
        serve_task_zygote(fds[0], fds[1], self);
      }
    }
    if (what == control_launch && fds.size() == 2) {
      const pid_t pid = fork();
      if (pid == 0) {
        close(control);
        run_launcher(fds[0], fds[1], self);
      }
      // A failed fork closes the session below: the supervisor hears "ended before it started".
    }
    for (int fd : fds)
      close(fd);
  }
}

}  // namespace

int fork_server_socket() noexcept {
  return control_socket.load(std::memory_order_acquire);
}

bool fork_server_running() noexcept {
  return fork_server_socket() >= 0;
}

}  // namespace detail

ForkServer::ForkServer() {
  if (detail::fork_server_running()) throw Error("a fork server is already running");
  const std::size_t threads = detail::thread_count();
  if (threads > 1) {
    throw Error("cannot start the fork server: this process already runs " +
                std::to_string(threads) +
                " threads, and a fork copies only one of them; create the ForkServer at the "
                "top of main(), before anything starts a thread");
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    throw Error(std::string("cannot start the fork server: ") + std::strerror(errno));
  const pid_t host = getpid();
  // Whatever the host buffered must not be written twice.
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(pair[0]);
    close(pair[1]);
    throw Error(std::string("cannot fork the fork server: ") + std::strerror(error));
  }
  if (pid == 0) {
    close(pair[0]);
    detail::run_server(pair[1], host);
  }
  close(pair[1]);
  pid_ = pid;
  control_ = pair[0];
  detail::control_socket.store(control_, std::memory_order_release);
}

ForkServer::~ForkServer() {
  detail::control_socket.store(-1, std::memory_order_release);
  (void)detail::send_with_fds(control_, detail::control_quit, {});
  close(control_);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

bool ForkServer::running() noexcept {
  return detail::fork_server_running();
}

}  // namespace patchbay
