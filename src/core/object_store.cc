#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "keys.h"
#include "object_store_impl.h"
#include "s3xfs/base/log.h"
#include "s3xfs/cas/dag_reader.h"

namespace s3xfs {

using Reason = Status::Reason;

namespace {

Status NoSuchKey(const std::string& bucket, const std::string& key) {
  return Status::NotFound("no key \"" + key + "\" in bucket " + bucket).With(Reason::kNoSuchKey);
}
Status NoSuchUpload(const std::string& id) {
  return Status::NotFound("no multipart upload " + id).With(Reason::kNoSuchUpload);
}
bool IsDirKey(const std::string& key) { return !key.empty() && key.back() == '/'; }

class ReaderImpl final : public ObjectReader {
 public:
  ReaderImpl(ObjectStoreImpl* store, ObjectInfo info) : store_(store), info_(std::move(info)) {
    store_->ReaderOpened(info_.ino);
  }
  ~ReaderImpl() override { store_->ReaderClosed(info_.ino); }
  const ObjectInfo& info() const override { return info_; }
  ObjectInfo& mutable_info() { return info_; }
  Status Read(uint64_t offset, uint64_t length,
              const std::function<Status(ByteView)>& sink) override {
    if (info_.cid.empty() || offset >= info_.size) return Status::OK();
    DagReader r(store_->blocks());
    return r.Read(info_.cid, offset, length, sink);
  }

 private:
  ObjectStoreImpl* store_;
  ObjectInfo info_;
};

}  // namespace

Status CheckKey(const std::string& key) {
  if (key.empty()) return Status::InvalidArgument("empty object key").With(Reason::kInvalidKey);
  if (key.size() > kMaxKeyBytes)
    return Status::InvalidArgument("object keys are at most " + std::to_string(kMaxKeyBytes) +
                                   " bytes").With(Reason::kKeyTooLong);
  if (key.find('\0') != std::string::npos)
    return Status::InvalidArgument("object keys cannot contain NUL").With(Reason::kInvalidKey);
  return Status::OK();
}

bool IsValidBucketName(std::string_view n) {
  if (n.size() < 3 || n.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n.front()) || !alnum(n.back())) return false;
  int dots = 0;
  bool all_digits_dots = true;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    if (!alnum(c) && c != '.' && c != '-') return false;
    if (c == '.' && (n[i - 1] == '.' || n[i - 1] == '-' || n[i + 1] == '-')) return false;
    if (c == '.') ++dots;
    if (c != '.' && !(c >= '0' && c <= '9')) all_digits_dots = false;
  }
  if (all_digits_dots && dots == 3) return false;  // looks like an IPv4 address
  if (n.substr(0, 4) == "xn--" || (n.size() > 8 && n.substr(n.size() - 8) == "-s3alias")) return false;
  return true;
}

std::string NewUploadId() {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (size_t i = 0; i < sizeof b; ++i) b[i] = static_cast<uint8_t>(t >> (i % 8 * 8)) ^ static_cast<uint8_t>(i);
  }
  return HexEncode(ByteView(b, sizeof b));
}

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(const ObjectStoreOptions& options,
                                                       BlockStore* blocks) {
  if (options.ledger_path.empty()) return Status::InvalidArgument("no ledger path");
  std::error_code ec;
  auto dir = std::filesystem::path(options.ledger_path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  S3XFS_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(options.ledger_path));
  auto store = std::make_unique<ObjectStoreImpl>(options, blocks, std::move(ledger));
  S3XFS_RETURN_IF_ERROR(store->Recover());
  if (options.remote) S3XFS_RETURN_IF_ERROR(store->StartRemote());
  if (options.gc_interval.count() > 0) store->StartGcThread();
  return std::unique_ptr<ObjectStore>(std::move(store));
}

Result<ObjectInfo> ObjectStore::Put(const std::string& bucket, const std::string& key,
                                    ByteView data, PutOptions options) {
  S3XFS_ASSIGN_OR_RETURN(auto w, NewWriter(bucket, key, std::move(options)));
  S3XFS_RETURN_IF_ERROR(w->Write(data));
  return w->Commit();
}

Result<Bytes> ObjectStore::Get(const std::string& bucket, const std::string& key, uint64_t offset,
                               uint64_t length) {
  S3XFS_ASSIGN_OR_RETURN(auto r, OpenReader(bucket, key));
  Bytes out;
  S3XFS_RETURN_IF_ERROR(r->Read(offset, length, [&](ByteView b) {
    out.insert(out.end(), b.begin(), b.end());
    return Status::OK();
  }));
  return out;
}

int64_t ObjectStoreImpl::Now() const {
  if (opt_.now_ns) return opt_.now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ObjectStoreImpl::Recover() {
  // Inodes left with no links by a crash (deleted while open, or mid-operation) free their blocks.
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto inos, t.UnlinkedInodes());
    for (InodeId ino : inos) S3XFS_RETURN_IF_ERROR(FreeInode(t, ino));
    return Status::OK();
  });
}

ObjectInfo ObjectStoreImpl::NewInode(InodeKind kind, const std::optional<PosixAttrs>& attrs,
                                     uint32_t mode) {
  ObjectInfo i;
  i.kind = kind;
  i.nlink = kind == InodeKind::kDirectory ? 2 : 1;
  if (attrs) {
    i.attrs = *attrs;
  } else {
    i.attrs.mode = mode;
  }
  int64_t now = Now();
  if (i.attrs.atime_ns == 0) i.attrs.atime_ns = now;
  if (i.attrs.mtime_ns == 0) i.attrs.mtime_ns = now;
  if (i.attrs.ctime_ns == 0) i.attrs.ctime_ns = now;
  if (i.attrs.btime_ns == 0) i.attrs.btime_ns = now;
  return i;
}

