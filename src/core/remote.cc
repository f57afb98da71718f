// The upload queue to a remote block store (see RemoteSync in object_store_impl.h).
#include "object_store_impl.h"
#include "s3xfs/base/log.h"
#include "s3xfs/cas/dagpb.h"

namespace s3xfs {

namespace {

constexpr size_t kUploadBatch = 64;             // blocks per round (16 MiB of 256 KiB leaves)
constexpr size_t kDeleteBatch = 256;
constexpr size_t kPinBatch = 64;                // pin tasks looked at per round
constexpr auto kMinBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::seconds(10);
constexpr auto kHealthEvery = std::chrono::seconds(5);
constexpr int64_t kLogEveryNs = 10'000'000'000;  // repeated failures: one line per 10 s
constexpr int64_t kMissingRetryNs = 3'600'000'000'000;  // a block missing locally: retry in 1 h

// The codec a queued block is uploaded as. Rows queued without one (a data directory meeting
// its first remote) are dag-pb when they decode as dag-pb, else raw; the node keys blocks by
// multihash, so the choice only picks the API call.
Codec UploadCodec(uint64_t codec, ByteView data) {
  if (codec != 0) return static_cast<Codec>(codec);
  return DecodePbNode(data).ok() ? Codec::kDagPb : Codec::kRaw;
}

std::string Mib(uint64_t bytes) {
  return std::to_string(bytes >> 20) + "." + std::to_string(((bytes & ((1u << 20) - 1)) * 10) >> 20) +
         " MiB";
}

}  // namespace

RemoteSync::RemoteSync(Ledger* ledger, BlockStore* blocks, BlockStore* remote,
                       InflightBlocks* inflight, std::chrono::milliseconds poll,
                       std::chrono::milliseconds pin_retry)
    : ledger_(ledger), blocks_(blocks), remote_(remote), inflight_(inflight), poll_(poll),
      pin_retry_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(pin_retry).count()) {}

RemoteSync::~RemoteSync() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t RemoteSync::Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

Status RemoteSync::Start() {
  const bool pins = remote_->pins_roots();
  ledger_->TrackRemote(true);
  ledger_->TrackRemotePins(pins);
  const std::string name = remote_->Describe();
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    const int64_t now = Now();
    S3XFS_ASSIGN_OR_RETURN(auto known, t.GetSetting("remote"));
    S3XFS_ASSIGN_OR_RETURN(auto pinning, t.GetSetting("remote_pins"));
    const bool new_remote = !known || *known != name;
    const bool were_pinning = pinning.value_or("0") == "1";
    if (new_remote) {
      // Blocks written before (embedded only, or for another remote) are not on this one.
      S3XFS_RETURN_IF_ERROR(t.QueueAllUploads(now));
      S3XFS_RETURN_IF_ERROR(t.SetSetting("remote", name));
    }
    if (pins && (new_remote || !were_pinning)) {
      // Every root in use needs a pin here, after the uploads just queued (same time).
      S3XFS_RETURN_IF_ERROR(t.ResetPins(true, now));
      S3XFS_RETURN_IF_ERROR(t.SetSetting("remote_pins", "1"));
    } else if (!pins && were_pinning) {
      S3XFS_RETURN_IF_ERROR(t.ResetPins(false, now));
      S3XFS_RETURN_IF_ERROR(t.SetSetting("remote_pins", "0"));
    }
    return Status::OK();
  }));
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void RemoteSync::NoteFailure(const Status& st) {
  std::lock_guard l(mu_);
  healthy_ = false;
  last_error_ = st.message();
  int64_t now = Now();
  if (now - last_logged_ns_ >= kLogEveryNs) {
    last_logged_ns_ = now;
    S3XFS_LOG(kWarning) << "remote " << remote_->Describe() << ": " << st.message()
                        << " (uploads wait in the ledger and are retried)";
  }
}

