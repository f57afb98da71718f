// A block (CID + bytes) and BlockSource, the read interface the DAG reader and CAR exporter use.
#pragma once

#include <span>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

struct Block {
  Cid cid;
  Bytes data;
};

// Anything blocks can be read from. Implementations are safe for concurrent use.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // One result per CID, in the same order. Every returned value hashes to its CID: sources verify
  // before returning (Corruption otherwise) — callers never re-hash. NotFound for a missing block.
  virtual std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) = 0;
};

// One block from a source (GetMany of one CID).
inline Result<Bytes> GetOneBlock(BlockSource* src, const Cid& cid) {
  auto v = src->GetMany(std::span<const Cid>(&cid, 1));
  if (v.size() != 1) return Status::Internal("block source returned a wrong number of results");
  return std::move(v[0]);
}

}  // namespace s3xfs
