// Garbage collection and fsck.
#include <set>

#include "object_store_impl.h"
#include "s3xfs/base/log.h"
#include "s3xfs/base/metrics.h"

namespace s3xfs {

namespace {

struct GcMetrics {
  metrics::CounterFamily& runs = metrics::Global().Counters(
      "s3xfs_gc_runs_total", "Garbage collection runs, by result (ok, error).", {"result"});
  metrics::Counter& runs_ok = runs.With({"ok"});
  metrics::Counter& runs_failed = runs.With({"error"});
  metrics::Counter& blocks = metrics::Global()
      .Counters("s3xfs_gc_deleted_blocks_total", "Unreferenced blocks deleted by garbage collection.")
      .With({});
  metrics::Counter& bytes = metrics::Global()
      .Counters("s3xfs_gc_deleted_bytes_total", "Bytes of the blocks garbage collection deleted.")
      .With({});
  metrics::Gauge& last_run = metrics::Global()
      .Gauges("s3xfs_gc_last_run_timestamp_seconds",
              "When the last garbage collection run ended (Unix time; 0: none yet).")
      .With({});
  metrics::Gauge& last_success = metrics::Global()
      .Gauges("s3xfs_gc_last_success_timestamp_seconds",
              "When the last successful garbage collection run ended (Unix time; 0: none yet).")
      .With({});
  metrics::Gauge& duration = metrics::Global()
      .Gauges("s3xfs_gc_last_duration_seconds", "How long the last garbage collection run took.")
      .With({});
  metrics::Gauge& waiting = metrics::Global()
      .Gauges("s3xfs_gc_waiting_blocks",
              "Unreferenced blocks still inside the grace period at the last successful run.")
      .With({});
  static GcMetrics& Get() {
    static GcMetrics* m = new GcMetrics;  // lives with the registry
    return *m;
  }
};

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status ObjectStoreImpl::Pin(const Cid& root, const std::vector<BlockUse>& blocks) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    ObjectInfo holder;
    holder.kind = InodeKind::kFile;
    holder.nlink = 0;
    holder.cid = root;
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(holder));
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, {}, blocks));
    S3XFS_ASSIGN_OR_RETURN(auto old, t.PutPin(root, ino, Now()));
    if (old) S3XFS_RETURN_IF_ERROR(FreeInode(t, *old));
    return Status::OK();
  });
}

Status ObjectStoreImpl::Unpin(const Cid& root) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto old, t.RemovePin(root));
    if (!old) return Status::NotFound("no pin " + root.ToString());
    return FreeInode(t, *old);
  });
}

Result<GcStats> ObjectStoreImpl::CollectGarbage(std::optional<std::chrono::milliseconds> grace) {
  std::lock_guard<std::mutex> run(gc_run_mu_);
  const auto start = std::chrono::steady_clock::now();
  GcStats stats;
  Status st = RunGc(grace.value_or(opt_.gc_grace), &stats);
  {
    std::lock_guard<std::mutex> l(last_gc_mu_);
    last_gc_.finished_ns = Now();
    last_gc_.took_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - start).count();
    last_gc_.status = st;
    last_gc_.stats = stats;
  }
  GcMetrics& m = GcMetrics::Get();
  m.duration.Set(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  const double ended = UnixSeconds();
  m.last_run.Set(ended);
  if (!st.ok()) {
    m.runs_failed.Inc();
    return st;
  }
  m.runs_ok.Inc();
  m.last_success.Set(ended);
  m.waiting.Set(static_cast<double>(stats.blocks_waiting));
  return stats;
}

GcRun ObjectStoreImpl::LastGc() {
  std::lock_guard<std::mutex> l(last_gc_mu_);
  return last_gc_;
}

Status ObjectStoreImpl::RunGc(std::chrono::milliseconds grace, GcStats* out) {
  GcStats& stats = *out;
  GcMetrics& m = GcMetrics::Get();
  const int64_t cutoff = Now() - std::chrono::duration_cast<std::chrono::nanoseconds>(grace).count();
  for (;;) {
    std::vector<BlockRow> rows;
    S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(rows, t.GcCandidates(cutoff + 1, 512));
      return Status::OK();
    }));
    if (rows.empty()) break;
    std::vector<Bytes> mhs;
    std::map<Bytes, uint64_t> sizes;
    for (BlockRow& r : rows) {
      sizes[r.multihash] = r.size;
      mhs.push_back(std::move(r.multihash));
    }
    // Claim blocks no writer is putting; writers that want one wait until we are done.
    std::vector<Bytes> claimed = inflight_.ClaimForDeletion(mhs);
    std::vector<Bytes> forgotten;
    Status st = ledger_->Write([&](LedgerTxn& t) -> Status {
      for (const Bytes& mh : claimed) {
        S3XFS_ASSIGN_OR_RETURN(bool gone, t.ForgetBlockIfUnused(mh));
        if (gone) forgotten.push_back(mh);
      }
      return Status::OK();
    });
    // The ledger no longer knows these blocks; delete them from the store (no lock held). A
    // failed delete leaves an orphan that fsck --repair removes.
    for (const Bytes& mh : forgotten) {
      if (blocks_->Delete(Cid::V1(Codec::kRaw, mh)).ok()) {
        stats.blocks_deleted++;
        stats.bytes_deleted += sizes[mh];
        m.blocks.Inc();
        m.bytes.Inc(sizes[mh]);
      }
    }
    inflight_.DoneDeleting(claimed);
    S3XFS_RETURN_IF_ERROR(st);
    if (claimed.size() < mhs.size() && forgotten.empty()) break;  // only held blocks left
    if (rows.size() < 512) break;
  }
  return ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(stats.blocks_waiting, t.CountZeroRefBlocks());
    return Status::OK();
  });
}

