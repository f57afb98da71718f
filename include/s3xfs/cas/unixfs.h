// Reading UnixFS nodes and directories: what a CID is (file, directory, HAMT shard, symlink), the
// entries of a directory (basic or HAMT-sharded), one entry by name, and a path resolved through
// nested directories. The write side is directory.h (BuildDirectory) and dag_builder.h.
//
// Everything here reads through a BlockSource, which verifies every block against its CID, and
// checks the UnixFS structure it walks: a malformed node (bad protobuf, a directory link without
// a name, a HAMT whose bitfield, labels or hash placement disagree) is Corruption naming the CID.
// Errors of the source (NotFound for a missing block, Unavailable, Timeout) pass through as they
// are, so callers can tell "this DAG is incomplete here" from "this DAG is wrong".
//
// HAMT shards are read as Kubo writes them (hashType 0x22 murmur3-x64-64, see directory.h), for
// any power-of-two fanout from 2 to 1024: each level consumes log2(fanout) bits of the 64-bit
// hash, most significant first; link labels are the bucket index as upper-case hex padded to the
// width of fanout-1 (two digits for 256). Other hash types are NotSupported.
//
// Thread-safety: free functions without state; concurrent calls are safe when the source is.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/cid.h"
#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/directory.h"

namespace s3xfs {

enum class UnixfsKind {
  kRawLeaf,    // a raw-codec block: a file whose bytes are the block
  kFile,       // a dag-pb UnixFS File (or the legacy UnixFS Raw type) node
  kDirectory,  // a basic UnixFS directory
  kHamtShard,  // a HAMT-sharded UnixFS directory (its root shard)
  kSymlink,    // a UnixFS symlink; its target is in UnixfsNode::symlink_target
  kOther,      // anything else: dag-cbor, dag-pb without UnixFS data, UnixFS Metadata
};

// "raw", "file", "directory", "hamt-shard", "symlink", "other".
std::string_view UnixfsKindName(UnixfsKind kind);

struct UnixfsNode {
  Cid cid;
  UnixfsKind kind = UnixfsKind::kOther;
  // Bytes of file content for kRawLeaf and kFile (inline data plus the children's blocksizes; a
  // filesize field that disagrees is Corruption); the target length for kSymlink; 0 otherwise.
  uint64_t size = 0;
  uint64_t block_size = 0;     // length of the encoded block itself
  std::string symlink_target;  // kSymlink only
  std::vector<PbLink> links;   // dag-pb links in block order; empty for raw and dag-cbor
  std::optional<uint32_t> mode;    // UnixFS mode, when the node carries one
  std::optional<UnixfsTime> mtime; // UnixFS mtime, when the node carries one

  bool is_file() const { return kind == UnixfsKind::kRawLeaf || kind == UnixfsKind::kFile; }
  bool is_directory() const {
    return kind == UnixfsKind::kDirectory || kind == UnixfsKind::kHamtShard;
  }
};

// Interprets a block already in hand. REQUIRES: `block` hashes to `cid` (came from a source).
// Corruption for a dag-pb block that does not decode, or UnixFS data that contradicts itself.
Result<UnixfsNode> DecodeUnixfsNode(const Cid& cid, ByteView block);

// Fetches the block of `cid` and interprets it (DecodeUnixfsNode).
Result<UnixfsNode> StatNode(BlockSource* source, const Cid& cid);

// Calls `fn` for every entry of the directory `dir` (basic or HAMT-sharded); a non-OK return of
// `fn` stops the walk and is returned. Order: name-byte order for a basic directory; for a HAMT,
// shard order (bucket index at each level, depth first), which is deterministic but not sorted.
// Entry names of a HAMT are given without their bucket label. Sub-shards are fetched `batch` at a
// time per shard, so memory is bounded by the shard depth times `batch` blocks.
// InvalidArgument (with Reason::kNotDirectory) when `dir` is not a directory.
// `on_block`, when given, is told of every block read (the directory block, then each
// sub-shard) with its size: what a caller that keeps the whole DAG (a pin) needs.
using BlockVisitor = std::function<void(const Cid& cid, uint64_t block_size)>;
Status ForEachDirectoryEntry(BlockSource* source, const Cid& dir,
                             const std::function<Status(const DirEntry&)>& fn, size_t batch = 16,
                             const BlockVisitor& on_block = {});

// The entry called `name` in directory `dir`, or std::nullopt when there is none. A HAMT lookup
// fetches only the shards on the name's hash path. `visited`, when given, receives the CID of
// every block read (the directory block first, then the shards followed), in order.
// InvalidArgument (Reason::kNotDirectory) when `dir` is not a directory.
Result<std::optional<DirEntry>> LookupEntry(BlockSource* source, const Cid& dir,
                                            std::string_view name,
                                            std::vector<Cid>* visited = nullptr);

struct ResolvedPath {
  Cid cid;  // the terminal CID (the root itself for an empty path)
  // Every block read to get there, in the order read: the root, each directory and HAMT shard
  // on the way. The terminal block is not included (it is not read); an empty path gives none.
  std::vector<Cid> path_blocks;
  // The logical roots: `root`, then the CID each path component resolved to (the last is
  // `cid`). What a gateway's X-Ipfs-Roots lists.
  std::vector<Cid> segments;
};

// Resolves "a/b/c" from `root` through directories. Empty components (leading, trailing or
// doubled '/') are ignored. NotFound (Reason::kNoSuchKey) for a missing name; InvalidArgument
// (Reason::kNotDirectory) when a component before the last is not a directory; InvalidArgument
// for a "." or ".." component.
Result<ResolvedPath> ResolvePath(BlockSource* source, const Cid& root, std::string_view path);

}  // namespace s3xfs
