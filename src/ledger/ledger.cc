#include "s3xfs/ledger/ledger.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "schema.h"
#include "sqlite.h"

namespace s3xfs {

namespace {

using sql::Db;
using sql::Stmt;

#define PREP(var, text) S3XFS_ASSIGN_OR_RETURN(auto var, db_->Prepare(text))

constexpr const char kInodeCols[] =
    "kind, mode, uid, gid, rdev, nlink, size, atime_ns, mtime_ns, ctime_ns, btime_ns, root_cid, "
    "etag, content_type, content_encoding, content_disposition, content_language, cache_control, "
    "expires, symlink, generation";

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

// Reference count deltas per multihash, with what a new block row needs.
struct Count {
  uint64_t size = 0;
  int64_t n = 0;
  uint64_t codec = 0;
};
using Counts = std::map<Bytes, Count>;

class TxnImpl final : public LedgerTxn {
 public:
  TxnImpl(Db* db, bool track_remote, bool track_pins)
      : db_(db), track_remote_(track_remote), track_pins_(track_pins), txn_ns_(WallNs()) {}

  // ---- buckets ----
  Result<std::optional<BucketInfo>> GetBucket(const std::string& name) override {
    PREP(s, "SELECT name, created_ns, owner, root_ino FROM buckets WHERE name = ?");
    s->Bind(1, name);
    if (!s->Step()) {
      S3XFS_RETURN_IF_ERROR(s->status());
      return std::optional<BucketInfo>();
    }
    return std::optional<BucketInfo>(BucketRow(*s));
  }
  Status InsertBucket(const BucketInfo& b) override {
    PREP(s, "INSERT INTO buckets(name, created_ns, owner, root_ino) VALUES (?, ?, ?, ?)");
    s->Bind(1, b.name).Bind(2, b.created_ns).Bind(3, b.owner).Bind(4, static_cast<int64_t>(b.root_ino));
    return s->Exec();
  }
  Status DeleteBucket(const std::string& name) override {
    PREP(s, "DELETE FROM buckets WHERE name = ?");
    s->Bind(1, name);
    return s->Exec();
  }
  Result<std::vector<BucketInfo>> ListBuckets() override {
    PREP(s, "SELECT name, created_ns, owner, root_ino FROM buckets ORDER BY name");
    std::vector<BucketInfo> out;
    while (s->Step()) out.push_back(BucketRow(*s));
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }

  // ---- inodes ----
  Result<InodeId> InsertInode(const ObjectInfo& i) override {
    PREP(s,
         "INSERT INTO inodes(kind, mode, uid, gid, rdev, nlink, size, atime_ns, mtime_ns, "
         "ctime_ns, btime_ns, root_cid, etag, content_type, content_encoding, "
         "content_disposition, content_language, cache_control, expires, symlink, generation) "
         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    BindInode(*s, i, 1);
    S3XFS_RETURN_IF_ERROR(s->Exec());
    InodeId ino = static_cast<InodeId>(db_->last_rowid());
    if (!i.meta.user.empty()) S3XFS_RETURN_IF_ERROR(SetUserMeta(ino, i.meta.user));
    if (track_pins_ && i.nlink > 0 && i.size > 0 && !i.cid.empty())
      S3XFS_RETURN_IF_ERROR(MoveRoot(Bytes(), i.cid.binary()));
    return ino;
  }
  Result<ObjectInfo> GetInode(InodeId ino) override {
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, GetInodeStat(ino));
    S3XFS_ASSIGN_OR_RETURN(i.meta.user, GetUserMeta(ino));
    return i;
  }
  Result<ObjectInfo> GetInodeStat(InodeId ino) override {
    PREP(s,
         "SELECT kind, mode, uid, gid, rdev, nlink, size, atime_ns, mtime_ns, ctime_ns, "
         "btime_ns, root_cid, etag, content_type, content_encoding, content_disposition, "
         "content_language, cache_control, expires, symlink, generation FROM inodes WHERE ino = ?");
    s->Bind(1, static_cast<int64_t>(ino));
    if (!s->Step()) {
      S3XFS_RETURN_IF_ERROR(s->status());
      return Status::NotFound("inode " + std::to_string(ino) + " not found");
    }
    ObjectInfo i;
    i.ino = ino;
    i.kind = static_cast<InodeKind>(s->Int(0));
    i.attrs.mode = static_cast<uint32_t>(s->Int(1));
    i.attrs.uid = static_cast<uint32_t>(s->Int(2));
    i.attrs.gid = static_cast<uint32_t>(s->Int(3));
    i.attrs.rdev = static_cast<uint64_t>(s->Int(4));
    i.nlink = static_cast<uint32_t>(s->Int(5));
    i.size = static_cast<uint64_t>(s->Int(6));
    i.attrs.atime_ns = s->Int(7);
    i.attrs.mtime_ns = s->Int(8);
    i.attrs.ctime_ns = s->Int(9);
    i.attrs.btime_ns = s->Int(10);
    if (!s->IsNull(11)) {
      auto c = Cid::FromBinary(s->Blob(11));
      if (!c.ok()) return Status::Corruption("inode " + std::to_string(ino) + ": bad root CID");
      i.cid = std::move(c).value();
    }
    i.etag = s->Text(12);
    i.meta.content_type = s->Text(13);
    i.meta.content_encoding = s->Text(14);
    i.meta.content_disposition = s->Text(15);
    i.meta.content_language = s->Text(16);
    i.meta.cache_control = s->Text(17);
    i.meta.expires = s->Text(18);
    if (!s->IsNull(19)) i.symlink = s->Text(19);
    i.generation = static_cast<uint64_t>(s->Int(20));
    return i;
  }
  Status UpdateInode(InodeId ino, const ObjectInfo& i) override {
    Bytes before;
    if (track_pins_) {
      S3XFS_ASSIGN_OR_RETURN(before, CountedRoot(ino));
    }
    PREP(s,
         "UPDATE inodes SET kind=?, mode=?, uid=?, gid=?, rdev=?, nlink=?, size=?, atime_ns=?, "
         "mtime_ns=?, ctime_ns=?, btime_ns=?, root_cid=?, etag=?, content_type=?, "
         "content_encoding=?, content_disposition=?, content_language=?, cache_control=?, "
         "expires=?, symlink=?, generation=? WHERE ino=?");
    BindInode(*s, i, 1);
    s->Bind(22, static_cast<int64_t>(ino));
    S3XFS_RETURN_IF_ERROR(s->Exec());
    if (track_pins_) {
      S3XFS_ASSIGN_OR_RETURN(Bytes after, CountedRoot(ino));
      S3XFS_RETURN_IF_ERROR(MoveRoot(before, after));
    }
    return SetUserMeta(ino, i.meta.user);
  }
  Status SetNlink(InodeId ino, uint32_t nlink) override {
    Bytes before;
    if (track_pins_) {
      S3XFS_ASSIGN_OR_RETURN(before, CountedRoot(ino));
    }
    PREP(s, "UPDATE inodes SET nlink = ? WHERE ino = ?");
    s->Bind(1, static_cast<int64_t>(nlink)).Bind(2, static_cast<int64_t>(ino));
    S3XFS_RETURN_IF_ERROR(s->Exec());
    if (!track_pins_) return Status::OK();
    S3XFS_ASSIGN_OR_RETURN(Bytes after, CountedRoot(ino));
    return MoveRoot(before, after);
  }
  Status SetInodeAttrs(InodeId ino, const PosixAttrs& a) override {
    PREP(s,
         "UPDATE inodes SET mode=?, uid=?, gid=?, rdev=?, atime_ns=?, mtime_ns=?, ctime_ns=?, "
         "btime_ns=? WHERE ino=?");
    s->Bind(1, static_cast<int64_t>(a.mode)).Bind(2, static_cast<int64_t>(a.uid))
        .Bind(3, static_cast<int64_t>(a.gid)).Bind(4, static_cast<int64_t>(a.rdev))
        .Bind(5, a.atime_ns).Bind(6, a.mtime_ns).Bind(7, a.ctime_ns).Bind(8, a.btime_ns)
        .Bind(9, static_cast<int64_t>(ino));
    S3XFS_RETURN_IF_ERROR(s->Exec());
    if (db_->changes() == 0) return Status::NotFound("inode " + std::to_string(ino) + " not found");
    return Status::OK();
  }
  Status TouchInode(InodeId ino, int64_t now_ns) override {
    PREP(s, "UPDATE inodes SET mtime_ns = ?, ctime_ns = ? WHERE ino = ?");
    s->Bind(1, now_ns).Bind(2, now_ns).Bind(3, static_cast<int64_t>(ino));
    return s->Exec();
  }
  Result<bool> SetPendingEtag(InodeId ino, uint64_t generation, const std::string& etag) override {
    PREP(s, "UPDATE inodes SET etag = ? WHERE ino = ? AND generation = ? AND kind = 1 AND etag = ''");
    s->Bind(1, etag).Bind(2, static_cast<int64_t>(ino)).Bind(3, static_cast<int64_t>(generation));
    S3XFS_RETURN_IF_ERROR(s->Exec());
    return db_->changes() > 0;
  }
  Result<std::vector<InodeId>> PendingEtags(InodeId after, size_t limit) override {
    PREP(s, "SELECT ino FROM inodes WHERE kind = 1 AND etag = '' AND nlink > 0 AND ino > ? "
            "ORDER BY ino LIMIT ?");
    s->Bind(1, static_cast<int64_t>(after)).Bind(2, static_cast<int64_t>(limit));
    std::vector<InodeId> out;
    while (s->Step()) out.push_back(static_cast<InodeId>(s->Int(0)));
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }
  Status DeleteInode(InodeId ino) override {
    if (track_pins_) {
      S3XFS_ASSIGN_OR_RETURN(Bytes before, CountedRoot(ino));
      S3XFS_RETURN_IF_ERROR(MoveRoot(before, Bytes()));
    }
    PREP(s, "DELETE FROM inodes WHERE ino = ?");
    s->Bind(1, static_cast<int64_t>(ino));
    S3XFS_RETURN_IF_ERROR(s->Exec());
    PREP(x, "DELETE FROM xattrs WHERE ino = ?");
    x->Bind(1, static_cast<int64_t>(ino));
    return x->Exec();
  }
  Result<std::vector<InodeId>> UnlinkedInodes() override {
    PREP(s,
         "SELECT ino FROM inodes WHERE nlink = 0 AND ino != 1 "
         "AND ino NOT IN (SELECT ino FROM uploads) AND ino NOT IN (SELECT ino FROM parts) "
         "AND ino NOT IN (SELECT ino FROM pins)");
    std::vector<InodeId> out;
    while (s->Step()) out.push_back(static_cast<InodeId>(s->Int(0)));
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }

