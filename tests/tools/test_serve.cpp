// engine-run serve: a model over HTTP, driven with a real client (curl) over 127.0.0.1.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/command.hpp"

using patchbay::test::CommandResult;
using patchbay::test::read_file;
using patchbay::test::run_command;
using patchbay::test::TempDir;

namespace {

const std::string engine_run = PATCHBAY_ENGINE_RUN;
const std::string doubler_plugin = PATCHBAY_TEST_PLUGIN;
// Commands start with execv(): the client by its path (tools/dev setup installs curl).
const std::string curl = "/usr/bin/curl";

// A model file in `dir`: `body` under plugboard.process.args, of `kind`.
std::filesystem::path write_model(const TempDir& dir, const std::string& kind,
                                  const std::string& body) {
  const auto path = dir / "service.yaml";
  std::ofstream(path) << "plugboard:\n  process:\n    type: " << kind
                      << "\n    args:\n      name: service\n"
                      << body;
  return path;
}

// requests (double) -> twice (the test plugin's Doubler: throws for a negative value) -> replies.
const std::string doubling = R"(      components:
        - type: Ingress
          args: {name: requests, type: double}
        - type: Doubler
          args: {name: twice}
        - type: Egress
          args: {name: replies, type: double}
      connectors:
        - {source: requests.out, target: twice.x}
        - {source: twice.y, target: replies.in}
)";

// echo (Value) -> slow (Sleep) -> replies, with small rings: a few requests fill it.
std::string slow_echo(double seconds, std::size_t capacity) {
  const std::string c = std::to_string(capacity);
  return R"(      components:
        - type: Ingress
          args: {name: echo, capacity: )" +
         c + R"(}
        - type: Sleep
          args: {name: slow, sleep_seconds: )" +
         std::to_string(seconds) + R"(}
        - type: Egress
          args: {name: replies}
      connectors:
        - {source: echo.out, target: slow.x, capacity: )" +
         c + R"(}
        - {source: slow.y, target: replies.in}
)";
}

/// A running `engine-run serve`, on a free port, stopped by the destructor if still running.
class Server {
 public:
  Server(const TempDir& dir, const std::filesystem::path& model,
         std::vector<std::string> extra = {})
      : dir_(dir) {
    std::vector<std::string> argv{engine_run, "serve", model.string(), "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = patchbay::test::start_command(argv, dir.path());
    // The port it chose is in its first line on stderr.
    const auto err = patchbay::test::capture_path(dir.path(), pid_, "err");
    const std::regex serving(R"(on http://127\.0\.0\.1:(\d+))");
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < give_up) {
      std::smatch m;
      const std::string text = std::filesystem::exists(err) ? read_file(err) : std::string();
      if (std::regex_search(text, m, serving)) {
        port_ = m[1];
        return;
      }
      if (text.find("engine-run: ") != std::string::npos &&
          text.find("serving") == std::string::npos)
        break;  // it failed to start: the test sees it in finish()
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    if (pid_ > 0) (void)finish(SIGKILL);
  }

  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + port_ + path;
  }
  [[nodiscard]] bool started() const { return !port_.empty(); }

  /// Sends `signal` (0: none) and waits for the exit (20 s at most).
  CommandResult finish(int signal = SIGTERM) {
    if (signal != 0) kill(pid_, signal);
    const CommandResult r =
        patchbay::test::wait_command(pid_, dir_.path(), std::chrono::seconds(20));
    pid_ = -1;
    return r;
  }

 private:
  const TempDir& dir_;
  int pid_ = -1;
  std::string port_;
};

struct Reply {
  int status = 0;
  std::string body;
};

// curl: the body, then the status on a line of its own.
Reply parse_curl(const CommandResult& r) {
  Reply reply;
  const auto newline = r.out.rfind('\n');
  if (newline == std::string::npos) return reply;
  reply.body = r.out.substr(0, newline);
  if (!reply.body.empty() && reply.body.back() == '\n') reply.body.pop_back();  // the server's
  reply.status = std::atoi(r.out.c_str() + newline + 1);
  return reply;
}

Reply post(const TempDir& dir, const std::string& url, const std::string& json) {
  return parse_curl(run_command({curl, "-s", "-w", "\n%{http_code}", "-X", "POST", "-H",
                                 "Content-Type: application/json", "-d", json, url},
                                dir.path()));
}

