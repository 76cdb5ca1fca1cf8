// The HTTP echo's floor (bench/http_echo.sh): the same HTTP library as `engine-run serve`
// (Boost.Beast over Asio, HTTP/1.1 keep-alive), the same route (GET /?data=TEXT answers the JSON
// string "Received data: TEXT") and the same JSON library, on one I/O thread that answers each
// request itself, with no model behind it. What wrk measures against it is what this machine's
// cores, loopback and HTTP parsing allow, so the echo service's figures can be read as a ratio.
//
//   http_floor PORT     (0: any free port; prints "listening on 127.0.0.1:PORT", then serves
//                        until SIGTERM or SIGINT, and exits 0)
// Before Asio: its awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// The `data` query parameter of `target`, as engine-run serve reads it (no percent-decoding:
// the benchmark sends plain text).
std::string data_of(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  const std::string_view query = target.substr(q + 1);
  constexpr std::string_view key = "data=";
  for (std::size_t start = 0; start <= query.size();) {
    const std::size_t end = std::min(query.find('&', start), query.size());
    const std::string_view pair = query.substr(start, end - start);
    if (pair.substr(0, key.size()) == key) return std::string(pair.substr(key.size()));
    start = end + 1;
  }
  return {};
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}

  void read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->answer();
                     });
  }

 private:
  void answer() {
    const std::string_view target(request_.target().data(), request_.target().size());
    response_ = http::response<http::string_body>(http::status::ok, request_.version());
    response_.set(http::field::server, "http_floor");
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.body() = nlohmann::json("Received data: " + data_of(target)).dump() + "\n";
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (!ec && self->response_.keep_alive()) self->read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](beast::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Session>(std::move(socket))->read();
    if (acceptor.is_open()) accept(acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: http_floor PORT\n";
    return 2;
  }
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  try {
    const tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                           static_cast<unsigned short>(std::atoi(argv[1])));
    acceptor.open(at.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(at);
    acceptor.listen();
  } catch (const boost::system::system_error& e) {
    std::cerr << "http_floor: cannot listen: " << e.code().message() << "\n";
    return 1;
  }
  std::cerr << "http_floor: listening on 127.0.0.1:" << acceptor.local_endpoint().port()
            << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
  accept(acceptor);
  io.run();
  return 0;
}
