// ObjectStore: the core both front ends (FUSE and S3) call. It owns the namespace semantics —
// buckets, objects, directories, links, multipart uploads, garbage collection — and is testable
// without a kernel or a socket.
//
// Data flow: bytes stream into a DagBuilder whose blocks go to the BlockStore (no lock held);
// MD5 is computed in the same pass; then one short ledger transaction swaps the key to the new
// inode. Readers that opened the old version keep reading it: its blocks are only released when
// the last reader closes, and only deleted from the block store after the GC grace period.
//
// Concurrency: every method is safe to call from any thread. Operations on different keys never
// wait for each other's block I/O; operations on the same key are ordered by a per-key lock
// held only around the ledger commit (never across block I/O or replies). Lock order: key locks
// (sorted by bucket/key when an operation needs two), then the ledger's write mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/blockstore/blockstore.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/ledger/ledger.h"
#include "s3xfs/ledger/types.h"

namespace s3xfs {

class Ledger;

struct ObjectStoreOptions {
  // SQLite ledger file (created with its directory if missing).
  std::string ledger_path;
  DagOptions dag = DagOptions::KuboV1();
  // Unreferenced blocks are deleted from the block store no earlier than this after their last
  // reference went away (room for readers that resolved a key just before it changed).
  std::chrono::milliseconds gc_grace{std::chrono::minutes(5)};
  // When non-zero, a background thread runs CollectGarbage() this often for the life of the
  // store (the daemons use it; a failed run is retried at the next interval).
  std::chrono::milliseconds gc_interval{0};
  // Smallest size of every multipart part but the last (S3: 5 MiB).
  uint64_t min_part_size = 5u << 20;
  // Clock in nanoseconds since the epoch (tests inject one).
  std::function<int64_t()> now_ns;
  // A remote block store (TemporalX, Kubo) behind the local one, or null. When set, the store
  // passed to Open is the local write-back copy (normally a TieredStore over both), commits
  // queue their new blocks in the ledger, and a background thread uploads them (leaves and
  // nodes), then drops the references of blocks GC forgot. Acknowledged writes never wait for
  // the remote; a restart resumes the queue. A remote that pins roots (BlockStore::pins_roots,
  // Kubo) instead gets one recursive pin per object root, once the root's blocks are uploaded,
  // and is never asked to delete blocks. Not owned; must outlive the store.
  BlockStore* remote = nullptr;
  // How often the upload thread looks for new work when idle.
  std::chrono::milliseconds remote_poll{std::chrono::milliseconds(200)};
  // The snapshot index (tree CID -> manifest CID, one line per snapshot). Default: "snapshots"
  // in the ledger's directory.
  std::string snapshot_index_path;
  // A root pin that failed for a reason of its own (not the node being down) is tried again
  // this much later (after its blocks were uploaded again, when the node lacked some).
  std::chrono::milliseconds remote_pin_retry{std::chrono::minutes(1)};
};

// The upload queue to the remote block store (ObjectStoreOptions::remote).
struct RemoteStatus {
  bool enabled = false;
  std::string remote;              // Describe() of the remote store
  bool healthy = true;             // the last upload/delete or health check succeeded
  std::string last_error;          // why not, when !healthy
  bool pins_roots = false;         // the remote keeps one pin per object root (Kubo)
  RemoteQueueStats queue;          // what is still to do (from the ledger)
  uint64_t uploaded_blocks = 0;    // since the store was opened
  uint64_t uploaded_bytes = 0;
  uint64_t deleted_blocks = 0;
  uint64_t pinned_roots = 0;       // pins added (or moved) since the store was opened
  uint64_t unpinned_roots = 0;
  int64_t last_upload_ns = 0;      // 0: none yet
};

// The queue as recorded in a data directory's ledger, read without opening the store (safe
// while a daemon runs on it): enabled/remote from the ledger's settings, the queue; the
// fields only a running daemon knows (health, counters) are left at their defaults.
Result<RemoteStatus> ReadRemoteQueue(const std::string& ledger_path);

struct PutOptions {
  ObjectMeta meta;
  std::optional<PosixAttrs> attrs;       // default: 0644 (files), owner 0, times = now
  std::optional<std::string> content_md5;  // raw 16 bytes; mismatch -> BadDigest, nothing stored
  bool if_none_match_star = false;         // fail with PreconditionFailed if the key exists
  Durability durability = Durability::kDurable;  // of the commit (the blocks are always durable)
  std::optional<std::string> if_match;     // etag the current version must have
};

// Streams one object in; nothing is visible until Commit succeeds. Destroying a writer without
// committing aborts it (its blocks become garbage).
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual Status Write(ByteView data) = 0;
  virtual Result<ObjectInfo> Commit() = 0;
  virtual uint64_t bytes_written() const = 0;
};

