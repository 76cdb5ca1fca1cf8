// Tasks and futures: Ray's remote functions on patchbay's workers. A Runtime forks worker
// processes pinned to cores and keeps them; submit() sends a registered function and its
// arguments to one of them and returns a Future at once; get() waits for the result. Futures
// may be passed as arguments: the task then runs when they are ready, and their values go from
// worker to worker through shared memory, never through the host.
//
//     int add(int a, int b) { return a + b; }
//     PATCHBAY_REMOTE(add);
//
//     patchbay::Runtime runtime;                       // forks the workers
//     auto sum = runtime.submit(add, 1, 2);            // Future<int>
//     auto more = runtime.submit(add, sum, 10);        // runs once `sum` is ready
//     int result = more.get();                         // 13
//
// docs/TASKS.md has the whole story: semantics, failure, waiting, limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <patchbay/error.hpp>
#include <patchbay/process_spec.hpp>
#include <patchbay/resources.hpp>
#include <patchbay/serialize.hpp>

namespace patchbay {

/// How a Runtime is set up. A plain value type.
struct RuntimeOptions {
  /// Worker processes; 0 = one per usable core (at most limits::max_workers).
  std::size_t workers = 0;
  /// hwloc XML file or synthetic description to plan for; empty = PATCHBAY_TOPOLOGY, else the
  /// real machine. Workers are bound to cores only on the real machine.
  std::string topology;
  /// How idle workers, and host threads in get(), wait: `spin` polls, `block` sleeps at once,
  /// `adaptive` polls a little, then sleeps.
  WaitMode wait = WaitMode::adaptive;
  /// Capacities of custom resources that tasks may ask for; every worker offers them.
  std::map<std::string, double> custom_resources;
  /// Tasks each worker's queue holds (rounded up to a power of two, at least 64). A submission
  /// to a full queue waits for room.
  std::size_t queue_capacity = 4096;
  /// Futures that may exist at once (results not yet dropped), at least 64.
  std::size_t max_futures = std::size_t{1} << 16;
  /// Bytes of shared memory for arguments and results too large to travel inline.
  std::size_t store_bytes = std::size_t{64} << 20;
  /// Actors created with TaskOptions::max_restarts above 0 that may exist at once.
  std::size_t max_restartable_actors = 1024;
  /// What each worker asks of the placement planner, as a ParallelProcess component does:
  /// `cpu` cores, `gpu` GPUs (assigned by locality, and set in the worker's
  /// CUDA_VISIBLE_DEVICES), memory, custom resources. Tasks asking for GPUs run only on
  /// workers that have them.
  Resources worker_resources{};
};

/// What one call asks for.
struct TaskOptions {
  /// Shown in errors and stats instead of the function's registered name.
  std::string name;
  /// Where the task may run: a worker must have at least this many cores and GPUs, and the
  /// runtime the custom resources. cpu defaults to 0: any worker.
  Resources resources{.cpu = 0, .gpu = 0, .memory = 0, .custom = {}};
  /// Times the task is sent again, to another worker, when the worker running it dies (as Ray's
  /// max_retries). A task that throws is not retried.
  unsigned retries = 3;
  /// For create_actor(): times the actor is constructed again, from its factory's arguments,
  /// on the replacement of its worker when the worker dies (as Ray's max_restarts). The calls
  /// it was running then fail; those still queued run on the new instance. 0: it dies with
  /// its worker.
  unsigned max_restarts = 0;
};

/// A task or its worker failed; get() throws it. what() is one line: "task 'NAME' failed on
/// worker w1: TYPE: MESSAGE", or, once its retries are spent, "task 'NAME' lost: worker w1 (pid
/// 1234) was killed by signal 9 (Killed)".
class TaskError : public Error {
 public:
  TaskError(std::string function, std::string type, std::string message, std::string worker,
            const std::string& what);
  /// The task's name: TaskOptions::name, else the function's registered name.
  [[nodiscard]] const std::string& function() const { return function_; }
  /// The exception's type (demangled), or "worker died".
  [[nodiscard]] const std::string& type() const { return type_; }
  /// The exception's what(), or how the worker ended.
  [[nodiscard]] const std::string& message() const { return message_; }
  /// The worker it ran on: "w0", ...
  [[nodiscard]] const std::string& worker() const { return worker_; }

