// Tasks and futures (patchbay::Runtime): results, arguments of every kind, futures as
// arguments, failures, waiting, sub-tasks, many host threads, a worker's death, stats, and a
// runtime that leaves nothing behind.
#include <patchbay/tasks.hpp>

#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

int add(int a, int b) {
  return a + b;
}
PATCHBAY_REMOTE(add);

std::int64_t square(std::int64_t x) {
  return x * x;
}
PATCHBAY_REMOTE(square);

std::string greet(const std::string& name, int times) {
  std::string out;
  for (int i = 0; i < times; ++i)
    out += "hello " + name + ";";
  return out;
}
PATCHBAY_REMOTE(greet);

std::vector<double> scale(std::vector<double> values, double factor) {
  for (double& v : values)
    v *= factor;
  return values;
}
PATCHBAY_REMOTE(scale);

std::map<std::string, int> count_words(const std::vector<std::string>& words) {
  std::map<std::string, int> out;
  for (const auto& w : words)
    ++out[w];
  return out;
}
PATCHBAY_REMOTE(count_words);

double sum(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0);
}
PATCHBAY_REMOTE(sum);

struct Point {
  double x;
  double y;
};
Point midpoint(Point a, Point b) {
  return {(a.x + b.x) / 2, (a.y + b.y) / 2};
}
PATCHBAY_REMOTE(midpoint);

void nothing(int) {}
PATCHBAY_REMOTE(nothing);

int fail_with(std::string message) {
  throw std::invalid_argument(message);
}
PATCHBAY_REMOTE(fail_with);

int throw_int(int) {
  throw 42;
}
PATCHBAY_REMOTE(throw_int);

int sleep_then(int ms, int value) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return value;
}
PATCHBAY_REMOTE(sleep_then);

std::int32_t pid_of_worker(int) {
  return static_cast<std::int32_t>(getpid());
}
PATCHBAY_REMOTE(pid_of_worker);

std::size_t slow_length(const std::string& text, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return text.size();
}
PATCHBAY_REMOTE(slow_length);

std::int32_t slow_pid(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return static_cast<std::int32_t>(getpid());
}
PATCHBAY_REMOTE(slow_pid);

// Submits two sub-tasks to the runtime it runs in and waits for both: on a one-worker runtime
// this only finishes if waiting parks the task's fiber.
int sum_of_squares(int a, int b) {
  patchbay::Runtime& runtime = patchbay::Runtime::current();
  auto x = runtime.submit(square, static_cast<std::int64_t>(a));
  auto y = runtime.submit(square, static_cast<std::int64_t>(b));
  return static_cast<int>(x.get() + y.get());
}
PATCHBAY_REMOTE(sum_of_squares);

// A chain of sub-tasks, each waiting for the next: `depth` fibers parked at once on one worker.
int nest(int depth) {
  if (depth == 0) return 0;
  return 1 + patchbay::Runtime::current().submit(nest, depth - 1).get();
}
PATCHBAY_REMOTE(nest);

// Submits `n` sub-tasks at once to the runtime it runs in, then adds their results: with more
// of them than a queue holds, the submissions wait for room that only this worker can make.
std::int64_t fan_out(int n) {
  patchbay::Runtime& runtime = patchbay::Runtime::current();
  std::vector<patchbay::Future<std::int64_t>> parts;
  for (int i = 1; i <= n; ++i)
    parts.push_back(runtime.submit(square, std::int64_t{1}));
  std::int64_t total = 0;
  for (int i = 0; i < n; ++i)
    total += parts[static_cast<std::size_t>(i)].get() * (i + 1);
  return total;
}
PATCHBAY_REMOTE(fan_out);

std::string visible_gpus(int) {
  const char* value = std::getenv("CUDA_VISIBLE_DEVICES");
  return value != nullptr ? value : "";
}
PATCHBAY_REMOTE(visible_gpus);

std::size_t length_of(std::string_view text) {
  return text.size();
}
PATCHBAY_REMOTE(length_of);

std::uint64_t text_address(std::string_view text) {
  return reinterpret_cast<std::uintptr_t>(text.data());
}
PATCHBAY_REMOTE(text_address);

double sum_view(std::span<const double> values) {
  return std::accumulate(values.begin(), values.end(), 0.0);
}
PATCHBAY_REMOTE(sum_view);

std::uint64_t address_of(std::span<const double> values) {
  return reinterpret_cast<std::uintptr_t>(values.data());
}
PATCHBAY_REMOTE(address_of);

