// ObjectStoreImpl (internal): shared state of the core's implementation files.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "s3xfs/base/parallel.h"
#include "s3xfs/blockstore/batch.h"
#include "s3xfs/core/object_store.h"
#include "s3xfs/ledger/ledger.h"

namespace s3xfs {

class ObjectStoreImpl;

// The longest key the core stores. The S3 listener refuses keys over 1024 bytes (as S3 does,
// KeyTooLongError), but paths in the mount may be as long as PATH_MAX (4096) below any
// directory of a bucket, so keys made there go up to this.
constexpr size_t kMaxKeyBytes = 16384;

// The MD5 of a file DAG's content (an ETag): hex and raw digest. Read through `src`; stops
// with Unavailable when `stop` becomes true.
Result<std::pair<std::string, Bytes>> ContentMd5(BlockSource* src, const Cid& root,
                                                 const std::atomic<bool>* stop = nullptr);

// Key rules shared by every operation: not empty, no NUL (InvalidArgument, Reason kInvalidKey),
// at most kMaxKeyBytes (InvalidArgument, Reason kKeyTooLong: ENAMETOOLONG in the mount).
Status CheckKey(const std::string& key);

// Which blocks writers are putting right now, so GC never deletes a block between a writer's
// Put (which skips an existing block) and its commit. Lock order: gc_mu_ is a leaf lock.
class InflightBlocks {
 public:
  // Waits while GC is deleting the block, then marks it held.
  void Hold(const Bytes& mh);
  void Unhold(const std::vector<Bytes>& mhs);
  // For GC: claims candidates not held by writers (they are then "deleting").
  std::vector<Bytes> ClaimForDeletion(const std::vector<Bytes>& candidates);
  void DoneDeleting(const std::vector<Bytes>& mhs);
  bool IsHeld(const Bytes& mh);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Bytes, int> held_;
  std::set<Bytes> deleting_;
};

// A writer's new blocks: each is held against GC (until this object dies, which must be after
// the commit or the abandonment), recorded as a leaf or interior node, and batched to the store.
class HeldBlocks {
 public:
  HeldBlocks(BlockStore* store, InflightBlocks* inflight) : batch_(store), inflight_(inflight) {}
  ~HeldBlocks() { inflight_->Unhold(held_); }
  HeldBlocks(const HeldBlocks&) = delete;
  HeldBlocks& operator=(const HeldBlocks&) = delete;
  Status Add(const Cid& cid, ByteView data, bool leaf);
  Status Flush() { return batch_.Flush(); }
  std::vector<BlockUse> leaves, nodes;

 private:
  BlockBatch batch_;
  InflightBlocks* inflight_;
  std::vector<Bytes> held_;
};

// Where an object is going when its writer commits.
struct CommitTarget {
  enum Kind { kObject, kPart } kind = kObject;
  std::string bucket, key;  // kObject
  std::string upload_id;    // kPart
  uint32_t part_number = 0;
  PutOptions options;
};

// The result of streaming bytes into blocks, ready for a ledger commit.
struct BuiltContent {
  DagRoot root;
  std::string md5_hex;
  Bytes md5_raw;
  std::vector<BlockUse> leaves;
  std::vector<BlockUse> nodes;
};

// The upload queue worker (ObjectStoreOptions::remote): one background thread that uploads the
// blocks the ledger queued, oldest first, in batches, and drops remote references of blocks GC
// forgot. Failures back off (0.5 s doubling to 10 s) and are retried forever; the queue lives
// in the ledger, so a restart resumes it. Remote deletes claim the block against writers
// (InflightBlocks) so a block being written again is never deleted remotely.
//
// On a remote that pins roots (Kubo) it also keeps the ledger's root pins (LedgerTxn "remote
// root pins"): a root is pinned only when no upload queued at or before its pin is pending
// (uploads and pins queued by one transaction share its time, so every block of the root went
// up first); an overwrite moves the old root's pin (pin/update); unused roots are unpinned.
// Deletes are dropped from the queue without calling the remote (its GC reclaims unpinned
// blocks, which may be shared with other users of the node). A pin the node refuses for a
// missing block re-queues the root's blocks and is retried after them; other failures of one
// root postpone that root only; an unreachable node backs off like uploads.
class RemoteSync {
 public:
  RemoteSync(Ledger* ledger, BlockStore* blocks, BlockStore* remote, InflightBlocks* inflight,
             std::chrono::milliseconds poll, std::chrono::milliseconds pin_retry);
  ~RemoteSync();
  // Turns queue tracking on and starts the thread. A data directory seeing this remote for the
  // first time (or a different one) queues every block it knows.
  Status Start();
  Result<RemoteStatus> State();
  Status WaitUploaded(std::chrono::milliseconds timeout);

