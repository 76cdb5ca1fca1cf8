// ParallelProcess in C++: a camera renders frames in place in the channel and, in another
// worker, a meter reads each frame where it arrived and sends its mean brightness on to a
// FileWriter. Nothing of a frame is copied between the two processes but what the cores exchange.
//
//   build/examples/parallel [OUT.csv] [FRAMES]    (defaults: means.csv, 100)
#include <patchbay/patchbay.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t kPixels = 16 * 1024;  // 64 KiB of float per frame

// Frame i: every pixel i.
class Camera : public patchbay::Component {
 public:
  Camera(std::string name, int frames) : Component(std::move(name)), frames_(frames) {}
  patchbay::BufferOutput<float> frame{this, "frame"};
  void step() override {
    if (next_ == frames_) {
      close();
      return;
    }
    std::span<float> pixels = frame.loan(kPixels);  // room in the channel itself
    for (float& p : pixels)
      p = static_cast<float>(next_);
    ++next_;
  }

 private:
  int frames_;
  int next_ = 0;
};

// The mean of each frame, read in place.
class Meter : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::BufferInput<float> frame{this, "frame"};
  patchbay::Output<double> mean{this, "mean"};
  void step() override {
    const std::span<const float> pixels = frame.view();
    mean = std::accumulate(pixels.begin(), pixels.end(), 0.0) / static_cast<double>(pixels.size());
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string out = argc > 1 ? argv[1] : "means.csv";
  const int frames = argc > 2 ? std::atoi(argv[2]) : 100;
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  parts.push_back(std::make_unique<Camera>("camera", frames));
  parts.push_back(std::make_unique<Meter>("meter"));
  parts.push_back(std::make_unique<patchbay::library::FileWriter>(
      "save", out, std::vector<std::string>{"mean"}));
  // Workers by label: the camera in one, the meter and the writer in another.
  parts[0]->set_worker_label("render");
  parts[1]->set_worker_label("measure");
  parts[2]->set_worker_label("measure");
  // 1 MiB for the frames: 16 of them in flight.
  patchbay::ParallelProcess process(
      std::move(parts),
      {{"camera.frame", "meter.frame", std::size_t{1} << 20}, {"meter.mean", "save.mean"}});
  process.run();  // throws patchbay::ComponentFailure if a component throws
  for (const auto& w : process.worker_stats()) {
    std::cout << "worker " << w.name << " (cpuset " << w.cpuset << "):";
    for (const auto& c : w.components)
      std::cout << ' ' << c;
    std::cout << '\n';
  }
  for (const auto& s : process.component_stats())
    std::cout << s.name << ": " << s.steps << " steps, " << s.bytes_out << " bytes out\n";
}
