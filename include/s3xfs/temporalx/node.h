// `s3xfs node`: a TemporalX-compatible gRPC node over the embedded block store, so the gRPC path
// runs here and several daemons can share one block node. See TEMPORALX_API.md.
//
// Served (everything else answers UNIMPLEMENTED):
//  - NodeAPI.Blockstore and BlockstoreStream: every BSREQTYPE. Blocks are keyed by multihash;
//    BS_PUT/BS_PUT_MANY store data as CIDv1 raw (cidVersion "v0" is refused for raw data) and
//    increment the block's reference count; BS_DELETE decrements and removes the block at zero
//    (with BS_FORCE: removes it regardless); BS_GET/BS_GET_MANY verify what they send;
//    BS_GET_STATS fills Block.size; BS_HAS answers with the present CIDs; BS_GET_ALL lists CIDs
//    (no data: one message cannot hold a store); BS_HASH_ON_READ_* are accepted (reads always
//    verify).
//  - NodeAPI.Dag: DAG_PUT (empty encoding: raw block; "protobuf": the bytes must decode as
//    dag-pb; cidVersion 0 or 1), DAG_GET (rawData), DAG_NEW_NODE (a dag-pb node from data +
//    links), DAG_ADD_LINKS (a new node: hash's node plus links), DAG_GET_LINKS, DAG_STAT.
//  - NodeAPI.Persist: status true for each CID whose block is present (errors for bad CIDs).
//  - FileAPI.UploadFile: chunker "default" (262144) or "size-N", layout "balanced" (or empty),
//    CIDv1 dag-pb with dag-pb leaves (= ipfs add --cid-version=1 --raw-leaves=false); each
//    distinct block of the file gets one reference once the whole file has arrived (a cancelled
//    upload counts nothing; GC removes its blocks);
//    DownloadFile streams the file, honouring rangeStart/rangeEnd (end exclusive; 0 = to the end)
//    and reporting the range served in every Blob.
//  - AdminAPI.RefCount (counts of the given CIDs, 0 for none; or of all blocks up to limit)
//    and ManageGC (GC_START removes stored blocks with no reference count, in the background;
//    GC_STATUS; GC_STOP). Served on the same address as the rest.
//  - StatusAPI.Version ("s3xfs-node VERSION") and Status (ONLINE; PURGING while GC runs).
// Request-by-request details: src/temporalx/handlers.h. Each failed call is logged on stderr as
// one line (method, peer, gRPC code, message).
//
// Reference counts live in DATA_DIR/refcounts.db (SQLite); blocks in DATA_DIR/blocks. DATA_DIR
// must be the node's own: a directory holding a daemon's ledger.db is refused (the node's GC
// would remove the daemon's blocks, which have no reference count here).
// Message limits: 4 MiB received (TemporalX's default), configurable.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "s3xfs/base/status.h"

namespace s3xfs {

struct NodeOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:9090";
  std::string tls_cert_file, tls_key_file;  // both set: TLS
  size_t max_receive_message = 4u << 20;
};

class TemporalXNode {
 public:
  // Opens the store and starts serving; returns once the port is bound.
  static Result<std::unique_ptr<TemporalXNode>> Start(const NodeOptions& options);
  virtual ~TemporalXNode() = default;
  // The bound address (HOST:PORT; the real port when listen asked for port 0).
  virtual std::string address() const = 0;
  // Stops accepting calls, lets calls in progress finish for up to `grace`, then cancels the
  // rest and syncs the store.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace s3xfs
