#include "node_core.h"

#include <sys/stat.h>

#include "s3xfs/blockstore/embedded.h"

namespace s3xfs::node {

namespace {

constexpr size_t kSweepBatch = 512;  // blocks checked per exclusive-lock hold during GC

std::vector<Bytes> Multihashes(std::span<const BlockRef> blocks) {
  std::vector<Bytes> mhs;
  mhs.reserve(blocks.size());
  for (const BlockRef& b : blocks) mhs.emplace_back(b.cid.multihash().begin(), b.cid.multihash().end());
  return mhs;
}

}  // namespace

Result<std::unique_ptr<NodeCore>> NodeCore::Open(const std::string& data_dir) {
  // A daemon's blocks are referenced from its ledger, not from refcounts.db: the node's garbage
  // collector would delete every one of them.
  struct stat sb;
  if (::stat((data_dir + "/ledger.db").c_str(), &sb) == 0)
    return Status::InvalidArgument(data_dir + " holds a daemon's ledger.db; give the node a "
                                   "directory of its own (its GC would delete the daemon's blocks)");
  EmbeddedOptions eo;
  eo.sync_each_put = true;  // a put is acknowledged only once it is on stable storage
  eo.create_if_missing = true;
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenEmbeddedStore(data_dir, eo));
  S3XFS_ASSIGN_OR_RETURN(auto refs, RefCounts::Open(data_dir + "/refcounts.db"));
  return std::unique_ptr<NodeCore>(new NodeCore(std::move(store), std::move(refs)));
}

NodeCore::~NodeCore() {
  std::thread t;
  {
    std::lock_guard<std::mutex> l(gc_mu_);
    gc_stop_ = true;
    t = std::move(gc_thread_);
  }
  if (t.joinable()) t.join();
}

// ---- puts and deletes

Status NodeCore::PutCounted(std::span<const BlockRef> blocks) {
  if (blocks.empty()) return Status::OK();
  std::shared_lock<std::shared_mutex> l(mutate_mu_);
  S3XFS_RETURN_IF_ERROR(store_->PutMany(blocks));
  return refs_->Increment(Multihashes(blocks)).status();
}

bool NodeCore::InFlight(const Bytes& mh) {
  std::lock_guard<std::mutex> l(inflight_mu_);
  return inflight_.count(mh) != 0;
}

Status NodeCore::DeleteUnlessInFlight(const Cid& cid, uint64_t* removed) {
  Bytes mh(cid.multihash().begin(), cid.multihash().end());
  if (InFlight(mh)) return Status::OK();  // an upload will count it: keep it
  S3XFS_RETURN_IF_ERROR(store_->Delete(cid));
  if (removed) ++*removed;
  return Status::OK();
}

Status NodeCore::Release(std::span<const Cid> cids, bool force) {
  if (cids.empty()) return Status::OK();
  std::vector<Bytes> mhs;
  mhs.reserve(cids.size());
  for (const Cid& c : cids) mhs.emplace_back(c.multihash().begin(), c.multihash().end());

  std::unique_lock<std::shared_mutex> l(mutate_mu_);
  // Check first, so that an unknown CID fails the call before anything changes.
  S3XFS_ASSIGN_OR_RETURN(std::vector<int64_t> counts, refs_->GetMany(mhs));
  for (size_t i = 0; i < cids.size(); ++i) {
    if (counts[i] > 0) continue;
    S3XFS_ASSIGN_OR_RETURN(bool present, store_->Has(cids[i]));
    if (!present) return Status::NotFound("block " + cids[i].ToString() + " not found");
  }

  // Blocks that may be deleted: those whose last reference went (or that had none: stored
  // without a reference, e.g. left by a crash or a failed upload).
  std::unordered_set<Bytes, BytesHash> unreferenced;
  if (force) {
    S3XFS_RETURN_IF_ERROR(refs_->Drop(mhs).status());
    unreferenced.insert(mhs.begin(), mhs.end());
  } else {
    S3XFS_ASSIGN_OR_RETURN(RefCounts::Decremented d, refs_->Decrement(mhs));
    unreferenced.insert(d.reached_zero.begin(), d.reached_zero.end());
    unreferenced.insert(d.missing.begin(), d.missing.end());
  }
  for (size_t i = 0; i < cids.size(); ++i) {
    auto it = unreferenced.find(mhs[i]);
    if (it == unreferenced.end()) continue;
    unreferenced.erase(it);  // once per multihash
    S3XFS_RETURN_IF_ERROR(DeleteUnlessInFlight(cids[i], nullptr));
  }
  return Status::OK();
}

// ---- uploads

NodeCore::Upload::~Upload() { Unregister(); }

