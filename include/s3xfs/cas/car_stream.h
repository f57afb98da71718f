// A CARv1 export produced as the reader pulls it (an HTTP body): the counterpart of ExportCar
// (car.h), which pushes. Used by the IPFS gateway for `?format=car`.
//
// Shape: the header with one root; then the `prefix` blocks (those read to resolve a path down
// to the root, in order); then the root's DAG depth first (pre-order), limited by a DagScope.
// Every block is written at most once ("dups=n"); blocks with an identity multihash are never
// written (their bytes are in their CID), as the trustless gateway spec requires.
//
// Memory: the output buffer (what one Read asks for plus at most one block), at most `batch`
// fetched sibling blocks per DAG level, and the set of CIDs written so far (about 100 bytes a
// block).
//
// Thread-safety: one stream is used by one thread at a time. The source must outlive it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_set>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

// What of the root's DAG a CAR carries (the trustless gateway's dag-scope).
enum class DagScope {
  kAll,     // every block reachable from the root (dag-pb and raw links)
  kEntity,  // a UnixFS file's whole DAG; every shard of a HAMT directory (not its entries); the
            // root block alone for a basic directory, a symlink or non-UnixFS data
  kBlock,   // the root block alone
};

// A source that answers identity CIDs itself (their bytes are the digest) and asks `base` for
// every other block. `base` must outlive it.
class IdentityInliningSource final : public BlockSource {
 public:
  explicit IdentityInliningSource(BlockSource* base) : base_(base) {}
  std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) override;

 private:
  BlockSource* base_;
};

class CarStream {
 public:
  // `root_block` are the root's bytes (already read from `source`, so a missing root is the
  // caller's error before any byte is produced). NotSupported for kAll over a root whose links
  // cannot be walked here (dag-cbor); Corruption for a root whose UnixFS data is malformed
  // (kEntity). Identity CIDs are answered without asking `source`.
  static Result<std::unique_ptr<CarStream>> Open(BlockSource* source, const Cid& root,
                                                 Bytes root_block, DagScope scope,
                                                 std::vector<Cid> prefix, size_t batch = 16);

  // Fills `buf` with the next bytes of the CAR; 0 at its end. An error of the source (a block
  // missing or corrupt, Unavailable) is returned as it is, and the stream is then over: the
  // bytes produced so far are a truncated CAR.
  Result<size_t> Read(std::span<uint8_t> buf);
  uint64_t bytes_produced() const { return writer_.bytes_written(); }

 private:
  enum class Follow { kNone, kAll, kShards };  // which links of a block the walk takes
  struct Frame {
    std::vector<Cid> links;
    Follow follow;
    size_t next = 0;
    std::deque<std::pair<Cid, Bytes>> ready;  // fetched, not yet written
  };
  CarStream(BlockSource* source, Cid root, Bytes root_block, Follow follow,
            std::vector<Cid> prefix, size_t batch);
  static Result<std::vector<Cid>> Children(const Cid& cid, ByteView block, Follow follow);
  Status Emit(const Cid& cid, ByteView data);
  Status Visit(const Cid& cid, Bytes data, Follow follow);
  Status Step();

  IdentityInliningSource src_;
  Cid root_;
  Bytes root_block_;
  Follow root_follow_;
  std::vector<Cid> prefix_;
  size_t batch_;
  CarWriter writer_;
  Bytes out_;          // produced, not yet read
  size_t out_pos_ = 0;  // bytes of out_ already handed out
  bool header_done_ = false, root_done_ = false, done_ = false;
  size_t prefix_next_ = 0;
  std::vector<Frame> stack_;
  std::unordered_set<Cid, CidHash> seen_;
};

}  // namespace s3xfs