 private:
  void Loop();
  // One batch of each kind; true when there was work.
  Result<bool> UploadSome();
  Result<bool> DeleteSome();
  Result<bool> PinSome();
  void NoteFailure(const Status& st);
  static int64_t Now();

  Ledger* ledger_;
  BlockStore* blocks_;   // reads (the local copy first)
  BlockStore* remote_;
  InflightBlocks* inflight_;
  std::chrono::milliseconds poll_;
  int64_t pin_retry_ns_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;               // GUARDED_BY(mu_)
  bool healthy_ = true;             // GUARDED_BY(mu_)
  std::string last_error_;          // GUARDED_BY(mu_)
  int64_t last_logged_ns_ = 0;      // GUARDED_BY(mu_)
  uint64_t uploaded_blocks_ = 0, uploaded_bytes_ = 0, deleted_blocks_ = 0;  // GUARDED_BY(mu_)
  uint64_t pinned_roots_ = 0, unpinned_roots_ = 0;                           // GUARDED_BY(mu_)
  int64_t last_upload_ns_ = 0;      // GUARDED_BY(mu_)
  std::thread thread_;
};

class ObjectStoreImpl final : public ObjectStore {
 public:
  ObjectStoreImpl(ObjectStoreOptions opt, BlockStore* blocks, std::unique_ptr<Ledger> ledger)
      : opt_(std::move(opt)), blocks_(blocks), ledger_(std::move(ledger)) {}

  Status Recover();

  Status CreateBucket(const std::string& name, const std::string& owner) override;
  Status DeleteBucket(const std::string& name) override;
  Result<BucketInfo> HeadBucket(const std::string& name) override;
  Result<std::vector<BucketInfo>> ListBuckets() override;

  Result<std::unique_ptr<ObjectWriter>> NewWriter(const std::string& bucket, const std::string& key,
                                                  PutOptions options) override;
  Result<ObjectInfo> Head(const std::string& bucket, const std::string& key) override;
  Result<std::unique_ptr<ObjectReader>> OpenReader(const std::string& bucket,
                                                   const std::string& key) override;
  Status Delete(const std::string& bucket, const std::string& key, Durability durability) override;
  Result<ObjectInfo> Copy(const std::string& src_bucket, const std::string& src_key,
                          const std::string& dst_bucket, const std::string& dst_key,
                          const CopyOptions& options) override;
  Result<ListResult> List(const std::string& bucket, const ListOptions& options) override;

  Result<ObjectInfo> MakeDirectory(const std::string& bucket, const std::string& key,
                                   const PosixAttrs& attrs, Durability durability) override;
  Status Rename(const std::string& bucket, const std::string& from, const std::string& to,
                RenameFlags flags, Durability durability) override;
  Result<ObjectInfo> Link(const std::string& bucket, const std::string& existing,
                          const std::string& new_key, Durability durability) override;
  Result<ObjectInfo> Symlink(const std::string& bucket, const std::string& key,
                             const std::string& target, const PosixAttrs& attrs, Durability durability) override;
  // A metadata-only inode (directory marker, symlink, fifo, ...) at a new key whose name is
  // free for both kinds ("x" and "x/").
  Result<ObjectInfo> MakeMetaInode(const std::string& bucket, const std::string& key,
                                   ObjectInfo inode, Durability durability);

  Result<std::string> CreateMultipart(const std::string& bucket, const std::string& key,
                                      PutOptions options) override;
  Result<PartInfo> UploadPart(const std::string& upload_id, uint32_t part_number,
                              ByteView data) override;
  Result<std::unique_ptr<ObjectWriter>> NewPartWriter(
      const std::string& upload_id, uint32_t part_number,
      std::optional<std::string> content_md5) override;
  Result<PartInfo> UploadPartCopy(const std::string& upload_id, uint32_t part_number,
                                  const std::string& src_bucket, const std::string& src_key,
                                  uint64_t offset, uint64_t length) override;
  Result<std::vector<PartInfo>> ListParts(const std::string& upload_id) override;
  Result<std::vector<UploadInfo>> ListUploads(const std::string& bucket,
                                              const std::string& prefix) override;
  Result<ObjectInfo> CompleteMultipart(
      const std::string& upload_id,
      const std::vector<std::pair<uint32_t, std::string>>& parts) override;
  Status AbortMultipart(const std::string& upload_id) override;

