// engine-run serve: a model as an HTTP service (docs/SERVING.md, "HTTP").
//
// Each Ingress whose requests one Egress answers one for one is a route, POST /NAME with a JSON
// value in and the reply's JSON out (GET /NAME?data=TEXT sends the string TEXT); a model with
// one route also answers at /. GET /-/healthz and GET /-/stats (the --stats JSON, live) watch
// it. Boost.Beast over Asio: HTTP/1.1 with keep-alive, one strand per connection. A request
// enters the model with Client::try_call(): a full ingress answers 503 at once, and nothing
// queues without bound. The I/O threads take the replies themselves, in the order of the
// requests, between socket events while requests are in flight. SIGTERM or SIGINT drains: the
// listener closes, every accepted request is answered, idle connections close, the program exits 0;
// a second signal exits at once (130).

#include <patchbay/patchbay.hpp>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine_run.hpp"

namespace engine_run {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using patchbay::Value;

// A keep-alive connection that sends nothing for this long is closed.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
// While requests are in flight, an I/O thread that found nothing to do this many times in a
// row stops polling and waits for socket events for at most kReplySlice before it looks for
// replies again.
constexpr unsigned kQuietPolls = 512;
constexpr auto kReplySlice = std::chrono::microseconds(100);
// Request bodies larger than this are refused (413).
constexpr std::uint64_t kBodyLimit = std::uint64_t{1} << 20;

// ---- JSON <-> Value ----

struct BadRequest {
  std::string message;
};

Value value_from_json(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value();
    case nlohmann::json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        throw BadRequest{"integer beyond the int64 range"};
      }
      return Value(static_cast<std::int64_t>(j.get<std::uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      Value::List list;
      list.reserve(j.size());
      for (const auto& item : j)
        list.push_back(value_from_json(item));
      return Value(std::move(list));
    }
    case nlohmann::json::value_t::object: {
      Value::Map map;
      for (const auto& [key, item] : j.items())
        map.emplace(key, value_from_json(item));
      return Value(std::move(map));
    }
    default:
      throw BadRequest{"a JSON value that is not a model value"};
  }
}

std::string error_json(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace) +
         "\n";
}

// ---- routes: requests into the model, replies back in order ----

/// What a route hands back for a request: the HTTP status and the body.
using Completion = std::function<void(http::status, std::string)>;

/// One Ingress/Egress pair. submit() sends a request; deliver_ready() hands out the replies
/// that have come, in the order of the requests, on the calling thread (an I/O thread: no
/// thread of its own, so a reply goes from the egress's ring to its connection without another
/// hand-off).
class Route {
 public:
  Route(std::string name, patchbay::Client<Value, Value> client)
      : name_(std::move(name)), client_(std::move(client)) {}
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }

  /// False when the ingress is full (or no longer takes requests). Throws patchbay::Error for a
  /// value its type does not take.
  bool submit(const Value& request, Completion done) {
    // Under the lock, so that the queue's order is the requests' order.
    std::lock_guard lock(mutex_);
    std::optional<patchbay::Reply<Value>> reply = client_.try_call(request);
    if (!reply) return false;
    queue_.emplace_back(std::move(*reply), std::move(done));
    pending_.store(queue_.size(), std::memory_order_relaxed);
    return true;
  }

  /// Calls the completion of each request at the front whose reply (or error) is there;
  /// waits for nothing. How many it handed out.
  std::size_t deliver_ready() {
    std::size_t delivered = 0;
    while (true) {
      std::pair<patchbay::Reply<Value>, Completion> next;
      {
        std::lock_guard lock(mutex_);
        // wait_for(0) takes what the egress holds, for every pending request, and waits for
        // nothing.
        if (queue_.empty() || !queue_.front().first.wait_for(std::chrono::nanoseconds(0))) {
          return delivered;
        }
        next = std::move(queue_.front());
        queue_.pop_front();
        pending_.store(queue_.size(), std::memory_order_relaxed);
      }
      try {
        const Value& reply = next.first.get();
        next.second(
            http::status::ok,
            json_from_value(reply).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                "\n");
      } catch (const patchbay::RequestError& e) {
        // The request failed in a component; the model serves on.
        next.second(http::status::internal_server_error,
                    nlohmann::json{{"error", e.what()}, {"component", e.component()}}.dump(
                        -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                        "\n");
      } catch (const std::exception& e) {
        next.second(http::status::internal_server_error, error_json(e.what()));
      }
      ++delivered;
    }
  }

  /// Requests sent and not handed out yet (relaxed: a hint for the I/O loop).
  [[nodiscard]] std::size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  patchbay::Client<Value, Value> client_;
  std::mutex mutex_;
  std::deque<std::pair<patchbay::Reply<Value>, Completion>> queue_;
  std::atomic<std::size_t> pending_{0};
};

