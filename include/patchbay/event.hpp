// Events: Plugboard's second way of modelling. A component publishes events of a type; every
// component that handles that type receives each of them, in publication order per publisher.
#pragma once

#include <patchbay/component.hpp>
#include <patchbay/port.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace patchbay {

/// The type name of Plugboard's StopEvent. A component sends it with
/// Component::publish_stop(), the host with Process::drain(): the run then ends gracefully
/// (docs/ARCHITECTURE.md, "Events").
inline constexpr std::string_view stop_event_type = "system.stop";

/// What a handler receives: the event's type, the name of the component that published it,
/// and its data. Valid for the handler's call only.
template <class T>
struct Event {
  std::string_view type;
  std::string_view source;
  const T& data;
};

namespace detail {

/// The engine's view of EventOutput and EventInput: the events an output queued in a step or a
/// handler, and the handler of an input. Runs on the component's fiber only.
class EventPort : public Port {
 public:
  /// Output: how many events are queued, the i-th (a T*), and forgetting them once sent.
  [[nodiscard]] virtual std::size_t queued() const noexcept { return 0; }
  [[nodiscard]] virtual const void* queued_at(std::size_t) const noexcept { return nullptr; }
  virtual void clear_queue() noexcept {}
  /// Input: runs the handler on the event the engine decoded into the port's value.
  virtual void handle(std::string_view source) { (void)source; }

 protected:
  EventPort(Component* owner, std::string type, const PortType& port_type, Direction direction,
            void* storage)
      : Port(owner, std::move(type), port_type, direction, storage, true) {}
};

}  // namespace detail

/// An event type a component publishes: Plugboard's `output_events`. publish() queues an event
/// with `data`; the engine sends what a step (or a handler) queued when it returns, to every
/// component that handles the type, in the order published. The port's name is the event type
/// ("high_event"); T is any type a port may carry (a struct of trivially copyable fields travels
/// as fixed-size records, a Value as a mapping). Not thread-safe: publish only from the
/// component's own methods, which run on its fiber.
///
///     patchbay::EventOutput<Extreme> high{this, "high_event"};
///     void step() override { if (value.value() > 0.8) high.publish({value.value()}); }
template <class T>
class EventOutput final : public detail::EventPort {
 public:
  EventOutput(Component* owner, std::string type)
      : EventPort(owner, std::move(type), port_type<T>(), Direction::output, &last_) {}

  void publish(const T& data) { queue_.push_back(data); }
  void publish(T&& data) { queue_.push_back(std::move(data)); }

 private:
  [[nodiscard]] std::size_t queued() const noexcept override { return queue_.size(); }
  [[nodiscard]] const void* queued_at(std::size_t i) const noexcept override { return &queue_[i]; }
  void clear_queue() noexcept override { queue_.clear(); }

  T last_{};  // the port's value: unused, events travel from the queue
  std::vector<T> queue_;
};

/// An event type a component handles: Plugboard's `input_events` with its handler. The engine
/// calls the handler for each event of the type that another component publishes, on the
/// component's fiber, never during step(): the events that reach a component before a step
/// starts are handled before that step. A component whose only inputs are events steps once
/// after each event it handles. An exception from the handler fails the run as one from step()
/// does. A component does not receive the events it publishes itself.
///
///     patchbay::EventInput<Extreme> on_high{this, "high_event", &CollectHigh::handle_high};
///     void handle_high(const patchbay::Event<Extreme>& e) { latest_ = e.data.value; }
template <class T>
class EventInput final : public detail::EventPort {
 public:
  /// `handler`: called as handler(const Event<T>&).
  template <class Handler>
  requires std::invocable < Handler&, const Event<T>
  & > EventInput(Component* owner, std::string type, Handler handler)
      : EventPort(owner, std::move(type), port_type<T>(), Direction::input, &value_),
  handler_(std::move(handler)) {}
  /// `handler`: a member function of the owner, called on it.
  template <class C>
  requires std::derived_from<C, Component> EventInput(C* owner, std::string type,
                                                      void (C::*handler)(const Event<T>&))
      : EventPort(owner, std::move(type), port_type<T>(), Direction::input, &value_),
        handler_([owner, handler](const Event<T>& e) { (owner->*handler)(e); }) {}

 private:
  void handle(std::string_view source) override { handler_(Event<T>{name(), source, value_}); }

  T value_{};
  std::function<void(const Event<T>&)> handler_;
};

}  // namespace patchbay
