#include "placement/declared_machine.hpp"

#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "core/text.hpp"

namespace patchbay {

namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

}  // namespace

std::map<std::string, double> parse_custom_resources(std::string_view text,
                                                     const std::string& what) {
  std::map<std::string, double> out;
  text = trimmed(text);
  bool json = false;
  if (text.starts_with('{')) {
    if (!text.ends_with('}')) throw ModelError(what + ": a JSON object must end with '}'");
    text = text.substr(1, text.size() - 2);
    json = true;
  }
  while (!trimmed(text).empty()) {
    const std::size_t comma = text.find(',');
    std::string_view entry = trimmed(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const std::size_t separator = entry.find(json ? ':' : '=');
    if (separator == std::string_view::npos) {
      throw ModelError(what + ": " + detail::quote(entry) + " is not " +
                       (json ? "\"NAME\": AMOUNT" : "NAME=AMOUNT"));
    }
    std::string_view name = trimmed(entry.substr(0, separator));
    std::string_view amount = trimmed(entry.substr(separator + 1));
    if (json) {
      if (name.size() < 2 || name.front() != '"' || name.back() != '"') {
        throw ModelError(what + ": the name " + detail::quote(name) + " must be a JSON string");
      }
      name = name.substr(1, name.size() - 2);
      if (amount.size() >= 2 && amount.front() == '"' && amount.back() == '"') {
        amount = amount.substr(1, amount.size() - 2);
      }
    }
    if (name.empty()) throw ModelError(what + ": a resource needs a name");
    double value = 0;
    try {
      value = parse_quantity(amount);
    } catch (const std::exception& e) {
      throw ModelError(what + ": resource " + detail::quote(name) + ": " + e.what());
    }
    out[std::string(name)] = value;
  }
  return out;
}

}  // namespace patchbay

namespace patchbay::detail {

namespace {

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::size_t whole_number(const std::string& text, const char* what) {
  double value = 0;
  try {
    value = parse_quantity(text);
  } catch (const std::exception& e) {
    throw ModelError(std::string(what) + ": " + e.what());
  }
  if (value < 0 || value != std::floor(value) || value > 1e9) {
    throw ModelError(std::string(what) + ": " + quote(text) + " is not a whole number");
  }
  return static_cast<std::size_t>(value);
}

}  // namespace

MachineResources declared_machine(const MachineResources& given) {
  MachineResources out = given;
  if (!out.cpus) {
    if (const auto v = environment("PATCHBAY_NUM_CPUS"))
      out.cpus = whole_number(*v, "PATCHBAY_NUM_CPUS");
  }
  if (!out.gpus) {
    if (const auto v = environment("PATCHBAY_NUM_GPUS"))
      out.gpus = whole_number(*v, "PATCHBAY_NUM_GPUS");
  }
  if (!out.memory) {
    if (const auto v = environment("PATCHBAY_MEMORY"))
      out.memory = whole_number(*v, "PATCHBAY_MEMORY");
  }
  if (const auto v = environment("PATCHBAY_RESOURCES")) {
    for (const auto& [name, amount] : parse_custom_resources(*v, "PATCHBAY_RESOURCES")) {
      out.custom.emplace(name, amount);  // the options' own win
    }
  }
  return out;
}

void limit_machine(Machine& machine, const MachineResources& declared) {
  if (declared.cpus) {
    if (*declared.cpus == 0) throw ModelError("the machine is declared with 0 CPUs (--num-cpus)");
    if (*declared.cpus < machine.cores.size()) {
      const auto n = static_cast<unsigned>(*declared.cpus);
      machine.cores.resize(n);
      for (NumaNode& node : machine.numa_nodes)
        std::erase_if(node.cores, [&](unsigned c) { return c >= n; });
      for (Gpu& gpu : machine.gpus)
        std::erase_if(gpu.local_cores, [&](unsigned c) { return c >= n; });
    }
  }
  if (declared.gpus && *declared.gpus < machine.gpus.size()) machine.gpus.resize(*declared.gpus);
  if (declared.memory) {
    const std::uint64_t total = machine.memory();
    const std::uint64_t limit = *declared.memory;
    if (total == 0 && !machine.numa_nodes.empty()) {
      for (NumaNode& node : machine.numa_nodes)
        node.memory = limit / machine.numa_nodes.size();
    } else if (limit < total) {
      for (NumaNode& node : machine.numa_nodes) {
        node.memory = static_cast<std::uint64_t>(static_cast<long double>(node.memory) * limit /
                                                 static_cast<long double>(total));
      }
    }
  }
}

std::map<std::string, double> custom_capacities(const std::map<std::string, double>& model,
                                                const MachineResources& declared) {
  std::map<std::string, double> out = model;
  for (const auto& [name, amount] : declared.custom)
    out[name] = amount;
  return out;
}

}  // namespace patchbay::detail
