// Streaming builder of UnixFS file DAGs, byte-identical to `ipfs add`.
//
// Bytes go in as they arrive (Write), blocks come out through a sink as soon as they are final
// (each leaf when its chunk is full; each interior node when its subtree is complete), children
// before parents. Memory is constant: one chunk buffer plus at most max_links pending links per
// tree level, whatever the file size.
//
// Layout (Kubo's "balanced"): fixed-size chunks; a file of 0 or 1 chunk is its single leaf;
// otherwise interior File nodes of at most max_links children, all leaves at the same depth,
// filled left to right.
//
// Thread-safety: one builder per stream; not safe for concurrent calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/parallel.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

struct DagOptions {
  int cid_version = 1;
  // true: leaves are raw blocks (CIDv1 raw). false: leaves are dag-pb UnixFS File nodes carrying
  // the chunk. REQUIRES: false when cid_version == 0.
  bool raw_leaves = true;
  size_t chunk_size = 262144;
  size_t max_links = 174;
  // Threads (the caller included) that hash the whole chunks of one Write() in parallel. Only
  // raw leaves are hashed in parallel; output is identical for any value.
  unsigned hash_threads = 1;

  // `ipfs add --cid-version=1` (the default).
  static DagOptions KuboV1() { return DagOptions{}; }
  // plain `ipfs add` (CIDv0, dag-pb leaves).
  static DagOptions KuboV0() { return DagOptions{0, false, 262144, 174, 1}; }
  // CIDv1 with dag-pb leaves: `ipfs add --cid-version=1 --raw-leaves=false`.
  static DagOptions V1DagPbLeaves() { return DagOptions{1, false, 262144, 174, 1}; }
};

// Where a file's bytes go: one entry per leaf, for callers that keep chunk lists.
struct LeafInfo {
  Cid cid;
  uint64_t file_bytes = 0;  // bytes of file content in the leaf
  uint64_t block_bytes = 0; // encoded block length (== file_bytes for raw leaves)
};

struct DagRoot {
  Cid cid;
  uint64_t file_size = 0;  // bytes of file content
  uint64_t dag_size = 0;   // cumulative encoded size (the Tsize a parent link would carry)
};

class DagBuilder {
 public:
  // Called once per finished block. `data` is valid only during the call (copy it to keep it).
  // `leaf` is true for leaves. A non-OK return aborts the build and is returned to the caller.
  using BlockSink = std::function<Status(const Cid& cid, ByteView data, bool leaf)>;

  DagBuilder(const DagOptions& options, BlockSink sink);
  DagBuilder(const DagBuilder&) = delete;
  DagBuilder& operator=(const DagBuilder&) = delete;

  // Appends file bytes.
  Status Write(ByteView data);
  // Appends a leaf that already exists (chunk lists, multipart parts): no bytes are hashed and
  // the sink is not called for it. REQUIRES: no partial chunk is pending (all bytes written so
  // far add up to a multiple of chunk_size) and leaf.file_bytes <= chunk_size.
  Status AddLeaf(const LeafInfo& leaf);
  // Flushes the last partial chunk and the interior nodes; returns the root. The builder cannot
  // be used afterwards.
  Result<DagRoot> Finish();

  uint64_t bytes_written() const { return total_; }

 private:
  struct Link {
    Cid cid;
    uint64_t file_bytes;
    uint64_t tsize;
  };
  Status EmitLeaf(ByteView chunk);
  Status EmitRawLeaf(ByteView chunk, Cid cid);
  Status Push(size_t level, Link link);
  Result<Link> Collapse(size_t level);

  DagOptions opt_;
  BlockSink sink_;
  std::unique_ptr<ParallelFor> pool_;  // created on first use when hash_threads > 1
  Bytes pending_;
  std::vector<std::vector<Link>> levels_;
  uint64_t total_ = 0;
  bool finished_ = false;
};

// Convenience: the root CID of `data` built in memory (tests, small objects).
Result<DagRoot> ComputeFileRoot(ByteView data, const DagOptions& options = DagOptions{},
                                const DagBuilder::BlockSink& sink = nullptr);

}  // namespace s3xfs
