// UnixFS directories: basic directory nodes, and HAMT-sharded directories for big ones, built
// exactly as Kubo's `ipfs add -r` (and the reference JS importer) builds them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

struct DirEntry {
  std::string name;
  Cid cid;
  uint64_t tsize = 0;  // cumulative size of the entry's DAG (DagRoot::dag_size)
};

// Builds a basic directory block: one link per entry sorted by name bytes, Data = 08 01.
// InvalidArgument for an empty name, a name with '/', "." or "..", or a duplicate name.
Result<Block> BuildBasicDirectory(std::vector<DirEntry> entries, int cid_version = 1);

// Kubo shards a directory when the sum over its entries of (name bytes + CID bytes) exceeds this.
constexpr uint64_t kHamtShardThreshold = 262144;

struct DirRoot {
  Cid cid;
  uint64_t tsize = 0;  // the directory DAG's cumulative size (for a parent's link)
  bool sharded = false;
};

// Builds a directory of any size: a basic directory up to kHamtShardThreshold, else a HAMT
// shard (UnixFS HAMTShard, fanout 256, hashType 0x22 = murmur3-x64-64: the bucket at depth d is
// byte d of the big-endian first 64 bits of MurmurHash3_x64_128(name, seed 0); a bucket holding
// two names becomes a sub-shard; link names are the bucket as two upper-case hex digits, plus the
// entry name for entries; Data is the occupancy bitmap as a big-endian integer without leading
// zero bytes). Every new block goes to `sink`, sub-shards before their parent, the root last.
// Same name rules as BuildBasicDirectory; InvalidArgument if more than 8 levels would be needed
// (two names whose 64-bit hashes collide).
Result<DirRoot> BuildDirectory(std::vector<DirEntry> entries, int cid_version,
                               const std::function<Status(const Block&)>& sink);

// A UnixFS Symlink node for `target` (what `ipfs add -r` stores for a symbolic link).
Block BuildSymlink(std::string_view target, int cid_version = 1);

// The first 64 bits (h1) of MurmurHash3_x64_128 with seed 0, as used by UnixFS HAMTs.
uint64_t Murmur3X64_64(ByteView data);

}  // namespace s3xfs