 private:
  std::string function_;
  std::string type_;
  std::string message_;
  std::string worker_;
};

/// Counters of one worker, as a snapshot.
struct TaskWorkerStats {
  std::string name;    ///< "w0", ...
  int pid = 0;         ///< 0 once it has ended
  std::string cpuset;  ///< PU list, e.g. "1"; empty when not bound
  bool alive = true;
  unsigned replacements = 0;   ///< times a dead process under this name was replaced
  std::uint64_t calls = 0;     ///< tasks it finished, failed or not
  std::uint64_t failures = 0;  ///< of those, the ones that threw
  std::chrono::nanoseconds time_running{0};
  std::chrono::nanoseconds time_queued{0};  ///< from submission to start, summed
};

/// Counters of one registered function over every worker, as a snapshot.
struct FunctionStats {
  std::string name;
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  std::chrono::nanoseconds time_running{0};
  std::chrono::nanoseconds time_queued{0};
};

class Runtime;

namespace detail {

/// Names one future in shared memory: a slot of the runtime's table and its generation.
struct FutureRef {
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
};

/// A host's (or a task's) hold on one future; dropping the last copy releases the slot.
struct FutureState;
[[nodiscard]] FutureRef ref_of(const FutureState& state);

/// Turns a future argument into its value's bytes, waiting for it (a task's fiber parks).
/// Throws TaskError when the future's task failed.
class ArgResolver {
 public:
  virtual std::span<const std::byte> resolve(FutureRef ref) = 0;