// A consistent view of one version of an object: reads keep working after the key is
// overwritten or deleted. Thread-safe.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  virtual const ObjectInfo& info() const = 0;
  // Streams [offset, offset+length) clamped at the end.
  virtual Status Read(uint64_t offset, uint64_t length,
                      const std::function<Status(ByteView)>& sink) = 0;
};

struct CopyOptions {
  bool replace_metadata = false;  // x-amz-metadata-directive: REPLACE
  ObjectMeta meta;                // used when replace_metadata
  std::optional<PosixAttrs> attrs;
  std::optional<std::string> if_match;  // on the source
};

enum class RenameFlags { kNone = 0, kNoReplace = 1, kExchange = 2 };

struct GcStats {
  uint64_t blocks_deleted = 0;
  uint64_t bytes_deleted = 0;
  uint64_t blocks_waiting = 0;  // unreferenced but still inside the grace period
};

// The most recent CollectGarbage run (background or called), for the admin status.
struct GcRun {
  int64_t finished_ns = 0;  // 0: no run yet
  int64_t took_ns = 0;
  Status status;            // of the run
  GcStats stats;            // what it did (partial when it failed)
};

// Called by Fsck as it checks the blocks the ledger knows: bytes of the blocks checked so far
// and in all. Runs on the calling thread.
using FsckProgress = std::function<void(uint64_t done_bytes, uint64_t total_bytes)>;

struct FsckReport {
  std::vector<std::string> missing_blocks;    // referenced by the ledger, absent from the store
  std::vector<std::string> wrong_refcounts;   // ledger count differs from the references
  std::vector<std::string> orphan_blocks;     // in the store, unknown to the ledger
  std::vector<std::string> other;             // structural problems
  uint64_t repaired = 0;
  bool clean() const {
    return missing_blocks.empty() && wrong_refcounts.empty() && orphan_blocks.empty() &&
           other.empty();
  }
};

// ---- snapshots (docs/FORMATS.md "Snapshots") ----
//
// A snapshot of a bucket (or of a directory prefix in it) is two DAGs in the block store:
//  - the tree: a UnixFS directory of the files, directories and symlinks, built from the ledger
//    exactly as `ipfs add -r` builds one (basic directories, HAMT shards past Kubo's threshold,
//    the objects' own file DAGs). For plain files its CID equals `ipfs add -r` of the same tree
//    with the store's DAG options (CIDv1, raw leaves by default).
//  - the manifest: a UnixFS directory {"meta.jsonl": a UnixFS file with one JSON line per
//    object (S3 and POSIX metadata, ETag, hard-link groups), "tree": the tree, "other": roots
//    of objects whose keys cannot be paths (only when there are some)}. Everything the ledger
//    knows of the objects is there, so a bucket can be rebuilt without the ledger.
// The snapshot is pinned under the manifest's CID (it keeps every block it names, whatever
// happens to the bucket later), and "tree manifest" is appended to the snapshot index beside
// the ledger, so Restore given the tree's CID finds the metadata.
struct SnapshotOptions {
  // "" (the whole bucket) or a directory: "a/b" and "a/b/" both mean the keys under "a/b/",
  // stored relative to it.
  std::string prefix;
  // Objects processed so far and in all; on the calling thread.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct SnapshotInfo {
  Cid tree;      // what `ipfs add -r` of the same files gives
  Cid manifest;  // the snapshot with its metadata (what Restore wants)
  uint64_t files = 0, directories = 0, symlinks = 0, special = 0;
  uint64_t unpathable = 0;  // objects whose keys cannot be paths (kept under "other")
  uint64_t bytes = 0;       // file content
};