patchbay::RuntimeOptions options(std::size_t workers,
                                 patchbay::WaitMode wait = patchbay::WaitMode::adaptive) {
  patchbay::RuntimeOptions o;
  o.workers = workers;
  o.wait = wait;
  return o;
}

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  if (DIR* d = opendir(dir)) {
    while (readdir(d) != nullptr)
      ++n;
    closedir(d);
  }
  return n;
}

std::size_t count_mappings(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);)
    n += line.find(name) != std::string::npos ? 1 : 0;
  return n;
}

// Children of this process that still exist (zombies included).
std::size_t count_children() {
  std::ifstream children("/proc/self/task/" + std::to_string(getpid()) + "/children");
  std::size_t n = 0;
  for (std::string pid; children >> pid;)
    ++n;
  return n;
}

}  // namespace

TEST_CASE("a task's result comes back through its future", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  REQUIRE(runtime.worker_count() == 2);
  auto f = runtime.submit(add, 1, 2);
  CHECK(f.valid());
  CHECK(f.get() == 3);
  CHECK(f.ready());
  CHECK(f.get() == 3);  // again, from the same result
  auto copy = f;
  CHECK(copy.get() == 3);
}

TEST_CASE("functions of one signature submitted in turn from one thread each run as themselves",
          "[tasks]") {
  // A thread remembers the id of the function it submitted last, for each signature.
  patchbay::Runtime runtime(options(1));
  std::vector<patchbay::Future<int>> sums, squares;
  for (int i = 0; i < 4; ++i) {
    sums.push_back(runtime.submit(add, i, 10));
    squares.push_back(runtime.submit(sum_of_squares, i, 10));
  }
  for (int i = 0; i < 4; ++i) {
    CHECK(sums[static_cast<std::size_t>(i)].get() == i + 10);
    CHECK(squares[static_cast<std::size_t>(i)].get() == i * i + 100);
  }
  // Another thread has its own memory of them.
  int other = 0;
  std::thread([&] { other = runtime.submit(sum_of_squares, 2, 3).get(); }).join();
  CHECK(other == 13);
  CHECK(runtime.submit(add, 2, 3).get() == 5);
}

TEST_CASE("tasks take and return strings, containers and plain structs", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  CHECK(runtime.submit(greet, std::string("ada"), 2).get() == "hello ada;hello ada;");
  CHECK(runtime.submit(scale, std::vector<double>{1, 2, 3}, 2.0).get() ==
        std::vector<double>{2, 4, 6});
  const auto counts = runtime.submit(count_words, std::vector<std::string>{"a", "b", "a"}).get();
  CHECK(counts == std::map<std::string, int>{{"a", 2}, {"b", 1}});
  const Point m = runtime.submit(midpoint, Point{0, 0}, Point{2, 4}).get();
  CHECK(m.x == 1.0);
  CHECK(m.y == 2.0);
  runtime.submit(nothing, 1).get();  // Future<void>
  // Arguments and results larger than a queue cell travel through the store.
  std::vector<double> big(100000, 1.5);
  CHECK(runtime.submit(sum, big).get() == 150000.0);
  CHECK(runtime.submit(scale, big, 2.0).get().size() == 100000);
  const std::string long_greeting = runtime.submit(greet, std::string(500, 'x'), 3).get();
  CHECK(long_greeting.size() == 3 * (6 + 500 + 1));
}

TEST_CASE("a future passed as an argument runs the task once it is ready", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  auto a = runtime.submit(sleep_then, 50, 20);
  auto b = runtime.submit(add, a, 1);  // waits for a
  auto c = runtime.submit(add, a, b);  // for both
  auto v = runtime.submit(scale, runtime.submit(scale, std::vector<double>{1, 2}, 3.0), 2.0);
  CHECK(b.get() == 21);
  CHECK(c.get() == 41);
  CHECK(v.get() == std::vector<double>{6, 12});
  // A dependency dropped by the host before it ran still reaches the task.
  patchbay::Future<int> d;
  {
    auto temporary = runtime.submit(sleep_then, 20, 5);
    d = runtime.submit(add, temporary, 5);
  }
  CHECK(d.get() == 10);
}