 protected:
  ~ArgResolver() = default;
};

/// A registered function as workers call it: arguments in, result out.
using RemoteInvoker = void (*)(ByteReader& args, ArgResolver& resolver, ByteWriter& result);

/// Registers `invoker` as `name` for the function at `address`; throws Error when the name is
/// taken by another function. Called by PATCHBAY_REMOTE at static initialisation.
std::uint64_t register_remote(const char* name, const void* address, RemoteInvoker invoker);
/// The id PATCHBAY_REMOTE gave the function at `address`; throws Error when it has none.
[[nodiscard]] std::uint64_t remote_id(const void* address);

/// An actor's factory as workers call it: arguments in, a new instance out.
using ActorFactory = void* (*)(ByteReader& args, ArgResolver& resolver);
/// Deletes an instance a factory made.
using ActorDestroy = void (*)(void* instance);
/// A registered method as workers call it on an instance.
using MethodInvoker = void (*)(void* instance, ByteReader& args, ArgResolver& resolver,
                               ByteWriter& result);

/// Registers a factory (a function returning T* or std::unique_ptr<T>) for actors of `type`.
std::uint64_t register_actor_factory(const char* name, const void* address, ActorFactory create,
                                     ActorDestroy destroy, const std::type_info& type);
/// Registers a method of `type` as `name`; `pointer` is the bytes of its pointer-to-member.
std::uint64_t register_method(const char* name, const std::type_info& type,
                              std::span<const std::byte> pointer, MethodInvoker invoker);
/// The id register_method gave a method; throws Error when it has none.
[[nodiscard]] std::uint64_t method_id(const std::type_info& type,
                                      std::span<const std::byte> pointer);

class TaskCore;

/// The calling thread's buffer for encoding a call's arguments.
ByteWriter& argument_buffer();

template <class F>
struct RemoteSignature;
template <class R, class... A>
struct RemoteSignature<R (*)(A...)> {
  using Result = R;
  using Args = std::tuple<std::decay_t<A>...>;
};
template <class R, class... A>
struct RemoteSignature<R (*)(A...) noexcept> : RemoteSignature<R (*)(A...)> {};

template <class M>
struct MethodSignature;
template <class R, class C, class... A>
struct MethodSignature<R (C::*)(A...)> {
  using Result = R;
  using Class = C;
  using Args = std::tuple<std::decay_t<A>...>;
};
template <class R, class C, class... A>
struct MethodSignature<R (C::*)(A...) const> : MethodSignature<R (C::*)(A...)> {};
template <class R, class C, class... A>
struct MethodSignature<R (C::*)(A...) noexcept> : MethodSignature<R (C::*)(A...)> {};
template <class R, class C, class... A>
struct MethodSignature<R (C::*)(A...) const noexcept> : MethodSignature<R (C::*)(A...)> {};

/// What a factory makes: T for T* and std::unique_ptr<T>, else void.
template <class R>
struct ActorOf {
  using type = void;
};
template <class T>
struct ActorOf<T*> {
  using type = T;
};
template <class T, class D>
struct ActorOf<std::unique_ptr<T, D>> {
  using type = T;
};

template <class M>
std::span<const std::byte> pointer_bytes(const M& method) {
  return std::as_bytes(std::span(&method, 1));
}

// The registry's ids, remembered by the calling thread for the next call through the same
// template (a registered id never changes, and lookups take the registry's lock): one entry
// for each, so a loop that calls one function or method pays the look-up once.
template <class F>
std::uint64_t cached_remote_id(F fn) {
  thread_local F last = nullptr;
  thread_local std::uint64_t id = 0;
  if (fn != last || last == nullptr) {
    id = remote_id(reinterpret_cast<const void*>(fn));
    last = fn;
  }
  return id;
}
template <class T, class M>
std::uint64_t cached_method_id(M method) {
  thread_local M last = nullptr;
  thread_local std::uint64_t id = 0;
  if (method != last || last == nullptr) {
    id = method_id(typeid(T), pointer_bytes(method));
    last = method;
  }
  return id;
}

// Each argument is a tag byte, then its value (Codec) or a future's reference.
inline constexpr std::byte arg_value{0};
inline constexpr std::byte arg_future{1};

/// A parameter `std::span<const E>`: the elements of a std::vector<E> read in place, where the
/// argument lies (in the task's arguments, or in the future's result in shared memory), valid
/// for the call.
template <class P>
struct SpanParameter : std::false_type {};
template <class E>
struct SpanParameter<std::span<const E>> : std::bool_constant<FlatVector<std::vector<E>>> {
  using vector = std::vector<E>;
};
/// A parameter `std::string_view`: a std::string's characters read in place, likewise.
template <>
struct SpanParameter<std::string_view> : std::true_type {};

/// What travels for a parameter of type P: P, or for a view the value it views.
template <class P>
struct WireType {
  using type = P;
};
template <class E>
struct WireType<std::span<const E>> {
  using type = std::vector<E>;
};
template <>
struct WireType<std::string_view> {
  using type = std::string;
};

template <class P>
P decode_arg(ByteReader& in, ArgResolver& resolver) {
  using W = typename WireType<P>::type;
  const auto tag = in.take_value<std::byte>();
  if (tag == arg_value) {
    if constexpr (SpanParameter<P>::value) {
      return Codec<W>::view(in);
    } else {
      return Codec<P>::decode(in);
    }
  }
  if (tag != arg_future) throw Error("patchbay: a task's arguments are malformed");
  const auto ref = in.take_value<FutureRef>();
  ByteReader value(resolver.resolve(ref));
  if constexpr (SpanParameter<P>::value) {
    return Codec<W>::view(value);
  } else {
    return Codec<P>::decode(value);
  }
}

/// Encodes `arg`, a value for parameter P, as decode_arg<P> reads it.
template <class P, class A>
void encode_value_arg(ByteWriter& out, A&& arg) {
  static_assert(std::is_convertible_v<A&&, P>,
                "an argument does not convert to the function's parameter type");
  using W = typename WireType<P>::type;
  out.append_value(arg_value);
  if constexpr (std::is_same_v<P, std::string_view>) {
    Codec<W>::encode_view(static_cast<P>(std::forward<A>(arg)), out);
  } else if constexpr (SpanParameter<P>::value) {
    Codec<W>::encode_flat(static_cast<P>(std::forward<A>(arg)), out);
  } else {
    Codec<P>::encode(static_cast<P>(std::forward<A>(arg)), out);
  }
}

template <class Args, class In, class Resolver>
Args decode_args(In& in, Resolver& resolver) {
  // Braced initialisation decodes the arguments in order.
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return Args{decode_arg<std::tuple_element_t<I, Args>>(in, resolver)...};
  }
  (std::make_index_sequence<std::tuple_size_v<Args>>{});
}

template <auto F>
void invoke_remote(ByteReader& in, ArgResolver& resolver, ByteWriter& out) {
  using Signature = RemoteSignature<decltype(F)>;
  using R = typename Signature::Result;
  auto args = decode_args<typename Signature::Args>(in, resolver);
  if constexpr (std::is_void_v<R>) {
    std::apply(F, std::move(args));
  } else {
    Codec<std::decay_t<R>>::encode(std::apply(F, std::move(args)), out);
  }
}

template <auto F>
void* create_actor_instance(ByteReader& in, ArgResolver& resolver) {
  using Signature = RemoteSignature<decltype(F)>;
  auto made = std::apply(F, decode_args<typename Signature::Args>(in, resolver));
  if constexpr (std::is_pointer_v<decltype(made)>) {
    return made;
  } else {
    return made.release();
  }
}

template <class T>
void destroy_actor_instance(void* instance) {
  delete static_cast<T*>(instance);
}

template <auto M>
void invoke_method(void* instance, ByteReader& in, ArgResolver& resolver, ByteWriter& out) {
  using Signature = MethodSignature<decltype(M)>;
  using R = typename Signature::Result;
  auto& object = *static_cast<typename Signature::Class*>(instance);
  auto call = [&](auto&&... a) -> decltype(auto) { return (object.*M)(std::move(a)...); };
  auto args = decode_args<typename Signature::Args>(in, resolver);
  if constexpr (std::is_void_v<R>) {
    std::apply(call, std::move(args));
  } else {
    Codec<std::decay_t<R>>::encode(std::apply(call, std::move(args)), out);
  }
}

template <auto F>
std::uint64_t register_remote_function(const char* name) {
  static_assert(
      std::is_pointer_v<decltype(F)> && std::is_function_v<std::remove_pointer_t<decltype(F)>>,
      "PATCHBAY_REMOTE takes a function (not a lambda, functor or overload set)");
  using R = typename RemoteSignature<decltype(F)>::Result;
  if constexpr (!std::is_void_v<typename ActorOf<R>::type>) {
    // A factory: it makes actors (Runtime::create_actor).
    using T = typename ActorOf<R>::type;
    return register_actor_factory(name, reinterpret_cast<const void*>(F), &create_actor_instance<F>,
                                  &destroy_actor_instance<T>, typeid(T));
  } else {
    return register_remote(name, reinterpret_cast<const void*>(F), &invoke_remote<F>);
  }
}

template <auto M>
std::uint64_t register_remote_method(const char* name) {
  static_assert(std::is_member_function_pointer_v<decltype(M)>,
                "PATCHBAY_REMOTE_METHOD takes a member function (Class::method)");
  using C = typename MethodSignature<decltype(M)>::Class;
  constexpr auto method = M;
  return register_method(name, typeid(C), pointer_bytes(method), &invoke_method<M>);
}

}  // namespace detail