  // ---- dentries ----
  Result<std::optional<Dentry>> Lookup(const std::string& bucket, const std::string& key) override {
    PREP(s, "SELECT bucket, key, ino, parent, name, implicit FROM dentries WHERE bucket=? AND key=?");
    s->Bind(1, bucket).BindBlob(2, AsBytes(key));
    return OneDentry(*s);
  }
  Result<std::optional<Dentry>> LookupChild(InodeId parent, const std::string& name) override {
    PREP(s, "SELECT bucket, key, ino, parent, name, implicit FROM dentries WHERE parent=? AND name=? AND parent != 0");
    s->Bind(1, static_cast<int64_t>(parent)).BindBlob(2, AsBytes(name));
    return OneDentry(*s);
  }
  Status InsertDentry(const Dentry& d) override {
    PREP(s, "INSERT INTO dentries(bucket, key, ino, parent, name, implicit, dir) VALUES (?,?,?,?,?,?,?)");
    s->Bind(1, d.bucket).BindBlob(2, AsBytes(d.key)).Bind(3, static_cast<int64_t>(d.ino))
        .Bind(4, static_cast<int64_t>(d.parent)).BindBlob(5, AsBytes(d.name))
        .Bind(6, d.implicit ? 1 : 0).Bind(7, !d.key.empty() && d.key.back() == '/' ? 1 : 0);
    return s->Exec();
  }
  Status DeleteDentry(const std::string& bucket, const std::string& key) override {
    PREP(s, "DELETE FROM dentries WHERE bucket=? AND key=?");
    s->Bind(1, bucket).BindBlob(2, AsBytes(key));
    return s->Exec();
  }
  Status SetImplicit(const std::string& bucket, const std::string& key, bool implicit) override {
    PREP(s, "UPDATE dentries SET implicit=? WHERE bucket=? AND key=?");
    s->Bind(1, implicit ? 1 : 0).Bind(2, bucket).BindBlob(3, AsBytes(key));
    return s->Exec();
  }
  Result<bool> HasChildren(InodeId dir) override {
    PREP(s, "SELECT 1 FROM dentries WHERE parent=? AND parent != 0 LIMIT 1");
    s->Bind(1, static_cast<int64_t>(dir));
    bool any = s->Step();
    S3XFS_RETURN_IF_ERROR(s->status());
    return any;
  }
  Result<std::vector<Dentry>> Scan(const std::string& bucket, const std::string& from,
                                   bool inclusive, size_t limit) override {
    std::vector<Dentry> out;
    if (inclusive) {
      PREP(s, "SELECT bucket, key, ino, parent, name, implicit FROM dentries "
              "WHERE bucket=? AND key>=? ORDER BY key LIMIT ?");
      s->Bind(1, bucket).BindBlob(2, AsBytes(from)).Bind(3, static_cast<int64_t>(limit));
      while (s->Step()) out.push_back(DentryRow(*s));
      S3XFS_RETURN_IF_ERROR(s->status());
    } else {
      PREP(s, "SELECT bucket, key, ino, parent, name, implicit FROM dentries "
              "WHERE bucket=? AND key>? ORDER BY key LIMIT ?");
      s->Bind(1, bucket).BindBlob(2, AsBytes(from)).Bind(3, static_cast<int64_t>(limit));
      while (s->Step()) out.push_back(DentryRow(*s));
      S3XFS_RETURN_IF_ERROR(s->status());
    }
    return out;
  }
  Result<std::optional<Dentry>> DentryOf(InodeId ino) override {
    PREP(s, "SELECT bucket, key, ino, parent, name, implicit FROM dentries WHERE ino=? ORDER BY key LIMIT 1");
    s->Bind(1, static_cast<int64_t>(ino));
    return OneDentry(*s);
  }
  Result<std::vector<std::pair<Dentry, InodeKind>>> Children(InodeId parent,
                                                             const std::string& after,
                                                             size_t limit) override {
    PREP(s, "SELECT d.bucket, d.key, d.ino, d.parent, d.name, d.implicit, i.kind "
            "FROM dentries d JOIN inodes i ON i.ino = d.ino "
            "WHERE d.parent=? AND d.parent != 0 AND d.name>? ORDER BY d.name LIMIT ?");
    s->Bind(1, static_cast<int64_t>(parent)).BindBlob(2, AsBytes(after)).Bind(3, static_cast<int64_t>(limit));
    std::vector<std::pair<Dentry, InodeKind>> out;
    while (s->Step()) out.emplace_back(DentryRow(*s), static_cast<InodeKind>(s->Int(6)));
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }
  Result<uint64_t> CountSubdirs(InodeId parent) override {
    PREP(s, "SELECT count(*) FROM dentries WHERE parent=? AND dir=1");
    s->Bind(1, static_cast<int64_t>(parent));
    s->Step();
    S3XFS_RETURN_IF_ERROR(s->status());
    return static_cast<uint64_t>(s->Int(0));
  }
  Result<std::optional<BucketInfo>> BucketByRoot(InodeId root) override {
    PREP(s, "SELECT name, created_ns, owner, root_ino FROM buckets WHERE root_ino = ?");
    s->Bind(1, static_cast<int64_t>(root));
    if (!s->Step()) {
      S3XFS_RETURN_IF_ERROR(s->status());
      return std::optional<BucketInfo>();
    }
    return std::optional<BucketInfo>(BucketRow(*s));
  }
  Result<uint32_t> CountLinks(InodeId ino) override {
    PREP(s, "SELECT count(*) FROM dentries WHERE ino=?");
    s->Bind(1, static_cast<int64_t>(ino));
    s->Step();
    S3XFS_RETURN_IF_ERROR(s->status());
    return static_cast<uint32_t>(s->Int(0));
  }
  Status RekeyPrefix(const std::string& bucket, const std::string& from,
                     const std::string& to) override {
    // Primary-key updates in a WITHOUT ROWID table could collide mid-statement when `to` lies
    // inside the range being moved; go through a temporary key space (a prefix no S3 key has).
    PREP(a, "UPDATE dentries SET key = CAST(x'00' || CAST(? AS BLOB) || substr(key, ?) AS BLOB) "
            "WHERE bucket=? AND substr(key, 1, ?) = CAST(? AS BLOB)");
    a->BindBlob(1, AsBytes(to)).Bind(2, static_cast<int64_t>(from.size() + 1)).Bind(3, bucket)
        .Bind(4, static_cast<int64_t>(from.size())).BindBlob(5, AsBytes(from));
    S3XFS_RETURN_IF_ERROR(a->Exec());
    PREP(b, "UPDATE dentries SET key = substr(key, 2) WHERE bucket=? AND substr(key, 1, 1) = x'00'");
    b->Bind(1, bucket);
    return b->Exec();
  }
  Status MoveDentry(const std::string& bucket, const std::string& key, InodeId parent,
                    const std::string& name) override {
    PREP(s, "UPDATE dentries SET parent=?, name=? WHERE bucket=? AND key=?");
    s->Bind(1, static_cast<int64_t>(parent)).BindBlob(2, AsBytes(name)).Bind(3, bucket)
        .BindBlob(4, AsBytes(key));
    return s->Exec();
  }

