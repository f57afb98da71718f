// The ledger: the SQLite database (WAL mode, synchronous=FULL) that is the source of truth for
// the namespace and metadata. This is the only module that includes SQLite. It offers typed
// operations inside transactions; the object core composes them and owns the semantics.
//
// Schema: numbered migrations tracked in PRAGMA user_version (docs/FORMATS.md). Persisted enum
// values (InodeKind) are never renumbered.
//
// Thread-safety: Write() serialises writers on one connection (short transactions only: never do
// block I/O inside fn). Read() runs on a pool of read connections and sees a consistent
// snapshot; reads never wait for writers (WAL). A LedgerTxn must not escape its fn.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/cas/cid.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/ledger/types.h"

namespace s3xfs {

constexpr int kLedgerSchemaVersion = 4;

// One directory entry: a full S3 key and its place in the mount.
struct Dentry {
  std::string bucket;
  std::string key;      // full S3 key; directories end with '/'
  InodeId ino = 0;
  InodeId parent = 0;   // directory inode; 0 = not representable as a path (S3 only)
  std::string name;     // last path component ("" when parent == 0)
  bool implicit = false;  // a directory implied by deeper keys: not an S3 object
};

// A block reference held by an inode: leaves in file order, then interior nodes.
struct BlockUse {
  Cid cid;
  uint64_t size = 0;  // block bytes
};

struct BlockRow {
  Bytes multihash;
  uint64_t size = 0;
  int64_t refs = 0;
  std::optional<int64_t> zero_since_ns;
};

// The remote block store's to-do list (schema 2): blocks to upload, references to drop.
enum class RemoteOp : int { kUpload = 1, kDelete = 2 };  // persisted: never renumber

struct RemoteTask {
  Bytes multihash;
  RemoteOp op = RemoteOp::kUpload;
  uint64_t codec = 0;  // multicodec of the CID (0: unknown)
  uint64_t size = 0;
  int64_t queued_ns = 0;
};

struct RemoteQueueStats {
  uint64_t uploads = 0, upload_bytes = 0, deletes = 0;
  int64_t oldest_upload_ns = 0;  // 0 when no upload is queued
  uint64_t pins = 0, unpins = 0;  // root pins to add / remove (schema 3)
};

// One root pin to change on a remote that pins roots (schema 3, table remote_pins).
struct PinTask {
  Cid root;
  bool pin = true;                // true: pin root; false: unpin it
  std::optional<Cid> replaces;    // pin only: a pinned root no longer used, to move the pin from
  int64_t queued_ns = 0;          // when it became due (the transaction that changed the root)
};

struct UploadRow {
  UploadInfo info;
  ObjectMeta meta;
  PosixAttrs attrs;
};

struct PartRow {
  uint32_t part_number = 0;
  InodeId ino = 0;  // unlinked inode holding the part's blocks
  uint64_t size = 0;
  std::string etag;
  int64_t modified_ns = 0;
};

class LedgerTxn {
 public:
  virtual ~LedgerTxn() = default;

  // Buckets.
  virtual Result<std::optional<BucketInfo>> GetBucket(const std::string& name) = 0;
  virtual Status InsertBucket(const BucketInfo& b) = 0;
  virtual Status DeleteBucket(const std::string& name) = 0;
  virtual Result<std::vector<BucketInfo>> ListBuckets() = 0;

  // Inodes. InsertInode assigns and returns the number (info.ino is ignored).
  virtual Result<InodeId> InsertInode(const ObjectInfo& info) = 0;
  // Fills everything but bucket/key. NotFound if absent.
  virtual Result<ObjectInfo> GetInode(InodeId ino) = 0;
  // GetInode without the user metadata (one query: what stat needs).
  virtual Result<ObjectInfo> GetInodeStat(InodeId ino) = 0;
  // Rewrites size, etag, cid, symlink, meta (system + user), attrs, generation, nlink.
  virtual Status UpdateInode(InodeId ino, const ObjectInfo& info) = 0;
  virtual Status SetNlink(InodeId ino, uint32_t nlink) = 0;
  // Rewrites only the POSIX attributes (mode, owner, rdev, times). NotFound if absent.
  virtual Status SetInodeAttrs(InodeId ino, const PosixAttrs& attrs) = 0;
  // mtime = ctime = now_ns (a directory whose entries changed).
  virtual Status TouchInode(InodeId ino, int64_t now_ns) = 0;
  // Records the ETag of a file whose ETag is pending (empty: written out of order through the
  // mount), only while the inode is still at `generation` with the ETag pending. False when it
  // was not (changed since, deleted, or already set).
  virtual Result<bool> SetPendingEtag(InodeId ino, uint64_t generation, const std::string& etag) = 0;
  // Up to `limit` linked files whose ETag is pending, in inode order after `after` (unlinked
  // inodes hold blocks for writers, parts and pins: no one asks for their ETag).
  virtual Result<std::vector<InodeId>> PendingEtags(InodeId after, size_t limit) = 0;
  virtual Status DeleteInode(InodeId ino) = 0;
  // Inodes with nlink == 0 that still hold block references (crash leftovers, parts).
  virtual Result<std::vector<InodeId>> UnlinkedInodes() = 0;

