// A host talking to a running model: its threads push messages into the model's Ingress
// components and take them from its Egress components (library.hpp), or send requests and get
// their replies through a Client. The handles come from a Process (process.hpp):
//
//     auto process = patchbay::make_process(patchbay::load_model("service.yaml"));
//     auto client = process->client<std::string, std::string>("requests", "replies");
//     process->start();
//     std::cout << client.call("hello").get() << "\n";  // from any number of threads
//     process->drain();  // no more requests; what is in flight is answered
//     process->join();
#pragma once

#include <patchbay/error.hpp>
#include <patchbay/port.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace patchbay {

/// The outcome of an operation on a host channel (Sender, Receiver).
enum class ChannelOp : std::uint8_t {
  success,  ///< done
  full,     ///< try_push: no room now
  empty,    ///< try_take: nothing now
  timeout,  ///< a timed form's time ran out
  /// push: the ingress takes no more (its sender closed it, the process drains, or the run
  /// ended); take: nothing more will come (the egress completed, or the run ended, and every
  /// message it sent was taken).
  closed,
};

/// "success", "full", "empty", "timeout" or "closed".
std::string_view to_string(ChannelOp op);

/// No reply will come for a request: the model took no more requests, or the run ended (its
/// message says how) before the reply.
class ReplyError : public Error {
 public:
  using Error::Error;
};

/// A request, or a message on its way to an Egress, failed in a component: a step downstream of
/// the Ingress threw. Its reply is this error ("the request failed in component 'NAME': what
/// the step threw"); the model goes on serving the other requests.
class RequestError : public ReplyError {
 public:
  RequestError(std::string component, const std::string& message);
  /// The component whose step threw.
  [[nodiscard]] const std::string& component() const noexcept { return component_; }

 private:
  std::string component_;
};

namespace detail {

class HostPort;
class ClientCore;

/// A request's reply as the Client's core fills it: `value` points at the Reply's T.
struct ReplySlot {
  /// 0 pending, 1 value, 2 no reply (`error` says why), 3 the request failed in `component`
  /// (`error` is what its step threw).
  std::atomic<std::uint32_t> state{0};
  std::string error;
  std::string component;
  void* value = nullptr;
};

inline constexpr std::int64_t wait_forever = -1;

template <class Rep, class Period>
std::int64_t timeout_ns(std::chrono::duration<Rep, Period> timeout) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  return ns < 0 ? 0 : static_cast<std::int64_t>(ns);
}

// The engine's side of the handles below (engine/serve/). `value`: a T of type `type`, the
// port's own or Value (converted to and from the port's type).
ChannelOp host_push(HostPort& port, const void* value, const PortType& type,
                    std::int64_t timeout_ns);
ChannelOp host_take(HostPort& port, void* value, const PortType& type, std::int64_t timeout_ns);
void host_close(HostPort& port);
const std::string& host_component(const HostPort& port);
/// Checks that `port` carries `type` in direction `inbound` (or that `type` is Value and the
/// port's type converts to and from it) and may be used as `client` (or shared), then returns
/// it. Throws Error naming the component otherwise.
std::shared_ptr<HostPort> open_host_port(std::shared_ptr<HostPort> port, std::string_view name,
                                         const PortType& type, bool inbound, bool client);
std::shared_ptr<ClientCore> make_client_core(std::shared_ptr<HostPort> ingress,
                                             std::shared_ptr<HostPort> egress,
                                             const PortType& request, const PortType& reply);
/// Pushes `request` and queues `slot` for its reply: ChannelOp::success, or why not.
ChannelOp client_call(ClientCore& core, const void* request, std::shared_ptr<ReplySlot> slot,
                      std::int64_t timeout_ns);
/// Waits until `slot` is filled (value or error), taking replies for every caller meanwhile
/// when no other thread does; false on timeout.
bool client_wait(ClientCore& core, ReplySlot& slot, std::int64_t timeout_ns);

}  // namespace detail

/// A host thread's way into an Ingress component: what it pushes comes out of the ingress's
/// `out` field, one message per step, in the order pushed. T is the ingress's type, or Value
/// for any ingress whose type takes a Value (a push of a value that does not fit throws
/// Error). Copyable; every copy is the same
/// channel. Thread-safe: any number of threads may push at once (they take turns).
template <class T>
class Sender {
 public:
  Sender() = default;
  explicit Sender(std::shared_ptr<detail::HostPort> port) : port_(std::move(port)) {}

  /// Waits for room, then pushes. ChannelOp::success or closed.
  ChannelOp push(const T& value) {
    return detail::host_push(*port_, &value, port_type<T>(), detail::wait_forever);
  }
  /// Pushes if there is room now: success, full or closed.
  ChannelOp try_push(const T& value) {
    return detail::host_push(*port_, &value, port_type<T>(), 0);
  }
  /// Waits at most `timeout` for room: success, timeout or closed.
  template <class Rep, class Period>
  ChannelOp push_for(const T& value, std::chrono::duration<Rep, Period> timeout) {
    return detail::host_push(*port_, &value, port_type<T>(), detail::timeout_ns(timeout));
  }
  /// No more messages: the ingress sends what was pushed, then completes, and the model
  /// downstream ends as it would after a source closed. Later pushes return closed.
  void close() { detail::host_close(*port_); }
  /// The Ingress component's name.
  [[nodiscard]] const std::string& name() const { return detail::host_component(*port_); }

