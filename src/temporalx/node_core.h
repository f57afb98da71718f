// The storage core of `s3xfs node`: the embedded block store plus reference counts, and the
// garbage collector. No gRPC types here: handlers.h turns requests into calls on this class.
//
// Consistency (crashes and concurrent calls):
//  - A block is on stable storage before a reference to it is counted, and a reference is
//    removed before its block is deleted. A crash can thus leave blocks without references
//    (which the garbage collector removes), never a reference without its block.
//  - mutate_mu_ is held shared while a call puts blocks and then counts them (PutCounted,
//    Upload::Stage/Commit) and exclusively while a call removes references and then deletes
//    blocks (Release, each GC deletion batch). A block is therefore never deleted between
//    another call's put and its increment.
//  - An upload puts its blocks as the file streams in but counts them only when the file is
//    complete (a failed upload leaves no references). Meanwhile its multihashes are "in flight"
//    (inflight_); Release and GC never delete a block that is in flight.
//  Lock order: mutate_mu_, then inflight_mu_, then RefCounts' own mutex. gc_mu_ is only held to
//  read or change the GC state, never across store calls. Store calls happen under mutate_mu_
//  (the deletions must be atomic with the reference checks).
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "s3xfs/blockstore/blockstore.h"
#include "s3xfs/ledger/refcounts.h"

namespace s3xfs::node {

struct BytesHash {
  size_t operator()(const Bytes& b) const noexcept {
    return std::hash<std::string_view>()(AsChars(b));
  }
};

class NodeCore {
 public:
  // Opens DATA_DIR/blocks (embedded store, every put synced) and DATA_DIR/refcounts.db.
  // InvalidArgument for a daemon's data directory (one with a ledger.db).
  static Result<std::unique_ptr<NodeCore>> Open(const std::string& data_dir);
  // Stops a running garbage collection and waits for it.
  ~NodeCore();
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  // Reads (Get, GetMany, Has, Size, ForEach) go straight to the store; they need no lock.
  BlockStore* store() { return store_.get(); }
  RefCounts* refs() { return refs_.get(); }

  // Stores the blocks durably, then adds one reference per entry (one transaction).
  // REQUIRES: each block's data hashes to its CID.
  Status PutCounted(std::span<const BlockRef> blocks);

  // Removes one reference per CID (force: every reference) and deletes the blocks left without
  // one (unless an upload has them in flight). NotFound, naming the CID, when a CID has neither a
  // reference nor a stored block; nothing changes then.
  Status Release(std::span<const Cid> cids, bool force);

  // One file upload. Blocks are staged (stored, in flight) as they come and counted at Commit.
  // Each distinct block gets one reference per upload, however often the file repeats it.
  // Destroying an upload that was not committed leaves its blocks unreferenced (GC removes
  // them). Not thread-safe itself: one upload per stream.
  class Upload {
   public:
    explicit Upload(NodeCore* core) : core_(core) {}
    ~Upload();
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;
    // REQUIRES: each block's data hashes to its CID.
    Status Stage(std::span<const BlockRef> blocks);
    Status Commit();

   private:
    void Unregister();
    NodeCore* core_;
    std::vector<Bytes> staged_;                      // distinct multihashes, in staging order
    std::unordered_set<Bytes, BytesHash> seen_;
  };

  // Garbage collection: removes stored blocks that have no reference (and are not in flight).
  // The answers are the status strings ManageGC returns:
  //   StartGc: "started" or "running: ..." (already running).
  //   StopGc: "stopping" or the idle status.
  //   GcStatus: "running: checked N blocks, removed M" or "idle: never run" or
  //             "idle: last run removed M blocks (checked N)" (or "... stopped after ...",
  //             "idle: last run failed: <error>").
  std::string StartGc();
  std::string StopGc();
  std::string GcStatus();
  bool gc_running();

  struct SweepResult {
    uint64_t checked = 0;
    uint64_t removed = 0;
    bool stopped = false;
  };
  // One synchronous sweep over the store (the GC thread runs this; tests call it directly).
  // Stops early, with stopped = true, once `stop` becomes true.
  Result<SweepResult> Sweep(const std::atomic<bool>& stop);

  // Makes everything durable (the store's puts already are; this also checkpoints the counts).
  Status Sync();

 private:
  NodeCore(std::unique_ptr<BlockStore> store, std::unique_ptr<RefCounts> refs)
      : store_(std::move(store)), refs_(std::move(refs)) {}
  // REQUIRES: mutate_mu_ held exclusively.
  bool InFlight(const Bytes& mh);
  Status DeleteUnlessInFlight(const Cid& cid, uint64_t* removed);
  Status SweepBatch(std::vector<Cid>* batch, SweepResult* result);

  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<RefCounts> refs_;
  std::shared_mutex mutate_mu_;

  std::mutex inflight_mu_;
  std::unordered_map<Bytes, int, BytesHash> inflight_;  // GUARDED_BY(inflight_mu_)

  std::mutex gc_mu_;
  std::thread gc_thread_;    // GUARDED_BY(gc_mu_)
  bool gc_running_ = false;  // GUARDED_BY(gc_mu_)
  std::string gc_last_ = "idle: never run";  // GUARDED_BY(gc_mu_)
  std::atomic<bool> gc_stop_{false};
  std::atomic<uint64_t> gc_checked_{0}, gc_removed_{0};  // progress of the running sweep
};

}  // namespace s3xfs::node
