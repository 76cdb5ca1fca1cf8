#include <patchbay/model.hpp>
#include <patchbay/resources.hpp>

#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/yaml_value.hpp"
#include "core/text.hpp"

namespace patchbay {

namespace {

namespace fs = std::filesystem;
using detail::quote;

// Reads one model document, remembering the file name for every error.
class ModelReader {
 public:
  explicit ModelReader(std::string origin) : origin_(std::move(origin)) {}

  ProcessSpec read(const YAML::Node& root, const fs::path& base_dir);

 private:
  [[nodiscard]] SourceLocation at(const YAML::Node& node) const {
    return detail::location_of(node, origin_);
  }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw ModelError(message, at(node));
  }
  void expect_map(const YAML::Node& node, const std::string& what) const {
    if (!node.IsMap()) fail(node, what + " must be a mapping");
  }
  std::string scalar(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, what + " must be a string");
    return node.Scalar();
  }
  double bytes(const YAML::Node& node, const std::string& what) const;
  std::size_t capacity(const YAML::Node& node, const std::string& what) const;
  std::size_t fiber_stack_size(const YAML::Node& node) const;

  void read_process(const YAML::Node& process, ProcessSpec& spec, const fs::path& base_dir);
  void read_process_args(const YAML::Node& args, ProcessSpec& spec);
  ComponentSpec read_component(const YAML::Node& node) const;
  ConnectorSpec read_connector(const YAML::Node& node) const;
  std::string endpoint(const YAML::Node& node, const std::string& what) const;
  ResourceOverrides read_resources(const YAML::Node& node, const std::string& owner) const;
  void read_plugins(const YAML::Node& node, ProcessSpec& spec, const fs::path& base_dir) const;

  std::string origin_;
};

ProcessKind process_kind(const std::string& type, bool& known) {
  static const std::set<std::string, std::less<>> local = {
      "local", "LocalProcess", "plugboard.process.LocalProcess",
      "plugboard.process.local_process.LocalProcess"};
  static const std::set<std::string, std::less<>> parallel = {
      "parallel", "ParallelProcess", "RayProcess", "plugboard.process.RayProcess",
      "plugboard.process.ray_process.RayProcess"};
  known = true;
  if (local.count(type) != 0) return ProcessKind::local;
  if (parallel.count(type) != 0) return ProcessKind::parallel;
  known = false;
  return ProcessKind::local;
}

bool known_connector_builder(const std::string& type) {
  static const std::set<std::string, std::less<>> builders = {
      "AsyncioConnector",
      "RayConnector",
      "ZMQConnector",
      "plugboard.connector.AsyncioConnector",
      "plugboard.connector.RayConnector",
      "plugboard.connector.ZMQConnector"};
  return builders.count(type) != 0;
}

ProcessSpec ModelReader::read(const YAML::Node& root, const fs::path& base_dir) {
  if (!root || root.IsNull()) throw ModelError("the model is empty", SourceLocation{origin_, 0});
  expect_map(root, "the model file");
  ProcessSpec spec;
  spec.where = SourceLocation{origin_, 0};
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    if (key != "plugboard" && key != "process" && key != "plugins" && key != "tune") {
      fail(entry.first,
           "unknown top-level key " + quote(key) + " (expected plugboard, process, plugins, tune)");
    }
  }
  // Bound once: assigning to a yaml-cpp node would overwrite the node it refers to.
  const YAML::Node body = root["plugboard"] ? root["plugboard"] : root;
  if (root["plugboard"]) {
    expect_map(body, "'plugboard'");
    for (const auto& entry : body) {
      const std::string key = entry.first.Scalar();
      // `tune` is read by load_tune() (tune_loader.cpp).
      if (key != "process" && key != "plugins" && key != "tune") {
        fail(entry.first,
             "unknown key " + quote("plugboard." + key) + " (expected process, plugins, tune)");
      }
    }
  }
  if (root["plugins"]) read_plugins(root["plugins"], spec, base_dir);
  if (root["plugboard"] && body["plugins"]) read_plugins(body["plugins"], spec, base_dir);
  const YAML::Node process = body["process"];
  if (!process) fail(body, "the model has no 'process' section");
  read_process(process, spec, base_dir);
  return spec;
}