// ---- the server ----

class Server;

/// One HTTP connection: read a request, answer it, again while the client keeps it alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server& server) : stream_(std::move(socket)), server_(server) {}
  void start();
  /// Closes the connection if it waits for a request (shutdown); on its strand.
  void close_if_idle();

 private:
  void read();
  void on_read(beast::error_code ec);
  void handle();
  void respond(http::status status, std::string body, std::string_view type = "application/json");
  void on_write(beast::error_code ec, bool keep_alive);
  void close();

  beast::tcp_stream stream_;
  Server& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  bool reading_ = false;
  bool closed_ = false;
};

class Server {
 public:
  Server(asio::io_context& io, patchbay::Process& process, std::string name,
         std::vector<std::unique_ptr<Route>>& routes)
      : io_(io), process_(process), name_(std::move(name)), routes_(routes), acceptor_(io) {}

  /// Binds and listens; throws boost::system::system_error.
  void listen(const std::string& host, std::uint16_t port) {
    const tcp::endpoint endpoint(asio::ip::make_address(host), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    accept();
  }
  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  /// The first signal: no new connections, no new requests; the process drains.
  void begin_shutdown() {
    if (shutting_down_.exchange(true)) return;
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
    process_.drain();
  }
  /// Once every reply has been handed to its connection: close the idle connections.
  void close_idle_sessions() {
    std::lock_guard lock(sessions_mutex_);
    for (const auto& weak : sessions_) {
      if (auto session = weak.lock()) session->close_if_idle();
    }
  }
  [[nodiscard]] bool shutting_down() const { return shutting_down_.load(); }

  [[nodiscard]] Route* route(std::string_view path) const {
    if (path == "/" && routes_.size() == 1) return routes_.front().get();
    for (const auto& r : routes_) {
      if (path.size() == r->name().size() + 1 && path.substr(1) == r->name()) return r.get();
    }
    return nullptr;
  }
  [[nodiscard]] const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }
  [[nodiscard]] patchbay::Process& process() const { return process_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  void forget(const Session* session) {
    std::lock_guard lock(sessions_mutex_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      auto held = it->lock();
      it = (held == nullptr || held.get() == session) ? sessions_.erase(it) : std::next(it);
    }
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || shutting_down_.load()) return;  // closed
      if (ec) {
        // Out of descriptors, or a connection reset before it was accepted: try again soon,
        // without spinning on an error that persists.
        retry_.expires_after(std::chrono::milliseconds(10));
        retry_.async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec && !shutting_down_.load()) accept();
        });
        return;
      }
      beast::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(s), *this);
      {
        std::lock_guard lock(sessions_mutex_);
        sessions_.push_back(session);
      }
      session->start();
      accept();
    });
  }

  asio::io_context& io_;
  patchbay::Process& process_;
  std::string name_;
  std::vector<std::unique_ptr<Route>>& routes_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_{acceptor_.get_executor()};
  std::atomic<bool> shutting_down_{false};
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

void Session::start() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
}

void Session::read() {
  if (server_.shutting_down() && !closed_) {
    close();
    return;
  }
  parser_.emplace();
  parser_->body_limit(kBodyLimit);
  reading_ = true;
  stream_.expires_after(kIdleTimeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     self->reading_ = false;
                     self->on_read(ec);
                   });
}

void Session::close_if_idle() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->reading_) self->close();
  });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  server_.forget(this);
}

void Session::on_read(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    request_ = parser_->release();
    respond(http::status::payload_too_large, error_json("request body over 1 MiB"));
    return;
  }
  if (ec) {
    close();  // the client went, a timeout, a malformed request, or shutdown closed it
    return;
  }
  request_ = parser_->release();
  handle();
}

// The value a request sends: POST's JSON body, or GET's `data` query parameter as a string.
Value request_value(const http::request<http::string_body>& request, std::string_view query) {
  if (request.method() == http::verb::post) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(request.body());
    } catch (const nlohmann::json::exception& e) {
      throw BadRequest{std::string("the body is not JSON: ") + e.what()};
    }
    return value_from_json(j);
  }
  constexpr std::string_view key = "data=";
  std::string text;
  for (std::size_t start = 0; start <= query.size();) {
    const std::size_t end = std::min(query.find('&', start), query.size());
    const std::string_view pair = query.substr(start, end - start);
    if (pair.substr(0, key.size()) == key) {
      // Percent-decoding, and '+' for a space, as HTML forms and Python's requests send it.
      const std::string_view raw = pair.substr(key.size());
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '+') {
          text += ' ';
        } else if (raw[i] == '%' && i + 2 < raw.size() &&
                   std::isxdigit(static_cast<unsigned char>(raw[i + 1])) != 0 &&
                   std::isxdigit(static_cast<unsigned char>(raw[i + 2])) != 0) {
          text += static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          text += raw[i];
        }
      }
      return Value(std::move(text));
    }
    start = end + 1;
  }
  throw BadRequest{"GET needs a query parameter `data`; or POST a JSON value"};
}

