// The table of remote functions (PATCHBAY_REMOTE) and the failure text of a failed future.
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "tasks/task_core.hpp"

namespace patchbay {

TaskError::TaskError(std::string function, std::string type, std::string message,
                     std::string worker, const std::string& what)
    : Error(what),
      function_(std::move(function)),
      type_(std::move(type)),
      message_(std::move(message)),
      worker_(std::move(worker)) {}

namespace detail {

namespace {

struct Table {
  std::mutex mutex;
  std::vector<RemoteFunction> functions;
  std::map<std::uint64_t, std::size_t> by_id;
  std::map<const void*, std::size_t> by_address;
  std::map<std::string, std::size_t> by_method;  // type name + pointer-to-member bytes
};

Table& table() {
  static Table t;
  return t;
}

// FNV-1a: the id a name has in every process.
std::uint64_t id_of(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3;
  }
  return h == 0 ? 1 : h;
}

std::string method_key(const std::type_info& type, std::span<const std::byte> pointer) {
  std::string key = type.name();
  key += '\0';
  key.append(reinterpret_cast<const char*>(pointer.data()), pointer.size());
  return key;
}

// Adds `entry` under its name's id; the same address (or method) registered again is the same
// entry. Throws when the name is taken by something else.
std::uint64_t add(RemoteFunction entry, const std::string& method) {
  Table& t = table();
  const std::lock_guard lock(t.mutex);
  entry.id = id_of(entry.name);
  if (const auto found = t.by_id.find(entry.id); found != t.by_id.end()) {
    const RemoteFunction& other = t.functions[found->second];
    const bool same =
        method.empty() ? other.address == entry.address
                       : t.by_method.count(method) != 0 && t.by_method.at(method) == found->second;
    if (same) return entry.id;
    throw Error("PATCHBAY_REMOTE(" + entry.name + "): the name is taken by another function" +
                (other.name != entry.name ? " ('" + other.name + "', same id)" : ""));
  }
  entry.index = t.functions.size();
  t.by_id.emplace(entry.id, entry.index);
  if (entry.address != nullptr) t.by_address.emplace(entry.address, entry.index);
  if (!method.empty()) t.by_method.emplace(method, entry.index);
  t.functions.push_back(std::move(entry));
  return t.functions.back().id;
}

}  // namespace

std::uint64_t register_remote(const char* name, const void* address, RemoteInvoker invoker) {
  RemoteFunction f;
  f.name = name;
  f.address = address;
  f.invoker = invoker;
  return add(std::move(f), "");
}

std::uint64_t register_actor_factory(const char* name, const void* address, ActorFactory create,
                                     ActorDestroy destroy, const std::type_info& /*type*/) {
  RemoteFunction f;
  f.name = name;
  f.address = address;
  f.create = create;
  f.destroy = destroy;
  return add(std::move(f), "");
}

std::uint64_t register_method(const char* name, const std::type_info& type,
                              std::span<const std::byte> pointer, MethodInvoker invoker) {
  RemoteFunction f;
  f.name = name;
  f.method = invoker;
  return add(std::move(f), method_key(type, pointer));
}

std::uint64_t method_id(const std::type_info& type, std::span<const std::byte> pointer) {
  Table& t = table();
  const std::lock_guard lock(t.mutex);
  const auto found = t.by_method.find(method_key(type, pointer));
  if (found == t.by_method.end()) {
    throw Error(
        "patchbay: call() of a method that is not registered: add "
        "PATCHBAY_REMOTE_METHOD(Class::method) at namespace scope");
  }
  return t.functions[found->second].id;
}

std::uint64_t remote_id(const void* address) {
  Table& t = table();
  const std::lock_guard lock(t.mutex);
  const auto found = t.by_address.find(address);
  if (found == t.by_address.end()) {
    throw Error(
        "patchbay: submit() of a function that is not registered: add "
        "PATCHBAY_REMOTE(name) after its definition");
  }
  return t.functions[found->second].id;
}

const std::vector<RemoteFunction>& remote_functions() {
  return table().functions;
}

const RemoteFunction* find_remote(std::uint64_t id) {
  Table& t = table();
  const std::lock_guard lock(t.mutex);
  const auto found = t.by_id.find(id);
  return found == t.by_id.end() ? nullptr : &t.functions[found->second];
}

std::string FailureText::encode() const {
  std::string out;
  for (const std::string* field : {&function, &type, &message, &worker}) {
    out += *field;
    out += '\0';
  }
  return out;
}

FailureText FailureText::decode(std::span<const std::byte> bytes) {
  FailureText out;
  std::string* fields[] = {&out.function, &out.type, &out.message, &out.worker};
  std::size_t field = 0;
  for (const std::byte b : bytes) {
    if (b == std::byte{0}) {
      if (++field == 4) break;
    } else {
      fields[field]->push_back(static_cast<char>(b));
    }
  }
  if (out.type.empty()) out.type = "error";
  return out;
}

TaskError FailureText::to_error() const {
  std::string what = "task '" + function + "' ";
  if (type == "worker died") {
    what += "lost: " + message;
  } else {
    what += "failed" + (worker.empty() ? std::string() : " on worker " + worker) + ": " + type +
            ": " + message;
  }
  return TaskError(function, type, message, worker, what);
}

}  // namespace detail
}  // namespace patchbay
