// The run loop of one component: Plugboard's step semantics over rings, written once for every
// engine. The engine supplies the rings and a Parker that knows how to wait. The rules are
// listed in docs/ARCHITECTURE.md, "Semantics".
#pragma once

#include <patchbay/buffer.hpp>
#include <patchbay/component.hpp>

#include <cstddef>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "channel/ring.hpp"
#include "core/value_scratch.hpp"
#include "run/parker.hpp"
#include "run/run_clock.hpp"
#include "run/run_state.hpp"
#include "run/wiring.hpp"
#include "serve/replicas.hpp"
#include "shm/counters.hpp"

namespace patchbay::detail {

struct HostRingControl;
struct ReplicaSlot;

/// One end of a channel as seen by a runner.
struct ChannelEnd {
  channel::AnyRing ring;
  Parker* peer = nullptr;  ///< the parker of the component at the other end
  ChannelCounters* counters = nullptr;
  const Wire* wire = nullptr;
  bool converts = false;  ///< source and target types differ: convert through Value
  bool remote = false;    ///< the peer runs in another worker process
  /// An Ingress's ring from the host: its control block, which a drain closes (see receive()).
  HostRingControl* host = nullptr;
  // Kept here and copied to `counters` now and then. Producer side: what was sent; consumer
  // side: how many times the ring was found empty.
  std::uint64_t sent = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t empties = 0;

  /// What both record formats share (close flags, drained()).
  [[nodiscard]] channel::RingBase& base() noexcept { return channel::base_of(ring); }
  [[nodiscard]] const channel::RingBase& base() const noexcept { return channel::base_of(ring); }
  /// The ring when it holds fixed-size records, else null.
  [[nodiscard]] channel::FixedRing* fixed() noexcept {
    return std::get_if<channel::FixedRing>(&ring);
  }
};

/// Drives one component through init, steps and teardown:
/// - a component with inputs steps when every input field has a new value (initial values
///   first, then messages; fan-in fields take messages from whichever channel has one);
/// - a source steps until it calls close(); the values of that step are not sent;
/// - after a step every connected output sends its current value to every channel;
/// - it completes when an input field is closed and drained, or when every reader downstream
///   has gone; it then closes its outputs (after every earlier message) and its inputs;
/// - on a request's way (downstream of an Ingress), a step that throws, or an error record on
///   an input, fails that request only: the step is skipped and its outputs carry the error on
///   (see WireErrors);
/// - a stop or another component's failure makes it STOPPED at its next step boundary or wait;
///   an exception from init() or step() makes it FAILED and fails the run;
/// - a router (a replicated component's split or merge, serve/replicas.hpp) moves records as
///   bytes, error records included: the split gives each message to its least loaded copy, the
///   merge hands on the copies' messages in the split's order (or as they come);
/// - events (event.hpp) that reach it before a step are handled before that step, whether they
///   came while it waited for its fields or not; a component whose only inputs are events waits
///   for one, handles it and steps; it ends once every publisher it hears from has finished, or
///   when the whole run waits (RunState::quiet()). What a step or a handler publishes is sent
///   when it returns. A component that calls publish_stop() completes after sending that
///   step's messages, and drains the run.
/// Runs on the component's fiber only.
class ComponentRunner {
 public:
  ComponentRunner(Component& component, RunState& state, Parker& parker,
                  ComponentCounters& counters);
  ComponentRunner(const ComponentRunner&) = delete;
  ComponentRunner& operator=(const ComponentRunner&) = delete;
  /// Unhooks the component's buffer outputs, which loan through it.
  ~ComponentRunner();

  void add_input(std::size_t port_index, ChannelEnd end);
  void add_output(std::size_t port_index, ChannelEnd end);

  /// Runs init(). Every component of a process is initialised before any steps, so a failing
  /// init() stops the run before any data moves. Returns false if it failed or a stop came.
  bool initialize() noexcept;
  /// The fiber body: steps (if initialize() succeeded), closes the channels, runs teardown().
  /// Never throws; the outcome is the component's status and the RunState.
  void run() noexcept;