void Session::handle() {
  const std::string_view target(request_.target().data(), request_.target().size());
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  const bool get = request_.method() == http::verb::get;
  if (path == "/-/healthz") {
    const patchbay::Status status = server_.process().status();
    const bool healthy = status == patchbay::Status::running && !server_.shutting_down();
    respond(healthy ? http::status::ok : http::status::service_unavailable,
            nlohmann::json{{"status", healthy                   ? "ok"
                                      : server_.shutting_down() ? "draining"
                                                                : "not running"},
                           {"process", std::string(patchbay::to_string(status))}}
                    .dump() +
                "\n");
    return;
  }
  if (path == "/-/stats") {
    respond(http::status::ok, stats_json(server_.process(), server_.name()));
    return;
  }
  if (path == "/-/routes") {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& r : server_.routes())
      names.push_back("/" + r->name());
    respond(http::status::ok, names.dump() + "\n");
    return;
  }
  if (server_.shutting_down()) {
    respond(http::status::service_unavailable, error_json("the service is shutting down"));
    return;
  }
  Route* route = server_.route(path);
  if (route == nullptr) {
    respond(http::status::not_found,
            error_json("no route " + std::string(path) + " (GET /-/routes lists them)"));
    return;
  }
  if (!get && request_.method() != http::verb::post) {
    respond(http::status::method_not_allowed, error_json("use POST (or GET with ?data=)"));
    return;
  }
  try {
    const Value value = request_value(request_, query);
    auto self = shared_from_this();
    const bool sent = route->submit(value, [self](http::status status, std::string body) {
      asio::post(self->stream_.get_executor(), [self, status, body = std::move(body)]() mutable {
        self->respond(status, std::move(body));
      });
    });
    if (!sent) {
      respond(http::status::service_unavailable,
              error_json(server_.shutting_down() ? "the service is shutting down"
                                                 : "the model is full: try again"));
    }
  } catch (const BadRequest& e) {
    respond(http::status::bad_request, error_json(e.message));
  } catch (const patchbay::Error& e) {
    respond(http::status::bad_request, error_json(e.what()));
  }
}

void Session::respond(http::status status, std::string body, std::string_view type) {
  const bool keep_alive = request_.keep_alive() && !server_.shutting_down();
  response_ = http::response<http::string_body>(status, request_.version());
  response_.set(http::field::server, "patchbay");
  response_.set(http::field::content_type, beast::string_view(type.data(), type.size()));
  response_.keep_alive(keep_alive);
  response_.body() = std::move(body);
  response_.prepare_payload();
  http::async_write(stream_, response_,
                    [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                      self->on_write(ec, keep_alive);
                    });
}

void Session::on_write(beast::error_code ec, bool keep_alive) {
  if (ec || !keep_alive) {
    close();
    return;
  }
  read();
}

// ---- the command ----

struct ServeOptions {
  std::string model;
  ModelOptions model_options;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  unsigned threads = 1;
  bool quiet = false;
};

// Pairs each Ingress with the one Egress that answers it one for one.
std::vector<std::unique_ptr<Route>> make_routes(const patchbay::ProcessSpec& spec,
                                                patchbay::Process& process) {
  std::vector<std::string> ingresses;
  std::vector<std::string> egresses;
  for (const auto& c : spec.components) {
    if (c.type == "Ingress") ingresses.push_back(c.name);
    if (c.type == "Egress") egresses.push_back(c.name);
  }
  std::vector<std::unique_ptr<Route>> routes;
  for (const auto& in : ingresses) {
    std::vector<std::string> answering;
    std::string why;
    for (const auto& out : egresses) {
      try {
        auto client = process.client<Value, Value>(in, out);
        routes.push_back(std::make_unique<Route>(in, std::move(client)));
        answering.push_back(out);
        break;
      } catch (const patchbay::Error& e) {
        why = e.what();
      }
    }
    if (answering.empty()) {
      throw patchbay::ModelError("Ingress " + patchbay::quote_text(in) +
                                 " has no Egress that answers it one for one" +
                                 (why.empty() ? std::string() : ": " + why));
    }
  }
  if (routes.empty()) {
    throw patchbay::ModelError("the model has no Ingress: nothing to serve (docs/SERVING.md)");
  }
  return routes;
}