struct RestoreOptions {
  std::function<void(uint64_t done, uint64_t total)> progress;  // entries restored / in all
};

struct RestoreInfo {
  bool metadata = false;  // restored from a manifest (else from a plain UnixFS tree)
  Cid tree;
  Cid manifest;           // empty without metadata
  uint64_t files = 0, directories = 0, symlinks = 0, special = 0, links = 0;
  uint64_t bytes = 0;
};

class ObjectStore {
 public:
  // Opens (creating) the ledger and recovers: inodes left unlinked by a crash release their
  // blocks. `blocks` must outlive the store.
  static Result<std::unique_ptr<ObjectStore>> Open(const ObjectStoreOptions& options,
                                                   BlockStore* blocks);
  virtual ~ObjectStore() = default;

  // ---- buckets ----
  // S3 naming rules (3-63 chars of a-z 0-9 . -, starting and ending with a letter or digit, not
  // an IP address). BucketAlreadyOwnedByYou when it exists.
  virtual Status CreateBucket(const std::string& name, const std::string& owner = "") = 0;
  // BucketNotEmpty when any key (or upload in progress) remains.
  virtual Status DeleteBucket(const std::string& name) = 0;
  virtual Result<BucketInfo> HeadBucket(const std::string& name) = 0;
  virtual Result<std::vector<BucketInfo>> ListBuckets() = 0;

  // ---- objects ----
  virtual Result<std::unique_ptr<ObjectWriter>> NewWriter(const std::string& bucket,
                                                          const std::string& key,
                                                          PutOptions options) = 0;
  // Convenience: NewWriter + one Write + Commit.
  Result<ObjectInfo> Put(const std::string& bucket, const std::string& key, ByteView data,
                         PutOptions options = {});
  virtual Result<ObjectInfo> Head(const std::string& bucket, const std::string& key) = 0;
  virtual Result<std::unique_ptr<ObjectReader>> OpenReader(const std::string& bucket,
                                                           const std::string& key) = 0;
  // Convenience: the bytes of a range.
  Result<Bytes> Get(const std::string& bucket, const std::string& key, uint64_t offset = 0,
                    uint64_t length = UINT64_MAX);
  // S3 DeleteObject: OK when absent. Deleting a directory marker "d/" with children leaves the
  // children (S3 semantics); the directory becomes implicit.
  virtual Status Delete(const std::string& bucket, const std::string& key,
      Durability durability = Durability::kDurable) = 0;
  // Shares the source's blocks (reference counts raised); no data is copied. Copying a key onto
  // itself with replace_metadata changes only the metadata.
  virtual Result<ObjectInfo> Copy(const std::string& src_bucket, const std::string& src_key,
                                  const std::string& dst_bucket, const std::string& dst_key,
                                  const CopyOptions& options) = 0;
  virtual Result<ListResult> List(const std::string& bucket, const ListOptions& options) = 0;

  // ---- directories and links (key-level; the FUSE front end maps paths to keys) ----
  // Creates the marker object "dir/" (key must end with '/').
  virtual Result<ObjectInfo> MakeDirectory(const std::string& bucket, const std::string& key,
                                           const PosixAttrs& attrs,
      Durability durability = Durability::kDurable) = 0;
  // Renames a file ("a/b") or a whole directory ("a/" -> "c/") in one transaction; blocks never
  // move. Directory targets must be absent or empty (DirectoryNotEmpty); a file cannot replace
  // a directory (IsDirectory) or vice versa (NotDirectory).
  virtual Status Rename(const std::string& bucket, const std::string& from, const std::string& to,
                        RenameFlags flags = RenameFlags::kNone,
      Durability durability = Durability::kDurable) = 0;
  // A second key for the same inode (hard link). Exists if `new_key` exists.
  virtual Result<ObjectInfo> Link(const std::string& bucket, const std::string& existing,
                                  const std::string& new_key,
      Durability durability = Durability::kDurable) = 0;
  virtual Result<ObjectInfo> Symlink(const std::string& bucket, const std::string& key,
                                     const std::string& target, const PosixAttrs& attrs,
      Durability durability = Durability::kDurable) = 0;

