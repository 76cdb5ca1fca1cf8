// The component base class: a C++ class with named inputs and outputs that steps.
#pragma once

#include <patchbay/component_args.hpp>
#include <patchbay/port.hpp>
#include <patchbay/resources.hpp>
#include <patchbay/status.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay {

namespace detail {
class ComponentAccess;
}

/// Base class of every component. A component declares its fields as Input<T> / Output<T>
/// members (or adds them at run time with add_input / add_output), and overrides step().
///
/// A component with inputs steps when every input field holds a new value; a component with
/// no inputs (a source) steps until it calls close(). After each step every connected output
/// sends its current value. init() runs once before the first step; teardown() once at the end.
///
///     class Doubler : public patchbay::Component {
///      public:
///       using Component::Component;
///       patchbay::Input<double> x{this, "x"};
///       patchbay::Output<double> y{this, "y"};
///       void step() override { y = x.value() * 2; }
///     };
///
/// Thread-safety: init(), step(), teardown() and close() run on the component's fiber, one at a
/// time. name(), type_name(), status() and stop_requested() are safe from any thread. The
/// set_* methods configure the component before its process is constructed: not thread-safe,
/// one thread at a time; what they set is read-only once the process exists. The other readers
/// are safe from any thread once configuration is over.
class Component {
 public:
  /// A component with only a name (models built in code).
  explicit Component(std::string name);
  /// A component built from arguments: name, initial values and resource overrides are taken
  /// from `args`.
  explicit Component(const ComponentArgs& args);
  virtual ~Component();
  Component(const Component&) = delete;
  Component& operator=(const Component&) = delete;

  /// The component's name in its model. Safe from any thread.
  [[nodiscard]] const std::string& name() const { return name_; }
  /// The registered type name when built by the registry; built in code, the name its class
  /// was registered under (PATCHBAY_REGISTER_COMPONENT, the library's), else the demangled
  /// class name. Safe from any thread.
  [[nodiscard]] std::string type_name() const;
  /// Where it is in its life (see Status). Under a ParallelProcess the component runs in a
  /// worker process and this instance does not follow it: read Process::component_stats()
  /// there. Safe from any thread.
  [[nodiscard]] Status status() const { return status_.load(std::memory_order_acquire); }

  /// Runs once before the first step. Exceptions fail the process.
  virtual void init() {}
  /// One step. Exceptions fail the process.
  virtual void step() = 0;
  /// Runs once when the component leaves the run loop, with COMPLETED, STOPPED or FAILED.
  /// Release resources and finalise outputs here. An exception thrown after COMPLETED fails
  /// the process; after STOPPED or FAILED it is ignored.
  virtual void teardown(Status final_status) { (void)final_status; }
  /// The class-level resource default; override to declare what every instance needs.
  [[nodiscard]] virtual Resources default_resources() const { return {}; }

  /// Effective resources: default_resources() with the per-instance overrides applied.
  [[nodiscard]] Resources resources() const;
  /// Per-instance overrides; set before the process is constructed.
  void set_resource_overrides(ResourceOverrides overrides) {
    resource_overrides_ = std::move(overrides);
  }
  [[nodiscard]] const ResourceOverrides& resource_overrides() const { return resource_overrides_; }

  /// Values delivered to input `field` before its first message (what makes cycles runnable).
  /// Set before the process is constructed; checked against the field's type by validation.
  void set_initial_values(std::string field, std::vector<Value> values);
  [[nodiscard]] const std::map<std::string, std::vector<Value>>& initial_values() const {
    return initial_values_;
  }

  /// ParallelProcess: components with the same label run in one worker. Set before the process
  /// is constructed.
  void set_worker_label(std::string label) { worker_label_ = std::move(label); }
  [[nodiscard]] const std::string& worker_label() const { return worker_label_; }