  Status SetUserMeta(InodeId ino, const std::map<std::string, std::string>& meta) override {
    PREP(d, "DELETE FROM xattrs WHERE ino=? AND substr(name, 1, 5) = CAST('user.' AS BLOB)");
    d->Bind(1, static_cast<int64_t>(ino));
    S3XFS_RETURN_IF_ERROR(d->Exec());
    for (const auto& [k, v] : meta) {
      PREP(s, "INSERT INTO xattrs(ino, name, value) VALUES (?,?,?)");
      std::string name = "user." + k;
      s->Bind(1, static_cast<int64_t>(ino)).BindBlob(2, AsBytes(name)).BindBlob(3, AsBytes(v));
      S3XFS_RETURN_IF_ERROR(s->Exec());
    }
    return Status::OK();
  }

  // ---- block references ----
  Status AddUses(InodeId ino, const std::vector<BlockUse>& leaves,
                 const std::vector<BlockUse>& nodes) override {
    PREP(max, "SELECT coalesce(max(seq) + 1, 0) FROM uses WHERE ino=?");
    max->Bind(1, static_cast<int64_t>(ino));
    max->Step();
    S3XFS_RETURN_IF_ERROR(max->status());
    int64_t seq = max->Int(0);
    Counts counts;
    auto add = [&](const BlockUse& u, bool leaf) -> Status {
      PREP(s, "INSERT INTO uses(ino, seq, cid, size, leaf) VALUES (?,?,?,?,?)");
      s->Bind(1, static_cast<int64_t>(ino)).Bind(2, seq++).BindBlob(3, u.cid.binary())
          .Bind(4, static_cast<int64_t>(u.size)).Bind(5, leaf ? 1 : 0);
      S3XFS_RETURN_IF_ERROR(s->Exec());
      auto& c = counts[Bytes(u.cid.multihash().begin(), u.cid.multihash().end())];
      c.size = u.size;
      c.n++;
      c.codec = static_cast<uint64_t>(u.cid.codec());
      return Status::OK();
    };
    for (const BlockUse& u : leaves) S3XFS_RETURN_IF_ERROR(add(u, true));
    for (const BlockUse& u : nodes) S3XFS_RETURN_IF_ERROR(add(u, false));
    return Bump(counts, 0);
  }
  Result<std::vector<BlockUse>> Leaves(InodeId ino) override {
    PREP(s, "SELECT cid, size FROM uses WHERE ino=? AND leaf=1 ORDER BY seq");
    return UseRows(*s, ino);
  }
  Result<std::vector<BlockUse>> Uses(InodeId ino) override {
    PREP(s, "SELECT cid, size FROM uses WHERE ino=? ORDER BY seq");
    return UseRows(*s, ino);
  }
  Result<std::vector<BlockUse>> UseRows(sql::Stmt& s, InodeId ino) {
    s.Bind(1, static_cast<int64_t>(ino));
    std::vector<BlockUse> out;
    while (s.Step()) {
      auto c = Cid::FromBinary(s.Blob(0));
      if (!c.ok()) return Status::Corruption("ledger: bad CID in uses of inode " + std::to_string(ino));
      out.push_back(BlockUse{std::move(c).value(), static_cast<uint64_t>(s.Int(1))});
    }
    S3XFS_RETURN_IF_ERROR(s.status());
    return out;
  }
  Status CopyUses(InodeId from, InodeId to) override {
    PREP(s, "INSERT INTO uses(ino, seq, cid, size, leaf) SELECT ?, seq, cid, size, leaf FROM uses WHERE ino=?");
    s->Bind(1, static_cast<int64_t>(to)).Bind(2, static_cast<int64_t>(from));
    S3XFS_RETURN_IF_ERROR(s->Exec());
    S3XFS_ASSIGN_OR_RETURN(auto counts, UseCounts(to));
    return Bump(counts, 0);
  }
  Status ReleaseUses(InodeId ino, int64_t now_ns) override {
    S3XFS_ASSIGN_OR_RETURN(auto counts, UseCounts(ino));
    for (auto& [mh, c] : counts) c.n = -c.n;
    S3XFS_RETURN_IF_ERROR(Bump(counts, now_ns));
    PREP(d, "DELETE FROM uses WHERE ino=?");
    d->Bind(1, static_cast<int64_t>(ino));
    return d->Exec();
  }
  Result<std::vector<BlockRow>> GcCandidates(int64_t before_ns, size_t limit) override {
    PREP(s, "SELECT mh, size, refs, zero_since_ns FROM blocks WHERE refs = 0 AND zero_since_ns < ? LIMIT ?");
    s->Bind(1, before_ns).Bind(2, static_cast<int64_t>(limit));
    return BlockRows(*s);
  }
  Result<uint64_t> CountZeroRefBlocks() override {
    PREP(s, "SELECT count(*) FROM blocks WHERE refs = 0");
    s->Step();
    S3XFS_RETURN_IF_ERROR(s->status());
    return static_cast<uint64_t>(s->Int(0));
  }
  Result<std::pair<uint64_t, uint64_t>> BlockTotals() override {
    PREP(s, "SELECT count(*), coalesce(sum(size), 0) FROM blocks");
    s->Step();
    S3XFS_RETURN_IF_ERROR(s->status());
    return std::pair<uint64_t, uint64_t>(static_cast<uint64_t>(s->Int(0)),
                                         static_cast<uint64_t>(s->Int(1)));
  }
  Result<bool> ForgetBlockIfUnused(ByteView mh) override {
    int64_t size = 0;
    if (track_remote_) {
      PREP(z, "SELECT size FROM blocks WHERE mh=? AND refs=0");
      z->BindBlob(1, mh);
      if (!z->Step()) {
        S3XFS_RETURN_IF_ERROR(z->status());
        return false;
      }
      size = z->Int(0);
    }
    PREP(s, "DELETE FROM blocks WHERE mh=? AND refs=0");
    s->BindBlob(1, mh);
    S3XFS_RETURN_IF_ERROR(s->Exec());
    if (db_->changes() == 0) return false;
    if (!track_remote_) return true;
    // Never uploaded: nothing to undo remotely. Otherwise drop the reference the upload made.
    PREP(c, "DELETE FROM remote_queue WHERE mh=? AND op=1");
    c->BindBlob(1, mh);
    S3XFS_RETURN_IF_ERROR(c->Exec());
    if (db_->changes() > 0) return true;
    S3XFS_RETURN_IF_ERROR(QueueDelete(mh, size));
    return true;
  }
  Status QueueDelete(ByteView mh, int64_t size) {
    PREP(q, "INSERT OR REPLACE INTO remote_queue(mh, op, codec, size, queued_ns) VALUES (?,2,0,?,?)");
    q->BindBlob(1, mh).Bind(2, size).Bind(3, txn_ns_);
    return q->Exec();
  }

