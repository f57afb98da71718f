// Only this file includes Boost.Beast (DESIGN.md §1).
#include <utility>  // asio 1.74's awaitable.hpp uses std::exchange without including it
// GCC 12 reports asio 1.74's coroutine frame allocator (a recycling allocator paired with its
// own operator delete) as mismatched; a known false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include "s3xfs/s3/server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <condition_variable>
#include <limits>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "s3xfs/s3/sigv4.h"

namespace s3xfs::s3 {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kAwait = asio::use_awaitable;

class Server;

// One connection's registry entry: lets Shutdown close idle connections from outside.
struct ConnEntry {
  beast::tcp_stream* stream = nullptr;
  asio::strand<asio::io_context::executor_type>* strand = nullptr;
  bool idle = true;
  // Cleared (on the connection's strand) when the connection ends: a close posted by Shutdown
  // must not touch a stream that is gone.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

class Server final : public S3Server {
 public:
  Server(S3Service* service, S3ServerOptions options)
      : service_(service), options_(std::move(options)), acceptor_(io_) {}

  ~Server() override { Shutdown(std::chrono::milliseconds(0)); }

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
                             std::to_string(addr.port) + ": " + ec.message());
    }
    return Status::OK();
  }

  void Run() {
    asio::co_spawn(io_, Accept(), asio::detached);
    int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  uint16_t port() const override { return acceptor_port_; }
  std::string address() const override { return address_; }

  void Shutdown(std::chrono::milliseconds grace) override {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopping_ = true;
    asio::post(io_, [this] {
      error_code ec;
      acceptor_.close(ec);
    });
    CloseIdleLocked();
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (!conns_.empty() && std::chrono::steady_clock::now() < deadline) {
      cv_.wait_until(lock, deadline);
      CloseIdleLocked();
    }
    stopped_ = true;
    lock.unlock();
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void SetBound() {
    error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    acceptor_port_ = ep.port();
    std::string host = ep.address().to_string();
    address_ = (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
  }

 private:
  void CloseIdleLocked() {
    for (ConnEntry& c : conns_) {
      if (!c.idle) continue;
      beast::tcp_stream* s = c.stream;
      asio::post(*c.strand, [s, alive = c.alive] {
        if (*alive) s->socket().close();
      });
    }
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      error_code ec;
      auto strand = std::make_shared<asio::strand<asio::io_context::executor_type>>(
          asio::make_strand(io_.get_executor()));
      tcp::socket socket(*strand);
      co_await acceptor_.async_accept(socket, asio::redirect_error(kAwait, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        // EMFILE and friends: keep serving the connections we have, and retry a little later
        // (retrying at once would spin: the pending connection stays in the backlog).
        asio::steady_timer pause(io_, std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::redirect_error(kAwait, ec));
        continue;
      }
      // Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body
      // back until the client's delayed ACK (40 ms per small GET).
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(*strand, Connection(std::move(socket), strand), asio::detached);
    }
  }

  std::list<ConnEntry>::iterator Register(beast::tcp_stream* stream,
                                          asio::strand<asio::io_context::executor_type>* strand,
                                          bool* over_limit) {
    std::lock_guard lock(mu_);
    *over_limit = conns_.size() >= options_.max_connections || stopping_;
    conns_.push_front(ConnEntry{stream, strand, true});
    return conns_.begin();
  }
  void Unregister(std::list<ConnEntry>::iterator it) {
    std::lock_guard lock(mu_);
    conns_.erase(it);
    cv_.notify_all();
  }
  // Returns false when the server is stopping (the connection should close).
  bool SetIdle(std::list<ConnEntry>::iterator it, bool idle) {
    std::lock_guard lock(mu_);
    it->idle = idle;
    return !stopping_;
  }

  static RequestHead HeadOf(const http::request<http::buffer_body>& req) {
    RequestHead head;
    head.method = std::string(req.method_string());
    head.target = std::string(req.target());
    for (const auto& f : req) {
      head.headers.Add(std::string_view(f.name_string().data(), f.name_string().size()),
                       std::string_view(f.value().data(), f.value().size()));
    }
    return head;
  }

  // Writes a complete response (streamed when it has a BodySource); *sent: body bytes written.
  asio::awaitable<error_code> Write(beast::tcp_stream& stream, Response& r, bool keep_alive,
                                    unsigned version, uint64_t* sent_bytes) {
    error_code ec;
    *sent_bytes = 0;
    stream.expires_after(options_.io_timeout);
    auto fill = [&](auto& res) {
      res.version(version);
      res.result(static_cast<unsigned>(r.status));
      res.set(http::field::server, "s3xfs");
      res.set(http::field::date, FormatHttpDate(std::time(nullptr)));
      for (const auto& [name, value] : r.headers.fields) res.insert(name, value);
      res.keep_alive(keep_alive);
    };
    if (r.head_only || (!r.stream && r.body.empty() && r.status == 304)) {
      http::response<http::empty_body> res;
      fill(res);
      if (r.status != 304 && r.status != 204 && !r.chunked) {
        res.set(http::field::content_length,
                std::to_string(r.stream || r.head_only ? r.content_length : r.body.size()));
      }
      http::response_serializer<http::empty_body> sr(res);
      co_await http::async_write_header(stream, sr, asio::redirect_error(kAwait, ec));
      co_return ec;
    }
    if (!r.stream) {
      http::response<http::string_body> res;
      fill(res);
      res.body() = std::move(r.body);
      if (r.status != 204) res.prepare_payload();
      co_await http::async_write(stream, res, asio::redirect_error(kAwait, ec));
      if (!ec) *sent_bytes = res.body().size();
      co_return ec;
    }
    if (r.chunked) co_return co_await WriteChunked(stream, r, version, sent_bytes, fill);
    http::response<http::buffer_body> res;
    fill(res);
    res.content_length(r.content_length);
    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> sr(res);
    co_await http::async_write_header(stream, sr, asio::redirect_error(kAwait, ec));
    if (ec) co_return ec;
    std::vector<uint8_t> buf(std::max<uint64_t>(1, std::min<uint64_t>(options_.body_buffer, r.content_length)));
    uint64_t sent = 0;
    while (sent < r.content_length) {
      auto n = r.stream->Read(std::span<uint8_t>(buf.data(), buf.size()));
      if (!n.ok() || *n == 0) {
        // The headers are gone: all we can do is cut the connection short.
        co_return asio::error::make_error_code(asio::error::connection_aborted);
      }
      sent += *n;
      *sent_bytes = sent;
      res.body().data = buf.data();
      res.body().size = *n;
      res.body().more = sent < r.content_length;
      stream.expires_after(options_.io_timeout);
      co_await http::async_write(stream, sr, asio::redirect_error(kAwait, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return ec;
    }
    if (!sr.is_done()) {
      res.body().data = nullptr;
      res.body().size = 0;
      res.body().more = false;
      co_await http::async_write(stream, sr, asio::redirect_error(kAwait, ec));
    }
    co_return ec;
  }

  // A stream of unknown length: chunked for HTTP/1.1, close-delimited for HTTP/1.0 (the caller
  // must not keep such a connection alive). Each Read fills one chunk of at most body_buffer.
  template <typename Fill>
  asio::awaitable<error_code> WriteChunked(beast::tcp_stream& stream, Response& r,
                                           unsigned version, uint64_t* sent_bytes,
                                           const Fill& fill) {
    error_code ec;
    http::response<http::buffer_body> res;
    fill(res);
    if (version >= 11) res.chunked(true);
    else res.keep_alive(false);
    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> sr(res);
    co_await http::async_write_header(stream, sr, asio::redirect_error(kAwait, ec));
    if (ec) co_return ec;
    std::vector<uint8_t> buf(std::max<size_t>(1, options_.body_buffer));
    for (;;) {
      auto n = r.stream->Read(std::span<uint8_t>(buf.data(), buf.size()));
      if (!n.ok()) co_return asio::error::make_error_code(asio::error::connection_aborted);
      if (*n == 0) break;
      *sent_bytes += *n;
      res.body().data = buf.data();
      res.body().size = *n;
      res.body().more = true;
      stream.expires_after(options_.io_timeout);
      co_await http::async_write(stream, sr, asio::redirect_error(kAwait, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return ec;
    }
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    stream.expires_after(options_.io_timeout);
    co_await http::async_write(stream, sr, asio::redirect_error(kAwait, ec));
    co_return ec;
  }

  static double SecondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // Sends the error reply to a request that never reached an exchange, then reports it (the
  // connection closes after it).
  asio::awaitable<void> Reject(beast::tcp_stream& stream, const Status& st, int http_status,
                               unsigned version, std::string_view method, std::string_view target,
                               std::chrono::steady_clock::time_point start) {
    Response r = service_->ErrorResponse(st, "/");
    if (http_status) r.status = http_status;
    uint64_t sent = 0;
    error_code ec = co_await Write(stream, r, false, version, &sent);
    service_->Rejected(st, r, RequestOutcome{r.status, 0, sent, SecondsSince(start), !ec},
                       method, target);
  }

  asio::awaitable<void> Connection(tcp::socket socket,
                                   std::shared_ptr<asio::strand<asio::io_context::executor_type>> strand) {
    beast::tcp_stream stream(std::move(socket));
    bool over_limit = false;
    auto entry = Register(&stream, strand.get(), &over_limit);
    struct Guard {
      Server* s;
      std::list<ConnEntry>::iterator it;
      ~Guard() {
        *it->alive = false;
        s->Unregister(it);
      }
    } guard{this, entry};

    // Reads go through this buffer: large enough that one read takes what the socket has (a
    // small maximum means a scheduler round trip per few KiB of body); shrunk after each
    // request so idle connections hold little.
    beast::flat_buffer buffer(options_.max_header_bytes + options_.body_buffer);
    error_code ec;
    if (over_limit) {
      co_await Reject(stream,
                      Status::Unavailable("too many connections; please reduce your request rate")
                          .With(Status::Reason::kSlowDown),
                      0, 11, {}, {}, std::chrono::steady_clock::now());
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    bool first = true;
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      stream.expires_after(first ? options_.header_timeout : options_.idle_timeout);
      first = false;
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(kAwait, ec));
      const auto start = std::chrono::steady_clock::now();
      if (ec) {
        if (ec == http::error::header_limit) {
          co_await Reject(stream,
                          Status::InvalidArgument(
                              "Your request header section exceeds the maximum allowed size")
                              .With(Status::Reason::kInvalidRequest),
                          431, 11, {}, {}, start);
        } else if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                   ec != asio::error::operation_aborted && ec != asio::error::eof &&
                   ec != asio::error::connection_reset && ec != asio::error::bad_descriptor) {
          co_await Reject(stream,
                          Status::InvalidArgument("malformed HTTP request: " + ec.message())
                              .With(Status::Reason::kInvalidRequest),
                          0, 11, {}, {}, start);
        }
        break;
      }
      if (!SetIdle(entry, false)) break;
      auto& req = parser.get();
      RequestHead head = HeadOf(req);
      unsigned version = req.version();
      bool keep_alive = req.keep_alive();
      bool has_body = !parser.is_done();
      // RFC 9112 §6.1: with a Transfer-Encoding whose final coding is not chunked the body
      // length is unknown; reading on would run body bytes as the next request (smuggling).
      if (req.find(http::field::transfer_encoding) != req.end() && !parser.chunked()) {
        co_await Reject(stream,
                        Status::InvalidArgument("Transfer-Encoding must end with chunked")
                            .With(Status::Reason::kInvalidRequest),
                        0, version, head.method, head.target, start);
        break;
      }
      std::unique_ptr<S3Exchange> ex = service_->Begin(head);
      // Reported once on every way out of this iteration; until a response is written the
      // client went away first (499).
      RequestOutcome outcome{499, 0, 0, 0, false};
      struct Report {
        S3Exchange* ex;
        RequestOutcome* o;
        std::chrono::steady_clock::time_point start;
        ~Report() {
          o->seconds = SecondsSince(start);
          ex->Done(*o);
        }
      } report{ex.get(), &outcome, start};
      Response response;
      bool body_read = !has_body;
      if (ex->WantsBody()) {
        if (has_body && beast::iequals(req[http::field::expect], "100-continue")) {
          http::response<http::empty_body> cont{http::status::continue_, version};
          stream.expires_after(options_.io_timeout);
          co_await http::async_write(stream, cont, asio::redirect_error(kAwait, ec));
          if (ec) break;
        }
        // Allocated per request with a body, not per connection (thousands of idle keep-alive
        // connections must not hold 256 KiB each), and not zero-filled.
        const size_t body_size = options_.body_buffer;
        std::unique_ptr<uint8_t[]> body_buf(new uint8_t[body_size]);
        // Beast reads only into the buffer's free capacity (at least 512 bytes): without room
        // reserved, a body arrives 512 bytes per recv and one scheduler round trip each.
        buffer.reserve(body_size);
        bool ok = true;
        while (!parser.is_done()) {
          req.body().data = body_buf.get();
          req.body().size = body_size;
          stream.expires_after(options_.io_timeout);
          co_await http::async_read(stream, buffer, parser, asio::redirect_error(kAwait, ec));
          if (ec == http::error::need_buffer) ec = {};
          size_t n = body_size - req.body().size;
          outcome.bytes_in += n;
          if (n > 0 && !ex->OnBody(ByteView(body_buf.get(), n)).ok()) {
            ok = false;
            break;
          }
          if (ec) {
            ok = false;
            break;
          }
        }
        body_read = ok && parser.is_done();
        response = ex->Finish(body_read);
        if (ec && ec != http::error::need_buffer && !body_read &&
            (ec == beast::error::timeout || ec == asio::error::eof ||
             ec == http::error::partial_message || ec == asio::error::connection_reset)) {
          break;  // the client is gone or too slow: nothing to answer
        }
      } else {
        response = ex->Finish(true);
      }
      // A close-delimited body (a chunked stream to an HTTP/1.0 client) ends the connection.
      bool keep = keep_alive && body_read && !response.close &&
                  !(response.chunked && response.stream && !response.head_only && version < 11);
      ec = co_await Write(stream, response, keep, version, &outcome.bytes_out);
      outcome.status = response.status;
      outcome.completed = !ec;
      if (ec || !keep) break;
      buffer.shrink_to_fit();
      if (!SetIdle(entry, true)) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
  }

  S3Service* service_;
  S3ServerOptions options_;
  // Declared before io_: connections still open when io_ is destroyed unregister on the way.
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<ConnEntry> conns_;
  bool stopping_ = false;
  bool stopped_ = false;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  uint16_t acceptor_port_ = 0;
  std::string address_;
};

}  // namespace

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  ListenAddress a;
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("listen address must be ADDR:PORT, got '" + text + "'");
  }
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  std::string port = text.substr(colon + 1);
  char* end = nullptr;
  long p = strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return Status::InvalidArgument("bad port in listen address '" + text + "'");
  }
  a.port = static_cast<uint16_t>(p);
  return a;
}

Result<std::unique_ptr<S3Server>> S3Server::Start(S3Service* service, S3ServerOptions options) {
  S3XFS_ASSIGN_OR_RETURN(ListenAddress addr, ParseListenAddress(options.listen));
  auto server = std::make_unique<Server>(service, std::move(options));
  S3XFS_RETURN_IF_ERROR(server->Bind(addr));
  server->SetBound();
  server->Run();
  return std::unique_ptr<S3Server>(std::move(server));
}

}  // namespace s3xfs::s3