template <class T>
class Future;

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};

/// The result of a task, to come. Copies share it; the result's memory is released when the
/// last copy (and every task it was passed to) is done with it. Thread-safety: distinct copies
/// may be used from different threads; get() and ready() on one object from several threads
/// are safe too.
template <class T>
class Future {
 public:
  using value_type = T;

  Future() = default;

  /// Waits for the result and returns it (a copy, decoded each call). Inside a task the
  /// task's fiber parks, so a task may wait for tasks it submitted on the same worker.
  /// Throws TaskError when the task failed or its worker died; Error on a default-constructed
  /// future.
  T get() const;
  /// Like get(), giving up after `timeout`: nullopt then (for Future<void>: false).
  auto get_for(std::chrono::nanoseconds timeout) const;
  /// Whether the result (or a failure) is there.
  [[nodiscard]] bool ready() const;
  /// For a Future<std::vector<E>> of trivially copyable E: waits like get() and returns the
  /// elements where they lie in shared memory (a std::span), without a copy; for a
  /// Future<std::string>, its characters (a std::string_view). Valid while this future (or a
  /// copy) lives.
  [[nodiscard]] auto view() const requires Viewable<T>;
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

 private:
  friend class Runtime;
  template <class U>
  friend class Future;
  explicit Future(std::shared_ptr<detail::FutureState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::FutureState> state_;
};

/// A handle to an actor: an instance of T living on one worker, made by a registered factory
/// (Runtime::create_actor). Its methods (registered with PATCHBAY_REMOTE_METHOD) run there one
/// at a time; calls from one thread run in the order they were made. A plain value: copy it,
/// pass it to tasks and to other actors' methods. The actor lives until kill() or the runtime's
/// shutdown. Thread-safety: any thread, any copy.
template <class T>
class Actor {
 public:
  Actor() = default;

