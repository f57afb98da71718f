// HttpPool (internal to src/kubo): a small synchronous HTTP/1.1 client for one host, over
// Boost.Beast. Keep-alive connections are pooled and reused; a reused connection that the server
// closed while it sat idle (it fails before any byte of the response arrived) is replaced by a
// fresh one and the request is sent again, so callers only send requests that are safe to
// repeat. Every request has a deadline that covers resolving, connecting, sending and receiving;
// response bodies are bounded.
//
// Each connection owns its io_context: a call runs the connection's asynchronous operations on
// the calling thread until they finish or the deadline passes (then the socket is closed, which
// cancels them, and the connection is dropped).
//
// Errors: Unavailable (cannot connect, connection broken), Timeout (deadline), Internal (a
// response that is not HTTP, or a body over the limit).
//
// Thread-safety: Post and PostStream may be called from any number of threads at once; each
// call uses its own connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/status.h"

namespace s3xfs::kubo {

using Deadline = std::chrono::steady_clock::time_point;

struct HttpResponse {
  int status = 0;
  std::string body;
};

class HttpPool {
 public:
  // host: name or address (IPv6 without brackets). At most max_idle connections are kept.
  HttpPool(std::string host, std::string port, size_t max_idle);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // POSTs `target` (path and query) with `body` of `content_type` (no body when empty) and
  // reads the whole response; a body longer than body_limit is an error.
  Result<HttpResponse> Post(const std::string& target, std::string_view body,
                            const std::string& content_type, Deadline deadline, size_t body_limit);

  // POSTs `target` without a body. A 200 response's body is handed to on_chunk in pieces as it
  // arrives (on_chunk's error ends the call); any other status is read whole (up to
  // error_limit) and returned with an empty body passed to nobody.
  Result<HttpResponse> PostStream(const std::string& target, Deadline deadline, size_t error_limit,
                                  const std::function<Status(std::string_view)>& on_chunk);

  // "HOST:PORT" for messages.
  const std::string& authority() const { return authority_; }

 private:
  struct Conn;
  // An idle connection, or a new one connected by the deadline.
  Result<std::unique_ptr<Conn>> Acquire(Deadline deadline, bool* reused);
  void Release(std::unique_ptr<Conn> c);
  // Sends one request over c and reads the response (whole, or streamed when on_chunk).
  // *got_some: whether any byte of the response arrived; *keep: the connection may be reused.
  Result<HttpResponse> Exchange(Conn& c, const std::string& target, std::string_view body,
                                const std::string& content_type, Deadline deadline,
                                size_t body_limit,
                                const std::function<Status(std::string_view)>* on_chunk,
                                bool* got_some, bool* keep);
  Result<HttpResponse> Request(const std::string& target, std::string_view body,
                               const std::string& content_type, Deadline deadline,
                               size_t body_limit,
                               const std::function<Status(std::string_view)>* on_chunk);

  const std::string host_, port_, authority_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace s3xfs::kubo
