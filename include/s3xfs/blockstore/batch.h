// BlockBatch: copies blocks as they are produced (builder output is only valid during its
// callback) and writes them with one PutMany per `limit` bytes.
//
// Thread-safety: one batch per writer; not for concurrent use.
#pragma once

#include <vector>

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

class BlockBatch {
 public:
  explicit BlockBatch(BlockStore* store, size_t limit = 4u << 20) : store_(store), limit_(limit) {}
  // Queues a copy of the block; writes the batch when it reaches the limit.
  Status Add(const Cid& cid, ByteView data);
  // Queues a block by move.
  Status Add(Block&& block);
  // Writes whatever is queued. The queue is empty afterwards, also on failure.
  Status Flush();

 private:
  BlockStore* store_;
  size_t limit_;
  std::vector<Block> blocks_;
  size_t bytes_ = 0;
};

}  // namespace s3xfs
