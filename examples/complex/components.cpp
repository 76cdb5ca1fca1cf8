// The components of Plugboard's "more complex process" tutorials (branching, loop,
// parameters), in C++: a random source, an offset, a scale, a scale that reads its factor from
// the parameters, a sum and a saver. Built as a plugin that engine-run loads with --plugin;
// registered under the names the tutorials' model files use.
#include <patchbay/patchbay.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace {

/// x: `iters` values drawn uniformly from [low, high), then closes. `seed` (optional) makes
/// them repeatable.
class Random : public patchbay::Component {
 public:
  explicit Random(const patchbay::ComponentArgs& args)
      : Component(args),
        iters_(args.get<std::int64_t>("iters")),
        distribution_(args.get_or<double>("low", 0.0), args.get_or<double>("high", 10.0)),
        engine_(args.contains("seed") ? static_cast<std::uint64_t>(args.get<std::int64_t>("seed"))
                                      : std::random_device{}()) {
    if (iters_ < 0) throw args.error("iters", "must not be negative");
  }

  patchbay::Output<double> x{this, "x"};

  void step() override {
    if (done_ == iters_) {
      close();
      return;
    }
    ++done_;
    x = distribution_(engine_);
  }

 private:
  std::int64_t iters_;
  std::int64_t done_ = 0;
  std::uniform_real_distribution<double> distribution_;
  std::mt19937_64 engine_;
};

/// x = a + offset.
class Offset : public patchbay::Component {
 public:
  explicit Offset(const patchbay::ComponentArgs& args)
      : Component(args), offset_(args.get_or<double>("offset", 0.0)) {}

  patchbay::Input<double> a{this, "a"};
  patchbay::Output<double> x{this, "x"};

  void step() override { x = a.value() + offset_; }

 private:
  double offset_;
};

/// x = a * scale.
class Scale : public patchbay::Component {
 public:
  explicit Scale(const patchbay::ComponentArgs& args)
      : Component(args), scale_(args.get_or<double>("scale", 1.0)) {}

  patchbay::Input<double> a{this, "a"};
  patchbay::Output<double> x{this, "x"};

  void step() override { x = a.value() * scale_; }

 private:
  double scale_;
};

/// x = a * scale, where `scale` is a parameter: the process's, or the component's own.
class ScaleFromParameter : public patchbay::Component {
 public:
  explicit ScaleFromParameter(const patchbay::ComponentArgs& args)
      : Component(args), scale_(args.parameter<double>("scale")) {}

  patchbay::Input<double> a{this, "a"};
  patchbay::Output<double> x{this, "x"};

  void step() override { x = a.value() * scale_; }

 private:
  double scale_;
};

/// x = a + b.
class Sum : public patchbay::Component {
 public:
  using Component::Component;

  patchbay::Input<double> a{this, "a"};
  patchbay::Input<double> b{this, "b"};
  patchbay::Output<double> x{this, "x"};

  void step() override { x = a.value() + b.value(); }
};

/// Writes each value it takes on a line of `path`.
class Save : public patchbay::Component {
 public:
  explicit Save(const patchbay::ComponentArgs& args)
      : Component(args), path_(args.get_path("path")) {}
  ~Save() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  patchbay::Input<double> value_to_save{this, "value_to_save"};

  void init() override {
    file_ = std::fopen(path_.c_str(), "w");
    if (file_ == nullptr)
      throw patchbay::Error("cannot write '" + path_ + "': " + std::strerror(errno));
  }
  void step() override {
    std::fprintf(file_, "%s\n", patchbay::Value(value_to_save.value()).to_string().c_str());
  }
  void teardown(patchbay::Status) override {
    if (file_ != nullptr && std::fclose(file_) != 0) {
      file_ = nullptr;
      throw patchbay::Error("cannot write '" + path_ + "': " + std::strerror(errno));
    }
    file_ = nullptr;
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace

PATCHBAY_REGISTER_COMPONENT_AS(Random, "components.Random");
PATCHBAY_REGISTER_COMPONENT_AS(Offset, "components.Offset");
PATCHBAY_REGISTER_COMPONENT_AS(Scale, "components.Scale");
PATCHBAY_REGISTER_COMPONENT_AS(ScaleFromParameter, "components.ScaleFromParameter");
PATCHBAY_REGISTER_COMPONENT_AS(Sum, "components.Sum");
PATCHBAY_REGISTER_COMPONENT_AS(Save, "components.Save");