void ModelReader::read_plugins(const YAML::Node& node, ProcessSpec& spec,
                               const fs::path& base_dir) const {
  auto add = [&](const YAML::Node& item) {
    const fs::path path = scalar(item, "a plugin path");
    spec.plugins.push_back(
        (path.is_absolute() ? path : base_dir / path).lexically_normal().string());
  };
  if (node.IsScalar()) {
    add(node);
  } else if (node.IsSequence()) {
    for (const auto& item : node)
      add(item);
  } else {
    fail(node, "'plugins' must be a list of shared library paths");
  }
}

void ModelReader::read_process(const YAML::Node& process, ProcessSpec& spec,
                               const fs::path& base_dir) {
  expect_map(process, "'process'");
  bool has_type = false;
  bool ray_connectors = false;
  for (const auto& entry : process) {
    const std::string key = entry.first.Scalar();
    const YAML::Node& value = entry.second;
    if (key == "type") {
      has_type = true;
      const std::string type = scalar(value, "process type");
      bool known = false;
      spec.kind = process_kind(type, known);
      if (!known) {
        fail(value, "unknown process type " + quote(type) +
                        " (expected local, parallel, plugboard.process.LocalProcess or "
                        "plugboard.process.RayProcess)");
      }
    } else if (key == "connector_builder") {
      const YAML::Node type = value.IsMap() ? value["type"] : value;
      if (!type) fail(value, "connector_builder needs a 'type'");
      const std::string name = scalar(type, "connector_builder type");
      if (!known_connector_builder(name)) {
        fail(type, "unknown connector_builder type " + quote(name) +
                       " (expected plugboard.connector.AsyncioConnector, RayConnector or "
                       "ZMQConnector)");
      }
      ray_connectors = name.size() >= 12 && name.compare(name.size() - 12, 12, "RayConnector") == 0;
    } else if (key == "args") {
      read_process_args(value, spec);
    } else if (key == "plugins") {
      read_plugins(value, spec, base_dir);
    } else {
      fail(entry.first, "unknown key " + quote("process." + key) +
                            " (expected type, connector_builder, args, plugins)");
    }
  }
  // Plugboard's RayConnector only works with Ray's process: it alone asks for the parallel one.
  if (!has_type && ray_connectors) spec.kind = ProcessKind::parallel;
}

// A whole, positive number of bytes, as a number or a quantity ("64Ki").
double ModelReader::bytes(const YAML::Node& node, const std::string& what) const {
  double value = 0;
  try {
    const Value v = detail::to_value(node, origin_);
    value = v.is_string()   ? parse_quantity(v.as_string())
            : v.is_number() ? check_quantity(v.as_double())
                            : -1;
  } catch (const ModelError& e) {
    fail(node, what + ": " + e.message());
  }
  if (value < 1 || std::trunc(value) != value)
    fail(node, what + " must be a whole number of bytes");
  return value;
}

std::size_t ModelReader::capacity(const YAML::Node& node, const std::string& what) const {
  const double value = bytes(node, what);
  // Checked before the cast: a double beyond size_t does not convert (undefined behaviour).
  if (value > 4294967296.0) fail(node, what + " is out of range (at most 4Gi bytes)");
  return static_cast<std::size_t>(value);
}

std::size_t ModelReader::fiber_stack_size(const YAML::Node& node) const {
  const double value = bytes(node, "fiber_stack_size");
  if (value < static_cast<double>(limits::min_fiber_stack_size) ||
      value > static_cast<double>(limits::max_fiber_stack_size)) {
    fail(node, "fiber_stack_size " + quote(node.IsScalar() ? node.Scalar() : "") +
                   " is out of range (" +
                   format_quantity(static_cast<double>(limits::min_fiber_stack_size)) + " to " +
                   format_quantity(static_cast<double>(limits::max_fiber_stack_size)) + " bytes)");
  }
  return static_cast<std::size_t>(value);
}

