// FileSystem: POSIX semantics over the ObjectStore, with a write-back chunk cache. The FUSE
// adapter only decodes requests, calls this, and maps Status reasons to errno. No FUSE types.
//
// Write-back (one region per 256 KiB chunk): the content of an open file's chunk is, first
// match, a dirty chunk of its cache file (random writes: a sparse file under cache_dir at the
// file's own offsets), the tail (the chunk being appended to, in memory), a staged chunk (a
// whole chunk written sequentially and handed to the WritePipeline, which hashes it and stores
// it as a block in the background, with the MD5 in order on another thread: such data is
// written once, into the block store), or the committed leaf. Flush (close, fsync, dirty-byte
// pressure, timer, unmount) hashes only the dirty chunks and the tail, links staged chunks and
// unchanged leaves as they are, syncs the new blocks, builds the root and commits it in one
// ledger transaction on the same inode. The commit at dirty-byte pressure runs in the
// background when the file has no dirty chunks (a snapshot; an older snapshot never replaces a
// newer commit). fsync returns after the blocks are durable and the commit is done.
//
// Durability: namespace changes and close() commit with relaxed durability, like a local
// filesystem's metadata: ordered, and durable at the next fsync/fsyncdir/unmount. Every commit
// only references blocks that are already durable, so a crash loses recent changes but never
// leaves a reference to missing data. fsync/fdatasync commit durably. A block the pipeline
// failed to store fails the file's next write; flush stores it again (or fails).
//
// Reads: dirty chunks and the tail are copied under the file's lock; blocks (verified, through
// a small cache of the blocks read last) are fetched without it, so reads of one file run in
// parallel, and are returned as pieces the reply sends without copying.
//
// Permission checks are the kernel's (the mount uses default_permissions); this layer enforces
// the namespace rules (ENOTEMPTY, EISDIR, ...).
//
// Thread-safety: all methods may be called concurrently. Lock order: files_mu_, then one
// OpenFile::mu, then the leaf locks (blocks_mu_, stale_mu_, commit_mu_, the pipeline's). Block
// I/O happens under OpenFile::mu only for the cache-file path and flushes (ordering one file's
// writes and its flush), never under files_mu_; the pipeline's workers take no FileSystem lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/core/object_store.h"
#include "s3xfs/core/write_pipeline.h"

namespace s3xfs {

struct FsOptions {
  std::string cache_dir;              // dirty chunk files live here
  // A file with more dirty bytes (in the cache file or stored by the pipeline, not committed)
  // is flushed.
  uint64_t dirty_limit = 256u << 20;
  // Sequential writes go through the WritePipeline (hashed and stored as blocks in the
  // background, ETag as they go) instead of the cache file. Only with raw leaves (CIDv1).
  bool write_pipeline = true;
  size_t pipeline_queue_bytes = 16u << 20;  // WritePipeline::Options::max_queued_bytes
  // A file still open whose last write is older than this is flushed by a background thread
  // (0 disables the timer).
  std::chrono::milliseconds flush_interval{std::chrono::seconds(5)};
};

// What the write-back cache holds right now (FileSystem::Stats).
struct FsStats {
  uint64_t open_files = 0;    // inodes with at least one open handle
  uint64_t dirty_files = 0;   // open files whose content differs from their last commit
  uint64_t dirty_bytes = 0;   // bytes written and not committed (cache file, pipeline, tail)
  int64_t last_flush_ns = 0;  // when dirty data was last committed (0: not since Create)
};

// The bytes a read returns, as pieces that a reply can send as they are: verified blocks are
// shared with the block cache, not copied. Valid while the ReadBuffer lives.
struct ReadBuffer {
  struct Piece {
    std::shared_ptr<const Bytes> owner;
    size_t offset = 0, length = 0;
    const uint8_t* data() const { return owner->data() + offset; }
  };
  std::vector<Piece> pieces;
  size_t size() const {
    size_t n = 0;
    for (const Piece& p : pieces) n += p.length;
    return n;
  }
  void AppendTo(Bytes* out) const {
    for (const Piece& p : pieces) out->insert(out->end(), p.data(), p.data() + p.length);
  }
};

// The largest file the mount holds (1 TiB): a truncate or a write past it is EFBIG (Reason
// kEntityTooLarge). Every 256 KiB of a file, holes included, is a leaf of its DAG and a ledger
// row, so a commit costs about 4 us per chunk: 20 s for a whole TiB.
constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;

struct SetAttrRequest {
  std::optional<uint32_t> mode;  // permission bits
  std::optional<uint32_t> uid, gid;
  std::optional<uint64_t> size;
  std::optional<int64_t> atime_ns, mtime_ns;  // already resolved (UTIME_NOW -> now)
  std::optional<int64_t> ctime_ns;
};

class FileSystem {
 public:
  static Result<std::unique_ptr<FileSystem>> Create(ObjectStore* store, const FsOptions& options);
  ~FileSystem();

