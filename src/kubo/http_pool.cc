// HttpPool: keep-alive HTTP/1.1 client connections with deadlines (contract in http_pool.h).
#include <utility>  // asio 1.74's awaitable.hpp uses std::exchange without including it

#include "http_pool.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <cstdint>
#include <limits>

namespace s3xfs::kubo {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kStreamPiece = 64u << 10;  // streamed bodies are read in pieces this big

std::string Authority(const std::string& host, const std::string& port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

}  // namespace

struct HttpPool::Conn {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;

  // Runs the operation just started until its handler sets *done or the deadline passes. On
  // the deadline the socket is closed (cancelling the operation) and false is returned; the
  // connection is then unusable.
  bool Run(Deadline deadline, const bool* done) {
    ioc.restart();
    ioc.run_until(deadline);
    if (*done) return true;
    beast::error_code ignored;
    stream.socket().close(ignored);
    ioc.restart();
    ioc.run();  // the cancelled handler runs
    return false;
  }
};

HttpPool::HttpPool(std::string host, std::string port, size_t max_idle)
    : host_(std::move(host)), port_(std::move(port)), authority_(Authority(host_, port_)),
      max_idle_(max_idle) {}

HttpPool::~HttpPool() = default;

Result<std::unique_ptr<HttpPool::Conn>> HttpPool::Acquire(Deadline deadline, bool* reused) {
  {
    std::lock_guard l(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      *reused = true;
      return c;
    }
  }
  *reused = false;
  auto c = std::make_unique<Conn>();
  tcp::resolver resolver(c->ioc);
  beast::error_code ec;
  tcp::resolver::results_type endpoints;
  bool done = false;
  resolver.async_resolve(host_, port_, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
    done = true;
  });
  c->ioc.restart();
  c->ioc.run_until(deadline);
  if (!done) {
    resolver.cancel();
    c->ioc.restart();
    c->ioc.run();
    return Status::Timeout("resolving " + host_ + " took too long");
  }
  if (ec) return Status::Unavailable("cannot resolve " + host_ + ": " + ec.message());
  done = false;
  c->stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!c->Run(deadline, &done)) return Status::Timeout("connecting to " + authority_ + " took too long");
  if (ec) return Status::Unavailable("cannot connect to " + authority_ + ": " + ec.message());
  c->stream.socket().set_option(tcp::no_delay(true), ec);
  return c;
}

void HttpPool::Release(std::unique_ptr<Conn> c) {
  std::lock_guard l(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

Result<HttpResponse> HttpPool::Exchange(Conn& c, const std::string& target, std::string_view body,
                                        const std::string& content_type, Deadline deadline,
                                        size_t body_limit,
                                        const std::function<Status(std::string_view)>* on_chunk,
                                        bool* got_some, bool* keep) {
  *got_some = false;
  *keep = false;
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, authority_);
  req.set(http::field::user_agent, "s3xfs/" S3XFS_VERSION);
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body().assign(body.data(), body.size());
  req.prepare_payload();

  beast::error_code ec;
  bool done = false;
  auto finish = [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  };
  const std::string what = "POST " + target.substr(0, target.find('?'));
  http::async_write(c.stream, req, finish);
  if (!c.Run(deadline, &done)) return Status::Timeout(authority_ + ": " + what + ": no answer in time");
  if (ec) return Status::Unavailable(authority_ + ": " + what + ": sending failed: " + ec.message());

  HttpResponse out;
  // The header first (a streamed body needs it to choose where the body goes).
  http::response_parser<http::buffer_body> head;
  // No limit for a streamed body (boost::none would do, but Beast 1.74 then refuses any
  // Content-Length: it compares the length with the empty optional).
  head.body_limit(std::numeric_limits<std::uint64_t>::max());
  done = false;
  http::async_read_header(c.stream, c.buffer, head, finish);
  if (!c.Run(deadline, &done)) {
    *got_some = head.got_some();
    return Status::Timeout(authority_ + ": " + what + ": no answer in time");
  }
  *got_some = head.got_some();
  if (ec) return Status::Unavailable(authority_ + ": " + what + ": receiving failed: " + ec.message());
  out.status = static_cast<int>(head.get().result_int());

  if (on_chunk && out.status == 200) {
    std::vector<char> piece(kStreamPiece);
    while (!head.is_done()) {
      head.get().body().data = piece.data();
      head.get().body().size = piece.size();
      done = false;
      http::async_read(c.stream, c.buffer, head, finish);
      if (!c.Run(deadline, &done)) return Status::Timeout(authority_ + ": " + what + ": the answer took too long");
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return Status::Unavailable(authority_ + ": " + what + ": receiving failed: " + ec.message());
      size_t n = piece.size() - head.get().body().size;
      if (n > 0) S3XFS_RETURN_IF_ERROR((*on_chunk)(std::string_view(piece.data(), n)));
    }
    *keep = head.keep_alive();
    return out;
  }

  // Beast checks a Content-Length against the limit only while parsing the header (which the
  // streaming parser did without one): check it here; chunked bodies count against body_limit.
  if (head.content_length() && *head.content_length() > body_limit)
    return Status::Internal(authority_ + ": " + what + ": answer larger than " +
                            std::to_string(body_limit) + " bytes");
  http::response_parser<http::string_body> whole(std::move(head));
  whole.body_limit(body_limit);
  done = false;
  http::async_read(c.stream, c.buffer, whole, finish);
  if (!c.Run(deadline, &done)) return Status::Timeout(authority_ + ": " + what + ": the answer took too long");
  if (ec == http::error::body_limit)
    return Status::Internal(authority_ + ": " + what + ": answer larger than " +
                            std::to_string(body_limit) + " bytes");
  if (ec) return Status::Unavailable(authority_ + ": " + what + ": receiving failed: " + ec.message());
  out.body = std::move(whole.get().body());
  *keep = whole.keep_alive();
  return out;
}

Result<HttpResponse> HttpPool::Request(const std::string& target, std::string_view body,
                                       const std::string& content_type, Deadline deadline,
                                       size_t body_limit,
                                       const std::function<Status(std::string_view)>* on_chunk) {
  for (;;) {
    bool reused = false;
    S3XFS_ASSIGN_OR_RETURN(std::unique_ptr<Conn> c, Acquire(deadline, &reused));
    bool got_some = false, keep = false;
    auto r = Exchange(*c, target, body, content_type, deadline, body_limit, on_chunk, &got_some, &keep);
    if (r.ok()) {
      if (keep) Release(std::move(c));
      return r;
    }
    // A pooled connection the server closed while idle fails before any answer: try again on
    // another (eventually a new) connection. Anything else is the caller's to judge.
    if (reused && !got_some && r.status().code() == Status::Code::kUnavailable) continue;
    return r;
  }
}

Result<HttpResponse> HttpPool::Post(const std::string& target, std::string_view body,
                                    const std::string& content_type, Deadline deadline,
                                    size_t body_limit) {
  return Request(target, body, content_type, deadline, body_limit, nullptr);
}

Result<HttpResponse> HttpPool::PostStream(const std::string& target, Deadline deadline,
                                          size_t error_limit,
                                          const std::function<Status(std::string_view)>& on_chunk) {
  return Request(target, {}, "", deadline, error_limit, &on_chunk);
}

}  // namespace s3xfs::kubo