  /// The input fields, in the order they were constructed (members in declaration order, then
  /// add_input()'s). Fixed once the constructor has returned.
  [[nodiscard]] std::span<Port* const> inputs() const { return inputs_; }
  /// The output fields, in the order they were constructed.
  [[nodiscard]] std::span<Port* const> outputs() const { return outputs_; }
  /// The input called `field`, or nullptr.
  [[nodiscard]] Port* find_input(std::string_view field) const;
  /// The output called `field`, or nullptr.
  [[nodiscard]] Port* find_output(std::string_view field) const;

  /// The arguments it was built from (a ComponentArgs' values; none for a component built
  /// from a name only): what Process::spec() writes for a model built in code. Fixed once
  /// constructed; safe from any thread.
  [[nodiscard]] const std::map<std::string, Value>& arguments() const { return arguments_; }

  /// Whether close() was called. Only from the component's fiber, or after run() returned.
  [[nodiscard]] bool is_closed() const { return closed_; }
  /// Whether publish_stop() was called. Only from the component's fiber.
  [[nodiscard]] bool stop_published() const { return stop_published_; }
  /// What export_value() gave, by name. Only from the component's fiber, or after run()
  /// returned (from the host, read Process::exports(): under a ParallelProcess this instance
  /// does not follow the component).
  [[nodiscard]] const Value::Map& exports() const { return exports_; }

  /// Whether the process is stopping (stop() or another component's failure). A step that
  /// blocks for long (waiting on a device, sleeping) should poll this and return early.
  /// Thread-safe.
  [[nodiscard]] bool stop_requested() const noexcept {
    return stop_probe_ != nullptr && stop_probe_(stop_context_);
  }

 protected:
  /// Closes the component's IO from inside step(): the values of this step are not sent and
  /// the component completes, closing its outputs downstream. Only from inside step().
  void close() { closed_ = true; }

  /// Sends Plugboard's StopEvent (event.hpp, stop_event_type) from step() or a handler: the
  /// values of this step are still sent, then this component completes, every source ends at
  /// its next step boundary, the others finish what is in flight, and components that only
  /// handle events end once no event can reach them. The run completes (not stopped).
  void publish_stop() { stop_published_ = true; }

  /// Plugboard's `exports`: a value this component makes readable by name once it has
  /// finished, from the host (Process::exports(), the --stats JSON), whichever engine runs it:
  /// a result it computed, a state worth keeping. The last value given for a name wins. Call
  /// from init(), step(), a handler or teardown().
  ///
  ///     void teardown(patchbay::Status) override { export_value("max_height", max_); }
  void export_value(std::string name, Value value) { exports_[std::move(name)] = std::move(value); }

  /// Adds an input field whose name is known only at run time (call from the constructor).
  template <class T>
  Input<T>& add_input(std::string field) {
    auto port = std::make_unique<Input<T>>(this, std::move(field));
    auto& ref = *port;
    owned_ports_.push_back(std::move(port));
    return ref;
  }
  /// Adds an output field whose name is known only at run time (call from the constructor).
  template <class T>
  Output<T>& add_output(std::string field) {
    auto port = std::make_unique<Output<T>>(this, std::move(field));
    auto& ref = *port;
    owned_ports_.push_back(std::move(port));
    return ref;
  }

 private:
  friend class Port;
  friend class detail::ComponentAccess;
  void register_port(Port* port);

  std::string name_;
  std::string type_name_;
  std::string worker_label_;
  std::map<std::string, Value> arguments_;
  std::atomic<Status> status_{Status::created};
  bool closed_ = false;
  bool stop_published_ = false;
  Value::Map exports_;
  ResourceOverrides resource_overrides_;
  std::map<std::string, std::vector<Value>> initial_values_;
  std::vector<Port*> inputs_;
  std::vector<Port*> outputs_;
  std::vector<std::unique_ptr<Port>> owned_ports_;
  bool (*stop_probe_)(const void*) noexcept = nullptr;
  const void* stop_context_ = nullptr;
};

}  // namespace patchbay