void ModelReader::read_process_args(const YAML::Node& args, ProcessSpec& spec) {
  expect_map(args, "'process.args'");
  for (const auto& entry : args) {
    const std::string key = entry.first.Scalar();
    const YAML::Node& value = entry.second;
    if (key == "name") {
      spec.name = scalar(value, "process name");
    } else if (key == "components") {
      if (!value.IsSequence()) fail(value, "'components' must be a list");
      for (const auto& item : value)
        spec.components.push_back(read_component(item));
    } else if (key == "connectors") {
      if (value.IsNull()) continue;
      if (!value.IsSequence()) fail(value, "'connectors' must be a list");
      for (const auto& item : value)
        spec.connectors.push_back(read_connector(item));
    } else if (key == "parameters") {
      if (value.IsNull()) continue;
      expect_map(value, "'parameters'");
      for (const auto& p : value)
        spec.parameters[p.first.Scalar()] = detail::to_value(p.second, origin_);
    } else if (key == "channel_capacity") {
      spec.options.channel_capacity = capacity(value, "channel_capacity");
    } else if (key == "fiber_stack_size") {
      spec.options.fiber_stack_size = fiber_stack_size(value);
    } else if (key == "workers") {
      const Value v = detail::to_value(value, origin_);
      if (!v.is_int() || v.as_int() < 1 ||
          static_cast<std::uint64_t>(v.as_int()) > limits::max_workers) {
        fail(value,
             "'workers' must be a whole number from 1 to " + std::to_string(limits::max_workers));
      }
      spec.options.workers = static_cast<std::size_t>(v.as_int());
    } else if (key == "replica_restarts") {
      const Value v = detail::to_value(value, origin_);
      if (!v.is_int() || v.as_int() < 0 || v.as_int() > 1000000)
        fail(value, "'replica_restarts' must be a whole number from 0 to 1000000");
      spec.options.replica_restarts = static_cast<std::size_t>(v.as_int());
    } else if (key == "topology") {
      spec.options.topology = scalar(value, "'topology'");
    } else if (key == "wait") {
      spec.options.wait = parse_wait_mode(scalar(value, "'wait'"), at(value));
    } else if (key == "step_timeout") {
      const Value v = detail::to_value(value, origin_);
      if (!v.is_number() || !(v.as_double() >= 0 && v.as_double() <= 1e6))
        fail(value, "'step_timeout' must be a number of seconds from 0 (no limit) to 1e6");
      spec.options.step_timeout = v.as_double();
    } else if (key == "resources") {
      // Capacities of custom resources, e.g. {custom_hardware: 5}.
      expect_map(value, "'resources' (custom resource capacities)");
      for (const auto& r : value) {
        const Value v = detail::to_value(r.second, origin_);
        try {
          spec.options.custom_resources[r.first.Scalar()] =
              v.is_string() ? parse_quantity(v.as_string()) : check_quantity(v.as_double());
        } catch (const std::exception& e) {
          fail(r.second, "custom resource " + quote(r.first.Scalar()) + ": " + e.what());
        }
      }
    } else if (key == "state") {
      // Plugboard's state backend: kept as YAML text, not used.
      spec.extra_args[key] =
          value.IsMap() ? Value(YAML::Dump(value)) : detail::to_value(value, origin_);
    } else {
      fail(entry.first, "unknown process argument " + quote(key) +
                            " (expected name, components, connectors, parameters, "
                            "channel_capacity, fiber_stack_size, workers, topology, wait, "
                            "step_timeout, replica_restarts, resources, state)");
    }
  }
}

