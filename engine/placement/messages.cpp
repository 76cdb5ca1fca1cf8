#include "placement/messages.hpp"

#include <patchbay/error.hpp>
#include <patchbay/process_spec.hpp>

#include <utility>

namespace patchbay::detail::placement {

std::string join(const std::vector<std::string>& parts, const std::string& separator,
                 std::size_t most) {
  std::string text;
  for (std::size_t i = 0; i < parts.size() && i < most; ++i)
    text += (i > 0 ? separator : "") + parts[i];
  if (parts.size() > most)
    text += separator + "... and " + std::to_string(parts.size() - most) + " more";
  return text;
}

std::string list_some(const std::vector<std::string>& parts, const std::string& separator) {
  return join(parts, separator, max_names_listed);
}

void DemandReport::add(std::string line) {
  if (full()) {
    ++unreported_;
  } else {
    lines_.push_back(std::move(line));
  }
}

void DemandReport::throw_if_any() const {
  if (lines_.empty()) return;
  std::string message = join(lines_, "\n");
  if (unreported_ > 0) {
    message += "\n... and " + std::to_string(unreported_) + " more unmet demands";
  }
  throw ModelError(message);
}

void throw_too_many_workers(std::size_t count, std::size_t limit) {
  throw ModelError("the plan needs " + std::to_string(count) + " workers, more than the " +
                   std::to_string(limit) + " allowed on this machine (" +
                   std::to_string(limits::max_workers_per_pu) + " per usable PU, at most " +
                   std::to_string(limits::max_workers) +
                   "): give fewer components a 'worker' label or a cpu >= 1 or GPU of their own");
}

}  // namespace patchbay::detail::placement
