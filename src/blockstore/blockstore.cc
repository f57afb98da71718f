#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

Status BlockStore::PutMany(std::span<const BlockRef> blocks) {
  for (const BlockRef& b : blocks) S3XFS_RETURN_IF_ERROR(Put(b.cid, b.data));
  return Status::OK();
}

Status BlockStore::SyncBlocks(std::span<const Cid> cids) {
  for (const Cid& c : cids) {
    S3XFS_ASSIGN_OR_RETURN(bool there, Has(c));
    if (!there) return Status::NotFound("block " + c.ToString() + " is not stored");
  }
  return Status::OK();
}

std::vector<Result<Bytes>> BlockStore::GetMany(std::span<const Cid> cids) {
  std::vector<Result<Bytes>> out;
  out.reserve(cids.size());
  for (const Cid& c : cids) out.push_back(Get(c));
  return out;
}

Status BlockStore::PinRoot(const Cid& root, const std::optional<Cid>&) {
  return Status::NotSupported(Describe() + " does not pin roots (pinning " + root.ToString() + ")");
}

Status BlockStore::UnpinRoot(const Cid& root) {
  return Status::NotSupported(Describe() + " does not pin roots (unpinning " + root.ToString() + ")");
}

}  // namespace s3xfs
