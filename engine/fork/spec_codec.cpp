#include "fork/spec_codec.hpp"

#include <patchbay/internal/value_codec.hpp>

#include <bit>
#include <cstring>
#include <limits>

namespace patchbay::detail {

namespace {

constexpr std::uint64_t spec_magic = 0x7063627370656331;  // "pcbspec1"
constexpr std::uint64_t plan_magic = 0x706362706c616e31;  // "pcbplan1"
constexpr auto last_kind = static_cast<std::uint64_t>(ProcessKind::parallel);
constexpr auto last_wait = static_cast<std::uint64_t>(WaitMode::block);

// Appends to a map decoded from a std::map's encoding: its keys come unique and in order, so a
// duplicate or a key out of order is malformed (and would not encode back to the same bytes).
template <class Mapped>
void append(std::map<std::string, Mapped>& map, std::string key, Mapped value) {
  if (!map.empty() && !(map.rbegin()->first < key))
    throw Error("malformed encoding: map keys repeated or out of order");
  map.emplace_hint(map.end(), std::move(key), std::move(value));
}

void write_location(ByteWriter& out, const SourceLocation& where) {
  out.text(where.file);
  out.i64(where.line);
}

SourceLocation read_location(ByteReader& in) {
  SourceLocation where;
  where.file = in.text();
  where.line = in.i32();
  return where;
}

void write_values(ByteWriter& out, const std::map<std::string, Value>& values) {
  out.u64(values.size());
  for (const auto& [key, value] : values) {
    out.text(key);
    out.value(value);
  }
}

std::map<std::string, Value> read_values(ByteReader& in) {
  std::map<std::string, Value> values;
  for (std::size_t n = in.count(); n > 0; --n) {
    std::string key = in.text();
    append(values, std::move(key), in.value());
  }
  return values;
}

void write_amounts(ByteWriter& out, const std::map<std::string, double>& amounts) {
  out.u64(amounts.size());
  for (const auto& [name, amount] : amounts) {
    out.text(name);
    out.f64(amount);
  }
}

std::map<std::string, double> read_amounts(ByteReader& in) {
  std::map<std::string, double> amounts;
  for (std::size_t n = in.count(); n > 0; --n) {
    std::string name = in.text();
    append(amounts, std::move(name), in.f64());
  }
  return amounts;
}

void write_optional(ByteWriter& out, const std::optional<double>& value) {
  out.u64(value ? 1 : 0);
  if (value) out.f64(*value);
}

std::optional<double> read_optional(ByteReader& in) {
  if (!in.flag()) return std::nullopt;
  return in.f64();
}

void write_unsigned_list(ByteWriter& out, const auto& list) {
  out.u64(list.size());
  for (auto item : list)
    out.u64(item);
}

template <class T>
std::vector<T> read_unsigned_list(ByteReader& in) {
  std::vector<T> list;
  for (std::size_t n = in.count(); n > 0; --n)
    list.push_back(static_cast<T>(in.at_most(std::numeric_limits<T>::max(), "list item")));
  return list;
}

void write_texts(ByteWriter& out, const std::vector<std::string>& texts) {
  out.u64(texts.size());
  for (const auto& t : texts)
    out.text(t);
}

std::vector<std::string> read_texts(ByteReader& in) {
  std::vector<std::string> texts;
  for (std::size_t n = in.count(); n > 0; --n)
    texts.push_back(in.text());
  return texts;
}

void expect_magic(ByteReader& in, std::uint64_t magic, const char* what) {
  if (in.u64() != magic) throw Error(std::string("malformed ") + what + " encoding");
}

}  // namespace

void ByteWriter::u64(std::uint64_t value) {
  char bytes[8];
  std::memcpy(bytes, &value, sizeof bytes);
  out_.append(bytes, sizeof bytes);
}

void ByteWriter::f64(double value) {
  u64(std::bit_cast<std::uint64_t>(value));
}

void ByteWriter::text(std::string_view value) {
  u64(value.size());
  out_.append(value);
}

void ByteWriter::value(const Value& value) {
  std::string bytes(encoded_size(value), '\0');
  encode_value(value, reinterpret_cast<std::byte*>(bytes.data()));
  text(bytes);
}

std::uint64_t ByteReader::u64() {
  if (in_.size() < 8) throw Error("truncated encoding");
  std::uint64_t value = 0;
  std::memcpy(&value, in_.data(), sizeof value);
  in_.remove_prefix(8);
  return value;
}

int ByteReader::i32() {
  const std::int64_t value = i64();
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
    throw Error("malformed encoding: " + std::to_string(value) + " is not an int");
  return static_cast<int>(value);
}

bool ByteReader::flag() {
  return at_most(1, "flag") == 1;
}

std::uint64_t ByteReader::at_most(std::uint64_t largest, const char* what) {
  const std::uint64_t value = u64();
  if (value > largest)
    throw Error(std::string("malformed encoding: ") + what + " " + std::to_string(value));
  return value;
}

double ByteReader::f64() {
  return std::bit_cast<double>(u64());
}

std::string ByteReader::text() {
  const std::uint64_t size = u64();
  if (size > in_.size()) throw Error("truncated encoding");
  std::string out(in_.substr(0, size));
  in_.remove_prefix(size);
  return out;
}

Value ByteReader::value() {
  const std::string bytes = text();
  return decode_value(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
}

std::size_t ByteReader::count() {
  const std::uint64_t n = u64();
  if (n > in_.size()) throw Error("malformed encoding: count " + std::to_string(n));
  return n;
}

std::string encode_spec(const ProcessSpec& spec) {
  ByteWriter out;
  out.u64(spec_magic);
  out.text(spec.name);
  out.u64(static_cast<std::uint64_t>(spec.kind));
  out.u64(spec.components.size());
  for (const ComponentSpec& c : spec.components) {
    out.text(c.type);
    out.text(c.name);
    write_values(out, c.args);
    write_values(out, c.parameters);
    out.u64(c.initial_values.size());
    for (const auto& [field, values] : c.initial_values) {
      out.text(field);
      out.u64(values.size());
      for (const Value& v : values)
        out.value(v);
    }
    write_optional(out, c.resources.cpu);
    write_optional(out, c.resources.gpu);
    write_optional(out, c.resources.memory);
    write_amounts(out, c.resources.custom);
    out.text(c.worker);
    out.u64(c.replicas);
    out.u64(c.ordered ? 1 : 0);
    write_location(out, c.where);
    out.u64(c.arg_locations.size());
    for (const auto& [key, where] : c.arg_locations) {
      out.text(key);
      write_location(out, where);
    }
  }
  out.u64(spec.connectors.size());
  for (const ConnectorSpec& c : spec.connectors) {
    out.text(c.source);
    out.text(c.target);
    out.u64(c.capacity);
    out.u64(c.wait ? 1 + static_cast<std::uint64_t>(*c.wait) : 0);
    out.u64(static_cast<std::uint64_t>(c.mode));
    write_location(out, c.where);
  }
  write_values(out, spec.parameters);
  const ProcessOptions& o = spec.options;
  out.u64(o.channel_capacity);
  out.u64(o.fiber_stack_size);
  out.u64(o.workers);
  out.text(o.topology);
  out.u64(static_cast<std::uint64_t>(o.wait));
  write_amounts(out, o.custom_resources);
  write_values(out, spec.extra_args);
  write_texts(out, spec.plugins);
  write_location(out, spec.where);
  out.text(spec.base_dir);
  return out.bytes();
}

ProcessSpec decode_spec(std::string_view bytes) {
  ByteReader in(bytes);
  expect_magic(in, spec_magic, "model");
  ProcessSpec spec;
  spec.name = in.text();
  spec.kind = static_cast<ProcessKind>(in.at_most(last_kind, "process kind"));
  for (std::size_t n = in.count(); n > 0; --n) {
    ComponentSpec c;
    c.type = in.text();
    c.name = in.text();
    c.args = read_values(in);
    c.parameters = read_values(in);
    for (std::size_t fields = in.count(); fields > 0; --fields) {
      std::string field = in.text();
      std::vector<Value> values;
      for (std::size_t k = in.count(); k > 0; --k)
        values.push_back(in.value());
      append(c.initial_values, std::move(field), std::move(values));
    }
    c.resources.cpu = read_optional(in);
    c.resources.gpu = read_optional(in);
    c.resources.memory = read_optional(in);
    c.resources.custom = read_amounts(in);
    c.worker = in.text();
    c.replicas = in.at_most(limits::max_replicas, "replicas");
    c.ordered = in.at_most(1, "ordered") == 1;
    c.where = read_location(in);
    for (std::size_t k = in.count(); k > 0; --k) {
      std::string key = in.text();
      append(c.arg_locations, std::move(key), read_location(in));
    }
    spec.components.push_back(std::move(c));
  }
  for (std::size_t n = in.count(); n > 0; --n) {
    ConnectorSpec c;
    c.source = in.text();
    c.target = in.text();
    c.capacity = in.u64();
    if (const std::uint64_t wait = in.at_most(1 + last_wait, "wait mode"); wait != 0)
      c.wait = static_cast<WaitMode>(wait - 1);
    c.mode = static_cast<ConnectorMode>(
        in.at_most(static_cast<std::uint64_t>(ConnectorMode::pubsub), "connector mode"));
    c.where = read_location(in);
    spec.connectors.push_back(std::move(c));
  }
  spec.parameters = read_values(in);
  ProcessOptions& o = spec.options;
  o.channel_capacity = in.u64();
  o.fiber_stack_size = in.u64();
  o.workers = in.u64();
  o.topology = in.text();
  o.wait = static_cast<WaitMode>(in.at_most(last_wait, "wait mode"));
  o.custom_resources = read_amounts(in);
  spec.extra_args = read_values(in);
  spec.plugins = read_texts(in);
  spec.where = read_location(in);
  spec.base_dir = in.text();
  if (!in.at_end()) throw Error("malformed model encoding: trailing bytes");
  return spec;
}

std::string encode_plan(const Plan& plan) {
  ByteWriter out;
  out.u64(plan_magic);
  out.u64(plan.workers.size());
  for (const WorkerPlan& w : plan.workers) {
    out.u64(w.index);
    out.text(w.name);
    write_unsigned_list(out, w.cores);
    write_unsigned_list(out, w.pus);
    out.i64(w.numa_node);
    write_texts(out, w.gpus);
    write_unsigned_list(out, w.components);
    out.u64(w.dedicated ? 1 : 0);
  }
  write_unsigned_list(out, plan.worker_of);
  out.text(plan.machine);
  return out.bytes();
}

Plan decode_plan(std::string_view bytes) {
  ByteReader in(bytes);
  expect_magic(in, plan_magic, "plan");
  Plan plan;
  for (std::size_t n = in.count(); n > 0; --n) {
    WorkerPlan w;
    w.index = in.u64();
    w.name = in.text();
    w.cores = read_unsigned_list<unsigned>(in);
    w.pus = read_unsigned_list<unsigned>(in);
    w.numa_node = in.i32();
    w.gpus = read_texts(in);
    w.components = read_unsigned_list<std::size_t>(in);
    w.dedicated = in.flag();
    plan.workers.push_back(std::move(w));
  }
  plan.worker_of = read_unsigned_list<std::size_t>(in);
  plan.machine = in.text();
  if (!in.at_end()) throw Error("malformed plan encoding: trailing bytes");
  return plan;
}

}  // namespace patchbay::detail