int serve(const ServeOptions& options) {
  asio::io_context io(static_cast<int>(options.threads));
  // First: a signal while the model loads is a shutdown too.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::atomic<int> signal_count{0};

  patchbay::ProcessSpec spec = load_spec(options.model, options.model_options);
  load_plugins_for(spec, options.model_options.plugins);
  std::unique_ptr<patchbay::Process> process = patchbay::make_process(spec);
  std::vector<std::unique_ptr<Route>> routes = make_routes(spec, *process);

  Server server(io, *process, spec.name, routes);
  try {
    server.listen(options.host, options.port);
  } catch (const boost::system::system_error& e) {
    error_line("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
               e.code().message());
    return kExitFailed;
  }

  std::function<void()> on_signal;
  on_signal = [&] {
    signals.async_wait([&](const beast::error_code& ec, int) {
      if (ec) return;  // cancelled at the end
      if (signal_count.fetch_add(1) > 0) {
        error_line("interrupted");
        ::_exit(kExitInterrupted);
      }
      if (!options.quiet) std::cerr << "engine-run: draining\n";
      server.begin_shutdown();
      on_signal();
    });
  };
  on_signal();

  process->start();
  if (!options.quiet) {
    std::cerr << "engine-run: serving " << patchbay::quote_text(options.model) << " on http://"
              << options.host << ":" << server.port() << " (";
    for (std::size_t i = 0; i < routes.size(); ++i)
      std::cerr << (i == 0 ? "" : ", ") << "/" << routes[i]->name();
    std::cerr << ")" << std::endl;
  }

  auto in_flight = [&routes] {
    return std::any_of(routes.begin(), routes.end(),
                       [](const auto& route) { return route->pending() != 0; });
  };
  // The run ends when a drain has answered everything, or it fails: once the I/O threads have
  // handed out every reply, idle connections close, and the I/O threads return.
  std::exception_ptr failure;
  auto keep_running = asio::make_work_guard(io);
  std::thread watcher([&] {
    try {
      process->join();
    } catch (...) {
      failure = std::current_exception();
    }
    while (in_flight())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    asio::post(io, [&] {
      server.begin_shutdown();
      server.close_idle_sessions();
      signals.cancel();
      keep_running.reset();
    });
  });

  // Each I/O thread handles socket events and, while requests are in flight, takes their
  // replies between them: polling while replies come quickly, then looking every
  // kReplySlice while a model takes longer.
  auto io_loop = [&] {
    unsigned quiet = 0;
    while (!io.stopped()) {
      if (!in_flight()) {
        quiet = 0;
        io.run_one();
        continue;
      }
      std::size_t done = io.poll();
      for (auto& route : routes)
        done += route->deliver_ready();
      if (done != 0) {
        quiet = 0;
      } else if (++quiet > kQuietPolls) {
        io.run_one_for(kReplySlice);
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < options.threads; ++i)
    pool.emplace_back(io_loop);
  io_loop();
  for (auto& t : pool)
    t.join();
  watcher.join();

  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (...) {
      return exit_code_of_current_exception();
    }
  }
  return kExitCompleted;
}

}  // namespace

int serve_main(int argc, char** argv) {
  ServeOptions options;
  CLI::App app{
      "Serves a patchbay model over HTTP: each Ingress that an Egress answers is a "
      "route, POST /NAME with a JSON value (or GET /NAME?data=TEXT).",
      "engine-run serve"};
  app.footer(
      "Routes: POST /NAME (JSON in, JSON out), GET /NAME?data=TEXT (a string in); / as well "
      "when\nthere is one route. GET /-/healthz (200 while serving), GET /-/stats (the --stats "
      "JSON,\nlive), GET /-/routes. A full model answers 503 at once; a request that fails "
      "answers 500\nwith {\"error\": ...}; bad JSON or a value that does not fit answers 400.\n"
      "SIGTERM or SIGINT drains: every accepted request is answered, then the program exits 0;\n"
      "a second signal exits at once (130). Exit codes as engine-run's.");
  app.add_option("MODEL", options.model, "The model file (YAML)")->required()->type_name("FILE");
  app.add_option("--port", options.port, "TCP port (0: any free port)")->capture_default_str();
  app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  app.add_option("--threads", options.threads, "HTTP I/O threads")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  (void)add_model_options(app, options.model_options);
  app.add_flag("-q,--quiet", options.quiet, "Print nothing but errors");
  if (const auto code = parse_arguments(app, argc, argv, "engine-run serve --help")) return *code;
  try {
    return serve(options);
  } catch (...) {
    return exit_code_of_current_exception();
  }
}

}  // namespace engine_run
