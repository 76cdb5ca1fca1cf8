// The fork server tests' own program: like a service, it starts the fork server first thing in
// main(), before Catch2 or any test starts a thread.
//
// With `--host-model <model.yaml>` it plays a threaded host instead: it starts a thread, then
// the model, prints "server <pid>" and "workers <pid>..." and runs until it is killed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "support/watchdog.hpp"

#include <patchbay/patchbay.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  patchbay::ForkServer fork_server;
  if (argc == 3 && std::string(argv[1]) == "--host-model") {
    std::thread([] {
      while (true)
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }).detach();
    patchbay::ParallelProcess process(patchbay::load_model(argv[2]));
    std::string line = "server " + std::to_string(fork_server.pid()) + "\nworkers";
    for (int pid : process.worker_pids())
      line += " " + std::to_string(pid);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    process.run();
    return 0;
  }
  return Catch::Session().run(argc, argv);
}