void RemoteSync::Loop() {
  auto backoff = std::chrono::milliseconds(0);
  auto last_health = std::chrono::steady_clock::now();
  bool had_work = false;
  for (;;) {
    {
      std::unique_lock l(mu_);
      if (backoff.count() > 0) cv_.wait_for(l, backoff, [&] { return stop_; });
      if (stop_) return;
    }
    auto up = UploadSome();
    Result<bool> del = up.ok() ? DeleteSome() : Result<bool>(up.status());
    Result<bool> pin = del.ok() ? PinSome() : Result<bool>(del.status());
    if (!pin.ok()) {
      NoteFailure(pin.status());
      backoff = std::clamp(backoff * 2, std::chrono::milliseconds(kMinBackoff),
                           std::chrono::milliseconds(kMaxBackoff));
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    bool worked = *up || *del || *pin;
    if (worked) {
      std::lock_guard l(mu_);
      if (!healthy_) S3XFS_LOG(kInfo) << "remote " << remote_->Describe() << " reachable again";
      healthy_ = true;
      last_error_.clear();
      had_work = true;
      continue;
    }
    if (had_work) {
      had_work = false;
      S3XFS_LOG(kDebug) << "upload queue to " << remote_->Describe() << " drained";
    }
    // Idle: keep the health current for status output.
    if (std::chrono::steady_clock::now() - last_health >= kHealthEvery) {
      last_health = std::chrono::steady_clock::now();
      Status h = remote_->Health();
      if (h.ok()) {
        std::lock_guard l(mu_);
        healthy_ = true;
        last_error_.clear();
      } else {
        NoteFailure(h);
      }
    }
    std::unique_lock l(mu_);
    cv_.wait_for(l, poll_, [&] { return stop_; });
    if (stop_) return;
  }
}

Result<bool> RemoteSync::UploadSome() {
  std::vector<RemoteTask> tasks;
  const int64_t now = Now();
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(tasks, t.RemoteTasks(RemoteOp::kUpload, kUploadBatch, now));
    return Status::OK();
  }));
  if (tasks.empty()) return false;
  std::vector<Cid> cids;
  for (const RemoteTask& t : tasks) cids.push_back(Cid::V1(Codec::kRaw, t.multihash));
  std::vector<Result<Bytes>> data = blocks_->GetMany(cids);  // verified against the hash
  std::vector<BlockRef> refs;
  std::vector<Cid> upload_cids;
  std::vector<size_t> sent;  // task index of each ref
  upload_cids.reserve(tasks.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!data[i].ok()) {
      S3XFS_LOG(kError) << "cannot upload block " << cids[i].ToString() << ": "
                        << data[i].status().message() << " (retried in an hour; run s3xfs fsck)";
      missing.push_back(i);
      continue;
    }
    upload_cids.push_back(Cid::V1(UploadCodec(tasks[i].codec, *data[i]), tasks[i].multihash));
    sent.push_back(i);
  }
  for (size_t k = 0; k < sent.size(); ++k) refs.push_back(BlockRef{upload_cids[k], *data[sent[k]]});
  if (!missing.empty()) {
    S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
      for (size_t i : missing)
        S3XFS_RETURN_IF_ERROR(t.DeferRemote(tasks[i].multihash, now + kMissingRetryNs));
      return Status::OK();
    }, Durability::kRelaxed));
  }
  if (refs.empty()) return true;
  S3XFS_RETURN_IF_ERROR(remote_->PutMany(refs));
  uint64_t bytes = 0;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    for (size_t i : sent) {
      S3XFS_RETURN_IF_ERROR(t.UploadDone(tasks[i].multihash).status());
      bytes += tasks[i].size;
    }
    return Status::OK();
  }, Durability::kRelaxed));
  std::lock_guard l(mu_);
  uploaded_blocks_ += sent.size();
  uploaded_bytes_ += bytes;
  last_upload_ns_ = Now();
  return true;
}

Result<bool> RemoteSync::DeleteSome() {
  std::vector<RemoteTask> tasks;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(tasks, t.RemoteTasks(RemoteOp::kDelete, kDeleteBatch, Now()));
    return Status::OK();
  }));
  if (tasks.empty()) return false;
  if (remote_->pins_roots()) {
    // Never deleted there: unpinned blocks are the node's GC's to reclaim (see blockstore.h).
    S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
      for (const RemoteTask& task : tasks) S3XFS_RETURN_IF_ERROR(t.DeleteDone(task.multihash));
      return Status::OK();
    }, Durability::kRelaxed));
    return true;
  }
  std::vector<Bytes> mhs;
  for (RemoteTask& t : tasks) mhs.push_back(std::move(t.multihash));
  // A writer putting the block again keeps it (its commit cancels the delete).
  std::vector<Bytes> claimed = inflight_->ClaimForDeletion(mhs);
  std::vector<Bytes> done;
  Status st;
  for (const Bytes& mh : claimed) {
    st = remote_->Delete(Cid::V1(Codec::kRaw, mh));
    if (!st.ok()) break;
    done.push_back(mh);
  }
  Status commit = ledger_->Write([&](LedgerTxn& t) -> Status {
    for (const Bytes& mh : done) S3XFS_RETURN_IF_ERROR(t.DeleteDone(mh));
    return Status::OK();
  }, Durability::kRelaxed);
  inflight_->DoneDeleting(claimed);
  S3XFS_RETURN_IF_ERROR(st);
  S3XFS_RETURN_IF_ERROR(commit);
  {
    std::lock_guard l(mu_);
    deleted_blocks_ += done.size();
  }
  return !done.empty();
}

