// The S3 front end's logic: authenticate, route, authorise, run the operation on the core and
// encode the reply. Independent of the HTTP library: server.cc (Boost.Beast) feeds it request
// heads and body bytes and sends the Response it returns, so everything here is testable without
// a socket.
//
// Per request:  auto ex = service.Begin(head);
//               if (ex->WantsBody()) for each body piece: if (!ex->OnBody(piece).ok()) break;
//               Response r = ex->Finish(body_complete);
// Finish() after an OnBody error returns that error (and sets Response::close). Nothing a
// request writes becomes visible before Finish() verified every signature and checksum.
//
// Thread-safety: Begin and SetKeys may be called from any number of threads; each exchange is
// used by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "s3xfs/base/status.h"
#include "s3xfs/core/object_store.h"
#include "s3xfs/s3/credentials.h"
#include "s3xfs/s3/gateway.h"
#include "s3xfs/s3/http.h"

namespace s3xfs::s3 {

struct S3ServiceOptions {
  std::string region = "us-east-1";
  std::string domain;  // virtual-host style "BUCKET.domain"; empty: path style only
  // Seconds since the epoch (tests inject a clock). Default: the system clock.
  std::function<int64_t()> now_s;
  size_t max_xml_bytes = 1 << 20;
  uint64_t max_put_size = 5ull << 30;  // single PUT / part (S3: 5 GiB)
  size_t response_chunk = 1 << 20;     // GET streaming granularity
  // The IPFS gateway on /ipfs/{cid} (gateway.h) and who may use it. Off here; the daemons
  // default to kSigned (--gateway). While it is on, CreateBucket "ipfs" is refused.
  GatewayMode gateway = GatewayMode::kOff;
};

// What the server reports about one request once its response is done (S3Exchange::Done).
struct RequestOutcome {
  int status = 0;          // HTTP status sent; 499 when none was (the client went away first)
  uint64_t bytes_in = 0;   // request body bytes read (HTTP framing removed)
  uint64_t bytes_out = 0;  // response body bytes written
  double seconds = 0;      // from the end of the request head to the end of the response
  bool completed = true;   // false: the connection failed before the response was complete
};

// Called after a change made over S3 has committed: (bucket, key); key "" for a bucket created
// or deleted. The mount uses it to drop the kernel's cached entries.
using ChangeHook = std::function<void(const std::string& bucket, const std::string& key)>;

class S3Exchange {
 public:
  virtual ~S3Exchange() = default;
  // False when the reply is already known (an error, or an operation without a body): the
  // server need not read the body (and closes the connection if one was sent).
  virtual bool WantsBody() const = 0;
  // Body bytes as they arrive (HTTP framing removed; aws-chunked framing is decoded here).
  virtual Status OnBody(ByteView data) = 0;
  // `body_complete`: the server read the whole body (false after a read error or an OnBody
  // error).
  virtual Response Finish(bool body_complete) = 0;
  // Called once, last, by the server: records the request in the metrics (requests by
  // operation and status, latency, bytes) and logs a failed request as one line with its
  // request id (see SEMANTICS.md "Logging" for the levels).
  virtual void Done(const RequestOutcome& outcome) = 0;
};

class S3Service {
 public:
  // `keys` must outlive the service or the next SetKeys.
  S3Service(ObjectStore* store, const KeyStore* keys, S3ServiceOptions options);
  ~S3Service();

  std::unique_ptr<S3Exchange> Begin(const RequestHead& head);
  void SetChangeHook(ChangeHook hook) { change_hook_ = std::move(hook); }
  // Replaces the credentials (the keys file was edited): requests that begin afterwards use the
  // new keys; a request already begun finishes with the keys it began with.
  void SetKeys(std::shared_ptr<const KeyStore> keys);
  std::shared_ptr<const KeyStore> keys() const;

  // An S3 error reply for a request that never reached Begin (bad HTTP, header too large).
  Response ErrorResponse(const Status& status, const std::string& resource);
  // Done() for such a reply (operation "unknown"); `method` and `target` may be empty.
  void Rejected(const Status& status, const Response& response, const RequestOutcome& outcome,
                std::string_view method = {}, std::string_view target = {});

  // Internals shared with the exchange implementation.
  struct Impl;

 private:
  friend struct Impl;
  ObjectStore* store_;
  mutable std::mutex keys_mu_;             // leaf lock
  std::shared_ptr<const KeyStore> keys_;  // GUARDED_BY(keys_mu_)
  S3ServiceOptions options_;
  ChangeHook change_hook_;
  std::atomic<uint64_t> next_request_{1};
  uint64_t instance_;
};

// S3 error code and HTTP status of a Status (NoSuchKey 404, SignatureDoesNotMatch 403, ...).
struct S3ErrorCode {
  std::string_view code;
  int http_status;
};
S3ErrorCode S3ErrorOf(const Status& status);

}  // namespace s3xfs::s3
