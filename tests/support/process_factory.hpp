// The process under test. The semantics and validation tests build every model through
// make_test_process() and loop over process_kinds(), so that each engine is held to the same
// expectations by the same tests:
//   "local"          LocalProcess: every component a fiber on the calling thread.
//   "parallel"       ParallelProcess as configured (by default one worker per core of this
//                    machine, bound to it); chain links share a worker, siblings may not.
//   "parallel-split" ParallelProcess planned for a synthetic 8-core machine (no binding), every
//                    component a worker of its own (a `worker` label per component): every
//                    connector crosses processes, whatever the size of this machine. (The default
//                    planner keeps chains and cycles in one worker, so without the labels only
//                    fan-out and fan-in models would be split.)
// A ParallelProcess runs components in forked workers: test components record what they see in
// shared memory (support/shared_record.hpp), not in member variables.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/local_process.hpp>
#include <patchbay/parallel_process.hpp>
#include <patchbay/process.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/registry.hpp>

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace patchbay_test {

/// The engines the semantics and validation tests run on.
inline std::vector<std::string> process_kinds() {
  return {"local", "parallel", "parallel-split"};
}

/// The synthetic machine of "parallel-split".
inline constexpr std::string_view split_topology = "pack:1 core:8 pu:1";

/// A process of a parallel kind, checked for leftover workers: once run() has returned (or
/// thrown) every worker must be reaped, and once the process is destroyed none of the workers
/// it forked may remain a child of the test (alive or a zombie). Everything else is forwarded.
class ReapCheckedProcess final : public patchbay::Process {
 public:
  explicit ReapCheckedProcess(std::unique_ptr<patchbay::ParallelProcess> inner)
      : inner_(std::move(inner)), forked_(inner_->worker_pids()) {}
  ~ReapCheckedProcess() override {
    end_background();
    // Checked here, on the test's thread: run() may have run on start()'s thread, where a
    // Catch assertion would race with the test's own.
    INFO("placement:\n" << placement_);
    CHECK(unreaped_.empty());
    inner_.reset();
    for (const int pid : forked_) {
      siginfo_t info{};
      // WNOWAIT: look without reaping; ECHILD: no such child any more.
      const int rc = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      const int error = rc == -1 ? errno : 0;
      INFO("worker pid " << pid << " after its ParallelProcess was destroyed: "
                         << (rc == -1           ? "gone"
                             : info.si_pid != 0 ? "a zombie, never reaped"
                                                : "still running"));
      CHECK(error == ECHILD);
    }
  }
  ReapCheckedProcess(const ReapCheckedProcess&) = delete;
  ReapCheckedProcess& operator=(const ReapCheckedProcess&) = delete;

  void run() override {
    try {
      inner_->run();
    } catch (...) {
      check_reaped();
      throw;
    }
    check_reaped();
  }
  void stop() noexcept override { inner_->stop(); }
  void drain() noexcept override { inner_->drain(); }
  [[nodiscard]] patchbay::Status status() const override { return inner_->status(); }
  [[nodiscard]] std::vector<patchbay::ComponentStats> component_stats() const override {
    return inner_->component_stats();
  }
  [[nodiscard]] std::map<std::string, patchbay::Value::Map> exports() const override {
    return inner_->exports();
  }
  [[nodiscard]] std::vector<patchbay::ChannelStats> channel_stats() const override {
    return inner_->channel_stats();
  }
  [[nodiscard]] std::chrono::nanoseconds elapsed() const override { return inner_->elapsed(); }
  [[nodiscard]] std::shared_ptr<patchbay::detail::HostPort> host_port(
      std::string_view component) const override {
    return inner_->host_port(component);
  }

  [[nodiscard]] const patchbay::ParallelProcess& parallel() const { return *inner_; }

 private:
  // Notes the workers left once run() has returned; the destructor checks.
  void check_reaped() {
    // A second run() while a started one goes on is refused with its workers rightly alive.
    if (inner_->status() == patchbay::Status::running) return;
    const std::vector<int> left = inner_->worker_pids();
    if (left.empty()) return;
    unreaped_.insert(unreaped_.end(), left.begin(), left.end());
    placement_ = inner_->plan();
  }

  std::unique_ptr<patchbay::ParallelProcess> inner_;
  std::vector<int> forked_;
  std::vector<int> unreaped_;  ///< workers run() left behind (checked by the destructor)
  std::string placement_;
};

/// The options a kind runs with: "parallel-split" plans for its synthetic machine.
inline patchbay::ProcessOptions options_for(std::string_view kind,
                                            patchbay::ProcessOptions options) {
  if (kind == "parallel-split") {
    options.topology = std::string(split_topology);
    options.workers = 0;
  }
  return options;
}

/// "parallel-split": a component that has no `worker` label gets its own name as one, so that
/// the planner gives it a worker of its own.
inline void split_workers(std::vector<std::unique_ptr<patchbay::Component>>& components) {
  for (auto& c : components) {
    if (c->worker_label().empty()) c->set_worker_label(c->name());
  }
}
inline void split_workers(patchbay::ProcessSpec& spec) {
  for (auto& c : spec.components) {
    if (c.worker.empty()) c.worker = c.name;
  }
}

/// Builds a process of `kind` from components built in code. Validation errors (ModelError)
/// propagate from here, as from the engines' constructors.
inline std::unique_ptr<patchbay::Process> make_test_process(
    std::string_view kind, std::vector<std::unique_ptr<patchbay::Component>> components,
    std::vector<patchbay::ConnectorSpec> connectors, patchbay::ProcessOptions options = {}) {
  if (kind == "local") {
    return std::make_unique<patchbay::LocalProcess>(std::move(components), std::move(connectors),
                                                    options);
  }
  if (kind == "parallel" || kind == "parallel-split") {
    if (kind == "parallel-split") split_workers(components);
    return std::make_unique<ReapCheckedProcess>(std::make_unique<patchbay::ParallelProcess>(
        std::move(components), std::move(connectors), options_for(kind, std::move(options))));
  }
  throw std::invalid_argument("make_test_process: unknown process kind '" + std::string(kind) +
                              "'");
}

/// Builds a process of `kind` from a spec, instantiating its components from `registry`.
inline std::unique_ptr<patchbay::Process> make_test_process(std::string_view kind,
                                                            const patchbay::ProcessSpec& spec,
                                                            const patchbay::Registry& registry) {
  if (kind == "local") return std::make_unique<patchbay::LocalProcess>(spec, registry);
  if (kind == "parallel" || kind == "parallel-split") {
    patchbay::ProcessSpec copy = spec;
    copy.options = options_for(kind, copy.options);
    if (kind == "parallel-split") split_workers(copy);
    return std::make_unique<ReapCheckedProcess>(
        std::make_unique<patchbay::ParallelProcess>(copy, registry));
  }
  throw std::invalid_argument("make_test_process: unknown process kind '" + std::string(kind) +
                              "'");
}

/// The placement of a parallel process as text (ParallelProcess::plan()); empty for the others.
inline std::string plan_of(const patchbay::Process& process) {
  if (const auto* checked = dynamic_cast<const ReapCheckedProcess*>(&process))
    return checked->parallel().plan();
  return {};
}

/// As above, on the default engine.
inline std::unique_ptr<patchbay::Process> make_test_process(
    std::vector<std::unique_ptr<patchbay::Component>> components,
    std::vector<patchbay::ConnectorSpec> connectors, patchbay::ProcessOptions options = {}) {
  return make_test_process(process_kinds().front(), std::move(components), std::move(connectors),
                           options);
}

}  // namespace patchbay_test