  [[nodiscard]] Component& component() const { return component_; }
  /// A word (in shared memory) that mirrors the component's status for another process.
  void set_status_mirror(std::uint32_t* mirror) { status_mirror_ = mirror; }
  /// Words (in shared memory) where the runner says, for a supervisor, which step it is in (2n
  /// + 1 in step n + 1, 2n between) and what it waits on (see ComponentSlot::waiting_on).
  void set_liveness_mirrors(std::uint64_t* step_sequence, std::uint32_t* waiting_on) {
    step_sequence_ = step_sequence;
    waiting_on_ = waiting_on;
  }
  /// Fair stepping: the word of its thread's SliceTicker. Without one (a component alone on
  /// its thread) it never yields but to wait.
  void set_slice_epoch(const std::uint32_t* epoch) { slice_epoch_ = epoch; }
  /// A router in a ParallelProcess: per copy of its component (in the router's order), the
  /// copy's slot in the arena, through which the split, the merge and the supervisor settle
  /// what a copy whose worker died held, so that it can be started again (ReplicaSlot). Without
  /// them a copy that stops reading is one the split gives nothing more.
  void set_replica_slots(std::vector<ReplicaSlot*> slots) { replica_slots_ = std::move(slots); }
  /// Where the lowest byte of the fiber stack that run() uses lies (see RecordingStack).
  [[nodiscard]] const void** stack_lowest() { return &stack_lowest_; }

 private:
  struct InputField {
    Port* port = nullptr;
    std::size_t port_index = 0;  ///< among the component's inputs (fields and events)
    std::vector<ChannelEnd> channels;
    std::deque<Value> initial;
    std::size_t next_channel = 0;  ///< fan-in: where the next search starts (fairness)
    bool remote = false;           ///< some channel's producer runs in another worker
    bool single_fixed = false;     ///< one channel, of fixed-size records (see take_fixed)
    bool host_fed = false;         ///< a channel is an Ingress's ring from the host
    bool in_place = false;         ///< a BufferInput: the step reads the record in the ring
    ChannelEnd* held = nullptr;    ///< in_place: the channel whose record the step is reading
    WaitReason empty;              ///< why the reader parks
  };
  struct OutputField {
    Port* port = nullptr;
    std::size_t port_index = 0;  ///< among the component's outputs (fields and events)
    std::vector<ChannelEnd> channels;
    std::vector<WaitReason> full;  ///< per channel: why the writer parks when it is full
    bool single_fixed = false;     ///< one channel, of fixed-size records (see write_fixed)
    bool in_place = false;         ///< a BufferOutput: the step writes its record in the ring
  };
  struct Stopped {};

  template <class Body>
  void guarded(Body&& body) noexcept;
  void forget_unwound_frames() const noexcept;
  void set_status(Status status) noexcept;
  // Throws Stopped when the run is stopping: at every step boundary, so inline.
  void check_stop() const {
    if (state_.stopping()) [[unlikely]]
      throw_stopped();
  }
  [[noreturn]] static void throw_stopped();
  bool receive_all();
  bool receive(InputField& field);
  // Events (event.hpp).
  bool handle_events();
  bool take_event(InputField& event, ChannelEnd& end);
  bool receive_event();
  bool publish_events();
  void published_stop();
  void close_host_rings(InputField& field);
  bool try_take(InputField& field);
  bool take_from(InputField& field, ChannelEnd& end);
  bool take_fixed(InputField& field, ChannelEnd& end);
  void deliver(InputField& field, ChannelEnd& end, std::span<const std::byte> record);
  bool send_all();
  bool step_serving();
  // Routers (serve/replicas.hpp).
  void route_split();
  void route_merge();
  std::optional<std::size_t> least_loaded();
  std::optional<std::size_t> give_to_copy();
  void wait_for_copy();
  /// What a merge found on copy `k`'s way: a record in the field, none because the copy died
  /// holding the message (the field then holds an error record), or the end.
  enum class FromCopy { record, lost, ended };
  FromCopy receive_from_copy(std::size_t k, InputField& field);
  void answered(std::size_t k);
  std::optional<std::pair<std::size_t, FromCopy>> take_any(std::size_t first, std::size_t stride,
                                                           std::size_t count);
  bool take_raw(InputField& field, ChannelEnd& end);
  bool write_raw(ChannelEnd& end, const WaitReason& full, const RawRecord& record);
  void count_step();
  static std::span<std::byte> loan_hook(void* runner, Port& port, std::size_t bytes);
  static void commit_hook(void* runner, Port& port, std::size_t bytes);
  OutputField& output_field_of(const Port& port);
  std::span<std::byte> loan(OutputField& field, std::size_t bytes);
  bool send_buffer(OutputField& field);
  void release_views();
  bool send_failure();
  bool write_error(ChannelEnd& end, const WaitReason& full);
  std::span<std::byte> reserve(ChannelEnd& end, const WaitReason& full, std::size_t size);
  bool write_fixed_waiting(ChannelEnd& end, const WaitReason& full, const void* from,
                           std::size_t size);
  void sent(ChannelEnd& end, std::size_t size);
  void take_error(std::span<const std::byte> record);
  bool write_fixed(OutputField& field);
  bool write(ChannelEnd& end, const WaitReason& full, std::size_t size, const Port& port,
             bool from_scratch);
  bool write_value(ChannelEnd& end, const WaitReason& full, const PortCodec& codec,
                   const void* value);
  enum class Spin { took, ended, spun };
  void wait(const WaitReason& reason);
  std::uint32_t waiting_on(const WaitReason& reason) const;
  Spin spin_take(InputField& field, unsigned budget);
  // The clock around a wait, read only when RunClock samples it.
  void clock_parked();
  void clock_resumed();
  // Copies the counts and the clock's totals to the shared counters.
  void publish();
  void step();
  void give_way();
  void finish() noexcept;

