// The metrics listener (--metrics-listen): a minimal HTTP/1.1 server for Prometheus.
//
//   GET /metrics (or HEAD)  200, Content-Type "text/plain; version=0.0.4; charset=utf-8", the
//                           registry's Render() (callbacks run on the listener's thread)
//   GET /                   200, a one-line pointer to /metrics
//   other paths             404; other methods 405; requests with a body 400 (and close)
//
// It is a separate port, not a path on the S3 listener: "metrics" is a valid bucket name, so
// /metrics there is a path-style request for that bucket. No authentication: bind it to a
// loopback or otherwise trusted address. One I/O thread; keep-alive; at most 64 connections
// (more are closed at once); 10 s to send a request head, 60 s idle between requests.
//
// Lives in the s3 module because only s3 includes Beast (DESIGN.md §1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "s3xfs/base/metrics.h"
#include "s3xfs/base/status.h"

namespace s3xfs::s3 {

class MetricsServer {
 public:
  // Binds ADDR:PORT (port 0: any free port) and serves `registry`, which must outlive the
  // server. InvalidArgument for a malformed address, IOError when it cannot bind.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                       metrics::Registry* registry);
  virtual ~MetricsServer() = default;
  // The address actually bound, "ADDR:PORT".
  virtual std::string address() const = 0;
  // Stops accepting and closes every connection; idempotent (the destructor calls it).
  virtual void Shutdown() = 0;
};

}  // namespace s3xfs::s3