Result<BucketInfo> ObjectStoreImpl::NeedBucket(LedgerTxn& t, const std::string& bucket) {
  S3XFS_ASSIGN_OR_RETURN(auto b, t.GetBucket(bucket));
  if (!b) return Status::NotFound("no bucket " + bucket).With(Reason::kNoSuchBucket);
  return *b;
}

// ---------------- buckets ----------------

Status ObjectStoreImpl::CreateBucket(const std::string& name, const std::string& owner) {
  if (!IsValidBucketName(name))
    return Status::InvalidArgument("invalid bucket name \"" + name + "\"").With(Reason::kInvalidBucketName);
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto b, t.GetBucket(name));
    if (b) {
      if (b->owner == owner)
        return Status::AlreadyExists("bucket " + name + " exists").With(Reason::kBucketAlreadyOwnedByYou);
      return Status::AlreadyExists("bucket " + name + " belongs to someone else").With(Reason::kBucketAlreadyExists);
    }
    ObjectInfo root = NewInode(InodeKind::kDirectory, std::nullopt, 0755);
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(root));
    return t.InsertBucket(BucketInfo{name, Now(), owner, ino});
  });
}

Status ObjectStoreImpl::DeleteBucket(const std::string& name) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, NeedBucket(t, name));
    S3XFS_ASSIGN_OR_RETURN(auto any, t.Scan(name, "", true, 1));
    S3XFS_ASSIGN_OR_RETURN(auto uploads, t.ListUploads(name, ""));
    if (!any.empty() || !uploads.empty())
      return Status::InvalidArgument("bucket " + name + " is not empty").With(Reason::kBucketNotEmpty);
    S3XFS_RETURN_IF_ERROR(t.DeleteInode(b.root_ino));
    return t.DeleteBucket(name);
  });
}

Result<BucketInfo> ObjectStoreImpl::HeadBucket(const std::string& name) {
  BucketInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(out, NeedBucket(t, name));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<BucketInfo>> ObjectStoreImpl::ListBuckets() {
  std::vector<BucketInfo> out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(out, t.ListBuckets());
    return Status::OK();
  }));
  return out;
}

// ---------------- namespace plumbing ----------------

Status ObjectStoreImpl::PlaceDentry(LedgerTxn& t, const BucketInfo& b, const std::string& key,
                                    InodeId ino) {
  Dentry d{b.name, key, ino, 0, "", false};
  std::vector<std::string_view> parts;
  if (!keys::SplitPath(key, &parts)) return t.InsertDentry(d);  // S3 only
  InodeId parent = b.root_ino;
  std::string dir_key;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    dir_key.append(parts[i]).push_back('/');
    S3XFS_ASSIGN_OR_RETURN(auto dir, t.Lookup(b.name, dir_key));
    if (dir) {
      parent = dir->ino;  // below a hidden directory, entries are unreachable from the mount too
      continue;
    }
    // Directories always get an entry (S3-level renames and listings rely on it). When a file
    // already holds the name, the directory is hidden from the mount (parent 0).
    std::string name(parts[i]);
    S3XFS_ASSIGN_OR_RETURN(auto clash, t.LookupChild(parent, name));
    ObjectInfo di = NewInode(InodeKind::kDirectory, std::nullopt, 0755);
    S3XFS_ASSIGN_OR_RETURN(InodeId dino, t.InsertInode(di));
    S3XFS_RETURN_IF_ERROR(t.InsertDentry(
        Dentry{b.name, dir_key, dino, clash ? 0 : parent, clash ? "" : name, true}));
    parent = dino;
  }
  std::string name(parts.back());
  S3XFS_ASSIGN_OR_RETURN(auto clash, t.LookupChild(parent, name));
  if (!clash) {
    d.parent = parent;
    d.name = name;
  }
  S3XFS_RETURN_IF_ERROR(t.InsertDentry(d));
  return t.TouchInode(parent, Now());
}

Status ObjectStoreImpl::TouchParent(LedgerTxn& t, const std::string& bucket,
                                    const std::string& key) {
  std::string parent = keys::ParentKey(key);
  if (parent.empty()) {
    S3XFS_ASSIGN_OR_RETURN(auto b, t.GetBucket(bucket));
    return b ? t.TouchInode(b->root_ino, Now()) : Status::OK();
  }
  S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, parent));
  return d ? t.TouchInode(d->ino, Now()) : Status::OK();
}

Status ObjectStoreImpl::CleanupParents(LedgerTxn& t, const std::string& bucket,
                                       const std::string& key) {
  S3XFS_RETURN_IF_ERROR(TouchParent(t, bucket, key));
  for (std::string dir = keys::ParentKey(key); !dir.empty(); dir = keys::ParentKey(dir)) {
    S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, dir));
    if (!d || !d->implicit) return Status::OK();
    S3XFS_ASSIGN_OR_RETURN(bool busy, t.HasChildren(d->ino));
    if (busy) return Status::OK();
    // Keys under it that are hidden from the mount still keep it (they are under its prefix).
    S3XFS_ASSIGN_OR_RETURN(auto under, t.Scan(bucket, dir, false, 1));
    if (!under.empty() && keys::StartsWith(under[0].key, dir)) return Status::OK();
    S3XFS_RETURN_IF_ERROR(t.DeleteDentry(bucket, dir));
    S3XFS_RETURN_IF_ERROR(t.DeleteInode(d->ino));
  }
  return Status::OK();
}