 private:
  std::shared_ptr<detail::HostPort> port_;
};

/// A host thread's way out of an Egress component: the messages its `in` field received, in
/// order. T is the egress's type, or Value for any egress whose type has a Value form. Copyable;
/// every copy is the same channel. Thread-safe: any number of threads may take at once, each
/// message going to one of them.
template <class T>
class Receiver {
 public:
  Receiver() = default;
  explicit Receiver(std::shared_ptr<detail::HostPort> port) : port_(std::move(port)) {}

  /// Waits for a message: success (in `out`) or closed (nothing more will come). A message that
  /// failed on its way (a step upstream threw) is taken and thrown as a RequestError; the next
  /// take goes on with the next message. So do the forms below.
  ChannelOp take(T& out) {
    return detail::host_take(*port_, &out, port_type<T>(), detail::wait_forever);
  }
  /// A message if there is one now: success, empty or closed.
  ChannelOp try_take(T& out) { return detail::host_take(*port_, &out, port_type<T>(), 0); }
  /// Waits at most `timeout`: success, timeout or closed.
  template <class Rep, class Period>
  ChannelOp take_for(T& out, std::chrono::duration<Rep, Period> timeout) {
    return detail::host_take(*port_, &out, port_type<T>(), detail::timeout_ns(timeout));
  }
  /// The next message, or nullopt once nothing more will come.
  std::optional<T> take() {
    T value{};
    if (take(value) != ChannelOp::success) return std::nullopt;
    return value;
  }
  /// The Egress component's name.
  [[nodiscard]] const std::string& name() const { return detail::host_component(*port_); }

 private:
  std::shared_ptr<detail::HostPort> port_;
};

/// The reply to one request of a Client: a future. Copyable; copies share the reply.
/// Thread-safe.
template <class T>
class Reply {
 public:
  Reply() = default;

  /// Whether this Reply belongs to a request (a default-constructed one does not).
  [[nodiscard]] bool valid() const { return state_ != nullptr; }
  /// Whether the reply (or the error) is here: get() will not wait.
  [[nodiscard]] bool ready() const { return state_->state.load(std::memory_order_acquire) != 0; }
  /// Waits for the reply and returns it. Throws RequestError when the request failed in a
  /// component, ReplyError when no reply will come (the run ended). A thread that
  /// waits takes the replies of every pending request while no other thread does, so replies
  /// need no thread of their own.
  const T& get() const {
    (void)detail::client_wait(*core_, *state_, detail::wait_forever);
    switch (state_->state.load(std::memory_order_acquire)) {
      case 2:
        throw ReplyError(state_->error);
      case 3:
        throw RequestError(state_->component, state_->error);
      default:
        return state_->value;
    }
  }
  /// Waits at most `timeout`; whether the reply (or its error) is here.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return detail::client_wait(*core_, *state_, detail::timeout_ns(timeout));
  }

 private:
  template <class, class>
  friend class Client;
  struct State : detail::ReplySlot {
    T value{};
    State() { this->ReplySlot::value = &value; }
  };
  Reply(std::shared_ptr<State> state, std::shared_ptr<detail::ClientCore> core)
      : state_(std::move(state)), core_(std::move(core)) {}

  std::shared_ptr<State> state_;
  std::shared_ptr<detail::ClientCore> core_;
};

/// Requests and replies through an Ingress and an Egress: call() pushes a request and returns
/// the Reply its answer fills. The n-th message the egress receives answers the n-th request,
/// so the model must give exactly one reply per request (every step of a component sends one
/// message per output); Process::client() checks the wiring for that. A Client owns its two
/// ports: no Sender or Receiver may use them. Copyable; copies share the ports. Thread-safe:
/// any number of threads may call and wait at once.
template <class Req, class Rep>
class Client {
 public:
  Client() = default;
  Client(std::shared_ptr<detail::HostPort> ingress, std::shared_ptr<detail::HostPort> egress)
      : core_(detail::make_client_core(std::move(ingress), std::move(egress), port_type<Req>(),
                                       port_type<Rep>())) {}

  /// Waits for room in the ingress, then sends the request. The Reply fails (ReplyError) when
  /// the ingress takes no more requests.
  Reply<Rep> call(const Req& request) { return *send(request, detail::wait_forever); }
  /// Sends the request if there is room now; nullopt when the ingress is full.
  std::optional<Reply<Rep>> try_call(const Req& request) { return send(request, 0); }
  /// Waits at most `timeout` for room; nullopt when none came.
  template <class Rep2, class Period>
  std::optional<Reply<Rep>> call_for(const Req& request,
                                     std::chrono::duration<Rep2, Period> timeout) {
    return send(request, detail::timeout_ns(timeout));
  }

 private:
  using State = typename Reply<Rep>::State;
  std::optional<Reply<Rep>> send(const Req& request, std::int64_t timeout) {
    auto state = std::make_shared<State>();
    const ChannelOp op = detail::client_call(*core_, &request, state, timeout);
    if (op == ChannelOp::full || op == ChannelOp::timeout) return std::nullopt;
    if (op != ChannelOp::success) {
      state->error = "the model takes no more requests (its ingress is closed)";
      state->state.store(2, std::memory_order_release);
    }
    return Reply<Rep>(std::move(state), core_);
  }

  std::shared_ptr<detail::ClientCore> core_;
};

}  // namespace patchbay
