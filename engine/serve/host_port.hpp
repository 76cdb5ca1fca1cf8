// The host's end of an Ingress or Egress component: a ring between the host's threads and the
// component, in the shared arena (ParallelProcess) or on the heap (LocalProcess), with the
// words both sides wait on (docs/ARCHITECTURE.md, "Serving").
//
// The ring is single-producer, single-consumer like every other: on the host's side, threads
// take turns under the port's mutex. The component's side is an ordinary channel end of its
// runner, whose peer is a HostWaker, and which its worker's waiter watches like a ring shared
// with another worker; the host wakes that worker as another worker would (RemoteWaker).
#pragma once

#include <patchbay/port.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/serve.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "channel/ring.hpp"
#include "parallel/wake.hpp"
#include "run/run_state.hpp"
#include "serve/host_ring.hpp"
#include "shm/arena.hpp"

namespace patchbay::detail {

/// Where a host port comes from: what its engine knows of it.
struct HostPortSetup {
  std::string component;  ///< the Ingress's or Egress's name
  const Port* port = nullptr;
  bool inbound = true;     ///< host -> component (Ingress)
  void* memory = nullptr;  ///< the ring and its control block (host_ring_bytes)
  std::size_t capacity = 0;
  WorkerControl* worker = nullptr;  ///< the component's worker (or the local run's thread)
  /// The process's drain word (non-zero: draining, a push then fails as closed), in memory
  /// that `keep_alive` keeps.
  const std::uint32_t* drain_word = nullptr;
  WaitMode wait = WaitMode::adaptive;
  /// Ingress: where the host counts what it pushes (the producer's share of the channel's
  /// counters; the component counts the consumer's).
  ChannelCounters* counters = nullptr;
  /// Egress: per Ingress of the model, "" when this egress answers it one for one, else why
  /// not.
  std::vector<std::pair<std::string, std::string>> replies;
  /// Keeps `memory` and `worker` alive as long as the port (handles may outlive the process).
  std::shared_ptr<void> keep_alive;
};

/// The host's end of a host ring, shared by the handles (Sender, Receiver, Client) that host
/// threads hold. Thread-safe.
class HostPort {
 public:
  explicit HostPort(HostPortSetup setup);
  HostPort(const HostPort&) = delete;
  HostPort& operator=(const HostPort&) = delete;

  [[nodiscard]] const std::string& component() const { return setup_.component; }
  [[nodiscard]] const PortType& type() const { return setup_.port->type(); }
  [[nodiscard]] bool inbound() const { return setup_.inbound; }

  /// Ingress: writes `*value` (of the port's type). `before_publish`, when given, runs under
  /// the port's lock just before the record becomes visible, once it is sure to be written.
  /// timeout_ns: -1 waits as long as needed, 0 tries once.
  /// `type` is the port's own, or Value (converted: throws Error when it does not fit).
  ChannelOp push(const void* value, const PortType& type, std::int64_t timeout_ns,
                 const std::function<void()>& before_publish = {});
  /// A message that failed on its way (an error record): who failed, and how.
  struct Failed {
    bool failed = false;
    std::string component;
    std::string message;
  };
  /// Egress: reads the next record into `*value`, of the port's type or Value (converted).
  /// An error record is taken too (success): `*failed` then says whose, and `*value` is left.
  ChannelOp take(void* value, const PortType& type, std::int64_t timeout_ns, Failed& failed);
  /// Ingress: no more pushes; the component takes what is in the ring, then completes.
  void close();
  /// The run has ended (`reason` says how, for the replies it leaves unanswered): pushes fail
  /// as closed, takes return what is left, then closed, and every waiting thread is woken.
  /// Only the first call counts.
  void end(const std::string& reason) noexcept;
  /// What end() was given; "" before.
  [[nodiscard]] std::string end_reason() const;
  /// Egress: whether its n-th message answers the n-th message of ingress `ingress`; "" when
  /// it does, else why not (see reply_mismatch()).
  [[nodiscard]] std::string reply_mismatch(const std::string& ingress) const;

  /// Who holds handles on it: a Client claims both of its ports for itself; Senders and
  /// Receivers share. Throws Error on a conflict.
  enum class Use : std::uint8_t { shared, client };
  void claim(Use use);
  /// Undoes claim(use) (a Client whose other port could not be claimed).
  void release(Use use) noexcept;
  /// Waits at most `timeout_ns` for end(); whether it came.
  bool wait_for_end(std::int64_t timeout_ns);

 private:
  class Converted;
  template <class Try>
  ChannelOp wait_for(Try&& attempt, std::int64_t deadline_ns, WaitMode mode);
  std::optional<ChannelOp> try_push(const void* value, const std::function<void()>& before);
  std::optional<ChannelOp> try_take(void* value, bool to_value, Failed& failed);
  bool lock(std::int64_t deadline_ns);

  HostPortSetup setup_;
  channel::AnyRing ring_;
  HostRingControl& control_;
  RemoteWaker component_;  ///< wakes the component's worker after a push or a take
  const PortCodec& codec_;
  std::timed_mutex mutex_;
  std::atomic<bool> ended_{false};
  mutable std::mutex reason_mutex_;
  std::string end_reason_;
  std::atomic<std::uint8_t> use_{0};  ///< 0: none yet, else 1 + Use
};

/// What the replies a run leaves unanswered say about its end: the failure, a stop, or the
/// plain end.
std::string run_end_reason(const std::optional<Failure>& failure, bool stopped);

/// The host ports of a model, built by its engine once its rings exist; found by component
/// name.
class HostPorts {
 public:
  void add(std::shared_ptr<HostPort> port) { ports_.push_back(std::move(port)); }
  [[nodiscard]] std::shared_ptr<HostPort> find(std::string_view component) const;
  [[nodiscard]] bool empty() const { return ports_.empty(); }
  /// HostPort::end() of each.
  void end_all(const std::string& reason) noexcept;

 private:
  std::vector<std::shared_ptr<HostPort>> ports_;
};

}  // namespace patchbay::detail