  Component& component_;
  RunState& state_;
  Parker& parker_;
  ComponentCounters& counters_;
  std::vector<InputField> inputs_;  ///< fields
  std::vector<OutputField> outputs_;
  std::vector<InputField> event_inputs_;
  std::vector<OutputField> event_outputs_;
  // Where each input and output port went: its index in inputs_ (outputs_) or, for an event,
  // in event_inputs_ (event_outputs_).
  std::vector<std::size_t> input_slot_;
  std::vector<std::size_t> output_slot_;
  WaitReason events_empty_;  ///< a component whose only inputs are events waits for one
  // The component steps after each event it handles (its only inputs are events).
  bool event_driven_ = false;
  std::size_t next_event_ = 0;  ///< where the search for the next event starts (fairness)
  std::vector<std::byte> scratch_;
  bool initialized_ = false;
  // Buffer ports (buffer.hpp): some output loans in place; some input is read in place, and
  // its record is freed when the step returns (release_views()).
  bool in_place_outputs_ = false;
  bool in_place_inputs_ = false;
  // On a request's way: a step that throws fails the request, not the run.
  bool serves_ = false;
  // A replicated component's split or merge: records move as bytes (take_raw, write_raw).
  Router* router_ = nullptr;
  std::size_t next_copy_ = 0;                ///< router: where the search for a copy starts
  RawRecord order_;                          ///< split: the copy's number, for the merge
  std::vector<ReplicaSlot*> replica_slots_;  ///< router: per copy (see set_replica_slots())
  ValueScratch scratch_value_;
  // The request in this step failed (here or upstream): who failed, and how (a step that
  // threw, or the first error record an input took).
  bool request_failed_ = false;
  std::string failed_component_;
  std::string failure_message_;
  const void* stack_lowest_ = nullptr;
  const std::uint32_t* slice_epoch_ = nullptr;
  std::uint32_t slice_mark_ = 0;  ///< the epoch when it last gave way (parked or yielded)
  std::uint32_t* status_mirror_ = nullptr;
  // Written around every step: a relaxed store each, to a line only this worker writes (its
  // own member when nobody watches), and no clock read. The supervisor times the changes.
  std::uint64_t own_step_sequence_ = 0;
  std::uint64_t* step_sequence_ = &own_step_sequence_;
  std::uint32_t* waiting_on_ = nullptr;
  RunClock clock_;
  // Counts kept on the fiber and copied to the shared counters (which other threads and
  // processes read) with the clock's totals before every park, every 64 steps and at the end:
  // a message then costs no stores to shared lines for its bookkeeping.
  ComponentCounters tally_{};
  unsigned steps_unpublished_ = 0;
  Status final_status_ = Status::completed;
};

}  // namespace patchbay::detail
