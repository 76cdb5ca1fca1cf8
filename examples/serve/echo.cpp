// The README's serving example: the tutorial's echo service as a model that the host calls.
#include <iostream>
#include <patchbay/patchbay.hpp>
#include <thread>

#include "echo_component.hpp"  // class Echo: "Received data: " + its input

int main() {
  namespace lib = patchbay::library;
  std::vector<std::unique_ptr<patchbay::Component>> parts;
  parts.push_back(std::make_unique<lib::Ingress<std::string>>("requests"));
  parts.push_back(std::make_unique<Echo>("echo"));
  parts.push_back(std::make_unique<lib::Egress<std::string>>("replies"));
  patchbay::ParallelProcess process(std::move(parts),
                                    {{"requests.out", "echo.data"}, {"echo.text", "replies.in"}});
  auto echo = process.client<std::string, std::string>("requests", "replies");
  process.start();  // serves on its workers while this thread goes on
  std::cout << echo.call("Hello").get() << "\n";
  std::thread other([&] { std::cout << echo.call("from another thread").get() << "\n"; });
  other.join();
  process.drain();  // no more requests: what was sent is answered, then the run completes
  process.join();
}
