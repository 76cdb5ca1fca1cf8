// Tuner: the search loop, the trial workers (forked, pinned by the placement planner) and what
// a search writes (YAML, CSV, JSON).
#include <patchbay/local_process.hpp>
#include <patchbay/model.hpp>
#include <patchbay/process.hpp>
#include <patchbay/tune.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>

#include "core/port_access.hpp"
#include "core/text.hpp"
#include "fork/spec_codec.hpp"
#include "placement/planner.hpp"
#include "tune/search.hpp"

namespace patchbay {

namespace {

using Json = nlohmann::json;
using detail::quote;

Json to_json(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::null:
      return nullptr;
    case Value::Kind::boolean:
      return v.as_bool();
    case Value::Kind::integer:
      return v.as_int();
    case Value::Kind::real:
      return v.as_double();
    case Value::Kind::string:
      return v.as_string();
    case Value::Kind::list: {
      Json out = Json::array();
      for (const auto& item : v.as_list())
        out.push_back(to_json(item));
      return out;
    }
    case Value::Kind::map: {
      Json out = Json::object();
      for (const auto& [k, item] : v.as_map())
        out[k] = to_json(item);
      return out;
    }
  }
  return nullptr;
}

// A number from JSON, where NaN and infinities travel as null.
Json number_json(double d) {
  return std::isfinite(d) ? Json(d) : Json(nullptr);
}

// The last value an output port sent, as a Value (LocalProcess: the component is here).
std::optional<Value> output_value(const Port& port) {
  const auto& codec = detail::PortAccess::codec(port);
  if (codec.decode_value == nullptr || codec.encode == nullptr) return std::nullopt;
  const void* storage = detail::PortAccess::storage(port);
  std::vector<std::byte> bytes(codec.fixed_size != 0 ? codec.fixed_size
                                                     : codec.encoded_size(storage));
  codec.encode(storage, bytes.data());
  return codec.decode_value(bytes.data(), bytes.size());
}

// What one trial reports from its worker.
struct TrialReport {
  TrialOutcome outcome = TrialOutcome::failed;
  std::vector<double> objectives;
  std::string error;
  double seconds = 0;
};

// The process a trial worker is running, for its signal handler.
std::atomic<Process*> g_trial_process{nullptr};
std::atomic<bool> g_trial_stop{false};

void on_trial_signal(int) {
  g_trial_stop.store(true, std::memory_order_relaxed);
  if (Process* p = g_trial_process.load(std::memory_order_acquire)) p->stop();
}

constexpr std::string_view kConstraintPrefix = "constraint violated";

// A ConstraintError's message as it comes back inside a ComponentFailure: its objective, if
// any, is in "(objective VALUE)".
std::optional<double> constraint_objective(const std::string& message) {
  const auto at = message.find(std::string(kConstraintPrefix) + " (objective ");
  if (at == std::string::npos) return std::nullopt;
  const auto start = at + kConstraintPrefix.size() + 12;
  const auto end = message.find(')', start);
  if (end == std::string::npos) return std::nullopt;
  try {
    return Value(message.substr(start, end - start)).as_double();
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Sets the trial's parameters in `trial`, a copy of the model.
void apply_in_place(const TuneSpec& spec, ProcessSpec& trial,
                    const std::vector<Value>& parameters) {
  for (std::size_t i = 0; i < spec.parameters.size() && i < parameters.size(); ++i) {
    const ParameterSpec& p = spec.parameters[i];
    const Value& v = parameters[i];
    if (p.object_type == "process") {
      trial.parameters[p.field_name] = v;
      continue;
    }
    ComponentSpec* c = trial.find(p.object_name);
    if (c == nullptr) {
      throw ModelError("tune: parameter " + quote(p.full_name()) +
                           ": the model has no component named " + quote(p.object_name),
                       p.where);
    }
    if (p.field_type == "arg") {
      c->args[p.field_name] = v;
    } else if (p.field_type == "parameter") {
      c->parameters[p.field_name] = v;
    } else {
      c->initial_values[p.field_name] = v.is_list() ? v.as_list() : Value::List{v};
    }
  }
}

// Runs one trial on `trial`, the caller's own copy of the model: every trial sets the same
// fields, so that applying the parameters in place leaves it as a fresh copy with them applied
// would be, without copying the whole model per trial.
TrialReport run_trial(const TuneSpec& spec, ProcessSpec& trial,
                      const std::vector<Value>& parameters) {
  TrialReport report;
  const auto start = std::chrono::steady_clock::now();
  try {
    apply_in_place(spec, trial, parameters);
    std::unique_ptr<Process> process = make_process(trial);
    g_trial_process.store(process.get(), std::memory_order_release);
    if (g_trial_stop.load(std::memory_order_relaxed)) process->stop();
    try {
      process->run();
    } catch (...) {
      g_trial_process.store(nullptr, std::memory_order_release);
      throw;
    }
    g_trial_process.store(nullptr, std::memory_order_release);
    if (process->status() == Status::stopped) {
      report.outcome = TrialOutcome::stopped;
    } else {
      const auto exports = process->exports();
      auto* local = dynamic_cast<LocalProcess*>(process.get());
      report.outcome = TrialOutcome::completed;
      for (const auto& o : spec.objectives) {
        std::optional<Value> v;
        if (auto c = exports.find(o.object_name); c != exports.end()) {
          if (auto f = c->second.find(o.field_name); f != c->second.end()) v = f->second;
        }
        if (!v && local != nullptr) {
          if (Component* c = local->component(o.object_name)) {
            if (Port* port = c->find_output(o.field_name)) v = output_value(*port);
          }
        }
        if (!v || !v->is_number()) {
          report.outcome = TrialOutcome::failed;
          report.objectives.clear();
          report.error =
              "objective " + quote(o.full_name()) + ": " +
              (v ? "not a number (" + quote(v->to_string()) + ")"
                 : "component " + quote(o.object_name) + " exported no " + quote(o.field_name) +
                       (local != nullptr ? " and has no such output"
                                         : " (a parallel model's objectives must be "
                                           "exported: Component::export_value())"));
          break;
        }
        report.objectives.push_back(v->as_double());
      }
    }
  } catch (const ComponentFailure& e) {
    report.error = e.what();
    if (e.message().starts_with(kConstraintPrefix)) {
      report.outcome = TrialOutcome::constraint;
      if (auto v = constraint_objective(e.message())) report.objectives = {*v};
    }
  } catch (const std::exception& e) {
    report.error = e.what();
  }
  if (report.outcome != TrialOutcome::completed && report.outcome != TrialOutcome::constraint &&
      g_trial_stop.load(std::memory_order_relaxed)) {
    report.outcome = TrialOutcome::stopped;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

// The pipes between the tuner and its workers carry frames: a 4-byte length, then the frame's
// fields in the fork server's encoding (ByteWriter, engine/fork/spec_codec.hpp). A request
// frame is a trial's values; a report frame is a TrialReport. A short or malformed frame
// throws Error.
void append_frame(std::string& out, const detail::ByteWriter& frame) {
  const auto size = static_cast<std::uint32_t>(frame.bytes().size());
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out.append(frame.bytes());
}

void append_request(std::string& out, const std::vector<Value>& values) {
  detail::ByteWriter frame;
  frame.u64(values.size());
  for (const auto& v : values)
    frame.value(v);
  append_frame(out, frame);
}

std::vector<Value> read_request(std::string_view bytes) {
  detail::ByteReader in(bytes);
  std::vector<Value> values(in.count());
  for (auto& v : values)
    v = in.value();
  return values;
}

void append_report(std::string& out, const TrialReport& r) {
  detail::ByteWriter frame;
  frame.u64(static_cast<std::uint64_t>(r.outcome));
  frame.f64(r.seconds);
  frame.u64(r.objectives.size());
  for (double d : r.objectives)
    frame.f64(d);
  frame.text(r.error);
  append_frame(out, frame);
}

TrialReport read_report(std::string_view bytes) {
  detail::ByteReader in(bytes);
  TrialReport r;
  r.outcome = static_cast<TrialOutcome>(
      in.at_most(static_cast<std::uint64_t>(TrialOutcome::stopped), "trial outcome"));
  r.seconds = in.f64();
  r.objectives.resize(in.count());
  for (double& d : r.objectives)
    d = in.f64();
  r.error = in.text();
  return r;
}

bool write_all(int fd, std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// What has come in on a pipe and not been taken yet: `data` from `at` on.
struct InBuffer {
  std::string data;
  std::size_t at = 0;
};

// The next whole frame in `in`, if there is one (it stays valid until `in` is read into).
std::optional<std::string_view> take_frame(InBuffer& in) {
  const std::size_t have = in.data.size() - in.at;
  std::uint32_t size = 0;
  if (have < sizeof size) return std::nullopt;
  std::memcpy(&size, in.data.data() + in.at, sizeof size);
  if (have - sizeof size < size) return std::nullopt;
  const std::string_view frame(in.data.data() + in.at + sizeof size, size);
  in.at += sizeof size + size;
  return frame;
}

// Reads what `fd` has into `in` (blocking until something comes). False at the end of the
// stream.
bool read_some(int fd, InBuffer& in) {
  if (in.at != 0) {
    in.data.erase(0, in.at);
    in.at = 0;
  }
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    in.data.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

// Trials handed to one worker at once: at least the one it runs and the next, so that it
// starts the next as soon as it has reported one, without waiting for the tuner to read the
// report. Short trials get more, as many as make kRunway seconds of work (up to kMaxQueued):
// the worker then never waits for the tuner, even when the tuner is slow to be scheduled, and
// the tuner takes many reports at each wake-up rather than one.
constexpr std::size_t kMinQueued = 2;
constexpr std::size_t kMaxQueued = 32;
constexpr double kRunway = 0.002;

// A worker's reports, in shared memory: the worker writes each report's frame as its trial
// ends, with no system call, and the tuner reads them when it wakes. The pipe from the worker
// carries only a wake-up byte, written when the tuner said it waits for one, and its end
// tells the tuner that the worker died (the reports published before that are in the ring).
// At most kMaxQueued reports are unread at a time (the tuner hands out no more trials), each
// at most kMaxReport bytes (a longer error is cut), so the worker never waits for room.
constexpr std::size_t kMaxErrorText = 4000;
constexpr std::size_t kMaxReport = kMaxErrorText + 4096;
struct ReportRing {
  static constexpr std::size_t kBytes = 512 * 1024;
  static_assert(kBytes >= kMaxQueued * (kMaxReport + sizeof(std::uint32_t)));
  alignas(64) std::atomic<std::uint64_t> head{0};  // bytes published (the worker)
  alignas(64) std::atomic<std::uint64_t> tail{0};  // bytes taken (the tuner)
  alignas(64) std::atomic<std::uint32_t> tuner_waiting{0};
  alignas(64) char data[kBytes];

  // Copies `n` bytes at ring offset `at` (modulo the size), either way.
  void put(std::uint64_t at, const char* from, std::size_t n) {
    const std::size_t start = at % kBytes;
    const std::size_t first = std::min(n, kBytes - start);
    std::memcpy(data + start, from, first);
    std::memcpy(data, from + first, n - first);
  }
  void get(std::uint64_t at, char* to, std::size_t n) const {
    const std::size_t start = at % kBytes;
    const std::size_t first = std::min(n, kBytes - start);
    std::memcpy(to, data + start, first);
    std::memcpy(to + first, data, n - first);
  }
};

// A ReportRing in a shared mapping, made before the fork so that both sides see it.
ReportRing* map_report_ring() {
  void* at = ::mmap(nullptr, sizeof(ReportRing), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                    -1, 0);
  if (at == MAP_FAILED) throw Error("tune: mmap: " + std::string(std::strerror(errno)));
  return new (at) ReportRing();
}

void unmap_report_ring(ReportRing* ring) {
  if (ring != nullptr) ::munmap(ring, sizeof(ReportRing));
}

// The worker's side: publishes one report frame (`frame`: its length, then its bytes), then
// wakes the tuner if it waits.
void publish_report(ReportRing& ring, std::string_view frame, int wake_fd) {
  const std::uint64_t head = ring.head.load(std::memory_order_relaxed);
  ring.put(head, frame.data(), frame.size());
  ring.head.store(head + frame.size(), std::memory_order_seq_cst);
  if (ring.tuner_waiting.load(std::memory_order_seq_cst) != 0 &&
      ring.tuner_waiting.exchange(0, std::memory_order_seq_cst) != 0) {
    const char wake = 1;
    (void)write_all(wake_fd, std::string_view(&wake, 1));
  }
}

// The tuner's side: appends what the worker published to `in` (whole frames only).
void take_reports(ReportRing& ring, InBuffer& in) {
  const std::uint64_t tail = ring.tail.load(std::memory_order_relaxed);
  const std::uint64_t head = ring.head.load(std::memory_order_acquire);
  if (head == tail) return;
  if (in.at != 0) {
    in.data.erase(0, in.at);
    in.at = 0;
  }
  const std::size_t n = static_cast<std::size_t>(head - tail);
  const std::size_t old = in.data.size();
  in.data.resize(old + n);
  ring.get(tail, in.data.data() + old, n);
  ring.tail.store(head, std::memory_order_release);
}

// The trial worker's life: pinned, it runs each trial it is sent and reports it, until its
// request pipe closes.
[[noreturn]] void worker_main(const TuneSpec& spec, const ProcessSpec& model, int requests,
                              int replies, ReportRing& ring) {
  struct sigaction action {};
  action.sa_handler = on_trial_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A trial that crashes ends its worker, whatever handlers the tuning program installed for
  // itself (a test framework's, a crash reporter's): the tuner records how it died.
  struct sigaction fatal {};
  fatal.sa_handler = SIG_DFL;
  sigemptyset(&fatal.sa_mask);
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE})
    sigaction(sig, &fatal, nullptr);
  ProcessSpec trial = model;
  InBuffer in;
  std::string out;
  for (;;) {
    std::optional<std::string_view> frame = take_frame(in);
    if (!frame) {
      if (!read_some(requests, in)) break;
      continue;
    }
    TrialReport report;
    try {
      report = run_trial(spec, trial, read_request(*frame));
    } catch (const std::exception& e) {
      report.error = std::string("the trial's worker got an unreadable request: ") + e.what();
    }
    // One report a trial, published as it ends: a crash in the next is then the next's.
    if (report.error.size() > kMaxErrorText) {
      report.error.resize(kMaxErrorText);
      report.error += " [cut]";
    }
    out.clear();
    append_report(out, report);
    if (out.size() > kMaxReport + sizeof(std::uint32_t)) {
      TrialReport too_big;
      too_big.seconds = report.seconds;
      too_big.error = "the trial's report is " + std::to_string(out.size()) +
                      " bytes, more than the " + std::to_string(kMaxReport) +
                      " a report may take (" + std::to_string(report.objectives.size()) +
                      " objectives)";
      out.clear();
      append_report(out, too_big);
    }
    publish_report(ring, out, replies);
  }
  ::_exit(0);
}

// A trial handed to a worker: its id, the search's tag for it, and when it was handed out.
struct Pending {
  std::size_t id = 0;
  std::size_t tag = 0;
  std::chrono::steady_clock::time_point sent;
  std::string request;
};

// The longest the tuner lets reports gather before reading them (see Tuner::run). A report
// that finds the tuner waiting in poll() wakes it, and on a VM that wake-up costs the worker
// several microseconds (measured in bench/tune_bench.cpp: about 9 us a trial of 160 us on
// one slot, 5%, before reports gathered for trials of every length; 2% since).
constexpr double kMaxGather = 0.001;

struct Worker {
  pid_t pid = -1;
  int requests = -1;           // the tuner writes trials here
  int replies = -1;            // a wake-up byte comes here; its end: the worker died
  ReportRing* ring = nullptr;  // and the reports here
  InBuffer in;
  std::deque<Pending> queue;  // handed out, in the order the worker runs them
};

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = strsignal(sig);
    return "the trial's worker died of signal " + std::to_string(sig) +
           (name != nullptr ? std::string(" (") + name + ")" : std::string());
  }
  return "the trial's worker exited with status " + std::to_string(WEXITSTATUS(status));
}

// Whether `a` dominates `b` (scores: the higher the better).
bool dominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] < b[i]) return false;
    if (a[i] > b[i]) better = true;
  }
  return better;
}

}  // namespace