  // ---- multipart ----
  virtual Result<std::string> CreateMultipart(const std::string& bucket, const std::string& key,
                                              PutOptions options) = 0;
  // Stores the part's blocks at once; replaces an earlier upload of the same part number.
  virtual Result<PartInfo> UploadPart(const std::string& upload_id, uint32_t part_number,
                                      ByteView data) = 0;
  // Streaming form of UploadPart. `content_md5` (raw 16 bytes): checked before the part is
  // recorded (BadDigest, an earlier upload of the part stays).
  virtual Result<std::unique_ptr<ObjectWriter>> NewPartWriter(
      const std::string& upload_id, uint32_t part_number,
      std::optional<std::string> content_md5 = std::nullopt) = 0;
  // UploadPartCopy: bytes [offset, offset+length) of an existing object as a part.
  virtual Result<PartInfo> UploadPartCopy(const std::string& upload_id, uint32_t part_number,
                                          const std::string& src_bucket,
                                          const std::string& src_key, uint64_t offset,
                                          uint64_t length) = 0;
  virtual Result<std::vector<PartInfo>> ListParts(const std::string& upload_id) = 0;
  virtual Result<std::vector<UploadInfo>> ListUploads(const std::string& bucket,
                                                      const std::string& prefix) = 0;
  // Parts ascending (InvalidPartOrder), each present with the given etag (InvalidPart), all but
  // the last >= min_part_size (EntityTooSmall). Leaves of chunk-aligned parts are reused.
  virtual Result<ObjectInfo> CompleteMultipart(
      const std::string& upload_id, const std::vector<std::pair<uint32_t, std::string>>& parts) = 0;
  virtual Status AbortMultipart(const std::string& upload_id) = 0;