  // Dentries.
  virtual Result<std::optional<Dentry>> Lookup(const std::string& bucket, const std::string& key) = 0;
  virtual Result<std::optional<Dentry>> LookupChild(InodeId parent, const std::string& name) = 0;
  virtual Status InsertDentry(const Dentry& d) = 0;
  virtual Status DeleteDentry(const std::string& bucket, const std::string& key) = 0;
  virtual Status SetImplicit(const std::string& bucket, const std::string& key, bool implicit) = 0;
  virtual Result<bool> HasChildren(InodeId dir) = 0;
  // Up to `limit` dentries of `bucket` with key >= from (or > from when !inclusive), key order.
  virtual Result<std::vector<Dentry>> Scan(const std::string& bucket, const std::string& from,
                                           bool inclusive, size_t limit) = 0;
  // One dentry naming ino (the lowest key), or nullopt.
  virtual Result<std::optional<Dentry>> DentryOf(InodeId ino) = 0;
  // Children of a directory (parent index), name order, names > after, with their kinds.
  virtual Result<std::vector<std::pair<Dentry, InodeKind>>> Children(InodeId parent,
                                                                     const std::string& after,
                                                                     size_t limit) = 0;
  virtual Result<uint64_t> CountSubdirs(InodeId parent) = 0;
  virtual Result<std::optional<BucketInfo>> BucketByRoot(InodeId root_ino) = 0;
  // Number of dentries linking to ino.
  virtual Result<uint32_t> CountLinks(InodeId ino) = 0;
  // Every dentry whose key starts with `from` gets `to` in its place (directory rename).
  virtual Status RekeyPrefix(const std::string& bucket, const std::string& from,
                             const std::string& to) = 0;
  virtual Status MoveDentry(const std::string& bucket, const std::string& key, InodeId parent,
                            const std::string& name) = 0;

  // User metadata / xattrs (name without "user.").
  virtual Status SetUserMeta(InodeId ino, const std::map<std::string, std::string>& meta) = 0;

  // Block references. AddUses records that `ino` holds the blocks (leaves first, then interior
  // nodes) and raises each block's count; ReleaseUses drops all of ino's references (counts
  // reaching zero start their grace period at now_ns) and forgets the list.
  virtual Status AddUses(InodeId ino, const std::vector<BlockUse>& leaves,
                         const std::vector<BlockUse>& nodes) = 0;
  virtual Result<std::vector<BlockUse>> Leaves(InodeId ino) = 0;
  // Every block ino holds: leaves in file order, then interior nodes (what AddUses recorded).
  virtual Result<std::vector<BlockUse>> Uses(InodeId ino) = 0;
  virtual Status CopyUses(InodeId from, InodeId to) = 0;
  virtual Status ReleaseUses(InodeId ino, int64_t now_ns) = 0;
  // Blocks with zero references since before `before_ns`.
  virtual Result<std::vector<BlockRow>> GcCandidates(int64_t before_ns, size_t limit) = 0;
  virtual Result<uint64_t> CountZeroRefBlocks() = 0;
  // Number and total size of the blocks the ledger knows (a full scan of the blocks table).
  virtual Result<std::pair<uint64_t, uint64_t>> BlockTotals() = 0;
  // Deletes the block row if its count is still zero; returns whether it did.
  virtual Result<bool> ForgetBlockIfUnused(ByteView multihash) = 0;
  virtual Result<std::vector<BlockRow>> AllBlocks() = 0;
  virtual Result<bool> HasBlock(ByteView multihash) = 0;
  // ---- remote queue (while Ledger::TrackRemote is on) ----
  // A block row that comes into existence queues an upload (or cancels a queued delete: the
  // remote still has it); a forgotten block cancels its queued upload or queues a delete.
  // The oldest tasks of one kind, at most `limit`, with queued_ns <= not_after_ns.
  virtual Result<std::vector<RemoteTask>> RemoteTasks(RemoteOp op, size_t limit,
                                                      int64_t not_after_ns) = 0;
  // The upload of mh finished. Returns false when its task was gone (the block was forgotten
  // meanwhile): a delete is queued instead, to drop the reference the upload made.
  virtual Result<bool> UploadDone(ByteView multihash) = 0;
  // The delete of mh finished (its task is dropped unless it became an upload meanwhile).
  virtual Status DeleteDone(ByteView multihash) = 0;
  // Postpones a task (a local failure) to `until_ns`.
  virtual Status DeferRemote(ByteView multihash, int64_t until_ns) = 0;
  virtual Result<RemoteQueueStats> RemoteStats() = 0;
  // Queues an upload of every known block (a data directory meeting a new remote).
  virtual Status QueueAllUploads(int64_t now_ns) = 0;
  // ---- remote root pins (while Ledger::TrackRemotePins is on; schema 3) ----
  // The roots the remote should pin are counted as inodes change, in the same transaction:
  // the root CID of every inode with nlink > 0 and size > 0 (a linked object with content), and
  // of every ledger pin (PutPin). InsertInode, UpdateInode, SetNlink, DeleteInode, PutPin and
  // RemovePin keep the counts. A root whose count leaves zero needs a pin; a pinned root whose
  // count reaches zero needs an unpin (an unpinned one is forgotten at once). When one
  // transaction both drops a pinned root and adds a new one (an overwrite), the new root's pin
  // replaces the old one (PinTask::replaces), which is then not offered as an unpin.
  // Due work, oldest first: queued_ns <= not_after_ns, at most `limit`.
  virtual Result<std::vector<PinTask>> PinTasks(size_t limit, int64_t not_after_ns) = 0;
  // root is pinned now; `replaced` (PinTask::replaces) no longer is.
  virtual Status PinDone(const Cid& root, const std::optional<Cid>& replaced) = 0;
  // root's pin is gone (the row is forgotten unless the root came back meanwhile).
  virtual Status UnpinDone(const Cid& root) = 0;
  // Postpones root's pin work to until_ns (a failure that is the root's, not the node's).
  virtual Status DeferPin(const Cid& root, int64_t until_ns) = 0;
  // The remote lost blocks of root (a pin failed for a missing block): queues an upload of
  // every block of one inode holding root, and postpones root's pin to until_ns, after them.
  // Returns the number of blocks queued (0: no inode holds root any more).
  virtual Result<uint64_t> RequeueBlocksOf(const Cid& root, int64_t until_ns) = 0;
  // Forgets every pin row, then (when `recount`) counts the roots again from the inodes and
  // ledger pins as not yet pinned (a data directory meeting a new remote that pins roots).
  virtual Status ResetPins(bool recount, int64_t now_ns) = 0;

