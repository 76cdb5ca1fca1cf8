// The tutorial's model built in code and run embedded in a program: two branches of Sleeps
// joined by a Timestamper whose timestamps go to a CSV file.
//
//   input --> slow-sleep ------> timestamper --> save-results
//         \-> very-slow-sleep -/
//
// Usage: hello [OUTPUT.csv [ITERATIONS [SLOW_SECONDS VERY_SLOW_SECONDS]]]
#include <patchbay/library.hpp>
#include <patchbay/patchbay.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  namespace lib = patchbay::library;
  const std::string path = argc > 1 ? argv[1] : "hello.csv";
  const long iters = argc > 2 ? std::stol(argv[2]) : 10;
  const double slow = argc > 4 ? std::stod(argv[3]) : 0.05;
  const double very_slow = argc > 4 ? std::stod(argv[4]) : 0.1;

  std::vector<std::unique_ptr<patchbay::Component>> components;
  components.push_back(std::make_unique<lib::Iterator>("input", iters));
  components.push_back(std::make_unique<lib::Sleep>("slow-sleep", slow));
  components.push_back(std::make_unique<lib::Sleep>("very-slow-sleep", very_slow));
  components.push_back(std::make_unique<lib::Timestamper>("timestamper"));
  components.push_back(std::make_unique<lib::FileWriter>("save-results", path,
                                                         std::vector<std::string>{"timestamp"}));
  try {
    patchbay::LocalProcess process(std::move(components),
                                   {{"input.x", "slow-sleep.x"},
                                    {"input.x", "very-slow-sleep.x"},
                                    {"slow-sleep.y", "timestamper.x"},
                                    {"very-slow-sleep.y", "timestamper.y"},
                                    {"timestamper.timestamp", "save-results.timestamp"}});
    process.run();
    for (const auto& s : process.component_stats()) {
      std::cout << s.name << ": " << patchbay::to_string(s.status) << ", " << s.steps << " steps\n";
    }
  } catch (const patchbay::Error& e) {
    std::cerr << "hello: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
