#include <patchbay/library.hpp>

namespace patchbay::library {

Iterator::Iterator(const ComponentArgs& args)
    : Component(args), iters_(args.get<std::int64_t>("iters")) {
  if (iters_ < 0) throw args.error("iters", "must not be negative, got " + std::to_string(iters_));
}

Iterator::Iterator(std::string name, std::int64_t iters)
    : Iterator(ComponentArgs(std::move(name), {{"iters", iters}})) {}

void Iterator::step() {
  if (next_ == iters_) {
    close();
    return;
  }
  x = next_++;
}

}  // namespace patchbay::library