Reply get(const TempDir& dir, const std::string& url) {
  return parse_curl(run_command({curl, "-s", "-w", "\n%{http_code}", url}, dir.path()));
}

}  // namespace

TEST_CASE("engine-run serve answers requests, health, stats and routes over HTTP",
          "[engine-run][serve]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  TempDir dir;
  Server server(dir, write_model(dir, kind, doubling), {"--plugin", doubler_plugin});
  REQUIRE(server.started());

  const Reply doubled = post(dir, server.url("/requests"), "21");
  CHECK(doubled.status == 200);
  CHECK(doubled.body == "42.0");
  // The only route answers at / too; GET sends ?data= as a string, which a double refuses.
  CHECK(post(dir, server.url("/"), "1.5").body == "3.0");
  const Reply text = get(dir, server.url("/requests?data=abc"));
  CHECK(text.status == 400);
  CHECK_THAT(text.body, Catch::Contains("does not fit its type double"));
  CHECK(post(dir, server.url("/requests"), "{\"a\": 1}").status == 400);
  CHECK(post(dir, server.url("/requests"), "not json").status == 400);
  CHECK(get(dir, server.url("/nowhere")).status == 404);

  const Reply health = get(dir, server.url("/-/healthz"));
  CHECK(health.status == 200);
  CHECK_THAT(health.body, Catch::Contains("\"ok\""));
  const Reply stats = get(dir, server.url("/-/stats"));
  CHECK(stats.status == 200);
  CHECK_THAT(stats.body, Catch::Contains("\"name\": \"twice\"") && Catch::Contains("RUNNING"));
  CHECK(get(dir, server.url("/-/routes")).body == "[\"/requests\"]");

  const CommandResult end = server.finish(SIGTERM);
  INFO(end.err);
  CHECK(end.exit_code == 0);
}

TEST_CASE("engine-run serve: SIGTERM answers every accepted request, then exits 0",
          "[engine-run][serve]") {
  TempDir dir;
  Server server(dir, write_model(dir, "local", slow_echo(0.05, 65536)));
  REQUIRE(server.started());
  // Eight requests in flight (0.05 s each, one at a time): the signal comes while they wait.
  std::vector<int> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(
        patchbay::test::start_command({curl, "-s", "-w", "\n%{http_code}", "-X", "POST", "-d",
                                       "\"m" + std::to_string(i) + "\"", server.url("/echo")},
                                      dir.path()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const CommandResult end = server.finish(SIGTERM);
  INFO(end.err);
  CHECK(end.exit_code == 0);
  int answered = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const Reply r =
        parse_curl(patchbay::test::wait_command(clients[i], dir.path(), std::chrono::seconds(20)));
    INFO("request " << i << ": " << r.status << " " << r.body);
    // Accepted before the signal: answered. A connection the signal beat: refused, never hung.
    CHECK((r.status == 200 || r.status == 503 || r.status == 0));
    if (r.status == 200) {
      CHECK(r.body == "\"m" + std::to_string(i) + "\"");
      ++answered;
    }
  }
  CHECK(answered >= 1);
}

TEST_CASE("engine-run serve: a full model answers 503 at once", "[engine-run][serve]") {
  TempDir dir;
  // 64-byte rings and a 1 s step: a handful of requests fill the model.
  Server server(dir, write_model(dir, "local", slow_echo(1.0, 64)));
  REQUIRE(server.started());
  std::vector<int> clients;
  for (int i = 0; i < 12; ++i) {
    clients.push_back(
        patchbay::test::start_command({curl, "-s", "-w", "\n%{http_code}", "-X", "POST", "-d",
                                       std::to_string(i), server.url("/echo")},
                                      dir.path()));
  }
  int refused = 0;
  for (const int pid : clients) {
    const Reply r =
        parse_curl(patchbay::test::wait_command(pid, dir.path(), std::chrono::seconds(30)));
    UNSCOPED_INFO("status " << r.status << ": " << r.body);
    if (r.status == 503) {
      ++refused;
      CHECK_THAT(r.body, Catch::Contains("full"));
    }
  }
  CHECK(refused >= 1);
  (void)server.finish(SIGKILL);
}

TEST_CASE(
    "engine-run serve: a failing request answers 500 naming the component, and the service "
    "goes on",
    "[engine-run][serve]") {
  const std::string kind = GENERATE(as<std::string>{}, "local", "parallel");
  INFO("process kind: " << kind);
  TempDir dir;
  Server server(dir, write_model(dir, kind, doubling), {"--plugin", doubler_plugin});
  REQUIRE(server.started());
  CHECK(post(dir, server.url("/requests"), "2").body == "4.0");
  const Reply failed = post(dir, server.url("/requests"), "-1");
  CHECK(failed.status == 500);
  CHECK_THAT(failed.body,
             Catch::Contains("\"component\":\"twice\"") && Catch::Contains("negative input"));
  CHECK(post(dir, server.url("/requests"), "3").body == "6.0");
  CHECK(get(dir, server.url("/-/healthz")).status == 200);
  CHECK_THAT(get(dir, server.url("/-/stats")).body, Catch::Contains("\"failed_steps\": 1"));
  const CommandResult end = server.finish(SIGTERM);
  INFO(end.err);
  CHECK(end.exit_code == 0);
}

TEST_CASE("engine-run serve: a model without an Ingress, or a port in use, is an error",
          "[engine-run][serve]") {
  TempDir dir;
  const auto model = write_model(dir, "local", R"(      components:
        - type: Iterator
          args: {name: input, iters: 3}
)");
  const auto r = run_command({engine_run, "serve", model.string(), "--port", "0"}, dir.path());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("no Ingress"));

  const auto service = write_model(dir, "local", slow_echo(0.0, 65536));
  Server first(dir, service);
  REQUIRE(first.started());
  const std::string port = first.url("").substr(first.url("").rfind(':') + 1);
  const auto second =
      run_command({engine_run, "serve", service.string(), "--port", port}, dir.path());
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("cannot listen on 127.0.0.1:" + port));
  CHECK(first.finish(SIGTERM).exit_code == 0);
}