  // ---- inode-level access (what the mount needs beyond keys) ----
  // The inode with one of its names: bucket and key are filled (a directory's key ends with '/';
  // a bucket's root directory has key ""). The mount root (kRootInode) has neither.
  virtual Result<ObjectInfo> StatInode(InodeId ino) = 0;
  // What stat needs, in one query: StatInode without bucket, key and user metadata.
  virtual Result<ObjectInfo> InodeAttrs(InodeId ino) = 0;
  // The entry called `name` in directory `parent` (parent kRootInode: the bucket of that name),
  // or nullopt. Entries hidden from the mount (see SEMANTICS) are never returned.
  virtual Result<std::optional<ObjectInfo>> LookupChild(InodeId parent, const std::string& name) = 0;
  struct Child {
    std::string name;
    InodeId ino = 0;
    InodeKind kind = InodeKind::kFile;
  };
  // Entries of a directory in name order, starting after `after`, at most `limit`.
  virtual Result<std::vector<Child>> ListChildren(InodeId dir, const std::string& after,
                                                  size_t limit) = 0;
  // Number of subdirectories (for a directory's nlink).
  virtual Result<uint64_t> CountSubdirs(InodeId dir) = 0;
  // The mount's create/mknod of a regular file: an empty file called `name` in directory
  // `parent`, in one transaction (no reads before it). AlreadyExists (kExists) when the name is
  // taken in the mount (file or directory) or the key exists over S3; the file takes the
  // directory's group when the directory is set-group-ID. Returns it with bucket and key.
  virtual Result<ObjectInfo> CreateFile(InodeId parent, const std::string& name,
                                        const PosixAttrs& attrs,
      Durability durability = Durability::kDurable) = 0;
  // The mount's unlink: removes the entry `name` of directory `parent` (not a directory:
  // IsDirectory), in one transaction; like Delete of its key.
  virtual Status UnlinkChild(InodeId parent, const std::string& name,
      Durability durability = Durability::kDurable) = 0;
  // chmod/chown/utimens: replaces the POSIX attributes (ctime as given).
  virtual Status SetAttrs(InodeId ino, const PosixAttrs& attrs,
      Durability durability = Durability::kDurable) = 0;
  // The same as one read-modify-write: `change` edits the inode's current attributes inside the
  // transaction. Returns the inode as InodeAttrs does, with the new attributes.
  virtual Result<ObjectInfo> UpdateAttrs(InodeId ino, const std::function<void(PosixAttrs&)>& change,
      Durability durability = Durability::kDurable) = 0;
  // xattrs user.*: replaces the user metadata.
  virtual Status SetUserMeta(InodeId ino, const std::map<std::string, std::string>& meta,
      Durability durability = Durability::kDurable) = 0;
  // A special file (fifo, socket, device) as a metadata-only inode under key.
  virtual Result<ObjectInfo> MakeNode(const std::string& bucket, const std::string& key,
                                      InodeKind kind, const PosixAttrs& attrs,
      Durability durability = Durability::kDurable) = 0;
  // The leaves of a file inode, in order (the write-back cache's committed chunk list).
  virtual Result<std::vector<BlockUse>> FileLeaves(InodeId ino) = 0;
  // New content for an existing file inode, committed in place (same inode number, so st_ino is
  // stable): the blocks are already in the block store and durable.
  struct ContentUpdate {
    DagRoot root;
    std::string etag;
    std::vector<BlockUse> leaves;
    std::vector<BlockUse> nodes;
    int64_t mtime_ns = 0;  // 0: now
    // Commit only if the inode's generation is still this (PreconditionFailed otherwise): a
    // commit of an older snapshot never replaces a newer one.
    std::optional<uint64_t> if_generation;
  };
  virtual Result<ObjectInfo> UpdateContent(InodeId ino, const ContentUpdate& update,
      Durability durability = Durability::kDurable) = 0;
  // Writes blocks ahead of a commit (UpdateContent): each is protected from GC until the
  // writer is destroyed, which must happen after the commit. A commit may only reference
  // blocks that are durable: put with PutUnsynced, then a Sync that returned OK.
  // Thread-safe: puts and syncs may come from several threads at once.
  class BlockWriter {
   public:
    virtual ~BlockWriter() = default;
    // Stored (readable) when it returns; durable after the next Sync that returns OK. Lets a
    // writer overlap many blocks' disk writes and wait for them together.
    virtual Status PutUnsynced(const Cid& cid, ByteView data) = 0;
    // Makes every block put through this writer before the call durable. A failed sync is
    // retried by the next call; the store may fail that one too (the embedded store never
    // trusts a block whose fdatasync failed until it is put anew). Concurrent calls are
    // serialised (each returns only when the blocks a concurrent call took are durable too).
    virtual Status Sync() = 0;
    // Blocks put unsynced and not yet synced.
    virtual size_t unsynced() const = 0;
  };
  virtual std::unique_ptr<BlockWriter> NewBlockWriter() = 0;
  // Blocks written through a BlockWriter that no commit will reference (overwritten before a
  // commit, abandoned after an error): recorded as unreferenced, so GC deletes them after the
  // grace period unless something references them by then.
  virtual void AbandonBlocks(const std::vector<BlockUse>& blocks) = 0;
  // An open file handle on ino: while any is open, an unlinked inode keeps its data.
  virtual void OpenInode(InodeId ino) = 0;
  virtual void CloseInode(InodeId ino) = 0;

  // ---- pins: DAGs kept outside buckets (s3xfs add, import-car) ----
  // Records that the (already stored and synced) blocks of the DAG under `root` are wanted, so
  // GC and fsck --repair keep them. Pinning a root again replaces the earlier pin.
  virtual Status Pin(const Cid& root, const std::vector<BlockUse>& blocks) = 0;
  // Drops a pin (NotFound if absent); its blocks become garbage unless used elsewhere.
  virtual Status Unpin(const Cid& root) = 0;

