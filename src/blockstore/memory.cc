#include "s3xfs/blockstore/memory.h"

#include <cstring>

namespace s3xfs {

size_t MemoryBlockStore::KeyHash::operator()(const Key& k) const noexcept {
  uint64_t h = 0;
  size_t n = k.size() < 8 ? k.size() : 8;
  std::memcpy(&h, k.data() + k.size() - n, n);
  return static_cast<size_t>(h);
}

static Bytes KeyOf(const Cid& cid) { return Bytes(cid.multihash().begin(), cid.multihash().end()); }

Status MemoryBlockStore::Put(const Cid& cid, ByteView data) {
  counters_.puts++;
  counters_.bytes_put += data.size();
  std::lock_guard<std::mutex> l(mu_);
  blocks_.try_emplace(KeyOf(cid), data.begin(), data.end());
  return Status::OK();
}

Result<Bytes> MemoryBlockStore::Get(const Cid& cid) {
  counters_.gets++;
  Bytes data;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = blocks_.find(KeyOf(cid));
    if (it == blocks_.end()) return Status::NotFound("block " + cid.ToString() + " not found in memory");
    data = it->second;
  }
  S3XFS_RETURN_IF_ERROR(cid.Verify(data));  // hash outside the lock
  counters_.bytes_got += data.size();
  return data;
}

Result<bool> MemoryBlockStore::Has(const Cid& cid) {
  counters_.has++;
  std::lock_guard<std::mutex> l(mu_);
  return blocks_.count(KeyOf(cid)) > 0;
}

Result<uint64_t> MemoryBlockStore::Size(const Cid& cid) {
  counters_.sizes++;
  std::lock_guard<std::mutex> l(mu_);
  auto it = blocks_.find(KeyOf(cid));
  if (it == blocks_.end()) return Status::NotFound("block " + cid.ToString() + " not found in memory");
  return static_cast<uint64_t>(it->second.size());
}

Status MemoryBlockStore::Delete(const Cid& cid) {
  counters_.deletes++;
  std::lock_guard<std::mutex> l(mu_);
  blocks_.erase(KeyOf(cid));
  return Status::OK();
}

Status MemoryBlockStore::Sync() {
  counters_.syncs++;
  return Status::OK();
}

Status MemoryBlockStore::ForEach(const std::function<Status(const Cid&)>& fn) {
  std::vector<Cid> cids;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& kv : blocks_) cids.push_back(Cid::V1(Codec::kRaw, kv.first));
  }
  for (const Cid& c : cids) S3XFS_RETURN_IF_ERROR(fn(c));
  return Status::OK();
}

size_t MemoryBlockStore::block_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return blocks_.size();
}

bool MemoryBlockStore::CorruptForTest(const Cid& cid, size_t offset) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = blocks_.find(KeyOf(cid));
  if (it == blocks_.end()) return false;
  if (it->second.empty()) {
    it->second.push_back(0);  // an empty block becomes one byte
  } else {
    it->second[offset % it->second.size()] ^= 0x01;
  }
  return true;
}

}  // namespace s3xfs