  /// Calls `method(args...)` on the actor; returns its future at once. Arguments as for
  /// Runtime::submit. A call to an actor whose factory threw, or that was killed, fails with
  /// TaskError saying so.
  template <class R, class... P, class... A>
  Future<R> call(R (T::*method)(P...), A&&... args) const;
  template <class R, class... P, class... A>
  Future<R> call(R (T::*method)(P...) const, A&&... args) const;
  /// Destroys the instance once the calls made before have run; later calls fail.
  void kill() const;

  [[nodiscard]] bool valid() const noexcept { return id_ != 0; }
  /// The worker it lives on: "w0", ...
  [[nodiscard]] std::string worker() const { return "w" + std::to_string(worker_); }

 private:
  friend class Runtime;
  std::uint64_t id_ = 0;
  std::uint32_t worker_ = 0;
  std::uint32_t runtime_ = 0;
};

/// Runs registered functions on worker processes. The constructor plans placement (hwloc), maps
/// one shared arena (a memfd) and starts the workers, each bound to its core; they run until
/// shutdown() or destruction. While a patchbay::ForkServer runs, the server forks them, and the
/// runtime may be constructed whatever threads the program runs; otherwise they are forked
/// here, so construct it before the program starts other threads (a fork copies only the
/// calling thread, and a lock another thread holds stays held in the child).
///
/// Thread-safety: submit(), wait(), the stats and Future::get() from any number of host threads
/// at once; shutdown() and destruction from one thread, after the others are done with it.
/// Inside a task, Runtime::current() is the runtime the task runs in, for submitting sub-tasks.
class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Sends `fn(args...)` to a worker and returns its future at once. `fn` must be registered
  /// with PATCHBAY_REMOTE. An argument is a value convertible to the parameter's type, or a
  /// Future of exactly that type (the task then runs once it is ready). Throws Error for an
  /// unregistered function, after shutdown(), or when no worker has the resources asked for.
  template <class R, class... P, class... A>
  Future<R> submit(R (*fn)(P...), A&&... args) {
    return submit(TaskOptions{}, fn, std::forward<A>(args)...);
  }
  template <class R, class... P, class... A>
  Future<R> submit(const TaskOptions& options, R (*fn)(P...), A&&... args);

  /// Creates an actor: `factory(args...)` (a registered function returning T* or
  /// std::unique_ptr<T>) runs on a worker chosen by `options.resources`, and the instance stays
  /// there. Returns at once; a factory that throws fails the actor's calls.
  template <class R, class... P, class... A>
  auto create_actor(R (*factory)(P...), A&&... args) {
    return create_actor(TaskOptions{}, factory, std::forward<A>(args)...);
  }
  template <class R, class... P, class... A>
  auto create_actor(const TaskOptions& options, R (*factory)(P...), A&&... args);