void NodeCore::Upload::Unregister() {
  std::lock_guard<std::mutex> l(core_->inflight_mu_);
  for (const Bytes& mh : staged_) {
    auto it = core_->inflight_.find(mh);
    if (it != core_->inflight_.end() && --it->second == 0) core_->inflight_.erase(it);
  }
  staged_.clear();
  seen_.clear();
}

Status NodeCore::Upload::Stage(std::span<const BlockRef> blocks) {
  if (blocks.empty()) return Status::OK();
  std::shared_lock<std::shared_mutex> l(core_->mutate_mu_);
  S3XFS_RETURN_IF_ERROR(core_->store_->PutMany(blocks));
  // Registered before the shared lock is released: no deletion can slip in between.
  std::lock_guard<std::mutex> g(core_->inflight_mu_);
  for (const BlockRef& b : blocks) {
    Bytes mh(b.cid.multihash().begin(), b.cid.multihash().end());
    if (!seen_.insert(mh).second) continue;
    ++core_->inflight_[mh];
    staged_.push_back(std::move(mh));
  }
  return Status::OK();
}

Status NodeCore::Upload::Commit() {
  Status st;
  {
    std::shared_lock<std::shared_mutex> l(core_->mutate_mu_);
    st = core_->refs_->Increment(staged_).status();
  }
  // Counted (or failed: then the blocks are plain unreferenced blocks); either way no longer
  // in flight.
  Unregister();
  return st;
}

// ---- garbage collection

Status NodeCore::SweepBatch(std::vector<Cid>* batch, SweepResult* result) {
  std::vector<Bytes> mhs;
  mhs.reserve(batch->size());
  for (const Cid& c : *batch) mhs.emplace_back(c.multihash().begin(), c.multihash().end());
  std::unique_lock<std::shared_mutex> l(mutate_mu_);
  S3XFS_ASSIGN_OR_RETURN(std::vector<int64_t> counts, refs_->GetMany(mhs));
  for (size_t i = 0; i < batch->size(); ++i) {
    if (counts[i] > 0) continue;
    S3XFS_RETURN_IF_ERROR(DeleteUnlessInFlight((*batch)[i], &result->removed));
  }
  result->checked += batch->size();
  gc_checked_ = result->checked;
  gc_removed_ = result->removed;
  batch->clear();
  return Status::OK();
}

Result<NodeCore::SweepResult> NodeCore::Sweep(const std::atomic<bool>& stop) {
  SweepResult result;
  gc_checked_ = 0;
  gc_removed_ = 0;
  std::vector<Cid> batch;
  Status st = store_->ForEach([&](const Cid& cid) -> Status {
    if (stop) {
      result.stopped = true;
      return Status::Unavailable("garbage collection stopped");
    }
    batch.push_back(cid);
    if (batch.size() >= kSweepBatch) return SweepBatch(&batch, &result);
    return Status::OK();
  });
  if (result.stopped) return result;
  S3XFS_RETURN_IF_ERROR(st);
  S3XFS_RETURN_IF_ERROR(SweepBatch(&batch, &result));
  return result;
}

std::string NodeCore::StartGc() {
  std::lock_guard<std::mutex> l(gc_mu_);
  if (gc_running_) return "running: already started; checked " + std::to_string(gc_checked_) +
                          " blocks, removed " + std::to_string(gc_removed_);
  if (gc_thread_.joinable()) gc_thread_.join();  // the previous run has finished
  gc_running_ = true;
  gc_stop_ = false;
  gc_thread_ = std::thread([this] {
    auto r = Sweep(gc_stop_);
    std::string last;
    if (!r.ok()) {
      last = "idle: last run failed: " + r.status().ToString();
    } else {
      last = std::string("idle: last run ") + (r->stopped ? "stopped after removing " : "removed ") +
             std::to_string(r->removed) + " blocks (checked " + std::to_string(r->checked) + ")";
    }
    std::lock_guard<std::mutex> g(gc_mu_);
    gc_last_ = std::move(last);
    gc_running_ = false;
  });
  return "started";
}

std::string NodeCore::StopGc() {
  std::lock_guard<std::mutex> l(gc_mu_);
  if (!gc_running_) return gc_last_;
  gc_stop_ = true;
  return "stopping";
}

std::string NodeCore::GcStatus() {
  std::lock_guard<std::mutex> l(gc_mu_);
  if (!gc_running_) return gc_last_;
  return "running: checked " + std::to_string(gc_checked_) + " blocks, removed " +
         std::to_string(gc_removed_);
}

bool NodeCore::gc_running() {
  std::lock_guard<std::mutex> l(gc_mu_);
  return gc_running_;
}

Status NodeCore::Sync() {
  S3XFS_RETURN_IF_ERROR(store_->Sync());
  return refs_->Checkpoint();
}

}  // namespace s3xfs::node