  Result<ObjectInfo> StatInode(InodeId ino) override;
  Result<ObjectInfo> InodeAttrs(InodeId ino) override;
  Result<std::optional<ObjectInfo>> LookupChild(InodeId parent, const std::string& name) override;
  Result<std::vector<Child>> ListChildren(InodeId dir, const std::string& after,
                                          size_t limit) override;
  Result<uint64_t> CountSubdirs(InodeId dir) override;
  Result<ObjectInfo> CreateFile(InodeId parent, const std::string& name, const PosixAttrs& attrs,
                                Durability durability) override;
  Status UnlinkChild(InodeId parent, const std::string& name, Durability durability) override;
  Status SetAttrs(InodeId ino, const PosixAttrs& attrs, Durability durability) override;
  Result<ObjectInfo> UpdateAttrs(InodeId ino, const std::function<void(PosixAttrs&)>& change,
                                 Durability durability) override;
  Status SetUserMeta(InodeId ino, const std::map<std::string, std::string>& meta, Durability durability) override;
  Result<ObjectInfo> MakeNode(const std::string& bucket, const std::string& key, InodeKind kind,
                              const PosixAttrs& attrs, Durability durability) override;
  Result<std::vector<BlockUse>> FileLeaves(InodeId ino) override;
  Result<ObjectInfo> UpdateContent(InodeId ino, const ContentUpdate& update, Durability durability) override;
  std::unique_ptr<BlockWriter> NewBlockWriter() override;
  void AbandonBlocks(const std::vector<BlockUse>& blocks) override { Abandon(blocks, {}); }
  void OpenInode(InodeId ino) override { ReaderOpened(ino); }
  void CloseInode(InodeId ino) override { ReaderClosed(ino); }
  Status Pin(const Cid& root, const std::vector<BlockUse>& blocks) override;
  Status Unpin(const Cid& root) override;
  Result<SnapshotInfo> Snapshot(const std::string& bucket, const SnapshotOptions& o) override;
  Result<RestoreInfo> Restore(const Cid& root, const std::string& bucket,
                              const RestoreOptions& o) override;
  Result<std::optional<Cid>> FindManifest(const Cid& tree) override;
  Result<GcStats> CollectGarbage(std::optional<std::chrono::milliseconds> grace) override;
  GcRun LastGc() override;
  Result<FsckReport> Fsck(bool repair, const FsckProgress& progress) override;
  Status SyncLedger() override { return ledger_->Sync(); }
  Result<uint64_t> ComputePendingEtags(size_t limit) override;
  // Fills i.etag when it is pending (a file committed out of order by the mount): the MD5 of
  // the version's content, recorded in the ledger while the inode is still at that version.
  // Unavailable (retry) when the version's blocks went away because it was replaced meanwhile.
  Status ResolveEtag(ObjectInfo& i);
  // Head without computing a pending ETag.
  Result<ObjectInfo> HeadRaw(const std::string& bucket, const std::string& key);
  BlockStore* blocks() override { return blocks_; }
  Result<RemoteStatus> RemoteState() override;
  Result<StoredBlocks> CountStoredBlocks() override;
  Status WaitUploaded(std::chrono::milliseconds timeout) override;
  Status StartRemote();
  const DagOptions& dag_options() const override { return opt_.dag; }

  // ---- used by writers and readers ----
  int64_t Now() const;
  const ObjectStoreOptions& options() const { return opt_; }
  InflightBlocks& inflight() { return inflight_; }
  // Commits streamed content to its target in one ledger transaction.
  Result<ObjectInfo> CommitContent(const CommitTarget& target, BuiltContent&& content);
  // Records blocks of an abandoned write as unreferenced, so GC removes them after the grace.
  void Abandon(const std::vector<BlockUse>& leaves, const std::vector<BlockUse>& nodes);
  void ReaderOpened(InodeId ino);
  void ReaderClosed(InodeId ino);

