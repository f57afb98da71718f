#include "s3xfs/blockstore/batch.h"

namespace s3xfs {

Status BlockBatch::Add(const Cid& cid, ByteView data) {
  return Add(Block{cid, Bytes(data.begin(), data.end())});
}

Status BlockBatch::Add(Block&& block) {
  bytes_ += block.data.size();
  blocks_.push_back(std::move(block));
  return bytes_ >= limit_ ? Flush() : Status::OK();
}

Status BlockBatch::Flush() {
  if (blocks_.empty()) return Status::OK();
  std::vector<BlockRef> refs;
  refs.reserve(blocks_.size());
  for (const Block& b : blocks_) refs.push_back(BlockRef{b.cid, b.data});
  Status st = store_->PutMany(refs);
  blocks_.clear();
  bytes_ = 0;
  return st;
}

}  // namespace s3xfs