TEST_CASE("an exception in a task reaches get() with its function, type, message and worker",
          "[tasks]") {
  patchbay::Runtime runtime(options(1));
  auto f = runtime.submit(fail_with, std::string("no such row"));
  try {
    (void)f.get();
    FAIL("get() did not throw");
  } catch (const patchbay::TaskError& e) {
    CHECK(e.function() == "fail_with");
    CHECK(e.type() == "std::invalid_argument");
    CHECK(e.message() == "no such row");
    CHECK(e.worker() == "w0");
    CHECK(std::string(e.what()) ==
          "task 'fail_with' failed on worker w0: std::invalid_argument: no such row");
  }
  CHECK_THROWS_WITH(runtime.submit(throw_int, 1).get(),
                    Catch::Contains("task 'throw_int' failed on worker w0: int:"));
  // A task whose argument failed fails too, saying which.
  patchbay::TaskOptions named;
  named.name = "lookup-3";
  auto dependent = runtime.submit(named, add, runtime.submit(fail_with, std::string("boom")), 1);
  CHECK_THROWS_WITH(dependent.get(), Catch::Contains("task 'lookup-3' failed") &&
                                         Catch::Contains("an argument's task failed") &&
                                         Catch::Contains("task 'fail_with' failed") &&
                                         Catch::Contains("boom"));
  // The runtime keeps serving.
  CHECK(runtime.submit(add, 2, 2).get() == 4);
}

TEST_CASE("wait() splits ready futures from pending ones", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  std::vector<patchbay::Future<int>> futures{runtime.submit(sleep_then, 0, 1),
                                             runtime.submit(sleep_then, 2000, 2),
                                             runtime.submit(sleep_then, 0, 3)};
  auto [ready, pending] = runtime.wait(futures, 2, std::chrono::seconds(1));
  REQUIRE(ready.size() == 2);
  REQUIRE(pending.size() == 1);
  CHECK(ready[0].get() == 1);
  CHECK(ready[1].get() == 3);
  CHECK_FALSE(pending[0].ready());
  // A timeout returns what is ready so far.
  auto [ready2, pending2] = runtime.wait(futures, 3, std::chrono::milliseconds(50));
  CHECK(ready2.size() == 2);
  CHECK(pending2.size() == 1);
  CHECK_FALSE(futures[1].get_for(std::chrono::milliseconds(10)).has_value());
  CHECK(futures[0].get_for(std::chrono::milliseconds(10)) == std::optional<int>(1));
}

TEST_CASE("a task may wait for its own sub-tasks on a one-worker runtime", "[tasks]") {
  for (const auto mode :
       {patchbay::WaitMode::spin, patchbay::WaitMode::adaptive, patchbay::WaitMode::block}) {
    patchbay::Runtime runtime(options(1, mode));
    CHECK(runtime.submit(sum_of_squares, 3, 4).get() == 25);
    CHECK(runtime.submit(nest, 50).get() == 50);
  }
}