Result<ObjectStore::StoredBlocks> ObjectStoreImpl::CountStoredBlocks() {
  StoredBlocks out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto totals, t.BlockTotals());
    out.blocks = totals.first;
    out.bytes = totals.second;
    return Status::OK();
  }));
  return out;
}


Result<FsckReport> ObjectStoreImpl::Fsck(bool repair, const FsckProgress& progress) {
  std::lock_guard<std::mutex> run(gc_run_mu_);
  FsckReport rep;
  // 1. Reference counts against the inodes' block lists.
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto wrong, t.CheckRefcounts(repair, Now()));
    for (const BlockRow& r : wrong) {
      rep.wrong_refcounts.push_back(Cid::V1(Codec::kRaw, r.multihash).ToString() + " stored " +
                                    std::to_string(r.refs));
      if (repair) rep.repaired++;
    }
    return Status::OK();
  }));
  // 2. Blocks the ledger knows, against the store.
  std::vector<BlockRow> rows;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(rows, t.AllBlocks());
    return Status::OK();
  }));
  std::set<Bytes> known;
  uint64_t total_bytes = 0, done_bytes = 0;
  for (const BlockRow& r : rows) total_bytes += r.size;
  if (progress) progress(0, total_bytes);
  for (const BlockRow& r : rows) {
    done_bytes += r.size;
    if (progress) progress(done_bytes, total_bytes);
    known.insert(r.multihash);
    Cid c = Cid::V1(Codec::kRaw, r.multihash);
    auto has = blocks_->Has(c);
    if (!has.ok()) return has.status();
    if (*has) continue;
    if (r.refs > 0) {
      rep.missing_blocks.push_back(c.ToString() + " (" + std::to_string(r.refs) + " references)");
    } else if (repair) {
      S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
        return t.ForgetBlockIfUnused(r.multihash).status();
      }));
      rep.repaired++;
    }
  }
  // 3. Blocks in the store the ledger does not know (left by a crash mid-write).
  std::vector<Cid> orphans;
  S3XFS_RETURN_IF_ERROR(blocks_->ForEach([&](const Cid& c) {
    Bytes mh(c.multihash().begin(), c.multihash().end());
    if (!known.count(mh) && !inflight_.IsHeld(mh)) orphans.push_back(c);
    return Status::OK();
  }));
  for (const Cid& c : orphans) {
    rep.orphan_blocks.push_back(c.ToString());
    if (repair) {
      Bytes mh(c.multihash().begin(), c.multihash().end());
      auto claimed = inflight_.ClaimForDeletion({mh});
      if (!claimed.empty()) {
        // Re-check under the claim: a writer may have committed it meanwhile.
        bool still_unknown = true;
        S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
          S3XFS_ASSIGN_OR_RETURN(bool known_now, t.HasBlock(mh));
          still_unknown = !known_now;
          return Status::OK();
        }));
        if (still_unknown && blocks_->Delete(c).ok()) rep.repaired++;
        inflight_.DoneDeleting(claimed);
      }
    }
  }
  if (repair) {
    // What was repaired is no longer a finding, except missing referenced data.
    rep.wrong_refcounts.clear();
    rep.orphan_blocks.clear();
  }
  return rep;
}

// Pending ETags computed per background pass (each reads one file's content once;
// ComputePendingEtags also stops after 8 GiB).
constexpr size_t kEtagsPerPass = 256;

void ObjectStoreImpl::StartGcThread() {
  GcMetrics::Get();  // the series exist (at zero) before the first run
  gc_thread_ = std::thread([this] {
    std::unique_lock lock(gc_thread_mu_);
    while (!gc_thread_cv_.wait_for(lock, opt_.gc_interval, [&] { return gc_thread_stop_; })) {
      lock.unlock();
      CollectGarbage(std::nullopt).status().ok();  // a failure is retried next time
      // ETags left pending by the mount, for files closed since: S3 then finds them ready.
      auto etags = ComputePendingEtags(kEtagsPerPass);
      if (!etags.ok()) S3XFS_LOG(kWarning) << "computing pending ETags: " << etags.status().ToString();
      lock.lock();
    }
  });
}

ObjectStoreImpl::~ObjectStoreImpl() {
  stopping_ = true;  // a background ETag pass stops at its next block
  {
    std::lock_guard lock(gc_thread_mu_);
    gc_thread_stop_ = true;
  }
  gc_thread_cv_.notify_all();
  if (gc_thread_.joinable()) gc_thread_.join();
}

}  // namespace s3xfs