  /// Puts `value` in the runtime's store once and returns it as a ready future, to pass to any
  /// number of tasks: a task taking std::span<const E> for a std::vector<E> reads it in place.
  /// Throws Error when the store has not room, saying how much was asked and is free.
  template <class T>
  Future<std::decay_t<T>> put(T&& value) {
    using V = std::decay_t<T>;
    static_assert(Serializable<V>, "put(): the value's type cannot be serialized");
    if constexpr (FlatVector<V>) {
      // Written once, straight into the store: a count, then the elements (Codec's layout).
      const auto count = static_cast<std::uint64_t>(value.size());
      const std::size_t elements = value.size() * sizeof(typename V::value_type);
      if (elements != 0) {
        std::byte* where = nullptr;
        auto state = put_reserve(sizeof count + elements, where);
        std::memcpy(where, &count, sizeof count);
        std::memcpy(where + sizeof count, value.data(), elements);
        put_publish(*state);
        return Future<V>(std::move(state));
      }
    }
    ByteWriter& out = detail::argument_buffer();
    out.clear();
    Codec<V>::encode(value, out);
    return Future<V>(put_encoded(out.bytes()));
  }

  /// The store's size, the bytes free in it now, and how many times it was repaired after a
  /// worker died in the middle of changing its page map (docs/TASKS.md, "The store").
  struct StoreUsage {
    std::size_t bytes = 0;
    std::size_t free = 0;
    std::uint32_t repairs = 0;
  };
  [[nodiscard]] StoreUsage store_usage() const;

  /// Waits until `count` of `futures` are ready (or failed) or `timeout` passes; returns the
  /// ready ones and the others, each in their order in `futures`.
  template <class T>
  std::pair<std::vector<Future<T>>, std::vector<Future<T>>> wait(
      const std::vector<Future<T>>& futures, std::size_t count,
      std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max());

  /// Ends the workers (tasks still queued or running fail with TaskError) and reaps them.
  /// Idempotent; the destructor calls it.
  void shutdown() noexcept;

  [[nodiscard]] std::size_t worker_count() const;
  [[nodiscard]] std::vector<TaskWorkerStats> worker_stats() const;
  [[nodiscard]] std::vector<FunctionStats> function_stats() const;
  /// The placement of the workers as text: worker, cpuset, NUMA node.
  [[nodiscard]] std::string plan() const;

  /// Inside a task: the runtime it runs in. Throws Error elsewhere.
  static Runtime& current();

 private:
  template <class P, class A>
  static void encode_arg(ByteWriter& out, std::vector<std::shared_ptr<detail::FutureState>>& deps,
                         A&& arg) {
    using D = std::remove_cvref_t<A>;
    using W = typename detail::WireType<P>::type;
    if constexpr (is_future<D>::value) {
      static_assert(std::is_same_v<typename D::value_type, W>,
                    "a Future passed as an argument must hold the parameter's type exactly "
                    "(std::vector<E> for a parameter std::span<const E>, std::string for "
                    "std::string_view)");
      if (!arg.valid()) throw Error("patchbay: an invalid Future was passed as an argument");
      out.append_value(detail::arg_future);
      out.append_value(detail::ref_of(*arg.state_));
      deps.push_back(arg.state_);
    } else {
      detail::encode_value_arg<P>(out, std::forward<A>(arg));
    }
  }

  template <class T>
  friend class Actor;
  /// The runtime with this id: in this process, or inside a task the one it runs in.
  static Runtime& with_id(std::uint32_t id);
  template <class T, class R, class M, class... A>
  Future<R> call_method(const Actor<T>& actor, M method, A&&... args);

  std::shared_ptr<detail::FutureState> submit_actor(
      std::uint64_t kind, std::uint64_t function, std::uint64_t actor, std::uint32_t worker,
      std::span<const std::byte> args,
      const std::vector<std::shared_ptr<detail::FutureState>>& deps);
  /// A new actor's id and worker, its creation sent.
  std::pair<std::uint64_t, std::uint32_t> create_encoded(
      std::uint64_t factory, const TaskOptions& options, std::span<const std::byte> args,
      const std::vector<std::shared_ptr<detail::FutureState>>& deps);
  [[nodiscard]] std::uint32_t id() const;