  // Attributes reflect unflushed writes (size, mtime) of open files. GetAttr and SetAttr return
  // what stat needs (ObjectStore::InodeAttrs: no bucket, key or user metadata).
  Result<ObjectInfo> Lookup(InodeId parent, const std::string& name);
  Result<ObjectInfo> GetAttr(InodeId ino);
  Result<ObjectInfo> SetAttr(InodeId ino, const SetAttrRequest& req);
  Result<std::vector<ObjectStore::Child>> ReadDir(InodeId dir, const std::string& after,
                                                  size_t limit);
  Result<ObjectInfo> MakeDir(InodeId parent, const std::string& name, const PosixAttrs& attrs);
  Result<ObjectInfo> MakeNode(InodeId parent, const std::string& name, InodeKind kind,
                              const PosixAttrs& attrs);
  Result<ObjectInfo> Symlink(InodeId parent, const std::string& name, const std::string& target,
                             const PosixAttrs& attrs);
  Result<std::string> ReadLink(InodeId ino);
  Status Unlink(InodeId parent, const std::string& name);
  Status RemoveDir(InodeId parent, const std::string& name);
  Status Rename(InodeId parent, const std::string& name, InodeId new_parent,
                const std::string& new_name, RenameFlags flags);
  Result<ObjectInfo> Link(InodeId ino, InodeId new_parent, const std::string& new_name);

  // Files. Handles are numbers; each Open/Create is matched by one Release.
  Result<std::pair<uint64_t, ObjectInfo>> Create(InodeId parent, const std::string& name,
                                                 const PosixAttrs& attrs);
  Result<uint64_t> Open(InodeId ino, bool truncate);
  // Blocks of committed or pipelined chunks are fetched (and verified) without the file's lock
  // held, so reads of one file run in parallel.
  Status Read(uint64_t fh, uint64_t offset, size_t size, ReadBuffer* out);
  Status Read(uint64_t fh, uint64_t offset, size_t size, Bytes* out);  // copies the pieces
  Status Write(uint64_t fh, uint64_t offset, ByteView data);
  // Whether the kernel may keep the pages it cached for ino when it is opened (FUSE keep_cache).
  // An inode's content only changes through the mount (S3 writes make new inodes), so its pages
  // stay right unless the mount dropped writes it had accepted (a write, flush or close failed):
  // then false, once.
  bool KeepCache(InodeId ino);
  Status Flush(uint64_t fh);  // close(2): commit dirty data
  Status Fsync(uint64_t fh);  // durable and committed when it returns
  Status Release(uint64_t fh);
  // Commits every file's dirty data and makes all metadata durable (unmount, timer).
  Status FlushAll();
  // fsyncdir: makes metadata changes so far durable.
  Status SyncMetadata();
  // A snapshot of the cache, without waiting for flushes in progress (each file's figures are
  // published when a write, truncate or flush of it ends).
  FsStats Stats();

