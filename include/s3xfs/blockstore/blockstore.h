// BlockStore: where IPFS blocks live (embedded directory, TemporalX node, Kubo node, memory).
//
// Blocks are immutable and keyed by multihash, as IPFS blockstores are: a block put under a CIDv1
// raw can be read back under a CIDv0 or CIDv1 dag-pb of the same hash, and enumeration reports
// CIDv1 raw (the codec is not stored).
//
// Contract for every implementation:
//  - Safe for concurrent use from any number of threads.
//  - Put REQUIRES that data hashes to cid. Callers that got the bytes from outside the process
//    (network, CAR files) verify first; the DAG builder's output is correct by construction, so
//    the write path hashes every byte exactly once.
//  - Get/GetMany verify what they return against the CID: corrupt bytes are never handed out
//    (Corruption naming the CID instead).
//  - Errors: NotFound for a missing block, Corruption, IOError (local), Unavailable (remote node
//    down; may succeed later), Timeout.
//  - Durability: Put/PutMany return once their blocks are on stable storage (unless the store
//    is configured otherwise, e.g. EmbeddedOptions::sync_each_put = false). PutManyUnsynced
//    lets a writer overlap many blocks' disk writes and make them durable together with
//    SyncBlocks, before anything durable refers to them.
//
// Root pins. Most stores keep every block put until it is deleted. A store whose node keeps
// blocks only while a pin holds them (Kubo: its GC reclaims unpinned blocks) says so with
// pins_roots(); the core then keeps one recursive pin per object root on it (RemoteSync in
// src/core/remote.cc), pinned only once every block of the DAG was put, moved with PinRoot's
// `replaces` when an overwrite changes an object's root, and removed with UnpinRoot when no
// object uses the root any more. Such a store is never asked to Delete blocks the ledger
// forgot: they may be shared with other users of the node, whose GC reclaims them once unpinned.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

// A block to put, by reference (no copy). The referenced bytes must outlive the call.
struct BlockRef {
  Cid cid;
  ByteView data;
};

class BlockStore : public BlockSource {
 public:
  ~BlockStore() override = default;

  // Stores one block. Idempotent: putting a present block succeeds.
  virtual Status Put(const Cid& cid, ByteView data) = 0;
  // Stores several blocks; stops at the first error. Default: Put each.
  virtual Status PutMany(std::span<const BlockRef> blocks);
  // Stores blocks like PutMany, readable at once, but may return before they are on stable
  // storage: SyncBlocks makes them durable. Until then a crash may lose them or (embedded
  // store) leave one with bad bytes under its name, which Get reports as Corruption and the
  // next Put of the block replaces. Default: PutMany.
  virtual Status PutManyUnsynced(std::span<const BlockRef> blocks) { return PutMany(blocks); }
  // Makes the named blocks, stored earlier by any put, durable (survive power loss); NotFound
  // if one is absent. Default: checks that each is there (for stores whose PutManyUnsynced is
  // PutMany and whose puts are durable).
  virtual Status SyncBlocks(std::span<const Cid> cids);
  // The verified bytes of a block.
  virtual Result<Bytes> Get(const Cid& cid) = 0;
  // Default: Get each.
  std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) override;
  virtual Result<bool> Has(const Cid& cid) = 0;
  // Size in bytes of a stored block (NotFound if absent).
  virtual Result<uint64_t> Size(const Cid& cid) = 0;
  // Removes a block; OK if it was absent.
  virtual Status Delete(const Cid& cid) = 0;
  // Makes every block put so far durable (survives power loss).
  virtual Status Sync() = 0;
  // Calls fn for every stored block (as CIDv1 raw), in no particular order. Stops at and returns
  // the first non-OK status fn returns.
  virtual Status ForEach(const std::function<Status(const Cid&)>& fn) = 0;
  // Short description for logs and status output, e.g. "embedded:/var/lib/s3xfs".
  virtual std::string Describe() const = 0;
  // Whether the store can serve requests now (remote stores ask their node; local ones are
  // healthy). Unavailable with the reason otherwise.
  virtual Status Health() { return Status::OK(); }

  // ---- root pins (see the top of this file) ----
  // Whether the store wants root pins (default: no; PinRoot/UnpinRoot are then NotSupported).
  virtual bool pins_roots() const { return false; }
  // Pins the DAG under root recursively. REQUIRES: every block of the DAG was put (a node may
  // otherwise fetch from the network or fail). With `replaces`, that root's pin moves to root in
  // one step (Kubo pin/update): blocks the two DAGs share stay pinned throughout; `replaces`
  // not being pinned is not an error. Idempotent: pinning a pinned root succeeds.
  virtual Status PinRoot(const Cid& root, const std::optional<Cid>& replaces);
  // Removes root's recursive pin; OK when it was not pinned.
  virtual Status UnpinRoot(const Cid& root);
};

}  // namespace s3xfs