  // ---- snapshots ----
  // Builds and pins a snapshot of the bucket (see above) from one consistent read of the
  // ledger. The blocks are durable and the pin committed when it returns. NotFound (no such
  // bucket), Aborted when objects changed so much during the snapshot that blocks it needs were
  // collected (retry). Dirty data of a mount is not seen: the mount flushes first.
  virtual Result<SnapshotInfo> Snapshot(const std::string& bucket, const SnapshotOptions& o) = 0;
  // Rebuilds `bucket` (created when missing; it must otherwise be empty: BucketNotEmpty) from a
  // snapshot whose blocks are in the block store: `root` is a manifest, a tree the snapshot
  // index knows, or any UnixFS directory (names and contents then, with default attributes,
  // ETags computed from the content, and markers only for empty directories). Every block is
  // checked against its CID as it is read. Pins the snapshot again. Objects already restored
  // stay when it fails midway.
  virtual Result<RestoreInfo> Restore(const Cid& root, const std::string& bucket,
                                      const RestoreOptions& o) = 0;
  // The manifest recorded for a tree in the snapshot index, if any.
  virtual Result<std::optional<Cid>> FindManifest(const Cid& tree) = 0;

  // ---- maintenance ----
  // Deletes blocks whose references dropped to zero more than `grace` ago (default: the
  // configured grace).
  virtual Result<GcStats> CollectGarbage(std::optional<std::chrono::milliseconds> grace = {}) = 0;
  // The last CollectGarbage run.
  virtual GcRun LastGc() = 0;
  // Checks ledger against block store; with repair, fixes counts, forgets absent blocks that
  // nothing references, and deletes orphan blocks. Never deletes referenced data.
  virtual Result<FsckReport> Fsck(bool repair, const FsckProgress& progress = {}) = 0;

  // Makes every relaxed commit so far durable (fsync of a file whose data is already
  // committed, fsyncdir).
  virtual Status SyncLedger() = 0;
  virtual BlockStore* blocks() = 0;
  // The upload queue and the remote's health (enabled == false without a remote).
  virtual Result<RemoteStatus> RemoteState() = 0;
  // Blocks the ledger knows (what the local block store holds, orphans aside): count and
  // bytes. Scans the ledger's block table (about 0.2 s of CPU per million blocks).
  struct StoredBlocks {
    uint64_t blocks = 0, bytes = 0;
  };
  virtual Result<StoredBlocks> CountStoredBlocks() = 0;
  // Waits until the upload queue is empty (and, on a remote that pins roots, no root waits for
  // its pin) or `timeout` passed; Timeout with what is left.
  virtual Status WaitUploaded(std::chrono::milliseconds timeout) = 0;
  virtual const DagOptions& dag_options() const = 0;
  // A file written out of order through the mount is committed with its ETag pending (empty in
  // the ledger): its MD5 would need every byte read again at each flush, which makes an fsync
  // cost the whole file. Head, OpenReader, List, Copy and Snapshot compute a pending ETag
  // before they answer (reading the content once) and record it for that version. This computes
  // up to `limit` of them for files nobody has open (the daemon runs it after each GC pass) and
  // returns how many it recorded.
  virtual Result<uint64_t> ComputePendingEtags(size_t limit) = 0;
};

// ---- the snapshot index (a text file: "TREE MANIFEST CREATED_NS BUCKET" per line) ----
// The default index of a data directory: "snapshots" beside the ledger.
std::string DefaultSnapshotIndex(const std::string& ledger_path);
// The manifest last recorded for `tree` (compared by multihash), if any. A missing file is empty.
Result<std::optional<Cid>> LookupSnapshotIndex(const std::string& index, const Cid& tree);
// Appends a line (synced) unless the same pair is already the latest for the tree.
Status AppendSnapshotIndex(const std::string& index, const Cid& tree, const Cid& manifest,
                           const std::string& bucket, int64_t now_ns);
// When `root` is a snapshot manifest (a UnixFS directory with meta.jsonl whose first line is a
// snapshot header, and tree), its tree; nullopt for anything else. Errors of the source (a
// missing block) pass through.
Result<std::optional<Cid>> SnapshotTreeOf(BlockSource* source, const Cid& root);

// S3 bucket naming rules.
bool IsValidBucketName(std::string_view name);

}  // namespace s3xfs