  // ---- remote queue ----
  Result<std::vector<RemoteTask>> RemoteTasks(RemoteOp op, size_t limit,
                                              int64_t not_after_ns) override {
    PREP(s, "SELECT mh, codec, size, queued_ns FROM remote_queue WHERE op=? AND queued_ns <= ? "
            "ORDER BY queued_ns LIMIT ?");
    s->Bind(1, static_cast<int64_t>(op)).Bind(2, not_after_ns).Bind(3, static_cast<int64_t>(limit));
    std::vector<RemoteTask> out;
    while (s->Step()) {
      RemoteTask t;
      t.multihash = s->Blob(0);
      t.op = op;
      t.codec = static_cast<uint64_t>(s->Int(1));
      t.size = static_cast<uint64_t>(s->Int(2));
      t.queued_ns = s->Int(3);
      out.push_back(std::move(t));
    }
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }
  Result<bool> UploadDone(ByteView mh) override {
    PREP(d, "DELETE FROM remote_queue WHERE mh=? AND op=1");
    d->BindBlob(1, mh);
    S3XFS_RETURN_IF_ERROR(d->Exec());
    if (db_->changes() > 0) return true;
    PREP(k, "SELECT 1 FROM blocks WHERE mh=?");
    k->BindBlob(1, mh);
    bool known = k->Step();
    S3XFS_RETURN_IF_ERROR(k->status());
    // Known without a task: this was a second upload of it; the remote holds one extra
    // reference (a leak, never a loss).
    if (known) return true;
    S3XFS_RETURN_IF_ERROR(QueueDelete(mh, 0));
    return false;
  }
  Status DeleteDone(ByteView mh) override {
    PREP(d, "DELETE FROM remote_queue WHERE mh=? AND op=2");
    d->BindBlob(1, mh);
    return d->Exec();
  }
  Status DeferRemote(ByteView mh, int64_t until_ns) override {
    PREP(u, "UPDATE remote_queue SET queued_ns=? WHERE mh=?");
    u->Bind(1, until_ns).BindBlob(2, mh);
    return u->Exec();
  }
  Result<RemoteQueueStats> RemoteStats() override {
    RemoteQueueStats st;
    PREP(s, "SELECT op, count(*), coalesce(sum(size), 0), coalesce(min(queued_ns), 0) "
            "FROM remote_queue GROUP BY op");
    while (s->Step()) {
      if (s->Int(0) == static_cast<int64_t>(RemoteOp::kUpload)) {
        st.uploads = static_cast<uint64_t>(s->Int(1));
        st.upload_bytes = static_cast<uint64_t>(s->Int(2));
        st.oldest_upload_ns = s->Int(3);
      } else {
        st.deletes = static_cast<uint64_t>(s->Int(1));
      }
    }
    S3XFS_RETURN_IF_ERROR(s->status());
    PREP(p, "SELECT coalesce(sum(refs > 0), 0), coalesce(sum(refs <= 0), 0) FROM remote_pins "
            "WHERE (refs > 0) != (pinned != 0)");
    p->Step();
    S3XFS_RETURN_IF_ERROR(p->status());
    st.pins = static_cast<uint64_t>(p->Int(0));
    st.unpins = static_cast<uint64_t>(p->Int(1));
    return st;
  }
  Status QueueAllUploads(int64_t now_ns) override {
    PREP(q, "INSERT OR IGNORE INTO remote_queue(mh, op, codec, size, queued_ns) "
            "SELECT mh, 1, 0, size, ? FROM blocks");
    q->Bind(1, now_ns);
    return q->Exec();
  }
  // ---- remote root pins ----
  Result<std::vector<PinTask>> PinTasks(size_t limit, int64_t not_after_ns) override {
    // A pinned root that a pending pin replaces is left to that pin (pin/update).
    PREP(s, "SELECT p.cid, p.refs > 0, p.queued_ns, r.cid FROM remote_pins p "
            "LEFT JOIN remote_pins r ON p.refs > 0 AND r.cid = p.replaces AND r.pinned != 0 "
            "  AND r.refs <= 0 "
            "WHERE (p.refs > 0) != (p.pinned != 0) AND p.queued_ns <= ?1 "
            "  AND NOT (p.refs <= 0 AND EXISTS (SELECT 1 FROM remote_pins q "
            "    WHERE q.replaces = p.cid AND q.refs > 0 AND q.pinned = 0)) "
            "ORDER BY p.queued_ns LIMIT ?2");
    s->Bind(1, not_after_ns).Bind(2, static_cast<int64_t>(limit));
    std::vector<PinTask> out;
    while (s->Step()) {
      PinTask t;
      auto root = Cid::FromBinary(s->Blob(0));
      if (!root.ok()) return Status::Corruption("ledger: bad CID in remote_pins");
      t.root = std::move(root).value();
      t.pin = s->Int(1) != 0;
      t.queued_ns = s->Int(2);
      if (!s->IsNull(3)) {
        auto from = Cid::FromBinary(s->Blob(3));
        if (!from.ok()) return Status::Corruption("ledger: bad CID in remote_pins");
        t.replaces = std::move(from).value();
      }
      out.push_back(std::move(t));
    }
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }
  Status PinDone(const Cid& root, const std::optional<Cid>& replaced) override {
    // A root forgotten while its pin was on the way comes back as pinned and unused (an unpin).
    PREP(u, "INSERT INTO remote_pins(cid, refs, pinned, replaces, queued_ns) VALUES (?,0,1,NULL,?) "
            "ON CONFLICT(cid) DO UPDATE SET pinned=1, replaces=NULL");
    u->BindBlob(1, root.binary()).Bind(2, txn_ns_);
    S3XFS_RETURN_IF_ERROR(u->Exec());
    if (replaced) S3XFS_RETURN_IF_ERROR(UnpinDone(*replaced));
    // Unused again meanwhile: now pinned, so it needs an unpin.
    PREP(q, "UPDATE remote_pins SET queued_ns=? WHERE cid=? AND refs <= 0");
    q->Bind(1, txn_ns_).BindBlob(2, root.binary());
    return q->Exec();
  }
  Status UnpinDone(const Cid& root) override {
    // Used again meanwhile: it needs a pin again (its blocks went up before).
    PREP(u, "UPDATE remote_pins SET pinned=0, queued_ns=? WHERE cid=?");
    u->Bind(1, txn_ns_).BindBlob(2, root.binary());
    S3XFS_RETURN_IF_ERROR(u->Exec());
    PREP(d, "DELETE FROM remote_pins WHERE cid=? AND refs <= 0");
    d->BindBlob(1, root.binary());
    return d->Exec();
  }
  Status DeferPin(const Cid& root, int64_t until_ns) override {
    PREP(u, "UPDATE remote_pins SET queued_ns=? WHERE cid=?");
    u->Bind(1, until_ns).BindBlob(2, root.binary());
    return u->Exec();
  }
  Result<uint64_t> RequeueBlocksOf(const Cid& root, int64_t until_ns) override {
    // Rare (a node that lost blocks): a scan of the inodes is acceptable here.
    std::optional<int64_t> ino;
    {
      PREP(s, "SELECT ino FROM inodes WHERE root_cid=? AND nlink > 0 AND size > 0 "
              "UNION ALL SELECT ino FROM pins WHERE cid=? LIMIT 1");
      s->BindBlob(1, root.binary()).BindBlob(2, root.binary());
      if (s->Step()) ino = s->Int(0);
      S3XFS_RETURN_IF_ERROR(s->status());
    }
    S3XFS_RETURN_IF_ERROR(DeferPin(root, until_ns));
    if (!ino) return uint64_t{0};
    S3XFS_ASSIGN_OR_RETURN(Counts counts, UseCounts(static_cast<InodeId>(*ino)));
    for (const auto& [mh, c] : counts) {
      PREP(q, "INSERT INTO remote_queue(mh, op, codec, size, queued_ns) VALUES (?,1,?,?,?) "
              "ON CONFLICT(mh) DO UPDATE SET op=1, codec=excluded.codec, size=excluded.size, "
              "queued_ns=min(queued_ns, excluded.queued_ns)");
      q->BindBlob(1, mh).Bind(2, static_cast<int64_t>(c.codec)).Bind(3, static_cast<int64_t>(c.size))
          .Bind(4, txn_ns_);
      S3XFS_RETURN_IF_ERROR(q->Exec());
    }
    return static_cast<uint64_t>(counts.size());
  }
  Status ResetPins(bool recount, int64_t now_ns) override {
    S3XFS_RETURN_IF_ERROR(db_->ExecScript("DELETE FROM remote_pins"));
    if (!recount) return Status::OK();
    PREP(s, "INSERT INTO remote_pins(cid, refs, pinned, replaces, queued_ns) "
            "SELECT cid, count(*), 0, NULL, ? FROM ("
            "  SELECT root_cid AS cid FROM inodes WHERE nlink > 0 AND size > 0 AND root_cid IS NOT NULL"
            "  UNION ALL SELECT cid FROM pins) GROUP BY cid");
    s->Bind(1, now_ns);
    return s->Exec();
  }

