// BlockBatch: copies blocks as they are produced (builder output is only valid during its
// callback) and writes them with one PutMany per `limit` bytes.
//
// Full batches are written by a background thread (started when the first batch fills), so
// hashing the next batch overlaps the disk writing the previous one; at most one batch is in
// flight, which bounds memory to about two batches. Flush() waits for everything. An error of
// a background write is returned by the next Add or Flush; nothing queued after it is written.
//
// Thread-safety: one batch per writer; not for concurrent use.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

class BlockBatch {
 public:
  explicit BlockBatch(BlockStore* store, size_t limit = 4u << 20) : store_(store), limit_(limit) {}
  ~BlockBatch();
  BlockBatch(const BlockBatch&) = delete;
  BlockBatch& operator=(const BlockBatch&) = delete;

  // Queues a copy of the block; hands the batch to the writer thread when it reaches the limit.
  Status Add(const Cid& cid, ByteView data);
  // Queues a block by move.
  Status Add(Block&& block);
  // Writes whatever is queued and waits for the batch in flight: when it returns OK every block
  // added so far is in the store (durable if the store syncs its puts). The queue is empty
  // afterwards, also on failure.
  Status Flush();

 private:
  static Status Write(BlockStore* store, const std::vector<Block>& blocks);
  // Waits until no batch is in flight; returns (and clears) a background error.
  Status WaitIdle(std::unique_lock<std::mutex>& lock);
  void Work();

  BlockStore* store_;
  size_t limit_;
  std::vector<Block> blocks_;
  size_t bytes_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Block> inflight_;  // GUARDED_BY(mu_)
  bool busy_ = false;            // GUARDED_BY(mu_): inflight_ is being written
  bool stop_ = false;            // GUARDED_BY(mu_)
  Status error_;                 // GUARDED_BY(mu_)
  std::thread worker_;
};

}  // namespace s3xfs
