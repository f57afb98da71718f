// TieredStore: a local block store in front of a remote one (TemporalX, Kubo). The local store
// is the write-back cache of DESIGN.md §4: every Put lands there (durable when it returns);
// getting blocks to the remote is the core's upload queue, not this class.
//
//  - Put/PutMany/PutManyUnsynced/SyncBlocks/Sync/ForEach/Delete: the local store only (Delete removes the local copy; the
//    remote reference is the upload queue's business).
//  - Get/GetMany/Size/Has: the local store first; a block missing there is fetched from the
//    remote (verified by it) and kept locally, so the next read is local. Remote failures
//    surface as the remote reports them (Unavailable/Timeout after its bounded retries).
//  - Health: the remote's.
//
// Thread-safety: as the two stores (both must be safe for concurrent use).
#pragma once

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

class TieredStore final : public BlockStore {
 public:
  // Neither store is owned; both must outlive this one.
  TieredStore(BlockStore* local, BlockStore* remote) : local_(local), remote_(remote) {}

  Status Put(const Cid& cid, ByteView data) override { return local_->Put(cid, data); }
  Status PutMany(std::span<const BlockRef> blocks) override { return local_->PutMany(blocks); }
  Status PutManyUnsynced(std::span<const BlockRef> blocks) override {
    return local_->PutManyUnsynced(blocks);
  }
  Status SyncBlocks(std::span<const Cid> cids) override { return local_->SyncBlocks(cids); }
  Result<Bytes> Get(const Cid& cid) override;
  std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) override;
  Result<bool> Has(const Cid& cid) override;
  Result<uint64_t> Size(const Cid& cid) override;
  Status Delete(const Cid& cid) override { return local_->Delete(cid); }
  Status Sync() override { return local_->Sync(); }
  Status ForEach(const std::function<Status(const Cid&)>& fn) override { return local_->ForEach(fn); }
  std::string Describe() const override;
  Status Health() override { return remote_->Health(); }

  BlockStore* local() const { return local_; }
  BlockStore* remote() const { return remote_; }

 private:
  BlockStore* local_;
  BlockStore* remote_;
};

}  // namespace s3xfs