ProcessSpec apply_trial(const TuneSpec& spec, const ProcessSpec& model,
                        const std::vector<Value>& parameters) {
  ProcessSpec trial = model;
  apply_in_place(spec, trial, parameters);
  return trial;
}

const Trial* TuneResult::best() const {
  return ranking.empty() ? nullptr : &trials[ranking.front()];
}

Tuner::Tuner(TuneSpec spec, TunerOptions options)
    : spec_(std::move(spec)), options_(std::move(options)) {}

TuneResult Tuner::run(const ProcessSpec& model) {
  check_tune(spec_, model);
  // A parameter the components do not take (a misspelt argument) is one error now, rather
  // than every trial's.
  (void)validate(apply_trial(spec_, model, detail::middle_point(spec_)));
  const auto search_start = std::chrono::steady_clock::now();
  TuneResult result;

  // The model's own values: where a model-based search begins.
  std::vector<Value> start;
  for (const auto& p : spec_.parameters) {
    Value v;
    if (p.object_type == "process") {
      if (auto it = model.parameters.find(p.field_name); it != model.parameters.end())
        v = it->second;
    } else {
      for (const auto& c : model.components) {
        if (c.name != p.object_name) continue;
        const auto& values = p.field_type == "arg" ? c.args : c.parameters;
        if (p.field_type == "initial_value") break;
        if (auto it = values.find(p.field_name); it != values.end()) v = it->second;
      }
    }
    start.push_back(v);
  }
  TuneSpec effective = spec_;
  std::size_t concurrent = effective.max_concurrent;

  // Where the trials run: the placement planner gives each concurrent slot its own cores: one
  // for a LocalProcess model (it runs on one thread; the tuner then has the cores no slot
  // takes, rather than being woken onto a trial's core), cores / slots for a parallel one; a
  // slot per core, shared, when there are more slots than cores.
  const detail::Machine machine = detail::load_machine("");
  std::size_t cores = machine.cores.size();
  if (options_.cpus != 0) cores = std::min(cores, options_.cpus);
  cores = std::max<std::size_t>(cores, 1);
  if (concurrent == 0) concurrent = cores;
  concurrent = std::min(concurrent, effective.num_samples);
  if (options_.in_process) concurrent = 1;
  effective.max_concurrent = concurrent;
  const auto search = detail::make_search(effective, start);

  detail::PlacementInput input;
  for (std::size_t s = 0; s < concurrent; ++s) {
    detail::PlacementRequest request;
    request.component = "trial-" + std::to_string(s);
    request.type = "trial";
    const std::size_t slot_cores = model.kind == ProcessKind::local ? 1 : cores / concurrent;
    request.resources.cpu = concurrent <= cores ? static_cast<double>(slot_cores) : 1.0 / 1024;
    input.components.push_back(request);
  }
  input.workers = std::min(concurrent, cores);
  const detail::Plan plan = detail::plan_placement(machine, input);

  std::vector<double> told;  // a trial's scores, for search->tell
  auto record = [&](std::size_t id, std::size_t tag, const TrialReport& report, bool tell) {
    Trial& trial = result.trials[id];
    trial.outcome = report.outcome;
    trial.objectives = report.objectives;
    trial.error = report.error;
    trial.seconds = report.seconds;
    if (tell) {
      // Scores, the higher the better. A constraint trial's one value scores the first
      // objective, and with several objectives the trial then counts as unscored.
      told.clear();
      for (std::size_t i = 0; i < trial.objectives.size() && i < spec_.objectives.size(); ++i) {
        told.push_back(spec_.objectives[i].mode == TuneMode::max ? trial.objectives[i]
                                                                 : -trial.objectives[i]);
      }
      search->tell(tag, told);
    }
    if (options_.on_trial) options_.on_trial(trial);
  };

  if (options_.in_process) {
    ProcessSpec trial_model = model;
    while (!stop_.load(std::memory_order_relaxed)) {
      auto proposal = search->next();
      if (!proposal) break;
      Trial trial;
      trial.id = result.trials.size();
      trial.parameters = proposal->values;
      result.trials.push_back(trial);
      record(trial.id, proposal->tag, run_trial(spec_, trial_model, proposal->values), true);
    }
  } else {
    std::vector<Worker> workers(concurrent);
    auto spawn = [&](std::size_t s) {
      int to_worker[2];
      int from_worker[2];
      if (::pipe2(to_worker, O_CLOEXEC) != 0)
        throw Error("tune: pipe: " + std::string(std::strerror(errno)));
      if (::pipe2(from_worker, O_CLOEXEC) != 0) {
        ::close(to_worker[0]);
        ::close(to_worker[1]);
        throw Error("tune: pipe: " + std::string(std::strerror(errno)));
      }
      ReportRing* ring = nullptr;
      try {
        ring = map_report_ring();
      } catch (...) {
        for (int fd : {to_worker[0], to_worker[1], from_worker[0], from_worker[1]})
          ::close(fd);
        throw;
      }
      // What the program has buffered is written once, by it, not again by a worker's engine.
      std::cout.flush();
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      if (pid < 0) {
        for (int fd : {to_worker[0], to_worker[1], from_worker[0], from_worker[1]})
          ::close(fd);
        unmap_report_ring(ring);
        throw Error("tune: fork: " + std::string(std::strerror(errno)));
      }
      if (pid == 0) {
        ::close(to_worker[1]);
        ::close(from_worker[0]);
        // The other slots' pipes are not this worker's.
        for (auto& w : workers) {
          if (w.requests >= 0) ::close(w.requests);
          if (w.replies >= 0) ::close(w.replies);
        }
        const auto& wp = plan.workers[plan.worker_of[s]];
        detail::bind_to(machine, wp.cores, wp.numa_node);
        worker_main(spec_, model, to_worker[0], from_worker[1], *ring);
      }
      ::close(to_worker[0]);
      ::close(from_worker[1]);
      // Reset field by field: assigning a temporary Worker{} makes GCC 12 at -O3 warn that
      // its string may be used uninitialized (-Wmaybe-uninitialized, a false positive).
      Worker& w = workers[s];
      w.in.data.clear();
      w.in.at = 0;
      w.queue.clear();
      w.pid = pid;
      w.requests = to_worker[1];
      w.replies = from_worker[0];
      w.ring = ring;
    };
    // A write to a worker that died must not kill the tuner.
    struct sigaction ignore {};
    struct sigaction old_pipe {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &old_pipe);
    auto retire = [&](Worker& w) {
      if (w.requests >= 0) ::close(w.requests);
      if (w.replies >= 0) ::close(w.replies);
      w.requests = w.replies = -1;
      int status = 0;
      if (w.pid > 0) {
        while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
      }
      w.pid = -1;
      unmap_report_ring(w.ring);
      w.ring = nullptr;
      return status;
    };
    try {
      for (std::size_t s = 0; s < concurrent; ++s)
        spawn(s);
      bool stopping = false;
      // The mean run time of a trial (worker-measured, a moving average): how many trials
      // a worker is handed, and how long the tuner lets reports gather.
      double mean_trial = 0;
      // The report of the trial at the front of slot s's queue (the worker runs them in order).
      auto finish = [&](std::size_t s, TrialReport report) {
        const Pending done = workers[s].queue.front();
        workers[s].queue.pop_front();
        mean_trial = mean_trial == 0 ? report.seconds : 0.9 * mean_trial + 0.1 * report.seconds;
        record(done.id, done.tag, report, true);
      };
      auto parse_report = [](std::string_view frame) {
        try {
          return read_report(frame);
        } catch (const std::exception& e) {
          TrialReport report;
          report.error = std::string("the trial's worker sent an unreadable report: ") + e.what();
          return report;
        }
      };
      std::vector<std::string> out(concurrent);
      for (;;) {
        if (stop_.load(std::memory_order_relaxed) && !stopping) {
          stopping = true;
          result.interrupted = true;
          for (auto& w : workers) {
            if (!w.queue.empty() && w.pid > 0) ::kill(w.pid, SIGTERM);
          }
        }
        // Hand out work breadth first: one trial to each idle slot, then a second to each, and
        // so on; each worker's new trials go in one write.
        if (!stopping) {
          std::size_t target = kMinQueued;
          if (mean_trial > 0) {
            target = std::clamp<std::size_t>(
                static_cast<std::size_t>(std::ceil(kRunway / mean_trial)), kMinQueued, kMaxQueued);
          }
          bool more = true;
          for (std::size_t depth = 1; more && depth <= target; ++depth) {
            for (std::size_t s = 0; more && s < concurrent; ++s) {
              Worker& w = workers[s];
              if (w.queue.size() >= depth) continue;
              auto proposal = search->next();
              if (!proposal) {
                more = false;
                break;
              }
              Trial trial;
              trial.id = result.trials.size();
              trial.parameters = proposal->values;
              trial.slot = s;
              result.trials.push_back(std::move(trial));
              Pending pending{
                  result.trials.back().id, proposal->tag, std::chrono::steady_clock::now(), {}};
              append_request(pending.request, proposal->values);
              out[s] += pending.request;
              w.queue.push_back(std::move(pending));
            }
          }
          for (std::size_t s = 0; s < concurrent; ++s) {
            if (out[s].empty()) continue;
            // A failed write shows as the worker's end below.
            write_all(workers[s].requests, out[s]);
            out[s].clear();
          }
        }
        std::vector<pollfd> fds;
        std::vector<std::size_t> slots;
        for (std::size_t s = 0; s < concurrent; ++s) {
          if (!workers[s].queue.empty()) {
            fds.push_back(pollfd{workers[s].replies, POLLIN, 0});
            slots.push_back(s);
          }
        }
        if (fds.empty()) break;  // nothing running and nothing more to run
        // When every busy worker has trials queued for a while yet (short trials, up to about
        // half a millisecond), the tuner lets about half of them end before it reads: one
        // wake-up then takes many reports, and the tuner spends less of the cores the trials
        // run on.
        if (!stopping && mean_trial > 0) {
          std::size_t queued = kMaxQueued;
          for (std::size_t s : slots)
            queued = std::min(queued, workers[s].queue.size());
          if (queued >= 4) {
            const double gather =
                std::min(kMaxGather, mean_trial * static_cast<double>(queued / 2));
            const auto ns = static_cast<long>(gather * 1e9);
            timespec pause{0, ns};
            ::nanosleep(&pause, nullptr);
          }
        }
        // The reports published so far, in the order the worker ran their trials.
        auto drain = [&](std::size_t s) {
          Worker& w = workers[s];
          take_reports(*w.ring, w.in);
          while (!w.queue.empty()) {
            const auto frame = take_frame(w.in);
            if (!frame) break;
            finish(s, parse_report(*frame));
          }
        };
        bool took = false;
        for (std::size_t s : slots) {
          const std::size_t before = workers[s].queue.size();
          drain(s);
          took = took || workers[s].queue.size() != before;
        }
        if (took) continue;
        // Nothing yet: the busy workers are told that the tuner waits (the next report then
        // writes a wake-up byte), the rings are looked at once more for a report published
        // before a worker saw that, and the tuner waits for a byte or a worker's end.
        for (std::size_t s : slots)
          workers[s].ring->tuner_waiting.store(1, std::memory_order_seq_cst);
        bool published = false;
        for (std::size_t s : slots) {
          const ReportRing& ring = *workers[s].ring;
          published = published || ring.head.load(std::memory_order_seq_cst) !=
                                       ring.tail.load(std::memory_order_relaxed);
        }
        int ready = 0;
        if (!published) ready = ::poll(fds.data(), fds.size(), 50);
        if (ready < 0 && errno != EINTR)
          throw Error("tune: poll: " + std::string(std::strerror(errno)));
        for (std::size_t s : slots)
          workers[s].ring->tuner_waiting.store(0, std::memory_order_relaxed);
        for (std::size_t i = 0; i < fds.size(); ++i) {
          const std::size_t s = slots[i];
          Worker& w = workers[s];
          bool died = false;
          if (ready > 0 && fds[i].revents != 0) {
            char wake[64];
            ssize_t n = 0;
            do {
              n = ::read(w.replies, wake, sizeof wake);
            } while (n < 0 && errno == EINTR);
            died = n <= 0;
          }
          drain(s);
          if (!died) continue;
          if (w.queue.empty()) {  // it ended between trials: a new one takes the next
            (void)retire(w);
            if (!stopping) spawn(s);
            continue;
          }
          // The worker died during the trial at the head of its queue: record that one, start
          // another worker in its place and hand it the trials that were waiting.
          TrialReport report;
          report.outcome = stopping ? TrialOutcome::stopped : TrialOutcome::failed;
          report.error = exit_text(retire(w));
          report.seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - w.queue.front().sent)
                  .count();
          std::deque<Pending> waiting(std::next(w.queue.begin()), w.queue.end());
          w.queue.resize(1);
          finish(s, report);
          if (stopping) {
            for (const auto& pending : waiting) {
              TrialReport stopped;
              stopped.outcome = TrialOutcome::stopped;
              record(pending.id, pending.tag, stopped, true);
            }
            continue;
          }
          spawn(s);
          workers[s].queue = std::move(waiting);
          for (const auto& pending : workers[s].queue)
            out[s] += pending.request;
          write_all(workers[s].requests, out[s]);
          out[s].clear();
        }
      }
    } catch (...) {
      for (auto& w : workers) {
        if (w.pid > 0) ::kill(w.pid, SIGKILL);
        retire(w);
      }
      sigaction(SIGPIPE, &old_pipe, nullptr);
      throw;
    }
    for (auto& w : workers)
      retire(w);  // its request pipe closes: it exits
    sigaction(SIGPIPE, &old_pipe, nullptr);
  }
  result.interrupted = result.interrupted || stop_.load(std::memory_order_relaxed);

  // Ranking: trials with every objective, by Pareto rank, then by the first objective.
  std::vector<std::size_t> scored;
  std::vector<std::vector<double>> scores(result.trials.size());
  for (const auto& t : result.trials) {
    if (t.objectives.size() != spec_.objectives.size()) continue;
    if (!std::all_of(t.objectives.begin(), t.objectives.end(),
                     [](double d) { return std::isfinite(d); })) {
      continue;
    }
    for (std::size_t i = 0; i < t.objectives.size(); ++i) {
      scores[t.id].push_back(spec_.objectives[i].mode == TuneMode::max ? t.objectives[i]
                                                                       : -t.objectives[i]);
    }
    scored.push_back(t.id);
  }
  // The Pareto front in O(n log n + n * front): in descending lexicographic order of the
  // scores, a trial can only be dominated by one before it, and then by one on the front (a
  // dominating trial off the front is itself dominated by a front trial, which dominates this
  // one too).
  std::vector<std::size_t> order = scored;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return a < b;
  });
  for (std::size_t a : order) {
    const bool dominated =
        std::any_of(result.pareto_front.begin(), result.pareto_front.end(),
                    [&](std::size_t b) { return dominates(scores[b], scores[a]); });
    if (!dominated) result.pareto_front.push_back(a);
  }
  auto first_better = [&](std::size_t a, std::size_t b) {
    if (scores[a][0] != scores[b][0]) return scores[a][0] > scores[b][0];
    return a < b;
  };
  std::sort(result.pareto_front.begin(), result.pareto_front.end(), first_better);
  if (spec_.objectives.size() == 1 && result.pareto_front.size() > 1) {
    result.pareto_front.resize(1);
  }
  result.ranking = result.pareto_front;
  std::vector<char> ranked(result.trials.size(), 0);
  for (std::size_t id : result.ranking)
    ranked[id] = 1;
  std::vector<std::size_t> rest;
  for (std::size_t id : scored) {
    if (ranked[id] == 0) rest.push_back(id);
  }
  std::sort(rest.begin(), rest.end(), first_better);
  result.ranking.insert(result.ranking.end(), rest.begin(), rest.end());
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - search_start).count();
  return result;
}