Status ObjectStoreImpl::FreeInode(LedgerTxn& t, InodeId ino) {
  {
    std::lock_guard<std::mutex> l(open_mu_);
    if (open_.count(ino)) {
      free_on_close_.insert(ino);
      S3XFS_RETURN_IF_ERROR(t.SetNlink(ino, 0));
      // Its last name went: a change of the inode (ctime), as for any other unlink.
      S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInodeStat(ino));
      i.attrs.ctime_ns = Now();
      return t.SetInodeAttrs(ino, i.attrs);
    }
  }
  S3XFS_RETURN_IF_ERROR(t.ReleaseUses(ino, Now()));
  return t.DeleteInode(ino);
}

Status ObjectStoreImpl::ReleaseContent(LedgerTxn& t, InodeId ino) {
  bool open;
  {
    std::lock_guard<std::mutex> l(open_mu_);
    open = open_.count(ino) > 0;
  }
  if (open) {
    ObjectInfo ghost;
    ghost.kind = InodeKind::kFile;
    ghost.nlink = 0;
    S3XFS_ASSIGN_OR_RETURN(InodeId g, t.InsertInode(ghost));
    S3XFS_RETURN_IF_ERROR(t.CopyUses(ino, g));
    // If this transaction rolls back, the ghost does not exist and freeing it later is a no-op.
    std::lock_guard<std::mutex> l(open_mu_);
    ghosts_[ino].push_back(g);
  }
  return t.ReleaseUses(ino, Now());
}

Status ObjectStoreImpl::Unlink(LedgerTxn& t, InodeId ino) {
  S3XFS_ASSIGN_OR_RETURN(uint32_t links, t.CountLinks(ino));
  if (links == 0) return FreeInode(t, ino);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(ino));
  if (i.kind != InodeKind::kDirectory) {
    i.nlink = links;
    i.attrs.ctime_ns = Now();
    S3XFS_RETURN_IF_ERROR(t.UpdateInode(ino, i));
  }
  return Status::OK();
}

Status ObjectStoreImpl::BindKey(LedgerTxn& t, const BucketInfo& b, const std::string& key,
                                InodeId ino) {
  S3XFS_ASSIGN_OR_RETURN(auto old, t.Lookup(b.name, key));
  if (!old) return PlaceDentry(t, b, key, ino);
  S3XFS_RETURN_IF_ERROR(t.DeleteDentry(b.name, key));
  S3XFS_RETURN_IF_ERROR(t.InsertDentry(Dentry{b.name, key, ino, old->parent, old->name, false}));
  return Unlink(t, old->ino);
}

Status ObjectStoreImpl::CheckPreconditions(LedgerTxn& t, const std::string& bucket,
                                           const std::string& key, const PutOptions& o) {
  if (!o.if_none_match_star && !o.if_match) return Status::OK();
  S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, key));
  bool exists = d && !d->implicit;
  if (o.if_none_match_star && exists)
    return Status::InvalidArgument("key " + key + " exists (If-None-Match: *)").With(Reason::kPreconditionFailed);
  if (o.if_match) {
    if (!exists) return NoSuchKey(bucket, key);
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(d->ino));
    if (i.etag.empty() || i.etag != *o.if_match)  // still pending: changed since it was computed
      return Status::InvalidArgument("ETag of " + key + " does not match If-Match").With(Reason::kPreconditionFailed);
  }
  return Status::OK();
}

// ---------------- objects ----------------

Result<std::unique_ptr<ObjectWriter>> ObjectStoreImpl::NewWriter(const std::string& bucket,
                                                                 const std::string& key,
                                                                 PutOptions options) {
  S3XFS_RETURN_IF_ERROR(CheckKey(key));
  S3XFS_RETURN_IF_ERROR(HeadBucket(bucket).status());
  CommitTarget t;
  t.bucket = bucket;
  t.key = key;
  t.options = std::move(options);
  return std::unique_ptr<ObjectWriter>(new ContentWriter(this, std::move(t)));
}

Result<ObjectInfo> ObjectStoreImpl::CommitContent(const CommitTarget& target, BuiltContent&& c) {
  // If-Match compares the current ETag, which may still be pending (computed outside the
  // transaction: Head records it).
  if (target.kind != CommitTarget::kPart && target.options.if_match)
    (void)Head(target.bucket, target.key);
  ObjectInfo out;
  Status st = ledger_->Write([&](LedgerTxn& t) -> Status {
    if (target.kind == CommitTarget::kPart) {
      S3XFS_ASSIGN_OR_RETURN(auto up, t.GetUpload(target.upload_id));
      if (!up) return NoSuchUpload(target.upload_id);
      ObjectInfo part = NewInode(InodeKind::kFile, std::nullopt, 0644);
      part.nlink = 0;
      part.size = c.root.file_size;
      part.cid = c.root.cid;
      part.etag = c.md5_hex;
      S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(part));
      S3XFS_RETURN_IF_ERROR(t.AddUses(ino, c.leaves, c.nodes));
      PartRow row{target.part_number, ino, c.root.file_size, c.md5_hex, Now()};
      S3XFS_ASSIGN_OR_RETURN(auto old, t.PutPart(target.upload_id, row));
      if (old) S3XFS_RETURN_IF_ERROR(FreeInode(t, *old));
      out = part;
      out.ino = ino;
      return Status::OK();
    }
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, NeedBucket(t, target.bucket));
    S3XFS_RETURN_IF_ERROR(CheckPreconditions(t, target.bucket, target.key, target.options));
    const PutOptions& o = target.options;
    S3XFS_ASSIGN_OR_RETURN(auto old, t.Lookup(b.name, target.key));
    if (old && IsDirKey(target.key)) {
      // "dir/" written over S3 onto an existing directory: it becomes (or stays) an explicit
      // marker; its inode, and so its children, stay where they are.
      S3XFS_ASSIGN_OR_RETURN(ObjectInfo di, t.GetInode(old->ino));
      S3XFS_RETURN_IF_ERROR(ReleaseContent(t, old->ino));
      di.size = c.root.file_size;
      di.cid = c.root.cid;
      di.etag = c.md5_hex;
      di.meta = o.meta;
      if (o.attrs) di.attrs = *o.attrs;
      di.attrs.mtime_ns = di.attrs.ctime_ns = Now();
      di.generation++;
      S3XFS_RETURN_IF_ERROR(t.UpdateInode(old->ino, di));
      S3XFS_RETURN_IF_ERROR(t.AddUses(old->ino, c.leaves, c.nodes));
      S3XFS_RETURN_IF_ERROR(t.SetImplicit(b.name, target.key, false));
      out = di;
      out.ino = old->ino;
      return Status::OK();
    }
    ObjectInfo i = NewInode(IsDirKey(target.key) ? InodeKind::kDirectory : InodeKind::kFile, o.attrs,
                            IsDirKey(target.key) ? 0755 : 0644);
    i.size = c.root.file_size;
    i.cid = c.root.cid;
    i.etag = c.md5_hex;
    i.meta = o.meta;
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(i));
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, c.leaves, c.nodes));
    S3XFS_RETURN_IF_ERROR(BindKey(t, b, target.key, ino));
    out = i;
    out.ino = ino;
    return Status::OK();
  }, target.options.durability);
  if (!st.ok()) return st;
  out.bucket = target.bucket;
  out.key = target.key;
  return out;
}

