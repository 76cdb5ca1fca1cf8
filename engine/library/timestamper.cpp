#include <patchbay/library.hpp>

#include <ctime>

namespace patchbay::library {

Timestamper::Timestamper(const ComponentArgs& args) : Component(args) {}

Timestamper::Timestamper(std::string name) : Component(std::move(name)) {}

void Timestamper::step() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          now - std::chrono::system_clock::from_time_t(seconds))
                          .count();
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[48];
  const std::size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &local);
  std::snprintf(text + n, sizeof(text) - n, ".%06lld", static_cast<long long>(micros));
  timestamp = std::string(text);
}

}  // namespace patchbay::library
