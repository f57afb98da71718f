// A fault-injecting wrapper around any BlockStore, for tests: fail the Nth call of an operation,
// be unavailable for a time window, add latency, corrupt bytes on their way into the store, and
// hold calls on chosen CIDs until released.
//
// Thread-safety: all methods, including the fault controls, are safe to call concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

class FaultyBlockStore : public BlockStore {
 public:
  enum class Op { kPut, kGet, kHas, kSize, kDelete, kSync, kForEach, kPin, kUnpin };

  // `inner` must outlive the wrapper.
  explicit FaultyBlockStore(BlockStore* inner) : inner_(inner) {}

  // The nth call of `op` from now (1 = the next one) fails with `status` instead of running.
  void FailNth(Op op, uint64_t n, Status status);
  // Every call fails with Unavailable until `duration` has passed.
  void SetUnavailableFor(std::chrono::milliseconds duration);
  // Every call sleeps this long first (0 to stop).
  void SetDelay(std::chrono::milliseconds delay);
  // While on, Put/PutMany store the block with one bit flipped (bit rot on the medium): the inner
  // store's verification must then report Corruption on Get.
  void SetCorruptPuts(bool on);
  // Calls touching a CID for which `pred` is true wait until ReleaseHeld() (or pred is cleared).
  void HoldWhen(std::function<bool(const Cid&)> pred);
  void ReleaseHeld();
  // Number of calls currently waiting in HoldWhen.
  int held_count() const;
  // Calls seen per operation (including failed ones).
  uint64_t calls(Op op) const;

  Status Put(const Cid& cid, ByteView data) override;
  Status PutMany(std::span<const BlockRef> blocks) override;
  // Counted and failed as kPut, one call per block (like PutMany).
  Status PutManyUnsynced(std::span<const BlockRef> blocks) override;
  // Counted and failed as kSync.
  Status SyncBlocks(std::span<const Cid> cids) override;
  Result<Bytes> Get(const Cid& cid) override;
  Result<bool> Has(const Cid& cid) override;
  Result<uint64_t> Size(const Cid& cid) override;
  Status Delete(const Cid& cid) override;
  Status Sync() override;
  Status ForEach(const std::function<Status(const Cid&)>& fn) override;
  std::string Describe() const override { return "faulty(" + inner_->Describe() + ")"; }
  bool pins_roots() const override { return inner_->pins_roots(); }
  Status PinRoot(const Cid& root, const std::optional<Cid>& replaces) override;
  Status UnpinRoot(const Cid& root) override;

 private:
  Status PutOne(const Cid& cid, ByteView data, bool synced);
  // Runs the fault checks for one call; a non-OK result is returned instead of the call.
  Status Enter(Op op, const Cid* cid);

  BlockStore* inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Op, uint64_t> calls_;
  std::map<Op, std::map<uint64_t, Status>> fail_at_;  // op -> absolute call number -> status
  std::chrono::steady_clock::time_point unavailable_until_{};
  std::chrono::milliseconds delay_{0};
  bool corrupt_puts_ = false;
  std::function<bool(const Cid&)> hold_;
  uint64_t hold_epoch_ = 0;
  int held_ = 0;
};

}  // namespace s3xfs