void ObjectStoreImpl::Abandon(const std::vector<BlockUse>& leaves,
                              const std::vector<BlockUse>& nodes) {
  if (leaves.empty() && nodes.empty()) return;
  // A temporary inode takes the references and frees them at once: each block's count is
  // unchanged, and blocks at zero get a fresh grace period.
  ledger_->Write([&](LedgerTxn& t) -> Status {
    ObjectInfo tmp = NewInode(InodeKind::kFile, std::nullopt, 0);
    tmp.nlink = 0;
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(tmp));
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, leaves, nodes));
    S3XFS_RETURN_IF_ERROR(t.ReleaseUses(ino, Now()));
    return t.DeleteInode(ino);
  });
}

Result<ObjectInfo> ObjectStoreImpl::Head(const std::string& bucket, const std::string& key) {
  for (int attempt = 0;; ++attempt) {
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo out, HeadRaw(bucket, key));
    Status st = ResolveEtag(out);
    if (st.ok()) return out;
    if (!st.IsUnavailable() || attempt == 3) return st;  // replaced meanwhile: look again
  }
}

Result<ObjectInfo> ObjectStoreImpl::HeadRaw(const std::string& bucket, const std::string& key) {
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(NeedBucket(t, bucket).status());
    S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, key));
    if (!d || d->implicit) return NoSuchKey(bucket, key);
    S3XFS_ASSIGN_OR_RETURN(out, t.GetInode(d->ino));
    return Status::OK();
  }));
  out.bucket = bucket;
  out.key = key;
  return out;
}

Result<std::pair<std::string, Bytes>> ContentMd5(BlockSource* src, const Cid& root,
                                                 const std::atomic<bool>* stop) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return Status::Internal("MD5 unavailable");
  }
  DagReader reader(src);
  Status st = reader.Read(root, 0, UINT64_MAX, [&](ByteView piece) {
    if (stop && stop->load(std::memory_order_relaxed)) return Status::Unavailable("shutting down");
    EVP_DigestUpdate(ctx, piece.data(), piece.size());
    return Status::OK();
  });
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  S3XFS_RETURN_IF_ERROR(st);
  Bytes raw(md, md + len);
  return std::make_pair(HexEncode(raw), std::move(raw));
}

Status ObjectStoreImpl::ResolveEtag(ObjectInfo& i) {
  if (i.kind != InodeKind::kFile || !i.etag.empty()) return Status::OK();
  std::string etag;
  if (i.cid.empty()) {
    etag = "d41d8cd98f00b204e9800998ecf8427e";  // md5 of no bytes
  } else {
    // Registered like a reader: an overwrite from now on defers freeing this version's blocks.
    // One before the registration may have freed them (after the GC grace): then the read
    // fails and, the version being gone, the caller is told to look again.
    ReaderImpl hold(this, i);
    auto md5 = ContentMd5(blocks_, i.cid, &stopping_);
    Status st = md5.status();
    if (md5.ok()) etag = std::move(md5->first);
    if (!st.ok()) {
      auto now = StatInode(i.ino);
      if (!now.ok() || now->generation != i.generation)
        return Status::Unavailable("object changed while its ETag was computed; try again");
      if (st.IsNotFound())  // the object is there; its content is not (not a missing key)
        return Status::IOError("computing the ETag of inode " + std::to_string(i.ino) + ": " +
                               st.message());
      return st;
    }
  }
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) {
    return t.SetPendingEtag(i.ino, i.generation, etag).status();
  }, Durability::kRelaxed));
  i.etag = std::move(etag);
  return Status::OK();
}