TEST_CASE("many host threads submit at once and every result is right", "[tasks]") {
  patchbay::Runtime runtime(options(2, patchbay::WaitMode::spin));
  constexpr int kThreads = 8;
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer makes each submission some 50 times slower: fewer, same races looked for.
  constexpr int kTasks = 5000;
#else
  constexpr int kTasks = 100000;
#endif
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<patchbay::Future<int>> window;
      for (int i = 0; i < kTasks; ++i) {
        window.push_back(runtime.submit(add, t * kTasks, i));
        if (window.size() == 256 || i + 1 == kTasks) {
          const int first = i + 1 - static_cast<int>(window.size());
          for (std::size_t k = 0; k < window.size(); ++k) {
            if (window[k].get() != t * kTasks + first + static_cast<int>(k)) ++wrong;
          }
          window.clear();
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(wrong == 0);
  std::uint64_t calls = 0;
  for (const auto& w : runtime.worker_stats())
    calls += w.calls;
  CHECK(calls == std::uint64_t{kThreads} * kTasks);
}

TEST_CASE("a worker killed during a task is replaced, and the task retried or failed", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  REQUIRE(runtime.worker_stats().size() == 2);
  for (const unsigned retries : {3u, 0u}) {
    INFO("retries " << retries);
    patchbay::TaskOptions once;
    once.retries = retries;
    // Occupy both workers, then kill the one the first task runs on.
    std::vector<patchbay::Future<std::int32_t>> running;
    for (int i = 0; i < 4; ++i)
      running.push_back(runtime.submit(once, slow_pid, 400));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::int32_t victim = 0;
    for (const auto& w : runtime.worker_stats())
      if (w.name == "w0") victim = w.pid;
    REQUIRE(victim > 0);
    REQUIRE(kill(victim, SIGKILL) == 0);
    int lost = 0;
    for (auto& f : running) {
      try {
        const std::int32_t ran_on = f.get();
        CHECK(ran_on != victim);  // a retry ran elsewhere
      } catch (const patchbay::TaskError& e) {
        ++lost;
        CHECK(e.type() == "worker died");
        CHECK_THAT(e.what(), Catch::Contains("task 'slow_pid' lost: worker w0") &&
                                 Catch::Contains("(pid " + std::to_string(victim) + ")") &&
                                 Catch::Contains("killed by signal 9"));
      }
    }
    // Retries left: nothing lost. None: the tasks w0 was running (one, or two if it had taken
    // the next) fail; those still queued run on its replacement.
    if (retries > 0) {
      CHECK(lost == 0);
    } else {
      CHECK(lost >= 1);
      CHECK(lost <= 2);
    }
    // The replacement serves, under the same name, with a new pid.
    int alive = 0;
    std::int32_t replacement = 0;
    for (const auto& w : runtime.worker_stats()) {
      alive += w.alive ? 1 : 0;
      if (w.name == "w0") {
        replacement = w.pid;
        CHECK(w.replacements == (retries > 0 ? 1u : 2u));  // one per round
      } else {
        CHECK(w.replacements == 0);
      }
    }
    CHECK(alive == 2);
    CHECK(replacement != victim);
    CHECK(replacement > 0);
    for (int i = 0; i < 20; ++i)
      CHECK(runtime.submit(pid_of_worker, i).get() != victim);
  }
}

TEST_CASE("a task may submit more sub-tasks than its own worker's queue holds", "[tasks]") {
  patchbay::RuntimeOptions o = options(1);
  o.queue_capacity = 64;
  patchbay::Runtime runtime(o);
  CHECK(runtime.submit(fan_out, 1000).get() == 1000 * 1001 / 2);
}

TEST_CASE("a retried task keeps arguments that live in the store", "[tasks]") {
  patchbay::Runtime runtime(options(1));
  const auto before = runtime.store_usage();
  {
    auto running = runtime.submit(slow_length, std::string(5000, 'x'), 300);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(kill(runtime.worker_stats().at(0).pid, SIGKILL) == 0);
    CHECK(running.get() == 5000);  // run again, on the replacement, with its 5000 bytes
  }
  // A worker frees a task's arguments just after its result is published: once the next task
  // has run there, it has.
  CHECK(runtime.submit(add, 1, 1).get() == 2);
  CHECK(runtime.store_usage().free == before.free);
}

TEST_CASE("stats count calls, failures and time per worker and per function", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  for (int i = 0; i < 10; ++i)
    (void)runtime.submit(sleep_then, 1, i).get();
  for (int i = 0; i < 3; ++i)
    CHECK_THROWS(runtime.submit(fail_with, std::string("x")).get());
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  for (const auto& w : runtime.worker_stats()) {
    calls += w.calls;
    failures += w.failures;
    CHECK(w.pid > 0);
    CHECK(w.alive);
  }
  CHECK(calls == 13);
  CHECK(failures == 3);
  bool seen_sleep = false;
  for (const auto& f : runtime.function_stats()) {
    if (f.name == "sleep_then") {
      seen_sleep = true;
      CHECK(f.calls == 10);
      CHECK(f.failures == 0);
      CHECK(f.time_running >= std::chrono::milliseconds(10));
    }
    if (f.name == "fail_with") {
      CHECK(f.calls == 3);
      CHECK(f.failures == 3);
    }
  }
  CHECK(seen_sleep);
  CHECK_THAT(runtime.plan(), Catch::Contains("w0") && Catch::Contains("w1"));
}

TEST_CASE("bad submissions are errors that say what is wrong", "[tasks]") {
  patchbay::Runtime runtime(options(1));
  int (*unregistered)(int, int) = [](int a, int b) { return a - b; };
  CHECK_THROWS_WITH(runtime.submit(unregistered, 1, 2), Catch::Contains("not registered"));
  patchbay::TaskOptions gpu;
  gpu.resources.gpu = 1;
  CHECK_THROWS_WITH(runtime.submit(gpu, add, 1, 2),
                    Catch::Contains("no worker can run the task") && Catch::Contains("gpu=1"));
  patchbay::TaskOptions custom;
  custom.resources.custom["licence"] = 1;
  CHECK_THROWS_WITH(runtime.submit(custom, add, 1, 2),
                    Catch::Contains("'licence'") && Catch::Contains("the runtime has none"));
  CHECK_THROWS_WITH(patchbay::Runtime::current(), Catch::Contains("outside a task"));
  patchbay::Future<int> invalid;
  CHECK_THROWS_WITH(invalid.get(), Catch::Contains("invalid Future"));
  runtime.shutdown();
  CHECK_THROWS_WITH(runtime.submit(add, 1, 2), Catch::Contains("shut down"));
}

TEST_CASE("workers asking for GPUs get them, and GPU tasks run only there", "[tasks]") {
  patchbay::RuntimeOptions o = options(2);
  // A machine of 4 GPUs (planned for it, the workers are not bound: it is not this one).
  o.topology = std::string(PATCHBAY_SOURCE_DIR) + "/tests/data/topologies/power8gpudistances.xml";
  SECTION("one GPU each") {
    o.worker_resources.gpu = 1;
    patchbay::Runtime runtime(o);
    const std::string plan = runtime.plan();
    INFO(plan);
    CHECK(plan.find("w0 cpuset") != std::string::npos);
    CHECK(plan.find(" gpus ") != std::string::npos);
    patchbay::TaskOptions gpu;
    gpu.resources.gpu = 1;
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i)
      seen.insert(runtime.submit(gpu, visible_gpus, i).get());
    // Each worker sees its own one device.
    CHECK(seen.size() == 2);
    for (const std::string& devices : seen) {
      CHECK(!devices.empty());
      CHECK(devices.find(',') == std::string::npos);
    }
    gpu.resources.gpu = 2;
    CHECK_THROWS_WITH(
        runtime.submit(gpu, visible_gpus, 0),
        Catch::Contains("no worker can run the task") && Catch::Contains("1 GPU(s) each"));
  }
  SECTION("none") {
    patchbay::Runtime runtime(o);
    CHECK(runtime.submit(visible_gpus, 0).get().empty());
    patchbay::TaskOptions gpu;
    gpu.resources.gpu = 1;
    CHECK_THROWS_WITH(
        runtime.submit(gpu, visible_gpus, 0),
        Catch::Contains("no worker can run the task") && Catch::Contains("0 GPU(s) each"));
  }
}

TEST_CASE("custom resources route tasks to a runtime that has them", "[tasks]") {
  patchbay::RuntimeOptions o = options(1);
  o.custom_resources["licence"] = 2;
  patchbay::Runtime runtime(o);
  patchbay::TaskOptions custom;
  custom.resources.custom["licence"] = 1;
  CHECK(runtime.submit(custom, add, 1, 2).get() == 3);
  custom.resources.custom["licence"] = 3;
  CHECK_THROWS_WITH(runtime.submit(custom, add, 1, 2), Catch::Contains("the runtime has 2"));
}

TEST_CASE("futures outlive their runtime; queued tasks fail at shutdown", "[tasks]") {
  patchbay::Future<int> done;
  patchbay::Future<int> queued;
  {
    patchbay::Runtime runtime(options(1));
    done = runtime.submit(add, 1, 1);
    CHECK(done.get() == 2);
    (void)runtime.submit(sleep_then, 300, 0);
    queued = runtime.submit(add, 2, 2);
  }
  CHECK(done.get() == 2);
  CHECK_THROWS_WITH(queued.get(), Catch::Contains("lost") && Catch::Contains("shut down"));
}

TEST_CASE("a runtime created and destroyed many times leaves nothing behind", "[tasks]") {
  const std::size_t fds = count_entries("/proc/self/fd");
  const std::size_t maps = count_mappings("patchbay-tasks");
  const std::size_t children = count_children();
  for (int i = 0; i < 100; ++i) {
    patchbay::Runtime runtime(options(2));
    CHECK(runtime.submit(add, i, 1).get() == i + 1);
  }
  CHECK(count_entries("/proc/self/fd") == fds);
  CHECK(count_mappings("patchbay-tasks") == maps);
  CHECK(count_children() == children);
}

TEST_CASE("put() stores a value once, and tasks read a vector of it in place", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  std::vector<double> matrix(1000 * 1000);
  std::iota(matrix.begin(), matrix.end(), 0.0);
  const double expected = std::accumulate(matrix.begin(), matrix.end(), 0.0);
  auto stored = runtime.put(matrix);
  CHECK(stored.ready());
  CHECK(stored.get() == matrix);
  const std::span<const double> view = stored.view();
  REQUIRE(view.size() == matrix.size());
  CHECK(view[123456] == 123456.0);
  // Every task that takes it reads the same bytes: a worker maps the store where the host does.
  const auto here = reinterpret_cast<std::uintptr_t>(view.data());
  CHECK(runtime.submit(address_of, stored).get() == here);
  CHECK(runtime.submit(address_of, stored).get() == here);
  CHECK(runtime.submit(sum_view, stored).get() == expected);
  // A task's result is read in place too, and a vector given by value arrives as a view.
  auto doubled = runtime.submit(scale, stored, 2.0);
  CHECK(runtime.submit(sum_view, doubled).get() == 2 * expected);
  CHECK(runtime.submit(sum_view, std::vector<double>{1, 2, 3}).get() == 6.0);
  CHECK(runtime.submit(sum_view, std::span<const double>(matrix.data(), 4)).get() == 6.0);
  CHECK(runtime.put(std::string("text")).get() == "text");
  CHECK(runtime.put(42).get() == 42);
}

TEST_CASE("tasks read a stored string in place through std::string_view", "[tasks]") {
  patchbay::Runtime runtime(options(2));
  // Every size of MessagePack's string header: fixstr, str 8, str 16, str 32.
  for (const std::size_t size : {0, 31, 32, 255, 256, 65535, 65536, 1000000}) {
    INFO("size " << size);
    const std::string text(size, 'q');
    auto stored = runtime.put(text);
    const std::string_view view = stored.view();
    CHECK(view == text);
    // The task reads the bytes the host sees: the store, mapped at the same address.
    if (size > 0) {
      CHECK(runtime.submit(text_address, stored).get() ==
            reinterpret_cast<std::uintptr_t>(view.data()));
    }
    CHECK(runtime.submit(length_of, stored).get() == size);
    CHECK(runtime.submit(length_of, text).get() == size);  // a string given by value
  }
  CHECK(runtime.submit(length_of, "seven!!").get() == 7);
  CHECK(runtime.submit(length_of, std::string_view("four")).get() == 4);
  // A task's string result, read in place by the next task and by the host.
  auto made = runtime.submit(greet, std::string("ann"), 2);
  CHECK(runtime.submit(length_of, made).get() == std::string("hello ann;hello ann;").size());
  CHECK(made.view() == "hello ann;hello ann;");
}

TEST_CASE("a store too full for a value is an error that says so", "[tasks]") {
  patchbay::RuntimeOptions o = options(1);
  o.store_bytes = std::size_t{1} << 20;
  patchbay::Runtime runtime(o);
  const std::vector<double> big(std::size_t{1} << 18, 1.0);  // 2 MiB
  CHECK_THROWS_WITH(runtime.put(big), Catch::Contains("do not fit the store") &&
                                          Catch::Contains("2097160 bytes") &&
                                          Catch::Contains("RuntimeOptions::store_bytes"));
  CHECK_THROWS_WITH(runtime.submit(sum, big), Catch::Contains("do not fit the store"));
  // A result the store cannot hold fails its task, saying so: the arguments (800 KB) are
  // still held when the result (as much again) is written.
  CHECK_THROWS_WITH(runtime.submit(scale, std::vector<double>(100000, 1.0), 1.0).get(),
                    Catch::Contains("store full") &&
                        Catch::Contains("a result of 800008 bytes does not fit the store"));
  CHECK(runtime.submit(add, 1, 1).get() == 2);
}

TEST_CASE("a million put and get cycles leave the store where it started", "[tasks]") {
  patchbay::Runtime runtime(options(1));
  const std::vector<double> value(16, 0.5);
  const auto before = runtime.store_usage();
  double sum_seen = 0;
  for (int i = 0; i < 1000000; ++i) {
    auto stored = runtime.put(value);
    sum_seen += stored.view()[0];
  }
  CHECK(sum_seen == 500000.0);
  // Tasks that take stored values drop their holds too: just after they publish their results
  // (a worker that died before publishing must still have its arguments for the retry), so the
  // last task's hold may outlive its get() by a moment.
  for (int i = 0; i < 1000; ++i)
    (void)runtime.submit(sum_view, runtime.put(value)).get();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (runtime.store_usage().free != before.free && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(runtime.store_usage().free == before.free);
  CHECK(runtime.store_usage().bytes == before.bytes);
}