  Result<std::optional<std::string>> GetSetting(const std::string& name) override {
    PREP(s, "SELECT value FROM settings WHERE name=?");
    s->Bind(1, name);
    if (!s->Step()) {
      S3XFS_RETURN_IF_ERROR(s->status());
      return std::optional<std::string>();
    }
    return std::optional<std::string>(s->Text(0));
  }
  Status SetSetting(const std::string& name, const std::string& value) override {
    PREP(s, "INSERT OR REPLACE INTO settings(name, value) VALUES (?, ?)");
    s->Bind(1, name).Bind(2, value);
    return s->Exec();
  }
  Result<std::vector<BlockRow>> AllBlocks() override {
    PREP(s, "SELECT mh, size, refs, zero_since_ns FROM blocks");
    return BlockRows(*s);
  }
  Result<bool> HasBlock(ByteView mh) override {
    PREP(s, "SELECT 1 FROM blocks WHERE mh=?");
    s->BindBlob(1, mh);
    bool found = s->Step();
    S3XFS_RETURN_IF_ERROR(s->status());
    return found;
  }
  Result<std::vector<BlockRow>> CheckRefcounts(bool fix, int64_t now_ns) override {
    // Expected counts from the use lists, compared with the stored ones (both directions).
    std::map<Bytes, std::pair<uint64_t, int64_t>> want;
    {
      PREP(s, "SELECT cid, size FROM uses");
      while (s->Step()) {
        auto c = Cid::FromBinary(s->Blob(0));
        if (!c.ok()) return Status::Corruption("ledger: bad CID in uses");
        auto& w = want[Bytes(c->multihash().begin(), c->multihash().end())];
        w.first = static_cast<uint64_t>(s->Int(1));
        w.second++;
      }
      S3XFS_RETURN_IF_ERROR(s->status());
    }
    S3XFS_ASSIGN_OR_RETURN(auto rows, AllBlocks());
    std::vector<BlockRow> wrong;
    for (BlockRow& r : rows) {
      auto it = want.find(r.multihash);
      int64_t expect = it == want.end() ? 0 : it->second.second;
      if (r.refs != expect) {
        wrong.push_back(r);
        if (fix) S3XFS_RETURN_IF_ERROR(SetRefs(r.multihash, r.size, expect, now_ns));
      }
      if (it != want.end()) want.erase(it);
    }
    for (auto& [mh, w] : want) {  // referenced but no row at all
      wrong.push_back(BlockRow{mh, w.first, 0, std::nullopt});
      if (fix) S3XFS_RETURN_IF_ERROR(SetRefs(mh, w.first, w.second, now_ns));
    }
    return wrong;
  }

