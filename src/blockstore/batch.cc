#include "s3xfs/blockstore/batch.h"

namespace s3xfs {

BlockBatch::~BlockBatch() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Status BlockBatch::Add(const Cid& cid, ByteView data) {
  return Add(Block{cid, Bytes(data.begin(), data.end())});
}

Status BlockBatch::Add(Block&& block) {
  bytes_ += block.data.size();
  blocks_.push_back(std::move(block));
  if (bytes_ < limit_) return Status::OK();
  std::unique_lock lock(mu_);
  Status st = WaitIdle(lock);
  if (!st.ok()) {
    blocks_.clear();
    bytes_ = 0;
    return st;
  }
  inflight_.swap(blocks_);
  blocks_.clear();
  bytes_ = 0;
  busy_ = true;
  if (!worker_.joinable()) worker_ = std::thread([this] { Work(); });
  lock.unlock();
  cv_.notify_all();
  return Status::OK();
}

Status BlockBatch::Flush() {
  Status st;
  {
    std::unique_lock lock(mu_);
    st = WaitIdle(lock);
  }
  if (st.ok()) st = Write(store_, blocks_);
  blocks_.clear();
  bytes_ = 0;
  return st;
}

Status BlockBatch::Write(BlockStore* store, const std::vector<Block>& blocks) {
  if (blocks.empty()) return Status::OK();
  std::vector<BlockRef> refs;
  refs.reserve(blocks.size());
  for (const Block& b : blocks) refs.push_back(BlockRef{b.cid, b.data});
  return store->PutMany(refs);
}

Status BlockBatch::WaitIdle(std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [&] { return !busy_; });
  Status st = error_;
  error_ = Status::OK();
  return st;
}

void BlockBatch::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || busy_; });
    if (!busy_) return;  // stop_
    lock.unlock();
    Status st = Write(store_, inflight_);  // no lock held across the I/O
    lock.lock();
    inflight_.clear();
    if (!st.ok() && error_.ok()) error_ = st;
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace s3xfs
