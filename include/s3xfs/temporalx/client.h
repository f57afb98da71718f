// TemporalX v3 gRPC client: a BlockStore backed by a remote TemporalX-compatible node (the real
// TemporalX, or `s3xfs node`). This is the only client code that includes generated gRPC headers.
//
// Mapping (TEMPORALX_API.md "How s3xfs uses it"):
//  - PutMany: raw blocks go in BS_PUT_MANY requests whose data stays under the node's message
//    limit (4 MiB by default, framing included); dag-pb blocks go one DAG_PUT each
//    ("protobuf"/"protobuf", cidVersion 1). Several requests run at once (max_inflight).
//  - Get/GetMany: BS_GET / BS_GET_MANY. Has: BS_HAS. Size: BS_GET_STATS. Delete: BS_DELETE
//    (which decrements the node's reference count: call it once per successful Put).
//  - Every CID the node returns and every block it sends is checked against the locally computed
//    CID (same multihash; a mismatch is Corruption, never data handed on).
//  - Every call has a deadline. UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried
//    with exponential backoff up to `attempts` tries; then the call fails with Unavailable (or
//    Timeout), so a dead node costs a bounded wait, never a hang.
//  - Health(): StatusAPI.Status; unreachable or APISTATUS ERROR -> Unavailable.
//  - Sync() is a no-op (the node owns durability of what it acknowledged); ForEach is not
//    offered by the API (BS_GET_ALL returns the whole store in one message): NotSupported.
//
// Thread-safety: every method may be called from any thread; one channel is shared.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "s3xfs/base/status.h"
#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

struct TemporalXOptions {
  std::string target;  // HOST:PORT
  bool tls = false;
  std::string tls_ca_file;  // PEM roots for TLS (empty: the system's)
  std::chrono::milliseconds call_timeout{std::chrono::seconds(30)};
  int attempts = 4;                                       // tries per call (>= 1)
  std::chrono::milliseconds backoff{std::chrono::milliseconds(200)};  // first retry delay, doubling
  size_t max_message = 4u << 20;  // the node's receive limit (TemporalX default 4 MiB)
  unsigned max_inflight = 4;      // concurrent requests of one PutMany/GetMany
};

// Parses "temporalx://HOST:PORT" (plain) or "temporalxs://HOST:PORT" (TLS) into options.
// InvalidArgument for anything else.
Result<TemporalXOptions> ParseTemporalXUrl(const std::string& url);

// Connects lazily: opening succeeds while the node is down (calls then fail as described).
Result<std::unique_ptr<BlockStore>> OpenTemporalXStore(const TemporalXOptions& options);

}  // namespace s3xfs