  virtual Result<std::optional<std::string>> GetSetting(const std::string& name) = 0;
  virtual Status SetSetting(const std::string& name, const std::string& value) = 0;

  // Recounts references from the use lists; returns rows whose stored count was wrong (with the
  // stored count) and, when fix, corrects them.
  virtual Result<std::vector<BlockRow>> CheckRefcounts(bool fix, int64_t now_ns) = 0;

  // Multipart.
  virtual Status InsertUpload(const UploadRow& u) = 0;
  virtual Result<std::optional<UploadRow>> GetUpload(const std::string& id) = 0;
  virtual Result<std::vector<UploadInfo>> ListUploads(const std::string& bucket,
                                                      const std::string& prefix) = 0;
  virtual Status DeleteUpload(const std::string& id) = 0;
  // Records a part; returns the inode of the part it replaced, if any.
  virtual Result<std::optional<InodeId>> PutPart(const std::string& upload_id, const PartRow& p) = 0;
  virtual Result<std::vector<PartRow>> Parts(const std::string& upload_id) = 0;

  // Pins: DAGs imported outside any bucket (s3xfs add, import-car), held by an unlinked inode.
  // Returns the inode of a pin this one replaced.
  virtual Result<std::optional<InodeId>> PutPin(const Cid& root, InodeId ino, int64_t now_ns) = 0;
  virtual Result<std::optional<InodeId>> RemovePin(const Cid& root) = 0;
};

// How durable a commit must be when Write returns.
enum class Durability {
  kDurable,  // on stable storage (synchronous=FULL): S3 acknowledgements, fsync
  kRelaxed,  // ordered but may be lost in a crash until the next durable commit
             // (synchronous=NORMAL): metadata changes the kernel does not require to persist
};

class Ledger {
 public:
  static Result<std::unique_ptr<Ledger>> Open(const std::string& path);
  virtual ~Ledger() = default;
  // Runs fn in one write transaction (BEGIN IMMEDIATE); commits when fn returns OK, rolls back
  // otherwise and returns fn's status. The commit is durable when Write returns OK.
  virtual Status Write(const std::function<Status(LedgerTxn&)>& fn,
                       Durability durability = Durability::kDurable) = 0;
  // Makes every relaxed commit so far durable.
  virtual Status Sync() = 0;
  // While on, block rows keep the remote queue (LedgerTxn remote methods) up to date. Open()
  // turns it on for a ledger whose settings name a remote (set when a remote was first used);
  // otherwise it is off (the embedded store alone needs no queue).
  virtual void TrackRemote(bool on) = 0;
  // While on, transactions keep the remote's root pins (LedgerTxn remote root pins) up to date.
  // Open() turns it on when the settings say the remote pins roots (remote_pins = 1, set by
  // RemoteSync); otherwise it is off.
  virtual void TrackRemotePins(bool on) = 0;
  // Runs fn in a read transaction on a pooled connection.
  virtual Status Read(const std::function<Status(LedgerTxn&)>& fn) = 0;
  virtual int schema_version() const = 0;
};

}  // namespace s3xfs
