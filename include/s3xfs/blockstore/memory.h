// An in-memory block store for tests of the layers above: counts operations, can corrupt a
// stored block on demand. Same contract as every BlockStore (verifies on Get).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

class MemoryBlockStore : public BlockStore {
 public:
  struct Counters {
    std::atomic<uint64_t> puts{0}, gets{0}, has{0}, sizes{0}, deletes{0}, syncs{0};
    std::atomic<uint64_t> bytes_put{0}, bytes_got{0};
  };

  Status Put(const Cid& cid, ByteView data) override;
  Result<Bytes> Get(const Cid& cid) override;
  Result<bool> Has(const Cid& cid) override;
  Result<uint64_t> Size(const Cid& cid) override;
  Status Delete(const Cid& cid) override;
  Status Sync() override;
  Status ForEach(const std::function<Status(const Cid&)>& fn) override;
  std::string Describe() const override { return "memory"; }

  const Counters& counters() const { return counters_; }
  size_t block_count() const;
  // Flips one bit of the stored block (test hook). Returns false if absent.
  bool CorruptForTest(const Cid& cid, size_t offset = 0);

 private:
  using Key = Bytes;  // multihash
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept;
  };
  mutable std::mutex mu_;
  std::unordered_map<Key, Bytes, KeyHash> blocks_;  // GUARDED_BY(mu_)
  Counters counters_;
};

}  // namespace s3xfs
