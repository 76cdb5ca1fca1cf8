// The components of Plugboard's hello world tutorial, in C++: A counts, B writes twice each
// number it takes to a file. Built as a plugin that engine-run loads with --plugin; registered
// under the names the tutorial's model file uses.
#include <patchbay/patchbay.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

/// out_1: 0, 1, ..., iters - 1, then closes.
class A : public patchbay::Component {
 public:
  explicit A(const patchbay::ComponentArgs& args)
      : Component(args), iters_(args.get<std::int64_t>("iters")) {}

  patchbay::Output<std::int64_t> out_1{this, "out_1"};

  void step() override {
    if (next_ == iters_) {
      close();
      return;
    }
    out_1 = next_++;
  }

 private:
  std::int64_t iters_;
  std::int64_t next_ = 0;
};

/// Writes 2 * in_1 on a line of `path` for each value it takes.
class B : public patchbay::Component {
 public:
  explicit B(const patchbay::ComponentArgs& args) : Component(args), path_(args.get_path("path")) {}
  ~B() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  patchbay::Input<std::int64_t> in_1{this, "in_1"};

  void init() override {
    file_ = std::fopen(path_.c_str(), "w");
    if (file_ == nullptr)
      throw patchbay::Error("cannot write '" + path_ + "': " + std::strerror(errno));
  }
  void step() override { std::fprintf(file_, "%lld\n", static_cast<long long>(2 * in_1.value())); }
  void teardown(patchbay::Status) override {
    std::FILE* file = file_;
    file_ = nullptr;
    if (file != nullptr && std::fclose(file) != 0)
      throw patchbay::Error("cannot write '" + path_ + "': " + std::strerror(errno));
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace

PATCHBAY_REGISTER_COMPONENT_AS(A, "hello_world.A");
PATCHBAY_REGISTER_COMPONENT_AS(B, "hello_world.B");