// Resumes after the last inode the previous pass looked at (wrapping to the start once), so a
// file that cannot be read (a missing block: fsck reports it) is passed over, not retried at
// the head of every pass. Per-file failures are logged; the pass goes on.
Result<uint64_t> ObjectStoreImpl::ComputePendingEtags(size_t limit) {
  constexpr uint64_t kBytesPerPass = 8ull << 30;
  uint64_t done = 0, bytes = 0;
  bool wrapped = etag_cursor_ == 0;
  while (done < limit && bytes < kBytesPerPass && !stopping_.load()) {
    std::vector<InodeId> inos;
    S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(inos, t.PendingEtags(etag_cursor_, std::min<size_t>(limit - done, 64)));
      return Status::OK();
    }));
    if (inos.empty()) {
      if (wrapped) break;
      wrapped = true;
      etag_cursor_ = 0;
      continue;
    }
    for (InodeId ino : inos) {
      if (stopping_.load() || bytes >= kBytesPerPass) break;
      etag_cursor_ = ino;
      {
        std::lock_guard<std::mutex> l(open_mu_);
        if (open_.count(ino)) continue;  // still being written: its next commit changes it again
      }
      auto info = StatInode(ino);
      if (!info.ok()) {
        if (!info.status().IsNotFound())
          S3XFS_LOG(kWarning) << "pending ETag of inode " << ino << ": " << info.status().ToString();
        continue;
      }
      bytes += info->size;
      Status st = ResolveEtag(*info);
      if (!st.ok()) {
        if (!stopping_.load())
          S3XFS_LOG(kWarning) << "pending ETag of inode " << ino << ": " << st.ToString();
        continue;
      }
      ++done;
    }
  }
  return done;
}

Result<std::unique_ptr<ObjectReader>> ObjectStoreImpl::OpenReader(const std::string& bucket,
                                                                  const std::string& key) {
  // Register the reader, then check the key still names the same version: an overwrite and GC
  // between the lookup and the registration must not take the version away from the reader.
  for (int attempt = 0; attempt < 16; ++attempt) {
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo info, HeadRaw(bucket, key));
    if (info.kind != InodeKind::kFile && info.kind != InodeKind::kDirectory)
      return Status::InvalidArgument(key + " is not a regular object");
    auto reader = std::make_unique<ReaderImpl>(this, info);
    // The re-check runs under the ledger's write lock: a transaction that freed this version
    // either committed before it (we see the change and retry) or starts after it (and then
    // finds the reader registered, so it defers the free).
    bool current = false;
    S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, key));
      if (!d || d->ino != info.ino) return Status::OK();
      auto now = t.GetInode(d->ino);
      current = now.ok() && now->generation == info.generation;
      return Status::OK();
    }, Durability::kRelaxed));
    if (!current) continue;
    // The version is held by the reader now: a pending ETag is computed from it (a file that
    // keeps changing is still read, at the version just registered).
    S3XFS_RETURN_IF_ERROR(ResolveEtag(reader->mutable_info()));
    return std::unique_ptr<ObjectReader>(std::move(reader));
  }
  return Status::Unavailable("object " + key + " keeps changing; try again");
}

void ObjectStoreImpl::ReaderOpened(InodeId ino) {
  std::lock_guard<std::mutex> l(open_mu_);
  open_[ino]++;
}

void ObjectStoreImpl::ReaderClosed(InodeId ino) {
  bool free_now = false;
  std::vector<InodeId> ghosts;
  {
    std::lock_guard<std::mutex> l(open_mu_);
    auto it = open_.find(ino);
    if (it == open_.end()) return;
    if (--it->second == 0) {
      open_.erase(it);
      free_now = free_on_close_.erase(ino) > 0;
      auto g = ghosts_.find(ino);
      if (g != ghosts_.end()) {
        ghosts = std::move(g->second);
        ghosts_.erase(g);
      }
    }
  }
  if (!ghosts.empty()) {
    // Content replaced while this reader had it: its blocks go now (after the GC grace).
    ledger_->Write([&](LedgerTxn& t) -> Status {
      for (InodeId g : ghosts) {
        if (!t.GetInode(g).ok()) continue;
        S3XFS_RETURN_IF_ERROR(t.ReleaseUses(g, Now()));
        S3XFS_RETURN_IF_ERROR(t.DeleteInode(g));
      }
      return Status::OK();
    });
  }
  if (free_now) {
    // On failure the inode stays unlinked; Recover() frees it at the next start.
    ledger_->Write([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(ino));
      if (i.nlink != 0) return Status::OK();
      S3XFS_ASSIGN_OR_RETURN(uint32_t links, t.CountLinks(ino));
      if (links) return Status::OK();
      S3XFS_RETURN_IF_ERROR(t.ReleaseUses(ino, Now()));
      return t.DeleteInode(ino);
    });
  }
}

Status ObjectStoreImpl::Delete(const std::string& bucket, const std::string& key, Durability durability) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(NeedBucket(t, bucket).status());
    S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, key));
    if (!d || d->implicit) return Status::OK();  // S3: deleting nothing succeeds
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(d->ino));
    if (i.kind == InodeKind::kDirectory) {
      S3XFS_ASSIGN_OR_RETURN(bool busy, t.HasChildren(d->ino));
      S3XFS_ASSIGN_OR_RETURN(auto under, t.Scan(bucket, key, false, 1));
      if (busy || (!under.empty() && keys::StartsWith(under[0].key, key))) {
        // The marker goes; the directory stays, implied by its children.
        S3XFS_RETURN_IF_ERROR(ReleaseContent(t, d->ino));
        i.generation++;
        i.size = 0;
        i.cid = Cid();
        i.etag.clear();
        i.meta = ObjectMeta();
        S3XFS_RETURN_IF_ERROR(t.UpdateInode(d->ino, i));
        return t.SetImplicit(bucket, key, true);
      }
      S3XFS_RETURN_IF_ERROR(t.DeleteDentry(bucket, key));
      S3XFS_RETURN_IF_ERROR(FreeInode(t, d->ino));
      return CleanupParents(t, bucket, key);
    }
    return DeleteFileEntry(t, *d);
  }, durability);
}

Status ObjectStoreImpl::DeleteFileEntry(LedgerTxn& t, const Dentry& d) {
  S3XFS_RETURN_IF_ERROR(t.DeleteDentry(d.bucket, d.key));
  S3XFS_RETURN_IF_ERROR(Unlink(t, d.ino));
  return CleanupParents(t, d.bucket, d.key);
}