  // ---- multipart ----
  Status InsertUpload(const UploadRow& u) override {
    ObjectInfo tmpl;
    tmpl.kind = InodeKind::kFile;
    tmpl.nlink = 0;
    tmpl.meta = u.meta;
    tmpl.attrs = u.attrs;
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, InsertInode(tmpl));
    PREP(s, "INSERT INTO uploads(upload_id, bucket, key, created_ns, ino) VALUES (?,?,?,?,?)");
    s->Bind(1, u.info.upload_id).Bind(2, u.info.bucket).BindBlob(3, AsBytes(u.info.key))
        .Bind(4, u.info.created_ns).Bind(5, static_cast<int64_t>(ino));
    return s->Exec();
  }
  Result<std::optional<UploadRow>> GetUpload(const std::string& id) override {
    PREP(s, "SELECT upload_id, bucket, key, created_ns, ino FROM uploads WHERE upload_id=?");
    s->Bind(1, id);
    if (!s->Step()) {
      S3XFS_RETURN_IF_ERROR(s->status());
      return std::optional<UploadRow>();
    }
    UploadRow u;
    u.info = UploadRowInfo(*s);
    InodeId tmpl = static_cast<InodeId>(s->Int(4));
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, GetInode(tmpl));
    u.meta = i.meta;
    u.attrs = i.attrs;
    return std::optional<UploadRow>(std::move(u));
  }
  Result<std::vector<UploadInfo>> ListUploads(const std::string& bucket,
                                              const std::string& prefix) override {
    PREP(s, "SELECT upload_id, bucket, key, created_ns FROM uploads WHERE bucket=? "
            "AND substr(key, 1, ?) = CAST(? AS BLOB) ORDER BY key, created_ns");
    s->Bind(1, bucket).Bind(2, static_cast<int64_t>(prefix.size())).BindBlob(3, AsBytes(prefix));
    std::vector<UploadInfo> out;
    while (s->Step()) out.push_back(UploadRowInfo(*s));
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }
  Status DeleteUpload(const std::string& id) override {
    PREP(g, "SELECT ino FROM uploads WHERE upload_id=?");
    g->Bind(1, id);
    if (g->Step()) S3XFS_RETURN_IF_ERROR(DeleteInode(static_cast<InodeId>(g->Int(0))));
    S3XFS_RETURN_IF_ERROR(g->status());
    PREP(p, "DELETE FROM parts WHERE upload_id=?");
    p->Bind(1, id);
    S3XFS_RETURN_IF_ERROR(p->Exec());
    PREP(s, "DELETE FROM uploads WHERE upload_id=?");
    s->Bind(1, id);
    return s->Exec();
  }
  Result<std::optional<InodeId>> PutPart(const std::string& upload_id, const PartRow& p) override {
    std::optional<InodeId> old;
    {
      PREP(g, "SELECT ino FROM parts WHERE upload_id=? AND part_no=?");
      g->Bind(1, upload_id).Bind(2, static_cast<int64_t>(p.part_number));
      if (g->Step()) old = static_cast<InodeId>(g->Int(0));
      S3XFS_RETURN_IF_ERROR(g->status());
    }
    PREP(s, "INSERT OR REPLACE INTO parts(upload_id, part_no, ino, size, etag, modified_ns) VALUES (?,?,?,?,?,?)");
    s->Bind(1, upload_id).Bind(2, static_cast<int64_t>(p.part_number)).Bind(3, static_cast<int64_t>(p.ino))
        .Bind(4, static_cast<int64_t>(p.size)).Bind(5, p.etag).Bind(6, p.modified_ns);
    S3XFS_RETURN_IF_ERROR(s->Exec());
    return old;
  }
  Result<std::vector<PartRow>> Parts(const std::string& upload_id) override {
    PREP(s, "SELECT part_no, ino, size, etag, modified_ns FROM parts WHERE upload_id=? ORDER BY part_no");
    s->Bind(1, upload_id);
    std::vector<PartRow> out;
    while (s->Step()) {
      PartRow p;
      p.part_number = static_cast<uint32_t>(s->Int(0));
      p.ino = static_cast<InodeId>(s->Int(1));
      p.size = static_cast<uint64_t>(s->Int(2));
      p.etag = s->Text(3);
      p.modified_ns = s->Int(4);
      out.push_back(std::move(p));
    }
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }

  Result<std::optional<InodeId>> PutPin(const Cid& root, InodeId ino, int64_t now_ns) override {
    S3XFS_ASSIGN_OR_RETURN(auto old, RemovePin(root));
    PREP(s, "INSERT INTO pins(cid, ino, created_ns) VALUES (?,?,?)");
    s->BindBlob(1, root.binary()).Bind(2, static_cast<int64_t>(ino)).Bind(3, now_ns);
    S3XFS_RETURN_IF_ERROR(s->Exec());
    if (track_pins_) S3XFS_RETURN_IF_ERROR(MoveRoot(Bytes(), root.binary()));
    return old;
  }
  Result<std::optional<InodeId>> RemovePin(const Cid& root) override {
    std::optional<InodeId> old;
    PREP(g, "SELECT ino FROM pins WHERE cid=?");
    g->BindBlob(1, root.binary());
    if (g->Step()) old = static_cast<InodeId>(g->Int(0));
    S3XFS_RETURN_IF_ERROR(g->status());
    PREP(d, "DELETE FROM pins WHERE cid=?");
    d->BindBlob(1, root.binary());
    S3XFS_RETURN_IF_ERROR(d->Exec());
    if (old && track_pins_) S3XFS_RETURN_IF_ERROR(MoveRoot(root.binary(), Bytes()));
    return old;
  }

