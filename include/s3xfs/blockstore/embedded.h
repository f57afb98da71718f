// The embedded block store: a directory of blocks on local disk, the daemon's own IPFS repo.
//
// Layout (Kubo's flatfs, so the directory reads like an IPFS repo's `blocks/`):
//   DIR/blocks/SHARDING        "/repo/flatfs/shard/v1/next-to-last/2\n"
//   DIR/blocks/XY/KEY.data     KEY = RFC 4648 base32 (upper case, no padding) of the multihash,
//                              XY  = the two characters before KEY's last one.
// Each block is written to a temporary file in its shard directory and renamed into place, so a
// reader sees either nothing or the whole block. Every read is verified against the CID, and so
// is a block found already stored when it is put again (a copy damaged by a crash before it was
// synced is rewritten instead of trusted).
//
// Durability: a synced put (sync_each_put) fdatasyncs its block files before the renames and
// fsyncs their shard directories after, all of a batch on several threads at once.
// PutManyUnsynced renames at once and only starts writeback; SyncBlocks later fdatasyncs the
// files and fsyncs their directories (and blocks/ for new shards) the same way.
// Format documented in docs/FORMATS.md; written to disk, never change.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

struct EmbeddedOptions {
  // true: each Put/PutMany returns only after its blocks (and their directory entries) are on
  // stable storage. false: blocks are durable after the next Sync() (one syncfs for many puts —
  // what bulk imports use). Either way a crash never exposes a partial block under its name
  // except through a torn rename, which verification on read reports as Corruption.
  bool sync_each_put = true;
  // Create DIR if it does not exist.
  bool create_if_missing = true;
  // fdatasync(2) of block files. Tests replace it to inject writeback errors.
  int (*datasync)(int fd) = ::fdatasync;
};

// Opens (creating if allowed) the store under `dir`. IOError/InvalidArgument with the path.
Result<std::unique_ptr<BlockStore>> OpenEmbeddedStore(const std::string& dir,
                                                      const EmbeddedOptions& options = {});

}  // namespace s3xfs