ResourceOverrides ModelReader::read_resources(const YAML::Node& node,
                                              const std::string& owner) const {
  expect_map(node, owner + ": 'resources'");
  ResourceOverrides out;
  auto quantity = [&](const YAML::Node& value, const std::string& what) {
    try {
      const Value v = detail::to_value(value, origin_);
      if (v.is_string()) return parse_quantity(v.as_string());
      if (v.is_number()) return check_quantity(v.as_double());
      throw ModelError("expected a number or a quantity string, got " +
                       std::string(kind_name(v.kind())));
    } catch (const ModelError& e) {
      fail(value, owner + ": resource " + quote(what) + ": " + e.message());
    }
  };
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (key == "cpu") {
      out.cpu = quantity(entry.second, key);
    } else if (key == "gpu") {
      out.gpu = quantity(entry.second, key);
    } else if (key == "memory") {
      out.memory = quantity(entry.second, key);
    } else if (key == "resources" || key == "custom") {
      expect_map(entry.second, owner + ": custom resources");
      for (const auto& custom : entry.second) {
        out.custom[custom.first.Scalar()] = quantity(custom.second, custom.first.Scalar());
      }
    } else {
      fail(entry.first,
           owner + ": unknown resource " + quote(key) + " (expected cpu, gpu, memory, resources)");
    }
  }
  return out;
}

ComponentSpec ModelReader::read_component(const YAML::Node& node) const {
  expect_map(node, "a component");
  ComponentSpec c;
  c.where = at(node);
  const YAML::Node type = node["type"];
  if (!type) fail(node, "a component needs a 'type'");
  c.type = scalar(type, "component type");
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (key != "type" && key != "args") {
      fail(entry.first, "unknown key " + quote(key) + " in component of type " + quote(c.type) +
                            " (expected type, args)");
    }
  }
  const YAML::Node args = node["args"];
  if (!args) fail(node, "component of type " + quote(c.type) + " needs 'args' with a 'name'");
  expect_map(args, "component args");
  const YAML::Node name = args["name"];
  if (!name) fail(args, "component of type " + quote(c.type) + " needs a 'name' in its args");
  c.name = scalar(name, "component name");
  const std::string owner = "component " + quote(c.name);
  for (const auto& entry : args) {
    const std::string key = entry.first.Scalar();
    const YAML::Node& value = entry.second;
    if (key == "name") continue;
    if (key == "worker") {
      c.worker = scalar(value, owner + ": 'worker'");
    } else if (key == "replicas") {
      const Value v = detail::to_value(value, origin_);
      if (!v.is_int() || v.as_int() < 1 ||
          v.as_int() > static_cast<std::int64_t>(limits::max_replicas)) {
        fail(value, owner + ": 'replicas' must be a whole number from 1 to " +
                        std::to_string(limits::max_replicas));
      }
      c.replicas = static_cast<std::size_t>(v.as_int());
    } else if (key == "ordered") {
      const Value v = detail::to_value(value, origin_);
      if (!v.is_bool()) fail(value, owner + ": 'ordered' must be true or false");
      c.ordered = v.as_bool();
    } else if (key == "step_timeout") {
      const Value v = detail::to_value(value, origin_);
      if (!v.is_number() || !(v.as_double() >= 0 && v.as_double() <= 1e6)) {
        fail(value,
             owner + ": 'step_timeout' must be a number of seconds from 0 (no limit) to 1e6");
      }
      c.step_timeout = v.as_double();
    } else if (key == "initial_values") {
      if (value.IsNull()) continue;
      expect_map(value, owner + ": 'initial_values'");
      for (const auto& field : value) {
        std::vector<Value> values;
        if (field.second.IsSequence()) {
          for (const auto& v : field.second)
            values.push_back(detail::to_value(v, origin_));
        } else {
          values.push_back(detail::to_value(field.second, origin_));
        }
        c.initial_values[field.first.Scalar()] = std::move(values);
      }
    } else if (key == "resources") {
      if (!value.IsNull()) c.resources = read_resources(value, owner);
    } else if (key == "parameters") {
      if (value.IsNull()) continue;
      expect_map(value, owner + ": 'parameters'");
      for (const auto& p : value)
        c.parameters[p.first.Scalar()] = detail::to_value(p.second, origin_);
    } else {
      c.args[key] = detail::to_value(value, origin_);
      c.arg_locations[key] = at(value);
    }
  }
  return c;
}