Result<ObjectInfo> ObjectStoreImpl::Copy(const std::string& src_bucket, const std::string& src_key,
                                         const std::string& dst_bucket, const std::string& dst_key,
                                         const CopyOptions& options) {
  S3XFS_RETURN_IF_ERROR(CheckKey(dst_key));
  if (options.if_match) (void)Head(src_bucket, src_key);  // a pending ETag computed first
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(NeedBucket(t, src_bucket).status());
    S3XFS_ASSIGN_OR_RETURN(BucketInfo db, NeedBucket(t, dst_bucket));
    S3XFS_ASSIGN_OR_RETURN(auto sd, t.Lookup(src_bucket, src_key));
    if (!sd || sd->implicit) return NoSuchKey(src_bucket, src_key);
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo src, t.GetInode(sd->ino));
    if (options.if_match && (src.etag.empty() || *options.if_match != src.etag))
      return Status::InvalidArgument("source ETag does not match").With(Reason::kPreconditionFailed);
    int64_t now = Now();
    if (src_bucket == dst_bucket && src_key == dst_key) {
      if (!options.replace_metadata)
        return Status::InvalidArgument(
            "copying an object onto itself requires replacing its metadata");
      src.meta = options.meta;
      if (options.attrs) src.attrs = *options.attrs;
      src.attrs.ctime_ns = now;
      src.generation++;
      S3XFS_RETURN_IF_ERROR(t.UpdateInode(sd->ino, src));
      out = src;
      out.ino = sd->ino;
      return Status::OK();
    }
    if (src.kind != InodeKind::kFile && src.kind != InodeKind::kDirectory)
      return Status::InvalidArgument(src_key + " is not a regular object");
    ObjectInfo i = NewInode(IsDirKey(dst_key) ? InodeKind::kDirectory : InodeKind::kFile,
                            options.attrs, src.attrs.mode);
    if (!options.attrs) {
      i.attrs.uid = src.attrs.uid;
      i.attrs.gid = src.attrs.gid;
    }
    i.size = src.size;
    i.cid = src.cid;
    i.etag = src.etag;
    i.meta = options.replace_metadata ? options.meta : src.meta;
    if (IsDirKey(dst_key)) {
      S3XFS_ASSIGN_OR_RETURN(auto existing, t.Lookup(dst_bucket, dst_key));
      if (existing) {
        // The directory (and its children) stay; the marker object takes the new content.
        S3XFS_ASSIGN_OR_RETURN(ObjectInfo di, t.GetInode(existing->ino));
        S3XFS_RETURN_IF_ERROR(ReleaseContent(t, existing->ino));
        di.size = src.size;
        di.cid = src.cid;
        di.etag = src.etag;
        di.meta = i.meta;
        di.attrs.mtime_ns = di.attrs.ctime_ns = now;
        di.generation++;
        S3XFS_RETURN_IF_ERROR(t.UpdateInode(existing->ino, di));
        S3XFS_RETURN_IF_ERROR(t.CopyUses(sd->ino, existing->ino));
        S3XFS_RETURN_IF_ERROR(t.SetImplicit(dst_bucket, dst_key, false));
        out = di;
        out.ino = existing->ino;
        return Status::OK();
      }
    }
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(i));
    S3XFS_RETURN_IF_ERROR(t.CopyUses(sd->ino, ino));
    S3XFS_RETURN_IF_ERROR(BindKey(t, db, dst_key, ino));
    out = i;
    out.ino = ino;
    return Status::OK();
  }));
  // A copy of a pending ETag is pending too (committed already: a failure here is not the copy's).
  if (Status st = ResolveEtag(out); !st.ok())
    S3XFS_LOG(kWarning) << "ETag of " << dst_bucket << "/" << dst_key << ": " << st.ToString();
  out.bucket = dst_bucket;
  out.key = dst_key;
  return out;
}

Result<ListResult> ObjectStoreImpl::List(const std::string& bucket, const ListOptions& o) {
  ListResult res;
  const uint32_t max = std::min<uint32_t>(o.max_keys, 1000);
  if (max == 0) {
    S3XFS_RETURN_IF_ERROR(HeadBucket(bucket).status());
    return res;  // S3 answers max-keys=0 with an empty, untruncated page
  }
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(NeedBucket(t, bucket).status());
    std::string from = o.prefix;
    bool inclusive = true;
    if (o.start_after >= o.prefix) {
      from = o.start_after;
      inclusive = false;
      // A marker inside a common-prefix group means the whole group was already returned.
      if (!o.delimiter.empty() && keys::StartsWith(o.start_after, o.prefix)) {
        size_t pos = o.start_after.find(o.delimiter, o.prefix.size());
        if (pos != std::string::npos) {
          from = keys::PrefixUpper(o.start_after.substr(0, pos + o.delimiter.size()));
          inclusive = true;
          if (from.empty()) return Status::OK();
        }
      }
    }
    size_t entries = 0;
    std::string last;  // last key or prefix added
    // Small scans after each common-prefix seek (a group usually yields one row), doubling
    // while rows keep being used.
    const size_t max_batch = std::min<size_t>(max + 1, 1001);
    size_t batch = std::min<size_t>(max_batch, 32);
    for (;;) {
      S3XFS_ASSIGN_OR_RETURN(auto rows, t.Scan(bucket, from, inclusive, batch));
      if (rows.empty()) return Status::OK();
      bool reseek = false;
      for (const Dentry& d : rows) {
        if (!keys::StartsWith(d.key, o.prefix)) return Status::OK();
        from = d.key;
        inclusive = false;
        if (!o.delimiter.empty()) {
          size_t pos = d.key.find(o.delimiter, o.prefix.size());
          if (pos != std::string::npos) {
            std::string cp = d.key.substr(0, pos + o.delimiter.size());
            if (entries == max) {
              res.truncated = true;
              return Status::OK();
            }
            res.common_prefixes.push_back(cp);
            last = cp;
            ++entries;
            from = keys::PrefixUpper(cp);
            inclusive = true;
            if (from.empty()) return Status::OK();
            reseek = true;
            break;
          }
        }
        if (d.implicit) continue;
        if (entries == max) {
          res.truncated = true;
          return Status::OK();
        }
        S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(d.ino));
        i.bucket = bucket;
        i.key = d.key;
        res.objects.push_back(std::move(i));
        last = d.key;
        ++entries;
      }
      if (!reseek && rows.size() < batch) return Status::OK();
      batch = reseek ? std::min<size_t>(max_batch, 32) : std::min(max_batch, batch * 2);
    }
  }));
  // A file whose content cannot be read keeps an empty ETag here rather than failing the page.
  if (o.etags) {
    for (ObjectInfo& i : res.objects) {
      Status st = ResolveEtag(i);
      if (!st.ok()) S3XFS_LOG(kWarning) << "ETag of " << bucket << "/" << i.key << ": " << st.ToString();
    }
  }
  if (res.truncated) {
    res.next_marker = !res.common_prefixes.empty() &&
                              (res.objects.empty() || res.common_prefixes.back() > res.objects.back().key)
                          ? res.common_prefixes.back()
                          : res.objects.back().key;
  }
  return res;
}

