// Request handlers of `s3xfs node`: TemporalX messages in, TemporalX messages out, over a
// NodeCore. They know protobuf messages but not gRPC (node.cc adapts streams, maps Status to
// gRPC codes and logs), so they can be driven without a socket.
//
// Every handler returns OK with the response filled in, or the error to answer with:
//   InvalidArgument            a malformed request (bad CID text, unknown option)
//   InvalidArgument + Reason::kInvalidRange   a range outside the file (gRPC OUT_OF_RANGE)
//   NotSupported               a known feature this node does not offer (gRPC UNIMPLEMENTED)
//   NotFound                   a block that is not stored (the message names the CID)
//   Corruption, IOError        from the store
// Semantics of each request type: include/s3xfs/temporalx/node.h and the comments below.
//
// Thread-safety: handlers may run concurrently (NodeCore is thread-safe).
#pragma once

#include <functional>
#include <string_view>

#include "node_core.h"
#include "s3xfs/cas/cid.h"
#include "temporalx.pb.h"

namespace s3xfs::node {

// Parses a CID string from a request; InvalidArgument naming the field and the text.
Result<Cid> ParseRequestCid(std::string_view text, std::string_view field);
// Accepts "" and "sha2-256"; InvalidArgument otherwise.
Status CheckHashFunc(std::string_view name, std::string_view field);

// NodeAPI.Blockstore (and each message of BlockstoreStream).
//  BS_PUT (exactly one data) / BS_PUT_MANY: CIDv1 raw sha2-256 of each data, stored durably,
//    one reference added per entry; answers Blocks {cid} in request order. cidVersion "", "v1"
//    or "1"; "v0" is refused (raw data has no CIDv0).
//  BS_DELETE: one reference removed per CID, the block deleted when none is left; with BS_FORCE
//    all references and the block go. A CID with neither reference nor block: NotFound, and
//    the call changes nothing. Answers no blocks.
//  BS_GET (exactly one CID) / BS_GET_MANY: Blocks {cid as asked, verified data, size}.
//  BS_GET_STATS: Blocks {cid as asked, size}. BS_HAS: Blocks {cid} of the present CIDs.
//  BS_GET_ALL: Blocks {cid} of every stored block as CIDv1 raw (the store keeps no codec).
//  BS_HASH_ON_READ_ENABLE/DISABLE: accepted, no effect (reads always verify).
Status Blockstore(NodeCore& core, const pb::BlockstoreRequest& req, pb::BlockstoreResponse* resp);

// NodeAPI.Dag.
//  DAG_PUT: objectEncoding "" or "raw": a raw block, hashes = [CIDv1 raw]. "protobuf" (with
//    serializationFormat "" or "protobuf"): the bytes must decode as dag-pb; stored as given;
//    hashes = [CIDv0 when cidVersion is 0, else CIDv1 dag-pb]. "cbor"/"dag-cbor"/"json":
//    NotSupported. One reference added.
//  DAG_GET: rawData = the block under `hash`.
//  DAG_NEW_NODE: a dag-pb node with Data = data (absent when empty) and one link per entry of
//    `links` (name -> CID), sorted by name; each link's Tsize is the target's cumulative size
//    (its block size plus its own links' Tsizes; the targets must be stored). CID version from
//    cidVersion (0: CIDv0). Stored with one reference; hashes = [its CID].
//  DAG_ADD_LINKS: the node under `hash` plus `links` (appended, then all links sorted stably by
//    name), stored as a new node with the CID version of `hash`; hashes = [new CID].
//  DAG_GET_LINKS: links of `hash` (none for a raw block): IPLDLink {multihash bytes, name, Tsize}.
//  DAG_STAT: nodeStats[hash] = {numLinks, blockSize, linkSize = blockSize - dataSize,
//    cumulativeSize = blockSize + sum of link Tsizes, dataSize = length of the dag-pb Data (the
//    whole block for raw)}.
Status Dag(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp);

// NodeAPI.Persist: status[cid] = whether the block is stored here (nothing is fetched: this
// node has no network); errors[cid] for CIDs that do not parse or cannot be checked.
Status Persist(NodeCore& core, const pb::PersistRequest& req, pb::PersistResponse* resp);

// FileAPI.UploadFile. `next` fills in the next message of the client stream and returns true,
// false at the stream's end, or an error when the stream broke (the client cancelled): then
// nothing is counted. Options come from the first message: chunker "" / "default" (262144) or "size-N"
// (1 <= N <= 1 MiB); layout "" / "balanced" ("trickle": NotSupported); multiHash "" /
// "sha2-256". The file becomes a CIDv1 dag-pb UnixFS DAG with dag-pb leaves (ipfs add
// --cid-version=1 --raw-leaves=false); every distinct block gets one reference once the file is
// complete. An empty stream is an empty file.
Status UploadFile(NodeCore& core, const std::function<Result<bool>(pb::UploadRequest*)>& next,
                  pb::PutResponse* resp);

// FileAPI.DownloadFile. `send` sends one message and returns false when the client has gone.
// Streams bytes [rangeStart, rangeEnd) of the file under `hash` (rangeEnd 0 or past the end:
// to the end) in pieces of chunkSize (<= 0: 1 MiB; at most 2 MiB); every Blob carries the
// absolute range of its bytes. rangeStart past the end: InvalidArgument + kInvalidRange.
// An empty range sends nothing.
Status DownloadFile(NodeCore& core, const pb::DownloadRequest& req,
                    const std::function<bool(const pb::DownloadResponse&)>& send);

// AdminAPI.RefCount: cids[c] = count for each CID asked (0 when it has none); with no CIDs, the
// counts of all referenced blocks (as CIDv1 raw), at most `limit` (<= 0: all), in multihash
// order.
Status RefCount(NodeCore& core, const pb::RefCountRequest& req, pb::RefCountResponse* resp);

// AdminAPI.ManageGC: GC_START starts a sweep in the background, GC_STOP asks it to stop,
// GC_STATUS reports; the status strings are NodeCore's.
Status ManageGC(NodeCore& core, const pb::ManageGCRequest& req, pb::ManageGCResponse* resp);

}  // namespace s3xfs::node