// A connector's end: "component.field", or Plugboard's long form {entity: component,
// descriptor: field}.
std::string ModelReader::endpoint(const YAML::Node& node, const std::string& what) const {
  if (!node.IsMap()) return scalar(node, what);
  std::string entity;
  std::string descriptor;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (key == "entity") {
      entity = scalar(entry.second, what + " 'entity'");
    } else if (key == "descriptor") {
      descriptor = scalar(entry.second, what + " 'descriptor'");
    } else {
      fail(entry.first,
           "unknown key " + quote(key) + " in " + what + " (expected entity, descriptor)");
    }
  }
  if (entity.empty() || descriptor.empty()) {
    fail(node, what + " needs an 'entity' (the component) and a 'descriptor' (its field)");
  }
  return entity + "." + descriptor;
}

ConnectorSpec ModelReader::read_connector(const YAML::Node& node) const {
  expect_map(node, "a connector");
  ConnectorSpec c;
  c.where = at(node);
  // Plugboard writes connectors either flat or under 'spec:'.
  const bool nested = static_cast<bool>(node["spec"]);
  const YAML::Node body = nested ? node["spec"] : node;
  expect_map(body, "a connector spec");
  for (const auto& entry : body) {
    const std::string key = entry.first.Scalar();
    if (key == "source") {
      c.source = endpoint(entry.second, "connector source");
    } else if (key == "target") {
      c.target = endpoint(entry.second, "connector target");
    } else if (key == "capacity") {
      c.capacity = capacity(entry.second, "connector capacity");
    } else if (key == "wait") {
      c.wait = parse_wait_mode(scalar(entry.second, "connector 'wait'"), at(entry.second));
    } else if (key == "mode") {
      const std::string mode = scalar(entry.second, "connector 'mode'");
      if (mode == "pipeline") {
        c.mode = ConnectorMode::pipeline;
      } else if (mode == "pubsub") {
        c.mode = ConnectorMode::pubsub;
      } else {
        fail(entry.second,
             "unknown connector mode " + quote(mode) +
                 " (expected pipeline: a field to a field, or pubsub: an event's publishers to "
                 "its subscribers)");
      }
    } else {
      fail(entry.first, "unknown key " + quote(key) +
                            " in connector (expected source, target, capacity, wait, mode)");
    }
  }
  if (c.source.empty()) fail(body, "a connector needs a 'source' (component.field)");
  if (c.target.empty()) fail(body, "a connector needs a 'target' (component.field)");
  if (c.mode == ConnectorMode::pubsub) {
    const auto dot_s = c.source.rfind('.');
    const auto dot_t = c.target.rfind('.');
    const bool shaped = dot_s != std::string::npos && dot_t != std::string::npos &&
                        c.source.substr(dot_s + 1) == "publishers" &&
                        c.target.substr(dot_t + 1) == "subscribers" &&
                        c.source.substr(0, dot_s) == c.target.substr(0, dot_t) && dot_s != 0;
    if (!shaped) {
      fail(body,
           "a pubsub connector joins an event's publishers to its subscribers: source "
           "'EVENT.publishers', target 'EVENT.subscribers' (got " +
               quote(c.source) + " -> " + quote(c.target) + ")");
    }
  }
  return c;
}

ProcessSpec parse_document(const std::string& text, const std::string& origin,
                           const fs::path& base_dir) {
  return ModelReader(origin).read(detail::load_document(text, origin), base_dir);
}

// The whole file, refused unread when it is larger than a model may be; a pipe or a device is
// read up to that size and no further.
std::string read_model_file(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error))
    throw ModelError("cannot read model file " + quote(path) + ": it is a directory");
  const auto size = fs::file_size(path, error);
  if (!error && size > limits::max_model_file_bytes) {
    throw ModelError("model file " + quote(path) + " is " + std::to_string(size) +
                     " bytes, more than the " + std::to_string(limits::max_model_file_bytes) +
                     " bytes allowed");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError("cannot open model file " + quote(path) + ": " + std::strerror(errno));
  // Reserved whole, so that growing never copies: a pipe or a device that never ends costs
  // the limit once, not twice.
  std::string text;
  text.reserve(error ? limits::max_model_file_bytes + 1 : static_cast<std::size_t>(size) + 1);
  std::array<char, 65536> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    const auto count = static_cast<std::size_t>(in.gcount());
    if (text.size() + count > limits::max_model_file_bytes) {
      throw ModelError("model file " + quote(path) + " is more than the " +
                       std::to_string(limits::max_model_file_bytes) + " bytes allowed");
    }
    text.append(buffer.data(), count);
  }
  if (in.bad()) throw ModelError("cannot read model file " + quote(path));
  return text;
}

}  // namespace

