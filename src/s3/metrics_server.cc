// The metrics listener (see metrics_server.h). Beast stays in the s3 module (DESIGN.md §1).
#include <utility>  // asio 1.74's awaitable.hpp uses std::exchange without including it
// GCC 12 reports asio 1.74's coroutine frame allocator as mismatched; a known false positive
// (see server.cc).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include "s3xfs/s3/metrics_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <mutex>
#include <thread>

#include "s3xfs/s3/server.h"

namespace s3xfs::s3 {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kAwait = asio::use_awaitable;
constexpr size_t kMaxConnections = 64;
constexpr uint32_t kMaxHeader = 16 << 10;
constexpr auto kHeaderTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Listener final : public MetricsServer {
 public:
  explicit Listener(metrics::Registry* registry) : registry_(registry), acceptor_(io_) {}
  ~Listener() override { Shutdown(); }

  Status Bind(const ListenAddress& addr) {
    error_code ec;
    auto ip = addr.host.empty() ? asio::ip::address(asio::ip::address_v6::any())
                                : asio::ip::make_address(addr.host, ec);
    if (ec) return Status::InvalidArgument("bad listen address " + addr.host + ": " + ec.message());
    tcp::endpoint ep(ip, addr.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.host.empty()) acceptor_.set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::IOError("cannot listen on " + (addr.host.empty() ? "*" : addr.host) + ":" +
                             std::to_string(addr.port) + " for metrics: " + ec.message());
    }
    auto bound = acceptor_.local_endpoint(ec);
    std::string host = bound.address().to_string();
    address_ = (bound.address().is_v6() ? "[" + host + "]" : host) + ":" +
               std::to_string(bound.port());
    return Status::OK();
  }

  void Run() {
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  std::string address() const override { return address_; }

  void Shutdown() override {
    std::lock_guard l(shutdown_mu_);
    if (stopped_) return;
    stopped_ = true;
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      tcp::socket socket(io_);
      error_code ec;
      co_await acceptor_.async_accept(socket, asio::redirect_error(kAwait, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        asio::steady_timer pause(io_, std::chrono::milliseconds(50));  // EMFILE: retry later
        co_await pause.async_wait(asio::redirect_error(kAwait, ec));
        continue;
      }
      if (connections_ >= kMaxConnections) continue;  // closed as it goes out of scope
      asio::co_spawn(io_, Connection(std::move(socket)), asio::detached);
    }
  }

  // The response to one request (pure: no socket).
  http::response<http::string_body> Handle(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::server, "s3xfs");
    res.keep_alive(req.keep_alive());
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    bool get = req.method() == http::verb::get, head = req.method() == http::verb::head;
    if (path == "/metrics" || path == "/") {
      if (!get && !head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET, HEAD");
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "method not allowed\n";
      } else {
        res.result(http::status::ok);
        if (path == "/metrics") {
          res.set(http::field::content_type, kContentType);
          res.body() = registry_->Render();
        } else {
          res.set(http::field::content_type, "text/plain; charset=utf-8");
          res.body() = "s3xfs metrics: GET /metrics\n";
        }
      }
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "not found; metrics are at /metrics\n";
    }
    res.prepare_payload();
    if (head) {
      // Content-Length of the GET, without the body.
      size_t n = res.body().size();
      res.body().clear();
      res.content_length(n);
    }
    return res;
  }

  asio::awaitable<void> Connection(tcp::socket socket) {
    ++connections_;
    struct Count {
      std::atomic<size_t>& n;
      ~Count() { --n; }
    } count{connections_};
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(kMaxHeader + 1024);
    error_code ec;
    for (bool first = true;; first = false) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kMaxHeader);
      parser.body_limit(0);  // scrapes have no body
      stream.expires_after(first ? kHeaderTimeout : kIdleTimeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(kAwait, ec));
      if (ec == http::error::body_limit || ec == http::error::header_limit ||
          (ec && ec != http::error::end_of_stream && ec != beast::error::timeout &&
           ec != asio::error::eof && ec != asio::error::connection_reset &&
           ec != asio::error::operation_aborted)) {
        http::response<http::string_body> bad{http::status::bad_request, 11};
        bad.set(http::field::content_type, "text/plain; charset=utf-8");
        bad.body() = "bad request\n";
        bad.keep_alive(false);
        bad.prepare_payload();
        stream.expires_after(kWriteTimeout);
        co_await http::async_write(stream, bad, asio::redirect_error(kAwait, ec));
        break;
      }
      if (ec) break;
      auto res = Handle(parser.get());
      bool keep = res.keep_alive();
      stream.expires_after(kWriteTimeout);
      co_await http::async_write(stream, res, asio::redirect_error(kAwait, ec));
      if (ec || !keep) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
  }

  metrics::Registry* registry_;
  // Before io_: connections still open when io_ is destroyed count themselves out.
  std::atomic<size_t> connections_{0};
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::string address_;
  std::mutex shutdown_mu_;
  bool stopped_ = false;  // GUARDED_BY(shutdown_mu_)
};

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                            metrics::Registry* registry) {
  S3XFS_ASSIGN_OR_RETURN(ListenAddress addr, ParseListenAddress(listen));
  auto server = std::make_unique<Listener>(registry);
  S3XFS_RETURN_IF_ERROR(server->Bind(addr));
  server->Run();
  return std::unique_ptr<MetricsServer>(std::move(server));
}

}  // namespace s3xfs::s3
