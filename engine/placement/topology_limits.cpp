#include "placement/topology_limits.hpp"

#include <patchbay/error.hpp>
#include <patchbay/process_spec.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/text.hpp"

namespace patchbay::detail::placement {

void cannot_load(const std::string& source, const std::string& why) {
  throw ModelError("topology " + quote(source) + " cannot be loaded: " + why);
}

// The objects are counted level by level, as hwloc's own parser reads them: a level is
// "[type:]arity[(attributes)]", and "[numa...]" attaches a NUMA node to each object of the level
// above.
void check_synthetic_size(const std::string& description) {
  const char* position = description.c_str();
  if (*position == '(') {
    position = std::strchr(position, ')');
    if (position == nullptr) return;
    ++position;
  }
  std::size_t width = 1;    // objects on the level just read
  std::size_t objects = 1;  // all levels so far, the machine included
  auto too_large = [&](const std::string& what) {
    cannot_load(description, what + "; a topology may have at most " +
                                 std::to_string(limits::max_topology_pus) + " PUs and " +
                                 std::to_string(limits::max_topology_objects) + " objects");
  };
  while (*position != '\0') {
    while (*position == ' ' || *position == '\n')
      ++position;
    if (*position == '\0') break;
    if (*position == '[') {
      const char* end = std::strchr(position, ']');
      if (end == nullptr) return;
      objects += width;
      if (objects > limits::max_topology_objects)
        too_large("it has more than " + std::to_string(limits::max_topology_objects) + " objects");
      position = end + 1;
      continue;
    }
    if (*position < '0' || *position > '9') {
      const char* colon = std::strchr(position, ':');
      if (colon == nullptr) return;
      position = colon + 1;
    }
    char* end = nullptr;
    errno = 0;
    const unsigned long arity = std::strtoul(position, &end, 0);
    if (end == position || arity == 0) return;
    if (errno == ERANGE || arity > limits::max_topology_objects ||
        width > limits::max_topology_objects / arity) {
      too_large("a level has more than " + std::to_string(limits::max_topology_objects) +
                " objects");
    }
    width *= arity;
    objects += width;
    if (objects > limits::max_topology_objects)
      too_large("it has more than " + std::to_string(limits::max_topology_objects) + " objects");
    position = end;
    if (*position == '(') {
      const char* close = std::strchr(position, ')');
      if (close == nullptr) return;
      position = close + 1;
    }
  }
  // The last level is the PUs.
  if (width > limits::max_topology_pus) {
    too_large("it has " + std::to_string(width) + " PUs");
  }
}

void check_xml_size(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (!error && size > limits::max_topology_xml_bytes) {
    cannot_load(path, "the XML file is " + std::to_string(size) + " bytes, more than the " +
                          std::to_string(limits::max_topology_xml_bytes) + " allowed");
  }
}

void check_pu_count(const Machine& machine) {
  if (machine.pu_count() > limits::max_topology_pus) {
    cannot_load(machine.source, "it has " + std::to_string(machine.pu_count()) +
                                    " usable PUs, more than the " +
                                    std::to_string(limits::max_topology_pus) + " allowed");
  }
}

}  // namespace patchbay::detail::placement