 private:
  // Places a new dentry for key (creating implicit parent directories); parent 0 when the key
  // cannot be a path or its name is taken by a different kind of entry.
  Status PlaceDentry(LedgerTxn& t, const BucketInfo& b, const std::string& key, InodeId ino);
  // The directory holding key's entry (its bucket's root for top-level keys) changed: POSIX
  // updates its mtime and ctime.
  Status TouchParent(LedgerTxn& t, const std::string& bucket, const std::string& key);
  Status MoveEntry(LedgerTxn& t, const BucketInfo& b, const Dentry& d, const std::string& to);
  Status Exchange(const std::string& bucket, const std::string& a, const std::string& b,
                  Durability durability);
  // Removes a file's (or other non-directory's) entry: drops a link, cleans up parents.
  Status DeleteFileEntry(LedgerTxn& t, const Dentry& d);
  // The empty file's DAG (what a PUT of no bytes stores), made once.
  struct EmptyFile {
    DagRoot root;
    std::vector<Block> blocks;
    std::vector<BlockUse> leaves, nodes;
  };
  const EmptyFile& Empty();
  std::once_flag empty_once_;
  EmptyFile empty_;
  // Removes implicit directories above key that became empty.
  Status CleanupParents(LedgerTxn& t, const std::string& bucket, const std::string& key);
  // Drops one link of ino; frees it (or defers to its last reader) when none remain.
  Status Unlink(LedgerTxn& t, InodeId ino);
  Status FreeInode(LedgerTxn& t, InodeId ino);
  // Drops ino's block references (its content is being replaced in place). When readers have
  // ino open, a hidden inode takes the references over until the last of them closes.
  Status ReleaseContent(LedgerTxn& t, InodeId ino);
  // Points key at ino, replacing what was there (the old inode loses a link).
  Status BindKey(LedgerTxn& t, const BucketInfo& b, const std::string& key, InodeId ino);
  Result<BucketInfo> NeedBucket(LedgerTxn& t, const std::string& bucket);
  Status CheckPreconditions(LedgerTxn& t, const std::string& bucket, const std::string& key,
                            const PutOptions& o);
  // options.snapshot_index_path or the default beside the ledger.
  std::string SnapshotIndexPath() const;
  ObjectInfo NewInode(InodeKind kind, const std::optional<PosixAttrs>& attrs, uint32_t mode);
  // CollectGarbage's work, under gc_run_mu_ (the caller records the run in the metrics).

  ObjectStoreOptions opt_;
  BlockStore* blocks_;
  std::unique_ptr<Ledger> ledger_;
  InflightBlocks inflight_;
  std::mutex open_mu_;
  std::unordered_map<InodeId, int> open_;           // GUARDED_BY(open_mu_)
  std::unordered_set<InodeId> free_on_close_;       // GUARDED_BY(open_mu_)
  std::unordered_map<InodeId, std::vector<InodeId>> ghosts_;  // GUARDED_BY(open_mu_)
  std::mutex gc_run_mu_;                            // one GC/fsck at a time
  // The GC pass itself (REQUIRES: gc_run_mu_ held); fills *stats as it goes.
  Status RunGc(std::chrono::milliseconds grace, GcStats* stats);
  std::mutex last_gc_mu_;                           // leaf lock
  GcRun last_gc_;                                   // GUARDED_BY(last_gc_mu_)
  // Background GC (options.gc_interval).
  std::mutex gc_thread_mu_;
  std::condition_variable gc_thread_cv_;
  bool gc_thread_stop_ = false;                     // GUARDED_BY(gc_thread_mu_)
  std::atomic<bool> stopping_{false};               // set first by the destructor
  InodeId etag_cursor_ = 0;                         // ComputePendingEtags resumes after it (GC thread)
  std::thread gc_thread_;
  std::unique_ptr<RemoteSync> remote_;  // set when options.remote

 public:
  void StartGcThread();
  ~ObjectStoreImpl() override;
};

// Streams bytes into blocks and hashes (CID + MD5 in one pass); used by object and part writers.
class ContentWriter final : public ObjectWriter {
 public:
  ContentWriter(ObjectStoreImpl* store, CommitTarget target);
  ~ContentWriter() override;
  Status Write(ByteView data) override;
  Result<ObjectInfo> Commit() override;
  uint64_t bytes_written() const override { return builder_.bytes_written(); }

 private:
  ObjectStoreImpl* store_;
  CommitTarget target_;
  HeldBlocks blocks_;  // before builder_: the builder's sink writes into it
  DagBuilder builder_;
  void* md5_ = nullptr;  // EVP_MD_CTX*
  // Large writes run MD5 on a second thread while this one builds the DAG (sha2-256): the two
  // hashes of every byte cost max(md5, sha) instead of their sum. Created on first use.
  std::unique_ptr<ParallelFor> hash_pool_;
  Status failed_;
  bool done_ = false;
};

std::string NewUploadId();

}  // namespace s3xfs
