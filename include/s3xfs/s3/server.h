// The S3 listener: HTTP/1.1 with keep-alive on Boost.Beast, serving an S3Service.
//
// - Each connection is a C++20 coroutine on a pool of I/O threads: idle and slow connections
//   hold no thread; a thread is busy only while the core stores or reads a piece of a body.
// - Bodies stream through bounded buffers both ways (memory does not grow with object size).
// - Limits: request head size (431 / connection closed), concurrent connections (beyond it new
//   connections get 503 SlowDown and are closed), a timeout for the request head, for each body
//   read and each write, and for idle keep-alive connections.
// - "Expect: 100-continue" is answered only when the request was accepted (auth, route, access),
//   so a rejected upload is never sent.
// - Shutdown(): stops accepting, closes idle connections, lets requests in progress finish
//   (up to the grace period), then closes the rest.
//
// Only this file's implementation includes Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "s3xfs/base/status.h"
#include "s3xfs/s3/service.h"

namespace s3xfs::s3 {

struct S3ServerOptions {
  std::string listen = "127.0.0.1:9000";  // ADDR:PORT (port 0: any free port)
  int threads = 8;
  size_t max_connections = 8192;
  size_t max_header_bytes = 64 << 10;
  size_t body_buffer = 1 << 20;
  std::chrono::seconds header_timeout{30};
  std::chrono::seconds io_timeout{60};
  std::chrono::seconds idle_timeout{120};
};

class S3Server {
 public:
  // Binds and starts serving. InvalidArgument for a malformed address, IOError when it cannot
  // bind (the message names the address).
  static Result<std::unique_ptr<S3Server>> Start(S3Service* service, S3ServerOptions options);
  virtual ~S3Server() = default;
  virtual uint16_t port() const = 0;
  // The address actually bound, "ADDR:PORT".
  virtual std::string address() const = 0;
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

// Parses "ADDR:PORT" / "[v6]:PORT" / ":PORT" (all interfaces) / "none".
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace s3xfs::s3