  // Extended attributes: user.* (the S3 user metadata) and user.ipfs.cid (read-only, readable
  // by name, not listed).
  Result<std::string> GetXattr(InodeId ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(InodeId ino);
  Status SetXattr(InodeId ino, const std::string& name, const std::string& value, int flags);
  Status RemoveXattr(InodeId ino, const std::string& name);

  // Bytes written but not yet flushed (committed), over all open files: dirty chunks, staged
  // chunks and changed tails, each counted as a whole chunk. Lock-free (for metrics).
  uint64_t DirtyBytes() const {
    return dirty_chunks_.load(std::memory_order_relaxed) * chunk_;
  }

  ObjectStore* store() { return store_; }
  // Where capacity is measured for statfs: the disk holding the cache (and, with the embedded
  // store, the blocks).
  const std::string& cache_dir() const { return opt_.cache_dir; }

 private:
  struct OpenFile;
  class Publish;
  FileSystem(ObjectStore* store, FsOptions options);
  // bucket and the key prefix of entries inside directory `dir` ("" for a bucket root).
  Result<std::pair<std::string, std::string>> DirPrefix(InodeId dir);
  Result<ObjectInfo> Child(InodeId parent, const std::string& name);
  PosixAttrs Inherit(InodeId parent, PosixAttrs attrs, bool dir);
  std::shared_ptr<OpenFile> FileFor(uint64_t fh);
  std::shared_ptr<OpenFile> OpenFileFor(InodeId ino);  // nullptr if not open
  Status WriteTo(const std::shared_ptr<OpenFile>& f, uint64_t offset, ByteView data);
  struct Snapshot;
  Status StartBackgroundCommitLocked(const std::shared_ptr<OpenFile>& f);
  void CommitLoop();
  void BackgroundCommit(Snapshot& snap);
  // REQUIRES (all *Locked): f.mu held.
  Status LoadLocked(OpenFile& f);
  Status CacheFileLocked(OpenFile& f);
  Status FlushLocked(OpenFile& f, Durability durability);
  Status MakeDirtyLocked(OpenFile& f, uint64_t idx);
  Status ReadChunkLocked(OpenFile& f, uint64_t idx, Bytes* out);
  // A verified block, through a small cache of the blocks read last (the kernel reads a
  // 256 KiB leaf in several requests, possibly from several threads).
  Result<std::shared_ptr<const Bytes>> Block(const Cid& cid);
  Status TruncateLocked(OpenFile& f, uint64_t size);
  Status SpillTailLocked(OpenFile& f);
  Status StartTailLocked(OpenFile& f);
  void SubmitTailLocked(OpenFile& f);
  void AbandonDroppedLocked(OpenFile& f);
  void Overlay(ObjectInfo* info);
  // Publishes f's dirty figures for Stats() (REQUIRES: f.mu held).
  void PublishLocked(OpenFile& f);
  int64_t Now() const;

  void TimerLoop();

  ObjectStore* store_;
  FsOptions opt_;
  const size_t chunk_;
  const std::shared_ptr<const Bytes> zeros_;  // a chunk of zeros (holes, growth)
  const Bytes& zero_chunk_;                   // *zeros_
  const Cid zero_leaf_;                       // its raw leaf CID
  std::mutex blocks_mu_;                      // leaf lock
  // Verified blocks read last, most recent at the back (at most kCachedBlocks).
  std::vector<std::pair<Cid, std::shared_ptr<const Bytes>>> cached_blocks_;  // GUARDED_BY(blocks_mu_)
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool stopping_ = false;  // GUARDED_BY(timer_mu_)
  std::thread timer_;
  // Dirty and staged chunks of all open files (before files_: their OpenFiles update it when
  // destroyed).
  std::atomic<uint64_t> dirty_chunks_{0};
  // Sequential writes' chunks to blocks (before files_: their streams must die first).
  std::unique_ptr<WritePipeline> pipeline_;
  std::mutex files_mu_;
  std::unordered_map<InodeId, std::shared_ptr<OpenFile>> files_;  // GUARDED_BY(files_mu_)
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> handles_;  // GUARDED_BY(files_mu_)
  uint64_t next_fh_ = 1;  // GUARDED_BY(files_mu_)
  std::atomic<int64_t> last_flush_ns_{0};
  // Background commits (dirty limit), one at a time, on committer_.
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::deque<std::unique_ptr<Snapshot>> commit_queue_;  // GUARDED_BY(commit_mu_)
  bool commit_stop_ = false;                            // GUARDED_BY(commit_mu_)
  std::thread committer_;
  std::mutex stale_mu_;                       // leaf lock
  std::unordered_set<InodeId> stale_pages_;   // GUARDED_BY(stale_mu_): see KeepCache
  void PagesStale(InodeId ino) {
    std::lock_guard<std::mutex> l(stale_mu_);
    stale_pages_.insert(ino);
  }
};

}  // namespace s3xfs