std::string parameters_yaml(const TuneSpec& spec, const Trial& trial) {
  std::string out;
  for (std::size_t i = 0; i < spec.parameters.size() && i < trial.parameters.size(); ++i) {
    const Value& v = trial.parameters[i];
    std::string text = v.to_string();
    if (v.is_string()) text = to_json(v).dump();  // quoted, so that it reads back as a string
    out += spec.parameters[i].override_key() + ": " + text + "\n";
  }
  return out;
}

namespace {

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string history_csv(const TuneSpec& spec, const TuneResult& result) {
  std::ostringstream out;
  out << "trial,outcome,seconds";
  for (const auto& p : spec.parameters)
    out << ',' << csv_cell(p.full_name());
  for (const auto& o : spec.objectives)
    out << ',' << csv_cell(o.full_name());
  out << ",error\n";
  for (const auto& t : result.trials) {
    out << t.id << ',' << to_string(t.outcome) << ',' << Value(t.seconds).to_string();
    for (std::size_t i = 0; i < spec.parameters.size(); ++i)
      out << ',' << (i < t.parameters.size() ? csv_cell(t.parameters[i].to_string()) : "");
    for (std::size_t i = 0; i < spec.objectives.size(); ++i)
      out << ',' << (i < t.objectives.size() ? Value(t.objectives[i]).to_string() : "");
    out << ',' << csv_cell(t.error) << '\n';
  }
  return out.str();
}

std::string history_json(const TuneSpec& spec, const TuneResult& result) {
  Json trials = Json::array();
  for (const auto& t : result.trials) {
    Json parameters = Json::object();
    for (std::size_t i = 0; i < spec.parameters.size() && i < t.parameters.size(); ++i)
      parameters[spec.parameters[i].full_name()] = to_json(t.parameters[i]);
    Json objectives = Json::object();
    for (std::size_t i = 0; i < spec.objectives.size() && i < t.objectives.size(); ++i)
      objectives[spec.objectives[i].full_name()] = number_json(t.objectives[i]);
    trials.push_back(Json{{"id", t.id},
                          {"outcome", std::string(to_string(t.outcome))},
                          {"seconds", t.seconds},
                          {"slot", t.slot},
                          {"parameters", parameters},
                          {"objectives", objectives},
                          {"error", t.error}});
  }
  Json out{{"trials", trials},
           {"best", result.best() != nullptr ? Json(result.best()->id) : Json(nullptr)},
           {"pareto_front", result.pareto_front},
           {"interrupted", result.interrupted},
           {"seconds", result.seconds}};
  return out.dump(2) + "\n";
}

ConstraintError::ConstraintError(const std::string& message, std::optional<double> objective)
    : Error(objective ? "constraint violated (objective " + Value(*objective).to_string() +
                            "): " + message
                      : "constraint violated: " + message),
      objective_(objective) {}

std::string_view to_string(TrialOutcome outcome) {
  switch (outcome) {
    case TrialOutcome::completed:
      return "completed";
    case TrialOutcome::constraint:
      return "constraint";
    case TrialOutcome::failed:
      return "failed";
    case TrialOutcome::stopped:
      return "stopped";
  }
  return "failed";
}

}  // namespace patchbay