 private:
  static BucketInfo BucketRow(Stmt& s) {
    return BucketInfo{s.Text(0), s.Int(1), s.Text(2), static_cast<InodeId>(s.Int(3))};
  }
  static UploadInfo UploadRowInfo(Stmt& s) {
    Bytes k = s.Blob(2);
    return UploadInfo{s.Text(0), s.Text(1), std::string(k.begin(), k.end()), s.Int(3)};
  }
  static Dentry DentryRow(Stmt& s) {
    Dentry d;
    d.bucket = s.Text(0);
    Bytes k = s.Blob(1), n = s.Blob(4);
    d.key.assign(k.begin(), k.end());
    d.ino = static_cast<InodeId>(s.Int(2));
    d.parent = static_cast<InodeId>(s.Int(3));
    d.name.assign(n.begin(), n.end());
    d.implicit = s.Int(5) != 0;
    return d;
  }
  static Result<std::optional<Dentry>> OneDentry(Stmt& s) {
    if (!s.Step()) {
      S3XFS_RETURN_IF_ERROR(s.status());
      return std::optional<Dentry>();
    }
    return std::optional<Dentry>(DentryRow(s));
  }
  static void BindInode(Stmt& s, const ObjectInfo& i, int at) {
    s.Bind(at, static_cast<int64_t>(i.kind)).Bind(at + 1, static_cast<int64_t>(i.attrs.mode))
        .Bind(at + 2, static_cast<int64_t>(i.attrs.uid)).Bind(at + 3, static_cast<int64_t>(i.attrs.gid))
        .Bind(at + 4, static_cast<int64_t>(i.attrs.rdev)).Bind(at + 5, static_cast<int64_t>(i.nlink))
        .Bind(at + 6, static_cast<int64_t>(i.size)).Bind(at + 7, i.attrs.atime_ns)
        .Bind(at + 8, i.attrs.mtime_ns).Bind(at + 9, i.attrs.ctime_ns).Bind(at + 10, i.attrs.btime_ns);
    if (i.cid.empty()) s.BindNull(at + 11); else s.BindBlob(at + 11, i.cid.binary());
    s.Bind(at + 12, i.etag).Bind(at + 13, i.meta.content_type).Bind(at + 14, i.meta.content_encoding)
        .Bind(at + 15, i.meta.content_disposition).Bind(at + 16, i.meta.content_language)
        .Bind(at + 17, i.meta.cache_control).Bind(at + 18, i.meta.expires);
    if (i.kind == InodeKind::kSymlink) s.Bind(at + 19, i.symlink); else s.BindNull(at + 19);
    s.Bind(at + 20, static_cast<int64_t>(i.generation));
  }
  Result<std::map<std::string, std::string>> GetUserMeta(InodeId ino) {
    PREP(s, "SELECT name, value FROM xattrs WHERE ino=? AND substr(name, 1, 5) = CAST('user.' AS BLOB)");
    s->Bind(1, static_cast<int64_t>(ino));
    std::map<std::string, std::string> out;
    while (s->Step()) {
      Bytes n = s->Blob(0), v = s->Blob(1);
      out.emplace(std::string(n.begin() + 5, n.end()), std::string(v.begin(), v.end()));
    }
    S3XFS_RETURN_IF_ERROR(s->status());
    return out;
  }
  Result<Counts> UseCounts(InodeId ino) {
    PREP(s, "SELECT cid, size FROM uses WHERE ino=?");
    s->Bind(1, static_cast<int64_t>(ino));
    Counts counts;
    while (s->Step()) {
      auto c = Cid::FromBinary(s->Blob(0));
      if (!c.ok()) return Status::Corruption("ledger: bad CID in uses of inode " + std::to_string(ino));
      auto& e = counts[Bytes(c->multihash().begin(), c->multihash().end())];
      e.size = static_cast<uint64_t>(s->Int(1));
      e.n++;
      e.codec = static_cast<uint64_t>(c->codec());
    }
    S3XFS_RETURN_IF_ERROR(s->status());
    return counts;
  }
  // Adds delta counts; a count reaching zero records now_ns, a positive one clears it.
  Status Bump(const Counts& counts, int64_t now_ns) {
    for (const auto& [mh, c] : counts) {
      if (track_remote_) {
        // A row that comes into existence is a block the remote does not have from us yet.
        PREP(ins, "INSERT OR IGNORE INTO blocks(mh, size, refs, zero_since_ns) VALUES (?1, ?2, ?3, "
                  "CASE WHEN ?3 <= 0 THEN ?4 ELSE NULL END)");
        ins->BindBlob(1, mh).Bind(2, static_cast<int64_t>(c.size)).Bind(3, c.n).Bind(4, now_ns);
        S3XFS_RETURN_IF_ERROR(ins->Exec());
        if (db_->changes() > 0) {
          S3XFS_RETURN_IF_ERROR(QueueUpload(mh, c.codec, c.size));
          continue;
        }
      }
      PREP(s,
           "INSERT INTO blocks(mh, size, refs, zero_since_ns) VALUES (?1, ?2, ?3, NULL) "
           "ON CONFLICT(mh) DO UPDATE SET refs = refs + ?3, "
           "zero_since_ns = CASE WHEN refs + ?3 <= 0 THEN ?4 ELSE NULL END");
      s->BindBlob(1, mh).Bind(2, static_cast<int64_t>(c.size)).Bind(3, c.n).Bind(4, now_ns);
      S3XFS_RETURN_IF_ERROR(s->Exec());
    }
    return Status::OK();
  }
  // A block the remote lacks: cancel a queued delete of it (the remote still holds our
  // reference), else queue its upload.
  Status QueueUpload(const Bytes& mh, uint64_t codec, uint64_t size) {
    PREP(d, "DELETE FROM remote_queue WHERE mh=? AND op=2");
    d->BindBlob(1, mh);
    S3XFS_RETURN_IF_ERROR(d->Exec());
    if (db_->changes() > 0) return Status::OK();
    PREP(q, "INSERT OR IGNORE INTO remote_queue(mh, op, codec, size, queued_ns) VALUES (?,1,?,?,?)");
    q->BindBlob(1, mh).Bind(2, static_cast<int64_t>(codec)).Bind(3, static_cast<int64_t>(size))
        .Bind(4, txn_ns_);
    return q->Exec();
  }
  Status SetRefs(const Bytes& mh, uint64_t size, int64_t refs, int64_t now_ns) {
    PREP(s, "INSERT INTO blocks(mh, size, refs, zero_since_ns) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT(mh) DO UPDATE SET refs = ?3, zero_since_ns = ?4");
    s->BindBlob(1, mh).Bind(2, static_cast<int64_t>(size)).Bind(3, refs);
    if (refs == 0) s->Bind(4, now_ns); else s->BindNull(4);
    return s->Exec();
  }
  static Result<std::vector<BlockRow>> BlockRows(Stmt& s) {
    std::vector<BlockRow> out;
    while (s.Step()) {
      BlockRow r;
      r.multihash = s.Blob(0);
      r.size = static_cast<uint64_t>(s.Int(1));
      r.refs = s.Int(2);
      if (!s.IsNull(3)) r.zero_since_ns = s.Int(3);
      out.push_back(std::move(r));
    }
    S3XFS_RETURN_IF_ERROR(s.status());
    return out;
  }