// ---------------- directories and links ----------------

Result<ObjectInfo> ObjectStoreImpl::MakeDirectory(const std::string& bucket, const std::string& key,
                                                  const PosixAttrs& attrs, Durability durability) {
  if (!IsDirKey(key)) return Status::InvalidArgument("directory keys end with '/'");
  ObjectInfo i = NewInode(InodeKind::kDirectory, attrs, 0755);
  i.etag = "d41d8cd98f00b204e9800998ecf8427e";  // md5 of the empty marker object
  i.cid = ComputeFileRoot({}, opt_.dag)->cid;
  return MakeMetaInode(bucket, key, std::move(i), durability);
}

Status ObjectStoreImpl::Rename(const std::string& bucket, const std::string& from,
                               const std::string& to, RenameFlags flags, Durability durability) {
  S3XFS_RETURN_IF_ERROR(CheckKey(to));
  if (from == to) return Status::OK();
  if (flags == RenameFlags::kExchange) return Exchange(bucket, from, to, durability);
  if (IsDirKey(from) != IsDirKey(to))
    return Status::InvalidArgument("rename between a directory and a file key")
        .With(IsDirKey(from) ? Reason::kNotDirectory : Reason::kIsDirectory);
  if (IsDirKey(from) && keys::StartsWith(to, from))
    return Status::InvalidArgument("cannot move a directory into itself");
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, NeedBucket(t, bucket));
    S3XFS_ASSIGN_OR_RETURN(auto src, t.Lookup(bucket, from));
    if (!src) return NoSuchKey(bucket, from);
    S3XFS_ASSIGN_OR_RETURN(auto dst, t.Lookup(bucket, to));
    bool dir = IsDirKey(from);
    if (flags == RenameFlags::kNoReplace && dst && !dst->implicit)
      return Status::AlreadyExists(to + " exists").With(Reason::kExists);
    if (dir) {
      if (dst) {
        S3XFS_ASSIGN_OR_RETURN(auto under, t.Scan(bucket, to, false, 1));
        if (!under.empty() && keys::StartsWith(under[0].key, to))
          return Status::InvalidArgument(to + " is not empty").With(Reason::kDirectoryNotEmpty);
        S3XFS_RETURN_IF_ERROR(t.DeleteDentry(bucket, to));
        S3XFS_RETURN_IF_ERROR(FreeInode(t, dst->ino));
      }
      // The directory's own entry moves; every key below it is rewritten; children keep their
      // parent inode, so nothing else changes.
      S3XFS_RETURN_IF_ERROR(t.RekeyPrefix(bucket, from, to));
      S3XFS_RETURN_IF_ERROR(t.DeleteDentry(bucket, to));
      S3XFS_RETURN_IF_ERROR(PlaceDentry(t, b, to, src->ino));
      if (src->implicit) S3XFS_RETURN_IF_ERROR(t.SetImplicit(bucket, to, true));
    } else {
      if (dst) {
        S3XFS_RETURN_IF_ERROR(t.DeleteDentry(bucket, to));
        S3XFS_RETURN_IF_ERROR(Unlink(t, dst->ino));
      }
      S3XFS_RETURN_IF_ERROR(t.DeleteDentry(bucket, from));
      S3XFS_RETURN_IF_ERROR(PlaceDentry(t, b, to, src->ino));
    }
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(src->ino));
    i.attrs.ctime_ns = Now();
    S3XFS_RETURN_IF_ERROR(t.UpdateInode(src->ino, i));
    return CleanupParents(t, bucket, from);
  }, durability);
}

// Moves the entry at key `from` (and, for a directory, every key below it) to `to`.
Status ObjectStoreImpl::MoveEntry(LedgerTxn& t, const BucketInfo& b, const Dentry& d,
                                  const std::string& to) {
  if (IsDirKey(d.key)) {
    S3XFS_RETURN_IF_ERROR(t.RekeyPrefix(b.name, d.key, to));  // the entry and all below it
  } else {
    S3XFS_RETURN_IF_ERROR(t.DeleteDentry(b.name, d.key));
    S3XFS_RETURN_IF_ERROR(t.InsertDentry(Dentry{b.name, to, d.ino, 0, "", d.implicit}));
  }
  // Re-place the moved entry itself under its new parent and name.
  S3XFS_RETURN_IF_ERROR(t.DeleteDentry(b.name, to));
  S3XFS_RETURN_IF_ERROR(PlaceDentry(t, b, to, d.ino));
  if (d.implicit) S3XFS_RETURN_IF_ERROR(t.SetImplicit(b.name, to, true));
  return Status::OK();
}

