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

}  // namespace

std::uint64_t register_remote(const char* name, const void* address, RemoteInvoker invoker) {
  Table& t = table();
  const std::lock_guard lock(t.mutex);
  const std::uint64_t id = id_of(name);
  if (const auto found = t.by_id.find(id); found != t.by_id.end()) {
    const RemoteFunction& other = t.functions[found->second];
    if (other.address == address) return id;  // the same function, registered twice
    throw Error("PATCHBAY_REMOTE(" + std::string(name) + "): the name is taken by another " +
                "function" + (other.name != name ? " ('" + other.name + "', same id)" : ""));
  }
  t.functions.push_back({name, id, address, invoker, t.functions.size()});
  t.by_id.emplace(id, t.functions.size() - 1);
  t.by_address.emplace(address, t.functions.size() - 1);
  return id;
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