  // ---- remote root pins (LedgerTxn "remote root pins") ----
  // The root an inode row counts for: its binary CID when linked (nlink > 0) with content
  // (size > 0), else empty. Empty objects are not pinned: their root, the empty block, is not
  // necessarily stored anywhere.
  Result<Bytes> CountedRoot(InodeId ino) {
    PREP(s, "SELECT root_cid FROM inodes WHERE ino=? AND nlink > 0 AND size > 0 AND root_cid IS NOT NULL");
    s->Bind(1, static_cast<int64_t>(ino));
    if (!s->Step()) {
      S3XFS_RETURN_IF_ERROR(s->status());
      return Bytes();
    }
    return s->Blob(0);
  }
  // One user of the root moved from `from` to `to` (either may be empty: none).
  Status MoveRoot(const Bytes& from, const Bytes& to) {
    if (from == to) return Status::OK();
    if (!to.empty()) S3XFS_RETURN_IF_ERROR(RootRef(to, +1));
    if (!from.empty()) S3XFS_RETURN_IF_ERROR(RootRef(from, -1));
    return Status::OK();
  }
  struct PinRow {
    int64_t refs = 0;
    bool pinned = false;
    std::optional<Bytes> replaces;
  };
  Result<std::optional<PinRow>> GetPinRow(const Bytes& cid) {
    PREP(g, "SELECT refs, pinned, replaces FROM remote_pins WHERE cid=?");
    g->BindBlob(1, cid);
    if (!g->Step()) {
      S3XFS_RETURN_IF_ERROR(g->status());
      return std::optional<PinRow>();
    }
    PinRow r{g->Int(0), g->Int(1) != 0, std::nullopt};
    if (!g->IsNull(2)) r.replaces = g->Blob(2);
    return std::optional<PinRow>(std::move(r));
  }
  Status DeletePinRow(const Bytes& cid) {
    PREP(d, "DELETE FROM remote_pins WHERE cid=?");
    d->BindBlob(1, cid);
    return d->Exec();
  }
  Status RootRef(const Bytes& cid, int64_t delta) {
    S3XFS_ASSIGN_OR_RETURN(auto row, GetPinRow(cid));
    if (!row) {
      if (delta <= 0) return Status::OK();  // not counted (nothing to undo)
      PREP(i, "INSERT INTO remote_pins(cid, refs, pinned, replaces, queued_ns) VALUES (?,?,0,NULL,?)");
      i->BindBlob(1, cid).Bind(2, delta).Bind(3, txn_ns_);
      S3XFS_RETURN_IF_ERROR(i->Exec());
      fresh_.push_back(cid);
      return PairPins();
    }
    const int64_t refs = std::max<int64_t>(0, row->refs + delta);
    const bool was_used = row->refs > 0, used = refs > 0;
    if (was_used && !used && !row->pinned) {
      // Never pinned: nothing to undo remotely. A pin it was to move passes to a root this
      // transaction adds (an object overwritten again before its pin happened).
      S3XFS_RETURN_IF_ERROR(DeletePinRow(cid));
      std::erase(fresh_, cid);
      if (row->replaces) released_.push_back(*row->replaces);
      return PairPins();
    }
    PREP(u, "UPDATE remote_pins SET refs=?, queued_ns = CASE WHEN ? THEN ? ELSE queued_ns END WHERE cid=?");
    u->Bind(1, refs).Bind(2, was_used != used ? 1 : 0).Bind(3, txn_ns_).BindBlob(4, cid);
    S3XFS_RETURN_IF_ERROR(u->Exec());
    if (!was_used && used) {
      if (row->pinned) std::erase(released_, cid);  // wanted again before its unpin: still pinned
      else if (!row->replaces) fresh_.push_back(cid);
    } else if (was_used && !used) {
      released_.push_back(cid);  // pinned (the unpinned case left above)
    }
    return PairPins();
  }
  // Pairs roots this transaction released (pinned, unused) with roots it added (unpinned, used,
  // replacing nothing): the new root's pin moves from the old one (pin/update).
  Status PairPins() {
    while (!fresh_.empty() && !released_.empty()) {
      S3XFS_ASSIGN_OR_RETURN(auto from, GetPinRow(released_.front()));
      if (!from || !from->pinned || from->refs > 0) {
        released_.pop_front();
        continue;
      }
      S3XFS_ASSIGN_OR_RETURN(auto to, GetPinRow(fresh_.front()));
      if (!to || to->pinned || to->refs <= 0 || to->replaces) {
        fresh_.pop_front();
        continue;
      }
      PREP(u, "UPDATE remote_pins SET replaces=? WHERE cid=?");
      u->BindBlob(1, released_.front()).BindBlob(2, fresh_.front());
      S3XFS_RETURN_IF_ERROR(u->Exec());
      released_.pop_front();
      fresh_.pop_front();
    }
    return Status::OK();
  }

  Db* db_;
  bool track_remote_;
  bool track_pins_;
  // The transaction's time: queue entries (uploads and pins) made together share it, so a pin
  // is never ordered before the uploads of its blocks.
  const int64_t txn_ns_;
  std::deque<Bytes> fresh_, released_;  // roots this transaction added / released (PairPins)
};

class LedgerImpl final : public Ledger {
 public:
  LedgerImpl(std::string path, std::unique_ptr<Db> writer, int version)
      : path_(std::move(path)), writer_(std::move(writer)), version_(version) {}

  Status Write(const std::function<Status(LedgerTxn&)>& fn, Durability d) override {
    std::lock_guard<std::mutex> l(write_mu_);
    if (d != mode_) {
      S3XFS_RETURN_IF_ERROR(writer_->ExecScript(d == Durability::kDurable ? "PRAGMA synchronous=FULL"
                                                                          : "PRAGMA synchronous=NORMAL"));
      mode_ = d;
    }
    S3XFS_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
    TxnImpl txn(writer_.get(), track_remote_.load(), track_pins_.load());
    Status st = fn(txn);
    if (st.ok()) st = writer_->Exec("COMMIT");
    if (!st.ok()) writer_->Exec("ROLLBACK");  // no-op error if COMMIT already ended it
    return st;
  }

  Status Read(const std::function<Status(LedgerTxn&)>& fn) override {
    std::unique_ptr<Db> db;
    {
      std::lock_guard<std::mutex> l(pool_mu_);
      if (!pool_.empty()) {
        db = std::move(pool_.back());
        pool_.pop_back();
      }
    }
    if (!db) {
      S3XFS_ASSIGN_OR_RETURN(db, Db::Open(path_, false));
      S3XFS_RETURN_IF_ERROR(db->ExecScript("PRAGMA query_only = 1"));
    }
    Status st = db->Exec("BEGIN");
    if (st.ok()) {
      TxnImpl txn(db.get(), false, false);
      st = fn(txn);
      db->Exec("COMMIT");
    }
    std::lock_guard<std::mutex> l(pool_mu_);
    if (pool_.size() < 16) pool_.push_back(std::move(db));
    return st;
  }

  Status Sync() override {
    // A checkpoint syncs the WAL (every relaxed commit in it) and copies it into the database.
    std::lock_guard<std::mutex> l(write_mu_);
    return writer_->ExecScript("PRAGMA wal_checkpoint(FULL)");
  }

  int schema_version() const override { return version_; }
  void TrackRemote(bool on) override { track_remote_ = on; }
  void TrackRemotePins(bool on) override { track_pins_ = on; }

 private:
  std::atomic<bool> track_remote_{false};
  std::atomic<bool> track_pins_{false};
  Durability mode_ = Durability::kDurable;
  std::string path_;
  std::mutex write_mu_;
  std::unique_ptr<Db> writer_;  // GUARDED_BY(write_mu_)
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Db>> pool_;  // GUARDED_BY(pool_mu_)
  int version_;
};

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path) {
  S3XFS_ASSIGN_OR_RETURN(auto db, Db::Open(path, true));
  // WAL: readers never block the writer. synchronous=FULL: a commit is on disk when it returns
  // (fsync's contract depends on it).
  S3XFS_RETURN_IF_ERROR(db->ExecScript(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
      ));
  S3XFS_ASSIGN_OR_RETURN(int version, db->Migrate(ledger_schema::Migrations(), "ledger " + path));
  // A data directory that has a remote keeps its upload queue whoever opens it (the daemon,
  // fsck, add), so no block escapes the queue.
  S3XFS_ASSIGN_OR_RETURN(auto r, db->Prepare("SELECT 1 FROM settings WHERE name='remote'"));
  bool track = r->Step();
  S3XFS_RETURN_IF_ERROR(r->status());
  r.reset();
  // Likewise its root pins, once a remote that pins roots has used it.
  S3XFS_ASSIGN_OR_RETURN(auto p, db->Prepare("SELECT 1 FROM settings WHERE name='remote_pins' AND value='1'"));
  bool track_pins = p->Step();
  S3XFS_RETURN_IF_ERROR(p->status());
  p.reset();
  auto ledger = std::make_unique<LedgerImpl>(path, std::move(db), version);
  ledger->TrackRemote(track);
  ledger->TrackRemotePins(track_pins);
  return std::unique_ptr<Ledger>(std::move(ledger));
}

}  // namespace s3xfs