Status ObjectStoreImpl::Exchange(const std::string& bucket, const std::string& a,
                                 const std::string& b, Durability durability) {
  auto name_of = [](const std::string& k) {
    std::string n = IsDirKey(k) ? k.substr(0, k.size() - 1) : k;
    size_t slash = n.rfind('/');
    return slash == std::string::npos ? n : n.substr(slash + 1);
  };
  // Each entry takes the other's place, keeping its own kind.
  std::string a_to = keys::ParentKey(b) + name_of(b) + (IsDirKey(a) ? "/" : "");
  std::string b_to = keys::ParentKey(a) + name_of(a) + (IsDirKey(b) ? "/" : "");
  if ((IsDirKey(a) && keys::StartsWith(b, a)) || (IsDirKey(b) && keys::StartsWith(a, b)))
    return Status::InvalidArgument("cannot exchange a directory with an entry inside it");
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo bi, NeedBucket(t, bucket));
    S3XFS_ASSIGN_OR_RETURN(auto da, t.Lookup(bucket, a));
    S3XFS_ASSIGN_OR_RETURN(auto db, t.Lookup(bucket, b));
    if (!da) return NoSuchKey(bucket, a);
    if (!db) return NoSuchKey(bucket, b);
    // Through a temporary key holding a NUL byte, which no real key can contain.
    std::string tmp = std::string("\x01\0xchg/", 7) + a;
    S3XFS_RETURN_IF_ERROR(MoveEntry(t, bi, *da, tmp));
    S3XFS_RETURN_IF_ERROR(MoveEntry(t, bi, *db, b_to));
    Dentry moved = *da;
    moved.key = tmp;
    S3XFS_RETURN_IF_ERROR(MoveEntry(t, bi, moved, a_to));
    S3XFS_RETURN_IF_ERROR(TouchParent(t, bucket, a));
    return TouchParent(t, bucket, b);
  }, durability);
}

Result<ObjectInfo> ObjectStoreImpl::Link(const std::string& bucket, const std::string& existing,
                                         const std::string& new_key, Durability durability) {
  S3XFS_RETURN_IF_ERROR(CheckKey(new_key));
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, NeedBucket(t, bucket));
    S3XFS_ASSIGN_OR_RETURN(auto src, t.Lookup(bucket, existing));
    if (!src || src->implicit) return NoSuchKey(bucket, existing);
    S3XFS_ASSIGN_OR_RETURN(auto dst, t.Lookup(bucket, new_key));
    if (dst) return Status::AlreadyExists(new_key + " exists").With(Reason::kExists);
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(src->ino));
    if (i.kind == InodeKind::kDirectory)
      return Status::InvalidArgument("hard links to directories are not allowed").With(Reason::kIsDirectory);
    S3XFS_RETURN_IF_ERROR(PlaceDentry(t, b, new_key, src->ino));
    S3XFS_ASSIGN_OR_RETURN(i.nlink, t.CountLinks(src->ino));
    i.attrs.ctime_ns = Now();
    S3XFS_RETURN_IF_ERROR(t.UpdateInode(src->ino, i));
    out = i;
    out.ino = src->ino;
    return Status::OK();
  }, durability));
  out.bucket = bucket;
  out.key = new_key;
  return out;
}

Result<ObjectInfo> ObjectStoreImpl::Symlink(const std::string& bucket, const std::string& key,
                                            const std::string& target, const PosixAttrs& attrs,
                                            Durability durability) {
  if (IsDirKey(key)) return Status::InvalidArgument("symlink keys cannot end with '/'");
  ObjectInfo i = NewInode(InodeKind::kSymlink, attrs, 0777);
  i.symlink = target;
  i.size = target.size();
  return MakeMetaInode(bucket, key, std::move(i), durability);
}

Result<ObjectInfo> ObjectStoreImpl::MakeNode(const std::string& bucket, const std::string& key,
                                             InodeKind kind, const PosixAttrs& attrs,
                                             Durability durability) {
  if (kind == InodeKind::kFile || kind == InodeKind::kDirectory || kind == InodeKind::kSymlink)
    return Status::InvalidArgument("MakeNode is for special files");
  if (IsDirKey(key)) return Status::InvalidArgument("special file keys cannot end with '/'");
  return MakeMetaInode(bucket, key, NewInode(kind, attrs, 0644), durability);
}

Result<ObjectInfo> ObjectStoreImpl::MakeMetaInode(const std::string& bucket, const std::string& key,
                                                  ObjectInfo i, Durability durability) {
  S3XFS_RETURN_IF_ERROR(CheckKey(key));
  // The entry's name must be free for both kinds: "x" and "x/" are one name in the mount.
  const std::string other = IsDirKey(key) ? key.substr(0, key.size() - 1) : key + "/";
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, NeedBucket(t, bucket));
    for (const std::string* k : {&key, &other}) {
      S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, *k));
      if (d) return Status::AlreadyExists(*k + " exists").With(Reason::kExists);
    }
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(i));
    S3XFS_RETURN_IF_ERROR(PlaceDentry(t, b, key, ino));
    out = i;
    out.ino = ino;
    return Status::OK();
  }, durability));
  out.bucket = bucket;
  out.key = key;
  return out;
}

}  // namespace s3xfs
