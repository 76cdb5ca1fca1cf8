#include "support/model.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

namespace patchbay::test {

void run_guarded(Process& process, std::chrono::milliseconds limit) {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> rescued{false};
  std::thread watchdog([&] {
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, limit, [&] { return done; })) {
      rescued = true;
      process.stop();
    }
  });
  auto finish = [&] {
    {
      std::lock_guard lock(mutex);
      done = true;
    }
    cv.notify_all();
    watchdog.join();
  };
  try {
    process.run();
  } catch (...) {
    finish();
    if (rescued) FAIL("run() hung and had to be stopped from outside");
    throw;
  }
  finish();
  if (rescued) FAIL("run() hung and had to be stopped from outside");
}

ComponentStats stats_of(const Process& process, const std::string& name) {
  for (const auto& s : process.component_stats()) {
    if (s.name == name) return s;
  }
  FAIL("no component_stats() entry for '" << name << "'");
  return {};
}

std::string status_of(const Process& process, const std::string& name) {
  return std::string(to_string(stats_of(process, name).status));
}

ChannelStats channel_of(const Process& process, const std::string& source,
                        const std::string& target) {
  for (const auto& s : process.channel_stats()) {
    if (s.source == source && s.target == target) return s;
  }
  FAIL("no channel_stats() entry for '" << source << " -> " << target << "'");
  return {};
}

void check_all_final(const Process& process) {
  for (const auto& s : process.component_stats()) {
    INFO("component '" << s.name << "' is " << to_string(s.status));
    CHECK(is_final(s.status));
  }
}

std::string thrown_message(const std::string& kind, const ComponentFailure& e) {
  if (kind == "local") return e.message();
  static const std::regex with_worker(
      R"(^([\s\S]*) \(in worker \S+ \(pid [0-9]+, cpuset [^)]*\)\)$)");
  std::smatch match;
  INFO("ComponentFailure::message() of a ParallelProcess: " << e.message());
  CHECK(std::regex_match(e.message(), match, with_worker));
  return match.empty() ? e.message() : match[1].str();
}

void run_and_stop(Process& process, std::chrono::milliseconds delay) {
  std::thread stopper([&] {
    std::this_thread::sleep_for(delay);
    process.stop();
  });
  process.run();
  stopper.join();
}

std::string run_failure(Process& process) {
  try {
    process.run();
  } catch (const ComponentFailure& e) {
    return e.what();
  }
  FAIL("run() completed but should have failed");
  return {};
}

std::string join_error(Process& process) {
  try {
    process.join();
  } catch (const ComponentFailure& e) {
    return std::string("ComponentFailure: ") + e.what();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t count) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < count; ++i)
    out.push_back(first + i);
  return out;
}

}  // namespace patchbay::test
