// A task runtime's zygote forked by the fork server (docs/TASKS.md, "Inside"): a host that
// already runs threads cannot fork safely, so it describes its runtime, and the server's
// single-threaded child rebuilds from that description and the host's arena what the workers
// need (the options, the placement plan, the machine, a Runtime for Runtime::current()), then
// forks them as the in-place zygote would.
#include <patchbay/error.hpp>
#include <patchbay/tasks.hpp>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "fork/spec_codec.hpp"
#include "parallel/child_signals.hpp"
#include "placement/machine.hpp"
#include "tasks/task_core.hpp"
#include "tasks/zygote.hpp"

namespace patchbay::detail {

std::string TaskCore::describe() const {
  ByteWriter out;
  out.u64(id_);
  out.text(topology_);
  out.text(encode_plan(plan_));
  out.u64(remote_functions().size());
  out.u64(static_cast<std::uint64_t>(options_.wait));
  out.u64(arena_->queue_capacity());
  out.u64(arena_->future_slots());
  out.u64(options_.store_bytes);
  out.u64(arena_->actor_records());
  out.u64(options_.custom_resources.size());
  for (const auto& [name, amount] : options_.custom_resources) {
    out.text(name);
    out.f64(amount);
  }
  return out.bytes();
}

TaskCore::TaskCore(std::string_view description, int arena_fd, Runtime* shell) : runtime_(shell) {
  ByteReader in(description);
  id_ = static_cast<std::uint32_t>(in.u64());
  topology_ = in.text();
  plan_ = decode_plan(in.text());
  const std::size_t functions = in.count();
  if (functions != remote_functions().size()) {
    throw Error("the fork server knows " + std::to_string(remote_functions().size()) +
                " remote functions, the host " + std::to_string(functions));
  }
  options_.wait =
      static_cast<WaitMode>(in.at_most(static_cast<std::uint64_t>(WaitMode::block), "wait mode"));
  options_.workers = plan_.workers.size();
  options_.topology = topology_;
  const std::uint64_t queue_capacity = in.u64();
  const std::uint64_t future_slots = in.u64();
  options_.store_bytes = in.u64();
  options_.max_restartable_actors = in.u64();
  for (std::size_t n = in.count(); n > 0; --n) {
    std::string name = in.text();
    options_.custom_resources[std::move(name)] = in.f64();
  }
  machine_ = load_machine(topology_);
  arena_ =
      std::make_shared<TaskArena>(plan_.workers.size(), functions, queue_capacity, future_slots,
                                  options_.store_bytes, options_.max_restartable_actors, arena_fd);
  arena_->close_fd();  // mapped: the workers inherit the mapping
}

void serve_task_zygote(int socket, int arena_fd, pid_t server) noexcept {
  // Die with the server (which dies with the host); the workers die with us.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != server) _exit(1);
  prctl(PR_SET_NAME, "patchbay-zygote");
  reset_signals_in_child();
  close_inherited_descriptors({socket, arena_fd});
  TaskCore::serve_zygote(socket, arena_fd);
}

void TaskCore::serve_zygote(int socket, int arena_fd) noexcept {
  // Its size first (a peek that truncates reports the whole message), so that only what it
  // needs is allocated and touched.
  const ssize_t size = recv(socket, nullptr, 0, MSG_PEEK | MSG_TRUNC);
  if (size <= 0 || size > (ssize_t{1} << 30)) _exit(1);
  std::string description(static_cast<std::size_t>(size), '\0');
  const ssize_t got = recv(socket, description.data(), description.size(), MSG_TRUNC);
  if (got != size) _exit(1);
  TaskCore* core = nullptr;
  try {
    // Never destroyed: the zygote and its workers leave with _exit.
    auto* shell = new Runtime(Runtime::Shell{});
    core = new TaskCore(description, arena_fd, shell);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchbay: the fork server cannot rebuild a task runtime: %s\n", e.what());
    _exit(1);
  }
  Zygote::serve(socket, [core](std::uint32_t w) { core->worker_main(w); });
}

}  // namespace patchbay::detail
