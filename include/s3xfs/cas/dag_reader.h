// Reads byte ranges of UnixFS files (raw leaves or dag-pb File nodes, any balanced or trickle
// shape) by walking blocksizes, fetching only the blocks that overlap the range.
//
// Thread-safety: a DagReader holds no state beyond its source; concurrent calls are safe when
// the source is.
#pragma once

#include <cstdint>
#include <functional>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

class DagReader {
 public:
  // Receives consecutive pieces of the range, in order. Views are valid only during the call.
  using ByteSink = std::function<Status(ByteView)>;

  // `source` must outlive the reader. `batch` bounds how many sibling blocks are fetched with one
  // GetMany call (and so held in memory at each tree level).
  explicit DagReader(BlockSource* source, size_t batch = 16) : src_(source), batch_(batch) {}

  // Size of the file content (reads the root block only).
  Result<uint64_t> FileSize(const Cid& root);

  // Streams bytes [offset, offset + length) of the file to `sink`, clamped at the end of the
  // file (an offset at or past the end yields nothing). InvalidArgument when the root is not a
  // file (a directory, a symlink); Corruption when the DAG is inconsistent (blocksizes that do
  // not match the links); errors from the source (NotFound, Corruption, Unavailable) pass through.
  Status Read(const Cid& root, uint64_t offset, uint64_t length, const ByteSink& sink);

 private:
  Result<Bytes> GetOne(const Cid& cid);
  Status ReadNode(const Cid& cid, ByteView block, uint64_t start, uint64_t a, uint64_t b,
                  const ByteSink& sink, int depth);
  BlockSource* src_;
  size_t batch_;
};

// Links of a block, for walkers (CAR export, GC): dag-pb links in order; none for raw.
// NotSupported for codecs that cannot be walked here (dag-cbor).
Result<std::vector<Cid>> BlockLinks(const Cid& cid, ByteView block);

}  // namespace s3xfs
