#include "s3xfs/blockstore/faulty.h"

#include <thread>

namespace s3xfs {

void FaultyBlockStore::FailNth(Op op, uint64_t n, Status status) {
  std::lock_guard<std::mutex> l(mu_);
  fail_at_[op][calls_[op] + n] = std::move(status);
}

void FaultyBlockStore::SetUnavailableFor(std::chrono::milliseconds duration) {
  std::lock_guard<std::mutex> l(mu_);
  unavailable_until_ = std::chrono::steady_clock::now() + duration;
}

void FaultyBlockStore::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> l(mu_);
  delay_ = delay;
}

void FaultyBlockStore::SetCorruptPuts(bool on) {
  std::lock_guard<std::mutex> l(mu_);
  corrupt_puts_ = on;
}

void FaultyBlockStore::HoldWhen(std::function<bool(const Cid&)> pred) {
  std::lock_guard<std::mutex> l(mu_);
  hold_ = std::move(pred);
  cv_.notify_all();
}

void FaultyBlockStore::ReleaseHeld() {
  std::lock_guard<std::mutex> l(mu_);
  hold_ = nullptr;
  ++hold_epoch_;
  cv_.notify_all();
}

int FaultyBlockStore::held_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return held_;
}

uint64_t FaultyBlockStore::calls(Op op) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

Status FaultyBlockStore::Enter(Op op, const Cid* cid) {
  std::chrono::milliseconds delay;
  {
    std::unique_lock<std::mutex> l(mu_);
    uint64_t n = ++calls_[op];
    if (cid && hold_ && hold_(*cid)) {
      ++held_;
      uint64_t epoch = hold_epoch_;
      cv_.wait(l, [&] { return hold_epoch_ != epoch || !hold_ || !hold_(*cid); });
      --held_;
    }
    auto& fails = fail_at_[op];
    auto it = fails.find(n);
    if (it != fails.end()) {
      Status s = std::move(it->second);
      fails.erase(it);
      return s;
    }
    if (std::chrono::steady_clock::now() < unavailable_until_)
      return Status::Unavailable("block store unavailable (injected fault)");
    delay = delay_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  return Status::OK();
}

Status FaultyBlockStore::PutOne(const Cid& cid, ByteView data, bool synced) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kPut, &cid));
  bool corrupt;
  {
    std::lock_guard<std::mutex> l(mu_);
    corrupt = corrupt_puts_;
  }
  Bytes bad;
  if (corrupt) {
    bad.assign(data.begin(), data.end());
    if (bad.empty()) bad.push_back(0); else bad[bad.size() / 2] ^= 0x01;
    data = bad;
  }
  if (synced) return inner_->Put(cid, data);
  BlockRef ref{cid, data};
  return inner_->PutManyUnsynced(std::span<const BlockRef>(&ref, 1));
}

Status FaultyBlockStore::Put(const Cid& cid, ByteView data) { return PutOne(cid, data, true); }

Status FaultyBlockStore::PutMany(std::span<const BlockRef> blocks) {
  for (const BlockRef& b : blocks) S3XFS_RETURN_IF_ERROR(Put(b.cid, b.data));
  return Status::OK();
}

Status FaultyBlockStore::PutManyUnsynced(std::span<const BlockRef> blocks) {
  for (const BlockRef& b : blocks) S3XFS_RETURN_IF_ERROR(PutOne(b.cid, b.data, false));
  return Status::OK();
}

Status FaultyBlockStore::SyncBlocks(std::span<const Cid> cids) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kSync, nullptr));
  return inner_->SyncBlocks(cids);
}

Result<Bytes> FaultyBlockStore::Get(const Cid& cid) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kGet, &cid));
  return inner_->Get(cid);
}

Result<bool> FaultyBlockStore::Has(const Cid& cid) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kHas, &cid));
  return inner_->Has(cid);
}

Result<uint64_t> FaultyBlockStore::Size(const Cid& cid) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kSize, &cid));
  return inner_->Size(cid);
}

Status FaultyBlockStore::Delete(const Cid& cid) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kDelete, &cid));
  return inner_->Delete(cid);
}

Status FaultyBlockStore::Sync() {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kSync, nullptr));
  return inner_->Sync();
}

Status FaultyBlockStore::ForEach(const std::function<Status(const Cid&)>& fn) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kForEach, nullptr));
  return inner_->ForEach(fn);
}

Status FaultyBlockStore::PinRoot(const Cid& root, const std::optional<Cid>& replaces) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kPin, &root));
  return inner_->PinRoot(root, replaces);
}

Status FaultyBlockStore::UnpinRoot(const Cid& root) {
  S3XFS_RETURN_IF_ERROR(Enter(Op::kUnpin, &root));
  return inner_->UnpinRoot(root);
}

}  // namespace s3xfs
