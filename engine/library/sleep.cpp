#include <patchbay/library.hpp>
#include <patchbay/process_spec.hpp>

#include <algorithm>
#include <cmath>
#include <thread>

namespace patchbay::library {

Sleep::Sleep(const ComponentArgs& args) : Component(args), duration_(0) {
  const double seconds = args.get<double>("sleep_seconds");
  // Bounded before the conversion: nanoseconds of more than 292 years overflow, and the
  // deadline now + duration must not wrap either.
  if (!(seconds >= 0) || !(seconds <= limits::max_sleep_seconds)) {
    throw args.error("sleep_seconds",
                     "must be a number of seconds from 0 to " +
                         std::to_string(static_cast<std::int64_t>(limits::max_sleep_seconds)) +
                         " (one year), got " + Value(seconds).to_string());
  }
  duration_ = std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(seconds * 1e9)));
}

Sleep::Sleep(std::string name, double sleep_seconds)
    : Sleep(ComponentArgs(std::move(name), {{"sleep_seconds", sleep_seconds}})) {}

void Sleep::step() {
  // Blocks the whole thread on purpose: it stands for work that holds a core. It sleeps in
  // slices so that a stop is honoured within one slice.
  constexpr auto slice = std::chrono::milliseconds(20);
  const auto deadline = std::chrono::steady_clock::now() + duration_;
  for (auto now = std::chrono::steady_clock::now(); now < deadline && !stop_requested();
       now = std::chrono::steady_clock::now()) {
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(deadline - now, slice));
  }
  y = x.value();
}

}  // namespace patchbay::library