ProcessSpec load_model(const std::string& path) {
  return load_model(path, LoadOptions{});
}

ProcessSpec load_model(const std::string& path, const LoadOptions& options) {
  const fs::path base_dir = fs::path(path).parent_path();
  ProcessSpec spec = parse_document(read_model_file(path), path, base_dir);
  spec.base_dir = base_dir.string();
  if (options.load_plugins) load_needed_plugins(spec);
  return spec;
}

ProcessSpec parse_model(const std::string& yaml_text, const std::string& origin) {
  return parse_document(yaml_text, origin, fs::current_path());
}

void apply_overrides(ProcessSpec& spec, const std::vector<std::string>& overrides) {
  for (const auto& text : overrides) {
    const std::string subject = "--set " + quote(text);
    const auto equals = text.find('=');
    const auto dot = equals == std::string::npos ? std::string::npos : text.rfind('.', equals);
    if (equals == std::string::npos || dot == std::string::npos || dot == 0 || dot + 1 == equals) {
      throw ModelError(subject + " must look like component.argument=value");
    }
    std::string component = text.substr(0, dot);
    const std::string key = text.substr(dot + 1, equals - dot - 1);
    YAML::Node node;
    try {
      node = detail::load_document(text.substr(equals + 1), subject);
    } catch (const ModelError& e) {
      throw ModelError(subject + ": cannot parse the value: " + e.message());
    }
    // parameters.KEY=V: a process parameter; NAME.parameters.KEY=V: a component's own.
    static constexpr std::string_view parameters = "parameters";
    if (component == parameters && spec.find(component) == nullptr) {
      spec.parameters[key] = detail::to_value(node, subject);
      continue;
    }
    const bool own_parameter = component.size() > parameters.size() &&
                               component.ends_with(parameters) &&
                               component[component.size() - parameters.size() - 1] == '.' &&
                               spec.find(component) == nullptr;
    if (own_parameter) component.resize(component.size() - parameters.size() - 1);
    // NAME.initial_values.FIELD=V: the field's initial values (a list, or one value).
    static constexpr std::string_view initial_values = "initial_values";
    const bool initial = !own_parameter && component.size() > initial_values.size() &&
                         component.ends_with(initial_values) &&
                         component[component.size() - initial_values.size() - 1] == '.' &&
                         spec.find(component) == nullptr;
    if (initial) component.resize(component.size() - initial_values.size() - 1);
    ComponentSpec* c = spec.find(component);
    if (c == nullptr) throw ModelError(subject + ": no component named " + quote(component));
    if (own_parameter) {
      c->parameters[key] = detail::to_value(node, subject);
      continue;
    }
    if (initial) {
      Value v = detail::to_value(node, subject);
      c->initial_values[key] = v.is_list() ? v.as_list() : Value::List{std::move(v)};
      continue;
    }
    if (key == "name") throw ModelError(subject + ": a component cannot be renamed");
    if (key == "replicas") {
      const Value v = detail::to_value(node, subject);
      if (!v.is_int() || v.as_int() < 1 ||
          v.as_int() > static_cast<std::int64_t>(limits::max_replicas)) {
        throw ModelError(subject + ": 'replicas' must be a whole number from 1 to " +
                         std::to_string(limits::max_replicas));
      }
      c->replicas = static_cast<std::size_t>(v.as_int());
      continue;
    }
    c->args[key] = detail::to_value(node, subject);
    c->arg_locations[key] = SourceLocation{subject, 0};
  }
}

}  // namespace patchbay
