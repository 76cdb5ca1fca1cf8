// The README's program for a service that runs threads ("Embedding in a threaded service"),
// compiled as written: a fork server started first thing in main(), a service thread, and the
// model in model.yaml (in the working directory) loaded, with the plugins it names, and run.
// The test suite checks that the README's main() is this one, and runs it.
#include <patchbay/patchbay.hpp>

#include <thread>

namespace {

// The service's own work, on a thread of its own; here, nothing.
void serve() {}

}  // namespace

int main() {
  patchbay::ForkServer fork_server;  // throws if threads already run
  std::thread service(serve);        // threads from here on are fine
  auto process = patchbay::make_process(patchbay::load_model("model.yaml"));
  process->run();
  service.join();
}