  std::shared_ptr<detail::FutureState> put_encoded(std::span<const std::byte> bytes);
  /// A future whose `size` bytes of result the caller writes at `where`, then publishes.
  std::shared_ptr<detail::FutureState> put_reserve(std::size_t size, std::byte*& where);
  void put_publish(const detail::FutureState& state);
  std::shared_ptr<detail::FutureState> submit_encoded(
      std::uint64_t function, const TaskOptions& options, std::span<const std::byte> args,
      const std::vector<std::shared_ptr<detail::FutureState>>& deps);
  std::vector<bool> wait_states(const std::vector<const detail::FutureState*>& states,
                                std::size_t count, std::chrono::nanoseconds timeout);

  friend class detail::TaskCore;
  /// A runtime in a zygote the fork server forked: its core is the one its workers rebuild.
  struct Shell {};
  explicit Runtime(Shell) noexcept;
  std::unique_ptr<detail::TaskCore> core_;
};

namespace detail {
/// The result's bytes once the future is ready; waits at most `timeout` (nullopt after it).
/// Throws TaskError for a failed task.
std::optional<std::span<const std::byte>> await_result(const FutureState& state,
                                                       std::chrono::nanoseconds timeout);
[[nodiscard]] bool result_ready(const FutureState& state);
}  // namespace detail

template <class R, class... P, class... A>
Future<R> Runtime::submit(const TaskOptions& options, R (*fn)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of arguments for the function");
  static_assert(std::is_void_v<R> || Serializable<std::decay_t<R>>,
                "the function's result type cannot be serialized");
  const std::uint64_t id = detail::cached_remote_id(fn);
  ByteWriter& out = detail::argument_buffer();
  out.clear();
  std::vector<std::shared_ptr<detail::FutureState>> deps;
  (encode_arg<std::decay_t<P>>(out, deps, std::forward<A>(args)), ...);
  return Future<R>(submit_encoded(id, options, out.bytes(), deps));
}

template <class R, class... P, class... A>
auto Runtime::create_actor(const TaskOptions& options, R (*factory)(P...), A&&... args) {
  using T = typename detail::ActorOf<R>::type;
  static_assert(!std::is_void_v<T>, "an actor's factory returns T* or std::unique_ptr<T>");
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of arguments for the factory");
  const std::uint64_t id = detail::cached_remote_id(factory);
  ByteWriter& out = detail::argument_buffer();
  out.clear();
  std::vector<std::shared_ptr<detail::FutureState>> deps;
  (encode_arg<std::decay_t<P>>(out, deps, std::forward<A>(args)), ...);
  Actor<T> actor;
  std::tie(actor.id_, actor.worker_) = create_encoded(id, options, out.bytes(), deps);
  actor.runtime_ = this->id();
  return actor;
}

template <class T, class R, class M, class... A>
Future<R> Runtime::call_method(const Actor<T>& actor, M method, A&&... args) {
  if (!actor.valid()) throw Error("patchbay: a call on an invalid Actor handle");
  using Args = typename detail::MethodSignature<M>::Args;
  static_assert(std::tuple_size_v<Args> == sizeof...(A),
                "wrong number of arguments for the method");
  static_assert(std::is_void_v<R> || Serializable<std::decay_t<R>>,
                "the method's result type cannot be serialized");
  const std::uint64_t id = detail::cached_method_id<T>(method);
  ByteWriter& out = detail::argument_buffer();
  out.clear();
  std::vector<std::shared_ptr<detail::FutureState>> deps;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (encode_arg<std::tuple_element_t<I, Args>>(out, deps, std::forward<A>(args)), ...);
  }
  (std::make_index_sequence<sizeof...(A)>{});
  return Future<R>(submit_actor(3, id, actor.id_, actor.worker_, out.bytes(), deps));
}