TEST_CASE("examples/serve/echo.yaml answers the tutorial's request",
          "[engine-run][serve][examples]") {
  TempDir dir;
  Server server(dir, std::filesystem::path(PATCHBAY_SOURCE_DIR) / "examples/serve/echo.yaml",
                {"--plugin", PATCHBAY_ECHO_PLUGIN});
  REQUIRE(server.started());
  const Reply reply = get(dir, server.url("/?data=Hello"));
  CHECK(reply.status == 200);
  CHECK(reply.body == "\"Received data: Hello\"");
  CHECK(post(dir, server.url("/echo"), "\"Hello\"").body == "\"Received data: Hello\"");
  CHECK(server.finish(SIGTERM).exit_code == 0);
}

TEST_CASE("engine-run serve: a replica whose worker is killed is started again; requests go on",
          "[engine-run][serve][restart]") {
  TempDir dir;
  const std::string body = "      topology: \"pack:1 core:6 pu:1\"\n" + doubling;
  Server server(dir, write_model(dir, "parallel", body),
                {"--plugin", doubler_plugin, "--set", "twice.replicas=2"});
  REQUIRE(server.started());
  CHECK(post(dir, server.url("/requests"), "2").body == "4.0");
  // The worker that runs only twice#2, from the live stats.
  const auto copy_pid = [&] {
    const std::string stats = get(dir, server.url("/-/stats")).body;
    std::smatch m;
    const std::regex worker(R"re("pid": (\d+), [^\n]*"components": \["twice#2"\])re");
    return std::regex_search(stats, m, worker) ? std::stoi(m[1]) : 0;
  };
  const int victim = copy_pid();
  REQUIRE(victim > 0);
  REQUIRE(kill(victim, SIGKILL) == 0);
  int now = victim;
  for (int tries = 0; tries < 400 && (now == victim || now == 0); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    now = copy_pid();
  }
  CHECK(now != victim);
  for (int x = 1; x <= 10; ++x)
    CHECK(post(dir, server.url("/requests"), std::to_string(x)).body ==
          std::to_string(2 * x) + ".0");
  CHECK(get(dir, server.url("/-/healthz")).status == 200);
  CHECK_THAT(get(dir, server.url("/-/stats")).body, Catch::Contains("\"restarts\": 1"));
  const CommandResult end = server.finish(SIGTERM);
  INFO(end.err);
  CHECK(end.exit_code == 0);
}