Result<bool> RemoteSync::PinSome() {
  if (!remote_->pins_roots()) return false;
  std::vector<PinTask> tasks;
  RemoteQueueStats queue;
  const int64_t now = Now();
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(tasks, t.PinTasks(kPinBatch, now));
    S3XFS_ASSIGN_OR_RETURN(queue, t.RemoteStats());
    return Status::OK();
  }));
  bool worked = false;
  for (const PinTask& task : tasks) {
    // Uploads queued at or before the pin may hold blocks of its DAG: the pin waits for them.
    if (task.pin && queue.oldest_upload_ns != 0 && task.queued_ns >= queue.oldest_upload_ns)
      continue;
    Status st = task.pin ? remote_->PinRoot(task.root, task.replaces) : remote_->UnpinRoot(task.root);
    if (st.code() == Status::Code::kUnavailable || st.code() == Status::Code::kTimeout)
      return st;  // the node, not this root: back off
    if (!st.ok()) {
      const bool missing = task.pin && st.code() == Status::Code::kNotFound;
      uint64_t requeued = 0;
      S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
        if (!missing) return t.DeferPin(task.root, Now() + pin_retry_ns_);
        S3XFS_ASSIGN_OR_RETURN(requeued, t.RequeueBlocksOf(task.root, Now() + pin_retry_ns_));
        return Status::OK();
      }));
      S3XFS_LOG(kWarning) << "remote " << remote_->Describe() << ": "
                          << (task.pin ? "pinning " : "unpinning ") << task.root.ToString()
                          << " failed: " << st.message()
                          << (missing ? "; its " + std::to_string(requeued) +
                                            " blocks are uploaded again, then the pin is retried"
                                      : "; retried later");
      worked = true;
      continue;
    }
    S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
      return task.pin ? t.PinDone(task.root, task.replaces) : t.UnpinDone(task.root);
    }, Durability::kRelaxed));
    worked = true;
    std::lock_guard l(mu_);
    (task.pin ? pinned_roots_ : unpinned_roots_)++;
  }
  return worked;
}

Result<RemoteStatus> RemoteSync::State() {
  RemoteStatus s;
  s.enabled = true;
  s.remote = remote_->Describe();
  s.pins_roots = remote_->pins_roots();
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(s.queue, t.RemoteStats());
    return Status::OK();
  }));
  std::lock_guard l(mu_);
  s.healthy = healthy_;
  s.last_error = last_error_;
  s.uploaded_blocks = uploaded_blocks_;
  s.uploaded_bytes = uploaded_bytes_;
  s.deleted_blocks = deleted_blocks_;
  s.pinned_roots = pinned_roots_;
  s.unpinned_roots = unpinned_roots_;
  s.last_upload_ns = last_upload_ns_;
  return s;
}

Status RemoteSync::WaitUploaded(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    S3XFS_ASSIGN_OR_RETURN(RemoteStatus s, State());
    if (s.queue.uploads == 0 && s.queue.pins == 0) return Status::OK();
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::Timeout(std::to_string(s.queue.uploads) + " blocks (" +
                             Mib(s.queue.upload_bytes) + ") not yet uploaded to " + s.remote +
                             (s.queue.pins ? " and " + std::to_string(s.queue.pins) +
                                                 " roots not yet pinned there"
                                           : "") +
                             (s.last_error.empty() ? "" : ": " + s.last_error));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status ObjectStoreImpl::StartRemote() {
  remote_ = std::make_unique<RemoteSync>(ledger_.get(), blocks_, opt_.remote, &inflight_,
                                         opt_.remote_poll, opt_.remote_pin_retry);
  return remote_->Start();
}

Result<RemoteStatus> ObjectStoreImpl::RemoteState() {
  if (!remote_) return RemoteStatus{};
  return remote_->State();
}

Status ObjectStoreImpl::WaitUploaded(std::chrono::milliseconds timeout) {
  if (!remote_) return Status::OK();
  return remote_->WaitUploaded(timeout);
}

Result<RemoteStatus> ReadRemoteQueue(const std::string& ledger_path) {
  S3XFS_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(ledger_path));
  RemoteStatus st;
  S3XFS_RETURN_IF_ERROR(ledger->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto remote, t.GetSetting("remote"));
    st.enabled = remote.has_value();
    st.remote = remote.value_or("");
    S3XFS_ASSIGN_OR_RETURN(auto pins, t.GetSetting("remote_pins"));
    st.pins_roots = pins.value_or("0") == "1";
    S3XFS_ASSIGN_OR_RETURN(st.queue, t.RemoteStats());
    return Status::OK();
  }));
  return st;
}

}  // namespace s3xfs