template <class T>
template <class R, class... P, class... A>
Future<R> Actor<T>::call(R (T::*method)(P...), A&&... args) const {
  if (!valid()) throw Error("patchbay: a call on an invalid Actor handle");
  return Runtime::with_id(runtime_).template call_method<T, R>(*this, method,
                                                               std::forward<A>(args)...);
}

template <class T>
template <class R, class... P, class... A>
Future<R> Actor<T>::call(R (T::*method)(P...) const, A&&... args) const {
  if (!valid()) throw Error("patchbay: a call on an invalid Actor handle");
  return Runtime::with_id(runtime_).template call_method<T, R>(*this, method,
                                                               std::forward<A>(args)...);
}

template <class T>
void Actor<T>::kill() const {
  if (!valid()) throw Error("patchbay: kill() on an invalid Actor handle");
  (void)Runtime::with_id(runtime_).submit_actor(4, 0, id_, worker_, {}, {});
}

template <class T>
std::pair<std::vector<Future<T>>, std::vector<Future<T>>> Runtime::wait(
    const std::vector<Future<T>>& futures, std::size_t count, std::chrono::nanoseconds timeout) {
  std::vector<const detail::FutureState*> states;
  states.reserve(futures.size());
  for (const auto& f : futures) {
    if (!f.valid()) throw Error("patchbay: wait() was given an invalid Future");
    states.push_back(f.state_.get());
  }
  const std::vector<bool> ready = wait_states(states, count, timeout);
  std::pair<std::vector<Future<T>>, std::vector<Future<T>>> out;
  for (std::size_t i = 0; i < futures.size(); ++i)
    (ready[i] ? out.first : out.second).push_back(futures[i]);
  return out;
}

template <class T>
T Future<T>::get() const {
  if (!state_) throw Error("patchbay: get() on an invalid Future");
  const auto bytes = detail::await_result(*state_, std::chrono::nanoseconds::max());
  if constexpr (!std::is_void_v<T>) {
    ByteReader in(*bytes);
    return Codec<T>::decode(in);
  }
}

template <class T>
auto Future<T>::get_for(std::chrono::nanoseconds timeout) const {
  if (!state_) throw Error("patchbay: get_for() on an invalid Future");
  const auto bytes = detail::await_result(*state_, timeout);
  if constexpr (std::is_void_v<T>) {
    return bytes.has_value();
  } else {
    if (!bytes) return std::optional<T>();
    ByteReader in(*bytes);
    return std::optional<T>(Codec<T>::decode(in));
  }
}

template <class T>
auto Future<T>::view() const requires Viewable<T> {
  if (!state_) throw Error("patchbay: view() on an invalid Future");
  const auto bytes = detail::await_result(*state_, std::chrono::nanoseconds::max());
  ByteReader in(*bytes);
  return Codec<T>::view(in);
}

template <class T>
bool Future<T>::ready() const {
  return state_ != nullptr && detail::result_ready(*state_);
}

}  // namespace patchbay

#define PATCHBAY_REMOTE_CONCAT_(a, b) a##b
#define PATCHBAY_REMOTE_NAME_(line) PATCHBAY_REMOTE_CONCAT_(patchbay_remote_id_, line)
/// Registers a function so that workers can run it, under its name as written: at namespace
/// scope, after its definition; `fn` may be qualified (`PATCHBAY_REMOTE(geo::lookup)`). A
/// function that returns T* or std::unique_ptr<T> is an actor factory (Runtime::create_actor).
#define PATCHBAY_REMOTE(fn)                                                        \
  [[maybe_unused]] static const std::uint64_t PATCHBAY_REMOTE_NAME_(__COUNTER__) = \
      ::patchbay::detail::register_remote_function<&fn>(#fn)

/// Registers a method so that actors can run it: `PATCHBAY_REMOTE_METHOD(Counter::add)`, at
/// namespace scope.
#define PATCHBAY_REMOTE_METHOD(method)                                             \
  [[maybe_unused]] static const std::uint64_t PATCHBAY_REMOTE_NAME_(__COUNTER__) = \
      ::patchbay::detail::register_remote_method<&method>(#method)
