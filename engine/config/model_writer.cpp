// A ProcessSpec written back as a YAML model in Plugboard's schema: what load_model() reads
// gives the same spec again.
#include <patchbay/error.hpp>
#include <patchbay/model.hpp>

#include <yaml-cpp/emitter.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/yaml_value.hpp"
#include "core/text.hpp"

namespace patchbay {

namespace {

namespace fs = std::filesystem;

// A string is written plain where the loader reads it back as that string, else quoted
// ("1", "true", "null", "" and text YAML itself would misread).
void emit_string(YAML::Emitter& out, const std::string& s) {
  bool plain = !s.empty();
  if (plain) {
    try {
      const YAML::Node node = YAML::Load(s);
      plain = node.IsScalar() && node.Tag() != "!" && detail::to_value(node, "") == Value(s);
    } catch (const std::exception&) {
      plain = false;
    }
  }
  if (plain) {
    out << s;
  } else {
    out << YAML::DoubleQuoted << s;
  }
}

void emit_value(YAML::Emitter& out, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::null:
      out << YAML::Null;
      return;
    case Value::Kind::boolean:
      out << (v.as_bool() ? "true" : "false");
      return;
    case Value::Kind::integer:
      out << std::to_string(v.as_int());
      return;
    case Value::Kind::real: {
      const double d = v.as_double();
      if (std::isnan(d)) {
        out << ".nan";
      } else if (std::isinf(d)) {
        out << (d > 0 ? ".inf" : "-.inf");
      } else {
        out << v.to_string();  // shortest round trip, "2.0" for 2
      }
      return;
    }
    case Value::Kind::string:
      emit_string(out, v.as_string());
      return;
    case Value::Kind::list:
      out << YAML::Flow << YAML::BeginSeq;
      for (const Value& item : v.as_list())
        emit_value(out, item);
      out << YAML::EndSeq;
      return;
    case Value::Kind::map:
      out << YAML::BeginMap;
      for (const auto& [key, item] : v.as_map()) {
        out << YAML::Key;
        emit_string(out, key);
        out << YAML::Value;
        emit_value(out, item);
      }
      out << YAML::EndMap;
      return;
  }
}

void emit_values(YAML::Emitter& out, const std::map<std::string, Value>& values) {
  out << YAML::BeginMap;
  for (const auto& [key, value] : values) {
    out << YAML::Key;
    emit_string(out, key);
    out << YAML::Value;
    emit_value(out, value);
  }
  out << YAML::EndMap;
}

void emit_amounts(YAML::Emitter& out, const std::map<std::string, double>& amounts) {
  out << YAML::BeginMap;
  for (const auto& [name, amount] : amounts) {
    out << YAML::Key;
    emit_string(out, name);
    out << YAML::Value;
    emit_value(out, Value(amount));
  }
  out << YAML::EndMap;
}

void emit_resources(YAML::Emitter& out, const ResourceOverrides& r) {
  out << YAML::BeginMap;
  if (r.cpu) out << YAML::Key << "cpu" << YAML::Value << Value(*r.cpu).to_string();
  if (r.gpu) out << YAML::Key << "gpu" << YAML::Value << Value(*r.gpu).to_string();
  if (r.memory) out << YAML::Key << "memory" << YAML::Value << Value(*r.memory).to_string();
  if (!r.custom.empty()) {
    out << YAML::Key << "resources" << YAML::Value;
    emit_amounts(out, r.custom);
  }
  out << YAML::EndMap;
}

void emit_component(YAML::Emitter& out, const ComponentSpec& c) {
  out << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value;
  emit_string(out, c.type);
  out << YAML::Key << "args" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  emit_string(out, c.name);
  for (const auto& [key, value] : c.args) {
    out << YAML::Key;
    emit_string(out, key);
    out << YAML::Value;
    emit_value(out, value);
  }
  if (!c.parameters.empty()) {
    out << YAML::Key << "parameters" << YAML::Value;
    emit_values(out, c.parameters);
  }
  if (!c.initial_values.empty()) {
    out << YAML::Key << "initial_values" << YAML::Value << YAML::BeginMap;
    for (const auto& [field, values] : c.initial_values) {
      out << YAML::Key;
      emit_string(out, field);
      out << YAML::Value;
      emit_value(out, Value(Value::List(values.begin(), values.end())));
    }
    out << YAML::EndMap;
  }
  if (c.resources != ResourceOverrides{}) {
    out << YAML::Key << "resources" << YAML::Value;
    emit_resources(out, c.resources);
  }
  if (!c.worker.empty()) {
    out << YAML::Key << "worker" << YAML::Value;
    emit_string(out, c.worker);
  }
  if (c.replicas != 1) out << YAML::Key << "replicas" << YAML::Value << std::to_string(c.replicas);
  if (!c.ordered) out << YAML::Key << "ordered" << YAML::Value << "false";
  if (c.step_timeout) {
    out << YAML::Key << "step_timeout" << YAML::Value;
    emit_value(out, Value(*c.step_timeout));
  }
  out << YAML::EndMap << YAML::EndMap;
}

void emit_connector(YAML::Emitter& out, const ConnectorSpec& c) {
  out << YAML::BeginMap;
  out << YAML::Key << "source" << YAML::Value;
  emit_string(out, c.source);
  out << YAML::Key << "target" << YAML::Value;
  emit_string(out, c.target);
  if (c.capacity != 0) out << YAML::Key << "capacity" << YAML::Value << std::to_string(c.capacity);
  if (c.wait) out << YAML::Key << "wait" << YAML::Value << std::string(to_string(*c.wait));
  if (c.mode == ConnectorMode::pubsub) out << YAML::Key << "mode" << YAML::Value << "pubsub";
  out << YAML::EndMap;
}

void emit_process_args(YAML::Emitter& out, const ProcessSpec& spec) {
  const ProcessOptions defaults;
  const ProcessOptions& o = spec.options;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  emit_string(out, spec.name);
  out << YAML::Key << "components" << YAML::Value << YAML::BeginSeq;
  for (const ComponentSpec& c : spec.components)
    emit_component(out, c);
  out << YAML::EndSeq;
  out << YAML::Key << "connectors" << YAML::Value << YAML::BeginSeq;
  for (const ConnectorSpec& c : spec.connectors)
    emit_connector(out, c);
  out << YAML::EndSeq;
  if (!spec.parameters.empty()) {
    out << YAML::Key << "parameters" << YAML::Value;
    emit_values(out, spec.parameters);
  }
  if (o.channel_capacity != defaults.channel_capacity) {
    out << YAML::Key << "channel_capacity" << YAML::Value << std::to_string(o.channel_capacity);
  }
  if (o.fiber_stack_size != defaults.fiber_stack_size) {
    out << YAML::Key << "fiber_stack_size" << YAML::Value << std::to_string(o.fiber_stack_size);
  }
  if (o.workers != defaults.workers)
    out << YAML::Key << "workers" << YAML::Value << std::to_string(o.workers);
  if (!o.topology.empty()) {
    out << YAML::Key << "topology" << YAML::Value;
    emit_string(out, o.topology);
  }
  if (o.wait != defaults.wait)
    out << YAML::Key << "wait" << YAML::Value << std::string(to_string(o.wait));
  if (o.step_timeout != defaults.step_timeout) {
    out << YAML::Key << "step_timeout" << YAML::Value;
    emit_value(out, Value(o.step_timeout));
  }
  if (o.replica_restarts != defaults.replica_restarts) {
    out << YAML::Key << "replica_restarts" << YAML::Value << std::to_string(o.replica_restarts);
  }
  if (!o.custom_resources.empty()) {
    out << YAML::Key << "resources" << YAML::Value;
    emit_amounts(out, o.custom_resources);
  }
  for (const auto& [key, value] : spec.extra_args) {
    out << YAML::Key;
    emit_string(out, key);
    out << YAML::Value;
    // Plugboard's `state` is kept as the YAML text it was written in.
    if (key == "state" && value.is_string()) {
      out << YAML::Load(value.as_string());
    } else {
      emit_value(out, value);
    }
  }
  out << YAML::EndMap;
}

}  // namespace

std::string dump_model(const ProcessSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "plugboard" << YAML::Value << YAML::BeginMap;
  if (!spec.plugins.empty()) {
    // Absolute, so that the file reads the same from wherever it is saved.
    out << YAML::Key << "plugins" << YAML::Value << YAML::BeginSeq;
    for (const std::string& plugin : spec.plugins)
      emit_string(out, fs::absolute(plugin).lexically_normal().string());
    out << YAML::EndSeq;
  }
  out << YAML::Key << "process" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value
      << (spec.kind == ProcessKind::parallel ? "plugboard.process.RayProcess"
                                             : "plugboard.process.LocalProcess");
  out << YAML::Key << "args" << YAML::Value;
  emit_process_args(out, spec);
  out << YAML::EndMap << YAML::EndMap << YAML::EndMap;
  if (!out.good()) throw Error("cannot write the model as YAML: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

void save_model(const ProcessSpec& spec, const std::string& path) {
  const std::string text = dump_model(spec);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw Error("cannot write " + detail::quote(path) + ": " + std::strerror(errno));
  file << text;
  file.close();
  if (!file) throw Error("cannot write " + detail::quote(path) + ": " + std::strerror(errno));
}

}  // namespace patchbay
