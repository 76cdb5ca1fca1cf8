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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <compare>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <sstream>

#include "core/port_access.hpp"
#include "core/text.hpp"
#include "fork/spec_codec.hpp"
#include "local/fiber_scheduling.hpp"
#include "placement/planner.hpp"
#include "shm/atomic.hpp"
#include "shm/futex.hpp"
#include "shm/spin.hpp"
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

// `frame`: scratch, kept from call to call so that its memory is reused.
void append_request(std::string& out, const std::vector<Value>& values, detail::ByteWriter& frame) {
  frame.clear();
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

void append_report(std::string& out, const TrialReport& r, detail::ByteWriter& frame) {
  frame.clear();
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

// What has come in from a ring and not been taken yet: `data` from `at` on.
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

// Trials handed to one worker at once: at least the one it runs and the next, so that it
// starts the next as soon as it has reported one, without waiting for the tuner to read the
// report. Short trials get more, as many as make kRunway seconds of work (up to kMaxQueued):
// the worker then never waits for the tuner, even when the tuner is slow to be scheduled, and
// the tuner takes many reports at each wake-up rather than one.
constexpr std::size_t kMinQueued = 2;
constexpr std::size_t kMaxQueued = 1024;
constexpr double kRunway = 0.002;

// A slot's traffic, in one shared mapping made before its worker's fork: the trials the tuner
// hands out in one byte ring, the worker's reports in another, each a stream of frames, with
// no system call on either side while both are busy.
// - Requests: the tuner writes them and wakes the worker only if it said it sleeps (on the
//   futex word `request_wake`); the worker polls a while when it runs dry, then sleeps. It
//   exits once the tuner has closed its requests and it has run them all, or when the tuner is
//   gone.
// - Reports: the worker publishes each as its trial ends and writes a wake-up byte on its pipe
//   only when the tuner said it waits. That pipe's end tells the tuner that the worker died
//   (the reports it published before are in the ring).
// At most kMaxQueued trials are handed out and unreported at a time, and the requests' ring is
// sized for kMaxQueued of the largest request the search can make (request_bytes()), so the
// tuner never waits for room. A report is at most kMaxReport bytes (a longer error is cut); the
// reports' ring holds thousands of the usual ones, and a worker whose reports fill it (long
// errors) waits for the tuner to read them.
constexpr std::size_t kMaxErrorText = 4000;
constexpr std::size_t kMaxReport = kMaxErrorText + 4096;
constexpr std::size_t kReportBytes = 512 * 1024;
static_assert(kReportBytes >= 4 * (kMaxReport + sizeof(std::uint32_t)));

// One direction's counters, each on a line of its own: bytes published and bytes taken.
struct RingWords {
  alignas(64) std::uint64_t head;  // the writer's
  alignas(64) std::uint64_t tail;  // the reader's
};

struct SlotControl {
  RingWords requests;
  RingWords reports;
  alignas(64) std::uint32_t worker_waiting;  // the worker sleeps (or is about to) on request_wake
  std::uint32_t request_wake;                // bumped by the tuner to wake it
  std::uint32_t closed;                      // the tuner hands out no more trials
  alignas(64) std::uint32_t tuner_waiting;   // the tuner waits for a wake-up byte
};

// A byte ring over `words` and `size` bytes at `data`: one writer, one reader.
class ByteRing {
 public:
  ByteRing(RingWords& words, char* data, std::size_t size)
      : words_(&words), data_(data), size_(size) {}

  // The writer's side: room for `n` more bytes.
  [[nodiscard]] bool fits(std::size_t n) const {
    const std::uint64_t used =
        detail::load_relaxed(words_->head) - detail::load_acquire(words_->tail);
    return used + n <= size_;
  }
  // The writer's side: copies `bytes` in (fits() said so) and publishes them (seq_cst: the
  // writer then reads whether the reader sleeps, and the reader looks again after saying so).
  void publish(std::string_view bytes) {
    const std::uint64_t head = detail::load_relaxed(words_->head);
    const std::size_t start = head % size_;
    const std::size_t first = std::min(bytes.size(), size_ - start);
    std::memcpy(data_ + start, bytes.data(), first);
    std::memcpy(data_, bytes.data() + first, bytes.size() - first);
    detail::store_seq_cst(words_->head, head + bytes.size());
  }
  // The reader's side: whether nothing is published beyond what it took.
  [[nodiscard]] bool empty() const {
    return detail::load_seq_cst(words_->head) == detail::load_relaxed(words_->tail);
  }
  // The reader's side: appends what is published to `in`; false if there was nothing.
  bool take(InBuffer& in) {
    const std::uint64_t tail = detail::load_relaxed(words_->tail);
    const std::uint64_t head = detail::load_acquire(words_->head);
    if (head == tail) return false;
    if (in.at != 0) {
      in.data.erase(0, in.at);
      in.at = 0;
    }
    const auto n = static_cast<std::size_t>(head - tail);
    const std::size_t old = in.data.size();
    in.data.resize(old + n);
    const std::size_t start = tail % size_;
    const std::size_t first = std::min(n, size_ - start);
    std::memcpy(in.data.data() + old, data_ + start, first);
    std::memcpy(in.data.data() + old + first, data_, n - first);
    detail::store_release(words_->tail, head);
    return true;
  }

 private:
  RingWords* words_;
  char* data_;
  std::size_t size_;
};

// A slot's mapping: the control block, then the requests' bytes, then the reports'.
class SlotRings {
 public:
  // Maps it (shared, before the fork) with `request_bytes` for requests. Throws Error.
  explicit SlotRings(std::size_t request_bytes)
      : bytes_(sizeof(SlotControl) + request_bytes + kReportBytes),
        base_(::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    if (base_ == MAP_FAILED) throw Error("tune: mmap: " + std::string(std::strerror(errno)));
    control_ = new (base_) SlotControl{};
    char* data = static_cast<char*>(base_) + sizeof(SlotControl);
    requests_.emplace(control_->requests, data, request_bytes);
    reports_.emplace(control_->reports, data + request_bytes, kReportBytes);
  }
  SlotRings(const SlotRings&) = delete;
  SlotRings& operator=(const SlotRings&) = delete;
  ~SlotRings() { ::munmap(base_, bytes_); }

  SlotControl& control() { return *control_; }
  ByteRing& requests() { return *requests_; }
  ByteRing& reports() { return *reports_; }

  // The tuner's side: hands out `frames`, waking the worker if it sleeps.
  void send(std::string_view frames) {
    requests_->publish(frames);
    if (detail::load_seq_cst(control_->worker_waiting) != 0) wake_worker();
  }
  // The tuner's side: no more trials; the worker exits once it has run those it has.
  void close() {
    detail::store_seq_cst(control_->closed, 1);
    wake_worker();
  }

  // The worker's side: waits until requests come (true) or the tuner closed them or is gone
  // (false). Polls a while first: the tuner usually hands out more within microseconds.
  bool wait_for_requests(pid_t tuner) {
    for (unsigned i = 0; i < kPolls; ++i) {
      if (!requests_->empty()) return true;
      detail::spin_pause();
    }
    for (;;) {
      const std::uint32_t seen = detail::load_acquire(control_->request_wake);
      detail::store_seq_cst(control_->worker_waiting, 1);
      const bool ready = !requests_->empty();
      if (!ready && detail::load_acquire(control_->closed) == 0) {
        detail::futex_wait(&control_->request_wake, seen, std::chrono::milliseconds(100));
      }
      detail::store_relaxed(control_->worker_waiting, 0);
      if (!requests_->empty()) return true;
      if (detail::load_acquire(control_->closed) != 0) return false;
      if (::getppid() != tuner) return false;  // the tuner died: nobody reads the reports
    }
  }

  // The worker's side: publishes one report frame, then wakes the tuner if it waits. When the
  // ring has no room (many long errors unread), waits for the tuner to read: it reads at least
  // every millisecond while trials run, and never sleeps in poll() with reports unread (it
  // looks at the ring after saying it waits). False if the tuner is gone.
  bool report(std::string_view frame, int wake_fd, pid_t tuner) {
    while (!reports_->fits(frame.size())) {
      if (::getppid() != tuner) return false;
      wake_tuner(wake_fd);
      timespec pause{0, 50'000};
      ::nanosleep(&pause, nullptr);
    }
    reports_->publish(frame);
    wake_tuner(wake_fd);
    return true;
  }

 private:
  static constexpr unsigned kPolls = 4096;

  void wake_worker() {
    detail::fetch_add_seq_cst(control_->request_wake, 1u);
    detail::futex_wake_all(&control_->request_wake);
  }
  // The worker's side, after publishing: a wake-up byte, if the tuner said it waits for one.
  void wake_tuner(int wake_fd) {
    std::uint32_t waiting = 1;
    if (detail::load_seq_cst(control_->tuner_waiting) != 0 &&
        detail::compare_exchange_acq_rel(control_->tuner_waiting, waiting, 0u)) {
      const char wake = 1;
      (void)write_all(wake_fd, std::string_view(&wake, 1));
    }
  }

  std::size_t bytes_;
  void* base_;
  SlotControl* control_ = nullptr;
  std::optional<ByteRing> requests_;
  std::optional<ByteRing> reports_;
};

// The most bytes one request frame of this search can take: each parameter's largest value
// (the model's own value, which a model-based search tries first, included).
std::size_t request_bytes(const TuneSpec& spec, const std::vector<Value>& start) {
  auto encoded = [](const Value& v) {
    detail::ByteWriter w;
    w.value(v);
    return w.bytes().size();
  };
  std::size_t total = sizeof(std::uint32_t) + sizeof(std::uint64_t);  // the length, the count
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const ParameterSpec& p = spec.parameters[i];
    std::size_t most = std::max(encoded(Value(0.0)), encoded(Value(std::int64_t{0})));
    for (const auto& c : p.categories)
      most = std::max(most, encoded(c));
    if (i < start.size()) most = std::max(most, encoded(start[i]));
    total += most;
  }
  return total;
}

// The trial worker's life: pinned, it runs each trial it is handed and reports it, until the
// tuner closes its requests (or is gone).
[[noreturn]] void worker_main(const TuneSpec& spec, const ProcessSpec& model, SlotRings& slot,
                              int replies, pid_t tuner) {
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
  detail::use_engine_scheduling();  // this process's thread is the engine's
  ProcessSpec trial = model;
  InBuffer in;
  std::string out;
  detail::ByteWriter scratch;
  for (;;) {
    std::optional<std::string_view> frame = take_frame(in);
    if (!frame) {
      if (slot.requests().take(in)) continue;
      if (!slot.wait_for_requests(tuner)) break;
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
    append_report(out, report, scratch);
    if (out.size() > kMaxReport + sizeof(std::uint32_t)) {
      TrialReport too_big;
      too_big.seconds = report.seconds;
      too_big.error = "the trial's report is " + std::to_string(out.size()) +
                      " bytes, more than the " + std::to_string(kMaxReport) +
                      " a report may take (" + std::to_string(report.objectives.size()) +
                      " objectives)";
      out.clear();
      append_report(out, too_big, scratch);
    }
    if (!slot.report(out, replies, tuner)) break;
  }
  ::_exit(0);
}

// A trial handed to a worker: its id, the search's tag for it, and when it was handed out.
struct Pending {
  std::size_t id = 0;
  std::size_t tag = 0;
  std::chrono::steady_clock::time_point sent;
};

// The longest the tuner lets reports gather before reading them (see Tuner::run). A report
// that finds the tuner waiting in poll() wakes it, and on a VM that wake-up costs the worker
// several microseconds (measured in bench/tune_bench.cpp: about 9 us a trial of 160 us on
// one slot, 5%, before reports gathered for trials of every length; 2% since).
constexpr double kMaxGather = 0.001;

struct Worker {
  pid_t pid = -1;
  std::unique_ptr<SlotRings> rings;  // trials to it, reports from it
  int replies = -1;                  // a wake-up byte comes here; its end: the worker died
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
bool dominates(std::span<const double> a, std::span<const double> b) {
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
  // Room for every trial from the start (up to a million): growing the table moves every
  // trial so far, a pause of a millisecond or more in a long search of short trials.
  result.trials.reserve(std::min<std::size_t>(spec_.num_samples, std::size_t{1} << 20));

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
  auto record = [&](std::size_t id, std::size_t tag, TrialReport&& report, bool tell) {
    Trial& trial = result.trials[id];
    trial.outcome = report.outcome;
    trial.objectives = std::move(report.objectives);
    trial.error = std::move(report.error);
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
    const std::size_t request_ring =
        std::max<std::size_t>(std::size_t{64} << 10, kMaxQueued * request_bytes(spec_, start));
    const pid_t tuner = ::getpid();
    auto spawn = [&](std::size_t s) {
      int from_worker[2];
      if (::pipe2(from_worker, O_CLOEXEC) != 0)
        throw Error("tune: pipe: " + std::string(std::strerror(errno)));
      std::unique_ptr<SlotRings> rings;
      try {
        rings = std::make_unique<SlotRings>(request_ring);
      } catch (...) {
        ::close(from_worker[0]);
        ::close(from_worker[1]);
        throw;
      }
      // What the program has buffered is written once, by it, not again by a worker's engine.
      std::cout.flush();
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      if (pid < 0) {
        ::close(from_worker[0]);
        ::close(from_worker[1]);
        throw Error("tune: fork: " + std::string(std::strerror(errno)));
      }
      if (pid == 0) {
        // A tuner that dies takes its workers with it, queued trials and all (and one that
        // died before this line is seen at once).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != tuner) ::_exit(1);
        ::close(from_worker[0]);
        // The other slots' pipes are not this worker's.
        for (auto& w : workers) {
          if (w.replies >= 0) ::close(w.replies);
        }
        const auto& wp = plan.workers[plan.worker_of[s]];
        detail::bind_to(machine, wp.cores, wp.numa_node);
        worker_main(spec_, model, *rings, from_worker[1], tuner);
      }
      ::close(from_worker[1]);
      // Reset field by field: assigning a temporary Worker{} makes GCC 12 at -O3 warn that
      // its string may be used uninitialized (-Wmaybe-uninitialized, a false positive).
      Worker& w = workers[s];
      w.in.data.clear();
      w.in.at = 0;
      w.queue.clear();
      w.pid = pid;
      w.replies = from_worker[0];
      w.rings = std::move(rings);
    };
    auto retire = [&](Worker& w) {
      if (w.rings) w.rings->close();
      if (w.replies >= 0) ::close(w.replies);
      w.replies = -1;
      int status = 0;
      if (w.pid > 0) {
        while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
      }
      w.pid = -1;
      w.rings.reset();
      return status;
    };
    try {
      for (std::size_t s = 0; s < concurrent; ++s)
        spawn(s);
      bool stopping = false;
      // How long a trial runs (worker-measured): how many trials a worker is handed, and how
      // long the tuner lets reports gather. The lesser of a moving average and the last
      // trial's time, so that the first trials (slower: nothing is warm yet) do not keep the
      // estimate high while the average catches up, and the worker never runs dry because
      // the tuner slept too long or handed out too few.
      double mean_trial = 0;
      double last_trial = 0;
      auto trial_estimate = [&] { return std::min(mean_trial, last_trial); };
      // The report of the trial at the front of slot s's queue (the worker runs them in order).
      auto finish = [&](std::size_t s, TrialReport report) {
        const Pending done = workers[s].queue.front();
        workers[s].queue.pop_front();
        mean_trial = mean_trial == 0 ? report.seconds : 0.9 * mean_trial + 0.1 * report.seconds;
        last_trial = report.seconds;
        record(done.id, done.tag, std::move(report), true);
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
      detail::ByteWriter scratch;
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
          if (trial_estimate() > 0) {
            target = std::clamp<std::size_t>(
                static_cast<std::size_t>(std::ceil(kRunway / trial_estimate())), kMinQueued,
                kMaxQueued);
          }
          bool more = true;
          std::size_t shortest = target;
          for (const auto& w : workers)
            shortest = std::min(shortest, w.queue.size());
          for (std::size_t depth = shortest + 1; more && depth <= target; ++depth) {
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
              trial.parameters = std::move(proposal->values);
              trial.slot = s;
              result.trials.push_back(std::move(trial));
              append_request(out[s], result.trials.back().parameters, scratch);
              w.queue.push_back(Pending{result.trials.back().id, proposal->tag,
                                        std::chrono::steady_clock::now()});
            }
          }
          for (std::size_t s = 0; s < concurrent; ++s) {
            if (out[s].empty()) continue;
            workers[s].rings->send(out[s]);
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
        if (!stopping && trial_estimate() > 0) {
          std::size_t queued = kMaxQueued;
          for (std::size_t s : slots)
            queued = std::min(queued, workers[s].queue.size());
          if (queued >= 4) {
            const double gather =
                std::min(kMaxGather, trial_estimate() * static_cast<double>(queued / 2));
            const auto ns = static_cast<long>(gather * 1e9);
            timespec pause{0, ns};
            ::nanosleep(&pause, nullptr);
          }
        }
        // The reports published so far, in the order the worker ran their trials.
        auto drain = [&](std::size_t s) {
          Worker& w = workers[s];
          w.rings->reports().take(w.in);
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
          detail::store_seq_cst(workers[s].rings->control().tuner_waiting, 1);
        bool published = false;
        for (std::size_t s : slots) {
          published = published || !workers[s].rings->reports().empty();
        }
        int ready = 0;
        if (!published) ready = ::poll(fds.data(), fds.size(), 50);
        if (ready < 0 && errno != EINTR)
          throw Error("tune: poll: " + std::string(std::strerror(errno)));
        for (std::size_t s : slots)
          detail::store_relaxed(workers[s].rings->control().tuner_waiting, 0);
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
          finish(s, std::move(report));
          if (stopping) {
            for (const auto& pending : waiting) {
              TrialReport stopped;
              stopped.outcome = TrialOutcome::stopped;
              record(pending.id, pending.tag, std::move(stopped), true);
            }
            continue;
          }
          spawn(s);
          workers[s].queue = std::move(waiting);
          for (const auto& pending : workers[s].queue)
            append_request(out[s], result.trials[pending.id].parameters, scratch);
          workers[s].rings->send(out[s]);
          out[s].clear();
        }
      }
    } catch (...) {
      for (auto& w : workers) {
        if (w.pid > 0) ::kill(w.pid, SIGKILL);
        retire(w);
      }
      throw;
    }
    // Every worker told at once, so that they end side by side; then each is reaped.
    for (auto& w : workers) {
      if (w.rings) w.rings->close();
    }
    for (auto& w : workers)
      retire(w);
  }
  result.interrupted = result.interrupted || stop_.load(std::memory_order_relaxed);

  // Ranking: trials with every objective, by Pareto rank, then by the first objective. The
  // scores (the higher the better) in one table, a row of k per trial.
  const std::size_t k = spec_.objectives.size();
  std::vector<std::size_t> scored;
  std::vector<double> table(result.trials.size() * k);
  auto scores = [&](std::size_t id) { return std::span<const double>(table).subspan(id * k, k); };
  for (const auto& t : result.trials) {
    if (t.objectives.size() != k) continue;
    if (!std::all_of(t.objectives.begin(), t.objectives.end(),
                     [](double d) { return std::isfinite(d); })) {
      continue;
    }
    for (std::size_t i = 0; i < k; ++i) {
      table[t.id * k + i] =
          spec_.objectives[i].mode == TuneMode::max ? t.objectives[i] : -t.objectives[i];
    }
    scored.push_back(t.id);
  }
  // Best first by the first objective, the earlier trial first on a tie: the ranking with one
  // objective; with several, the order of the front and then of the rest. Sorted as (key, id)
  // pairs, one cache line holding four.
  auto by_first = [&](std::vector<std::size_t>& ids) {
    std::vector<std::pair<double, std::size_t>> keyed;
    keyed.reserve(ids.size());
    for (std::size_t id : ids)
      keyed.emplace_back(-table[id * k], id);
    std::sort(keyed.begin(), keyed.end());
    for (std::size_t i = 0; i < ids.size(); ++i)
      ids[i] = keyed[i].second;
  };
  if (k == 1) {
    result.ranking = std::move(scored);
    by_first(result.ranking);
    if (!result.ranking.empty()) result.pareto_front = {result.ranking.front()};
  } else {
    auto same = [&](std::size_t a, std::size_t b) {
      return std::equal(scores(a).begin(), scores(a).end(), scores(b).begin());
    };
    // The Pareto front in O(n log n + n * front): in descending lexicographic order of the
    // scores, a trial can only be dominated by one before it, and then by one on the front (a
    // dominating trial off the front is itself dominated by a front trial, which dominates this
    // one too).
    std::vector<std::size_t> order = scored;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const auto sa = scores(a);
      const auto sb = scores(b);
      const auto cmp = std::lexicographical_compare_three_way(
          sa.begin(), sa.end(), sb.begin(), sb.end(), std::compare_weak_order_fallback);
      if (cmp != 0) return cmp > 0;
      return a < b;
    });
    // Trials with equal scores are adjacent in that order and share their fate, so a tie is
    // settled by the trial before it: many trials on one value cost no more than one.
    bool dominated = false;
    for (std::size_t i = 0; i < order.size(); ++i) {
      const std::size_t a = order[i];
      if (i == 0 || !same(a, order[i - 1])) {
        dominated = std::any_of(result.pareto_front.begin(), result.pareto_front.end(),
                                [&](std::size_t b) { return dominates(scores(b), scores(a)); });
      }
      if (!dominated) result.pareto_front.push_back(a);
    }
    by_first(result.pareto_front);
    result.ranking = result.pareto_front;
    std::vector<char> ranked(result.trials.size(), 0);
    for (std::size_t id : result.ranking)
      ranked[id] = 1;
    std::vector<std::size_t> rest;
    for (std::size_t id : scored) {
      if (ranked[id] == 0) rest.push_back(id);
    }
    by_first(rest);
    result.ranking.insert(result.ranking.end(), rest.begin(), rest.end());
  }
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
