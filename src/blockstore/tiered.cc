#include "s3xfs/blockstore/tiered.h"

#include "s3xfs/base/metrics.h"

namespace s3xfs {

namespace {

// The local copy as a read cache of the remote: hits / (hits + misses) is its hit ratio.
struct TierMetrics {
  metrics::Counter& hits = metrics::Global()
      .Counters("s3xfs_local_cache_hits_total",
                "Blocks read from the local copy in front of the remote block store.")
      .With({});
  metrics::Counter& misses = metrics::Global()
      .Counters("s3xfs_local_cache_misses_total",
                "Blocks missing from the local copy, fetched from the remote block store.")
      .With({});
  metrics::Counter& fetched_bytes = metrics::Global()
      .Counters("s3xfs_remote_fetched_bytes_total",
                "Bytes of blocks fetched from the remote block store (and kept locally).")
      .With({});
  static TierMetrics& Get() {
    static TierMetrics* m = new TierMetrics;  // lives with the registry
    return *m;
  }
};

}  // namespace

Result<Bytes> TieredStore::Get(const Cid& cid) {
  auto r = GetMany(std::span<const Cid>(&cid, 1));
  return std::move(r[0]);
}

std::vector<Result<Bytes>> TieredStore::GetMany(std::span<const Cid> cids) {
  std::vector<Result<Bytes>> out = local_->GetMany(cids);
  std::vector<Cid> missing;
  std::vector<size_t> where;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].ok() && out[i].status().code() == Status::Code::kNotFound) {
      missing.push_back(cids[i]);
      where.push_back(i);
    }
  }
  TierMetrics& m = TierMetrics::Get();
  uint64_t hits = 0;
  for (const Result<Bytes>& r : out) hits += r.ok();
  m.hits.Inc(hits);
  if (missing.empty()) return out;
  m.misses.Inc(missing.size());
  std::vector<Result<Bytes>> fetched = remote_->GetMany(missing);
  // Keep local copies (verified by the remote store), in one PutMany so the store syncs the
  // batch once instead of once per block; a full local disk only costs speed.
  std::vector<BlockRef> keep;
  for (size_t k = 0; k < fetched.size(); ++k) {
    if (!fetched[k].ok()) continue;
    m.fetched_bytes.Inc(fetched[k]->size());
    keep.push_back(BlockRef{missing[k], *fetched[k]});
  }
  if (!keep.empty()) (void)local_->PutMany(keep);
  for (size_t k = 0; k < fetched.size(); ++k) out[where[k]] = std::move(fetched[k]);
  return out;
}

Result<bool> TieredStore::Has(const Cid& cid) {
  S3XFS_ASSIGN_OR_RETURN(bool here, local_->Has(cid));
  if (here) return true;
  return remote_->Has(cid);
}

Result<uint64_t> TieredStore::Size(const Cid& cid) {
  auto s = local_->Size(cid);
  if (s.ok() || s.status().code() != Status::Code::kNotFound) return s;
  return remote_->Size(cid);
}

std::string TieredStore::Describe() const {
  return remote_->Describe() + " (local copy " + local_->Describe() + ")";
}

}  // namespace s3xfs
