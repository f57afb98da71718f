// Kubo HTTP RPC client: a BlockStore backed by a Kubo node (or any node speaking the Kubo RPC
// API: js-ipfs 0.66 is what the tests run), `--ipfs kubo://HOST:PORT`. This is the only code
// that speaks the Kubo API; it includes Beast (src/kubo).
//
// Mapping (every call is an HTTP/1.1 POST to /api/v0/..., JSON replies, errors as HTTP 500 with
// {"Message": ...}):
//  - Put/PutMany: block/put, one block per request (multipart/form-data), up to max_inflight
//    at once. Query: `cid-codec=raw|dag-pb&mhtype=sha2-256&version=1&pin=false`, and for raw
//    blocks also `format=raw`. Kubo reads cid-codec and ignores the unknown `version`; it takes
//    the deprecated `format` only together with cid-codec=raw (with dag-pb it would refuse the
//    pair, so dag-pb blocks do not send it). js-ipfs 0.66 reads only `format` (default dag-pb)
//    and `version` (default 0). Both then name the block by a CIDv1 of the right codec, and
//    both key blocks by multihash anyway. The returned Key must have our multihash
//    (Corruption otherwise).
//  - Get/GetMany: block/get; the bytes are verified against the CID. Has/Size: block/stat.
//    These ask the node not to look on the network (`offline=true`, Kubo) and to give up after
//    lookup_timeout (`timeout=`, Kubo and js-ipfs): js-ipfs waits for a block it lacks even
//    when offline, so "request timed out" from the node means the block is not there
//    (NotFound), as do Kubo's "not found" / "could not find" messages.
//  - Delete: block/rm with force=true (a missing block is not an error). RemoteSync never
//    deletes on this store (pins_roots()); Delete serves direct use only.
//  - Pins (pins_roots() is true): PinRoot is pin/add (recursive), or pin/update old→new with
//    `replaces`; a node without pin/update (js-ipfs: 404) gets pin/add new then pin/rm old, and
//    the store remembers to skip pin/update from then on. pin/add sends `offline=true`, so a
//    block missing on the node fails (NotFound) instead of being fetched. UnpinRoot is pin/rm;
//    "not pinned" is OK.
//  - ForEach: refs/local, streamed (each Ref reported as CIDv1 raw of its multihash).
//  - Health(): version, one try with a 2 s deadline.
//  - Sync() is a no-op (the node owns durability of what it acknowledged).
// Connections: a pool of keep-alive HTTP/1.1 connections (a stale one, closed by the node while
// idle, is replaced transparently). Every request has a deadline covering connect, send and
// receive. Connection failures, HTTP 429/502/503/504 and missed deadlines (of block calls; a
// pin's long deadline is not tried again) are retried with doubling backoff up to `attempts`
// tries; then the call fails with Unavailable (or Timeout):
// a dead node costs a bounded wait, never a hang. Response bodies are bounded (max_response).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "s3xfs/base/status.h"
#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

struct KuboOptions {
  std::string host;  // name or address (IPv6 without brackets)
  std::string port;
  // One block request (connect + send + receive).
  std::chrono::milliseconds call_timeout{std::chrono::seconds(30)};
  // How long the node may look for a block it might not have (its `timeout=`).
  std::chrono::milliseconds lookup_timeout{std::chrono::seconds(5)};
  // One pin/add or pin/update (the node walks the whole DAG), node side; the request's own
  // deadline is 10 s longer.
  std::chrono::milliseconds pin_timeout{std::chrono::minutes(5)};
  int attempts = 4;                                                  // tries per call (>= 1)
  std::chrono::milliseconds backoff{std::chrono::milliseconds(200)};  // first retry delay, doubling
  unsigned max_inflight = 4;            // concurrent requests of one PutMany/GetMany
  size_t max_response = 4u << 20;       // largest response body read (blocks are <= 1 MiB)
};

// Parses "kubo://HOST:PORT" ("kubo://[V6ADDR]:PORT" for IPv6). InvalidArgument otherwise.
Result<KuboOptions> ParseKuboUrl(const std::string& url);

// Connects lazily: opening succeeds while the node is down (calls then fail as described).
Result<std::unique_ptr<BlockStore>> OpenKuboStore(const KuboOptions& options);

}  // namespace s3xfs
