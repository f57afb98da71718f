#include "s3xfs/core/filesystem.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "s3xfs/cas/dag_builder.h"

namespace s3xfs {

using Reason = Status::Reason;

struct FileSystem::OpenFile {
  OpenFile(InodeId i, std::atomic<uint64_t>* total) : ino(i), dirty_total(total) {}
  ~OpenFile() {
    CleanFrom(0);
    if (fd >= 0) ::close(fd);
    EVP_MD_CTX_free(md5);
  }
  // `dirty` changes only through these, which keep the file system's total current.
  void MarkDirty(uint64_t idx) {
    if (dirty.insert(idx).second) dirty_total->fetch_add(1, std::memory_order_relaxed);
  }
  void CleanFrom(uint64_t first) {
    auto it = dirty.lower_bound(first);
    dirty_total->fetch_sub(static_cast<uint64_t>(std::distance(it, dirty.end())),
                           std::memory_order_relaxed);
    dirty.erase(it, dirty.end());
  }
  const InodeId ino;
  std::atomic<uint64_t>* const dirty_total;  // FileSystem::dirty_chunks_
  std::mutex mu;
  int handles = 0;                 // GUARDED_BY(files_mu_)
  bool loaded = false;
  uint64_t size = 0;               // current size, including unflushed writes
  std::vector<BlockUse> leaves;    // the committed version's chunks
  std::set<uint64_t> dirty;        // chunk indexes whose bytes live in the cache file
  bool changed = false;            // differs from the committed version
  int fd = -1;                     // cache file: a sparse mirror at the file's own offsets
  int64_t mtime_ns = 0;            // of the last write
  uint64_t last_idx = UINT64_MAX;  // the committed leaf read last, kept verified: the kernel
  Bytes last_leaf;                 // reads 128 KiB at a time, so each leaf is asked for twice
  EVP_MD_CTX* md5 = nullptr;       // MD5 of [0, md5_pos) while writes are sequential
  uint64_t md5_pos = 0;
  bool md5_ok = false;
  // Published copies of `changed` and the dirty bytes, read by Stats() without taking mu
  // (which a flush holds across block I/O).
  std::atomic<bool> pub_changed{false};
  std::atomic<uint64_t> pub_dirty_bytes{0};
};

namespace {

Status WriteAt(int fd, ByteView data, uint64_t off) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("writing the chunk cache", errno);
    }
    data = data.subspan(static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status ReadAt(int fd, uint8_t* buf, size_t len, uint64_t off) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("reading the chunk cache", errno);
    }
    if (n == 0) {  // hole at the end of the sparse file: zeros
      std::fill(buf + got, buf + len, 0);
      return Status::OK();
    }
    got += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status NoEntry(const std::string& name) {
  return Status::NotFound("no entry \"" + name + "\"").With(Reason::kNoSuchKey);
}

bool ValidName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.size() <= 255;
}

}  // namespace

// Publishes a file's dirty figures when the scope that changed them ends (on every path).
class FileSystem::Publish {
 public:
  Publish(FileSystem* fs, OpenFile& f) : fs_(fs), f_(f) {}
  ~Publish() { fs_->PublishLocked(f_); }
  Publish(const Publish&) = delete;
  Publish& operator=(const Publish&) = delete;

 private:
  FileSystem* fs_;
  OpenFile& f_;
};

void FileSystem::PublishLocked(OpenFile& f) {
  // Every dirty chunk is whole but the file's last one, which holds the bytes up to the size.
  uint64_t bytes = f.dirty.size() * chunk_;
  if (!f.dirty.empty()) {
    const uint64_t start = *f.dirty.rbegin() * chunk_;
    const uint64_t end = std::clamp<uint64_t>(f.size, start, start + chunk_);
    bytes -= start + chunk_ - end;
  }
  f.pub_dirty_bytes.store(bytes, std::memory_order_relaxed);
  f.pub_changed.store(f.changed, std::memory_order_relaxed);
}

FsStats FileSystem::Stats() {
  FsStats s;
  std::lock_guard<std::mutex> l(files_mu_);
  s.open_files = files_.size();
  for (const auto& [ino, f] : files_) {
    if (f->pub_changed.load(std::memory_order_relaxed)) s.dirty_files++;
    s.dirty_bytes += f->pub_dirty_bytes.load(std::memory_order_relaxed);
  }
  s.last_flush_ns = last_flush_ns_.load(std::memory_order_relaxed);
  return s;
}

FileSystem::FileSystem(ObjectStore* store, FsOptions options)
    : store_(store), opt_(std::move(options)), chunk_(store->dag_options().chunk_size) {
  if (opt_.flush_interval.count() > 0) timer_ = std::thread([this] { TimerLoop(); });
}

FileSystem::~FileSystem() {
  {
    std::lock_guard<std::mutex> l(timer_mu_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  FlushAll();
}

void FileSystem::TimerLoop() {
  const auto tick = std::max(std::chrono::milliseconds(100), opt_.flush_interval / 5);
  std::unique_lock<std::mutex> l(timer_mu_);
  while (!timer_cv_.wait_for(l, tick, [&] { return stopping_; })) {
    l.unlock();
    std::vector<std::shared_ptr<OpenFile>> all;
    {
      std::lock_guard<std::mutex> fl(files_mu_);
      for (auto& [ino, f] : files_) all.push_back(f);
    }
    const int64_t cutoff = Now() - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       opt_.flush_interval).count();
    for (auto& f : all) {
      std::lock_guard<std::mutex> fl(f->mu);
      if (f->changed && f->mtime_ns && f->mtime_ns < cutoff) {
        // Errors stay with the file: close/fsync will retry and report them.
        (void)FlushLocked(*f, Durability::kRelaxed);
      }
    }
    l.lock();
  }
}

Result<std::unique_ptr<FileSystem>> FileSystem::Create(ObjectStore* store, const FsOptions& options) {
  if (options.cache_dir.empty()) return Status::InvalidArgument("no cache directory");
  if (::mkdir(options.cache_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno("creating cache directory " + options.cache_dir, errno);
  return std::unique_ptr<FileSystem>(new FileSystem(store, options));
}

int64_t FileSystem::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------- namespace ----------------

Result<std::pair<std::string, std::string>> FileSystem::DirPrefix(InodeId dir) {
  if (dir == kRootInode) return Status::InvalidArgument("the mount root holds only buckets")
                                 .With(Reason::kNotPermitted);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo d, store_->StatInode(dir));
  if (d.kind != InodeKind::kDirectory)
    return Status::InvalidArgument("not a directory").With(Reason::kNotDirectory);
  if (d.bucket.empty()) return NoEntry("directory " + std::to_string(dir));
  return std::make_pair(d.bucket, d.key);
}

// New entries in a set-group-ID directory take its group; new subdirectories keep the bit.
PosixAttrs FileSystem::Inherit(InodeId parent, PosixAttrs attrs, bool dir) {
  if (parent == kRootInode) return attrs;
  auto p = store_->StatInode(parent);
  if (p.ok() && (p->attrs.mode & S_ISGID)) {
    attrs.gid = p->attrs.gid;
    if (dir) attrs.mode |= S_ISGID;
  }
  return attrs;
}

Result<ObjectInfo> FileSystem::Child(InodeId parent, const std::string& name) {
  S3XFS_ASSIGN_OR_RETURN(auto c, store_->LookupChild(parent, name));
  if (!c) return NoEntry(name);
  return *c;
}

void FileSystem::Overlay(ObjectInfo* info) {
  if (info->kind == InodeKind::kDirectory) {
    auto n = store_->CountSubdirs(info->ino);
    info->nlink = 2 + static_cast<uint32_t>(n.ok() ? *n : 0);
    return;
  }
  auto f = OpenFileFor(info->ino);
  if (!f) return;
  std::lock_guard<std::mutex> l(f->mu);
  if (f->loaded && f->changed) {
    info->size = f->size;
    if (f->mtime_ns) info->attrs.mtime_ns = info->attrs.ctime_ns = f->mtime_ns;
  }
}

Result<ObjectInfo> FileSystem::Lookup(InodeId parent, const std::string& name) {
  if (name.size() > 255) return Status::InvalidArgument("name too long");
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, Child(parent, name));
  Overlay(&i);
  return i;
}

Result<ObjectInfo> FileSystem::GetAttr(InodeId ino) {
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
  Overlay(&i);
  return i;
}

Result<std::vector<ObjectStore::Child>> FileSystem::ReadDir(InodeId dir, const std::string& after,
                                                            size_t limit) {
  return store_->ListChildren(dir, after, limit);
}

Result<ObjectInfo> FileSystem::MakeDir(InodeId parent, const std::string& name,
                                       const PosixAttrs& attrs) {
  if (!ValidName(name)) return Status::InvalidArgument("invalid name");
  if (parent == kRootInode) {
    S3XFS_RETURN_IF_ERROR(store_->CreateBucket(name));
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo b, Child(kRootInode, name));
    PosixAttrs a = attrs;
    a.atime_ns = a.mtime_ns = a.ctime_ns = a.btime_ns = b.attrs.ctime_ns;
    S3XFS_RETURN_IF_ERROR(store_->SetAttrs(b.ino, a));
    return GetAttr(b.ino);
  }
  S3XFS_ASSIGN_OR_RETURN(auto dp, DirPrefix(parent));
  S3XFS_ASSIGN_OR_RETURN(auto existing, store_->LookupChild(parent, name));
  if (existing) return Status::AlreadyExists(name + " exists").With(Reason::kExists);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo d, store_->MakeDirectory(dp.first, dp.second + name + "/", Inherit(parent, attrs, true), Durability::kRelaxed));
  Overlay(&d);
  return d;
}

Result<ObjectInfo> FileSystem::MakeNode(InodeId parent, const std::string& name, InodeKind kind,
                                        const PosixAttrs& attrs) {
  if (!ValidName(name)) return Status::InvalidArgument("invalid name");
  S3XFS_ASSIGN_OR_RETURN(auto dp, DirPrefix(parent));
  S3XFS_ASSIGN_OR_RETURN(auto existing, store_->LookupChild(parent, name));
  if (existing) return Status::AlreadyExists(name + " exists").With(Reason::kExists);
  return store_->MakeNode(dp.first, dp.second + name, kind, Inherit(parent, attrs, false), Durability::kRelaxed);
}

Result<ObjectInfo> FileSystem::Symlink(InodeId parent, const std::string& name,
                                       const std::string& target, const PosixAttrs& attrs) {
  if (!ValidName(name)) return Status::InvalidArgument("invalid name");
  S3XFS_ASSIGN_OR_RETURN(auto dp, DirPrefix(parent));
  S3XFS_ASSIGN_OR_RETURN(auto existing, store_->LookupChild(parent, name));
  if (existing) return Status::AlreadyExists(name + " exists").With(Reason::kExists);
  return store_->Symlink(dp.first, dp.second + name, target, Inherit(parent, attrs, false), Durability::kRelaxed);
}

Result<std::string> FileSystem::ReadLink(InodeId ino) {
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
  if (i.kind != InodeKind::kSymlink) return Status::InvalidArgument("not a symlink");
  return i.symlink;
}

Status FileSystem::Unlink(InodeId parent, const std::string& name) {
  if (parent == kRootInode) return Status::InvalidArgument("buckets are removed with rmdir").With(Reason::kIsDirectory);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo c, Child(parent, name));
  if (c.kind == InodeKind::kDirectory) return Status::InvalidArgument(name + " is a directory").With(Reason::kIsDirectory);
  return store_->Delete(c.bucket, c.key, Durability::kRelaxed);
}

Status FileSystem::RemoveDir(InodeId parent, const std::string& name) {
  if (name == ".") return Status::InvalidArgument("cannot remove .");
  if (parent == kRootInode) {
    Status s = store_->DeleteBucket(name);
    if (s.reason() == Reason::kBucketNotEmpty) return s.With(Reason::kDirectoryNotEmpty);
    if (s.reason() == Reason::kNoSuchBucket) return NoEntry(name);
    return s;
  }
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo c, Child(parent, name));
  if (c.kind != InodeKind::kDirectory) return Status::InvalidArgument(name + " is not a directory").With(Reason::kNotDirectory);
  S3XFS_ASSIGN_OR_RETURN(auto kids, store_->ListChildren(c.ino, "", 1));
  ListOptions lo;
  lo.prefix = c.key;
  lo.max_keys = 2;
  S3XFS_ASSIGN_OR_RETURN(ListResult under, store_->List(c.bucket, lo));
  bool s3_only_entries = false;
  for (const auto& o : under.objects) s3_only_entries |= o.key != c.key;
  if (!kids.empty() || s3_only_entries)
    return Status::InvalidArgument(name + " is not empty").With(Reason::kDirectoryNotEmpty);
  return store_->Delete(c.bucket, c.key, Durability::kRelaxed);
}

Status FileSystem::Rename(InodeId parent, const std::string& name, InodeId new_parent,
                          const std::string& new_name, RenameFlags flags) {
  if (!ValidName(new_name)) return Status::InvalidArgument("invalid name");
  if (parent == kRootInode || new_parent == kRootInode)
    return Status::InvalidArgument("buckets cannot be renamed").With(Reason::kNotPermitted);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo src, Child(parent, name));
  S3XFS_ASSIGN_OR_RETURN(auto dp, DirPrefix(new_parent));
  if (dp.first != src.bucket) return Status::InvalidArgument("rename across buckets").With(Reason::kCrossBucket);
  bool dir = src.kind == InodeKind::kDirectory;
  S3XFS_ASSIGN_OR_RETURN(auto dst, store_->LookupChild(new_parent, new_name));
  if (dst && dst->ino == src.ino) return Status::OK();  // same file (hard links): no-op
  if (dst && flags != RenameFlags::kExchange) {
    bool dst_dir = dst->kind == InodeKind::kDirectory;
    if (dir && !dst_dir) return Status::InvalidArgument(new_name + " is not a directory").With(Reason::kNotDirectory);
    if (!dir && dst_dir) return Status::InvalidArgument(new_name + " is a directory").With(Reason::kIsDirectory);
  }
  if (flags == RenameFlags::kExchange) {
    if (!dst) return NoEntry(new_name);
    return store_->Rename(src.bucket, src.key, dst->key, flags, Durability::kRelaxed);
  }
  if (dir && dst) {  // an empty target directory may be replaced
    S3XFS_ASSIGN_OR_RETURN(auto kids, store_->ListChildren(dst->ino, "", 1));
    if (!kids.empty()) return Status::InvalidArgument(new_name + " is not empty").With(Reason::kDirectoryNotEmpty);
  }
  std::string to = dp.second + new_name + (dir ? "/" : "");
  if (dir && to.compare(0, src.key.size(), src.key) == 0)
    return Status::InvalidArgument("cannot move a directory into itself");
  return store_->Rename(src.bucket, src.key, to, flags, Durability::kRelaxed);
}

Result<ObjectInfo> FileSystem::Link(InodeId ino, InodeId new_parent, const std::string& new_name) {
  if (!ValidName(new_name)) return Status::InvalidArgument("invalid name");
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo src, store_->StatInode(ino));
  if (src.kind == InodeKind::kDirectory) return Status::InvalidArgument("hard link to a directory").With(Reason::kNotPermitted);
  if (src.key.empty()) return NoEntry("inode " + std::to_string(ino));
  S3XFS_ASSIGN_OR_RETURN(auto dp, DirPrefix(new_parent));
  if (dp.first != src.bucket) return Status::InvalidArgument("link across buckets").With(Reason::kCrossBucket);
  S3XFS_ASSIGN_OR_RETURN(auto existing, store_->LookupChild(new_parent, new_name));
  if (existing) return Status::AlreadyExists(new_name + " exists").With(Reason::kExists);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo l, store_->Link(src.bucket, src.key, dp.second + new_name, Durability::kRelaxed));
  Overlay(&l);
  return l;
}

Result<ObjectInfo> FileSystem::SetAttr(InodeId ino, const SetAttrRequest& r) {
  if (r.size) {
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
    if (i.kind == InodeKind::kDirectory) return Status::InvalidArgument("is a directory").With(Reason::kIsDirectory);
    if (i.kind != InodeKind::kFile) return Status::InvalidArgument("not a regular file");
    S3XFS_ASSIGN_OR_RETURN(uint64_t fh, Open(ino, false));
    auto f = FileFor(fh);
    Status st;
    {
      std::lock_guard<std::mutex> l(f->mu);
      st = TruncateLocked(*f, *r.size);
    }
    Status rel = Release(fh);  // commits
    S3XFS_RETURN_IF_ERROR(st);
    S3XFS_RETURN_IF_ERROR(rel);
  }
  if (r.mode || r.uid || r.gid || r.atime_ns || r.mtime_ns || r.ctime_ns) {
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
    PosixAttrs a = i.attrs;
    if (r.mode) a.mode = *r.mode & 07777;
    if (r.uid) a.uid = *r.uid;
    if (r.gid) a.gid = *r.gid;
    if (r.atime_ns) a.atime_ns = *r.atime_ns;
    if (r.mtime_ns) a.mtime_ns = *r.mtime_ns;
    a.ctime_ns = r.ctime_ns ? *r.ctime_ns : Now();
    if (auto f = OpenFileFor(ino); f && r.mtime_ns) {
      std::lock_guard<std::mutex> l(f->mu);
      f->mtime_ns = 0;  // an explicit mtime wins over pending writes' time
    }
    S3XFS_RETURN_IF_ERROR(store_->SetAttrs(ino, a, Durability::kRelaxed));
  }
  return GetAttr(ino);
}

// ---------------- files ----------------

std::shared_ptr<FileSystem::OpenFile> FileSystem::FileFor(uint64_t fh) {
  std::lock_guard<std::mutex> l(files_mu_);
  auto it = handles_.find(fh);
  return it == handles_.end() ? nullptr : it->second;
}

std::shared_ptr<FileSystem::OpenFile> FileSystem::OpenFileFor(InodeId ino) {
  std::lock_guard<std::mutex> l(files_mu_);
  auto it = files_.find(ino);
  return it == files_.end() ? nullptr : it->second;
}

Result<std::pair<uint64_t, ObjectInfo>> FileSystem::Create(InodeId parent, const std::string& name,
                                                           const PosixAttrs& attrs) {
  if (!ValidName(name)) return Status::InvalidArgument("invalid name");
  S3XFS_ASSIGN_OR_RETURN(auto dp, DirPrefix(parent));
  S3XFS_ASSIGN_OR_RETURN(auto existing, store_->LookupChild(parent, name));
  if (existing) return Status::AlreadyExists(name + " exists").With(Reason::kExists);
  PutOptions po;
  po.attrs = Inherit(parent, attrs, false);
  po.if_none_match_star = true;
  po.durability = Durability::kRelaxed;
  auto info = store_->Put(dp.first, dp.second + name, {}, po);
  if (!info.ok()) {
    if (info.status().reason() == Reason::kPreconditionFailed)
      return Status::AlreadyExists(name + " exists").With(Reason::kExists);
    return info.status();
  }
  S3XFS_ASSIGN_OR_RETURN(uint64_t fh, Open(info->ino, false));
  return std::make_pair(fh, *info);
}

Result<uint64_t> FileSystem::Open(InodeId ino, bool truncate) {
  std::shared_ptr<OpenFile> f;
  uint64_t fh;
  bool first = false;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto& slot = files_[ino];
    if (!slot) {
      slot = std::make_shared<OpenFile>(ino, &dirty_chunks_);
      first = true;
    }
    f = slot;
    f->handles++;
    fh = next_fh_++;
    handles_[fh] = f;
  }
  if (first) store_->OpenInode(ino);
  if (truncate) {
    std::lock_guard<std::mutex> l(f->mu);
    Status st = TruncateLocked(*f, 0);
    if (!st.ok()) {
      Release(fh);
      return st;
    }
  }
  return fh;
}

Status FileSystem::LoadLocked(OpenFile& f) {
  if (f.loaded) return Status::OK();
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(f.ino));
  if (i.kind != InodeKind::kFile) return Status::InvalidArgument("not a regular file").With(Reason::kIsDirectory);
  S3XFS_ASSIGN_OR_RETURN(f.leaves, store_->FileLeaves(f.ino));
  f.size = i.size;
  int fd = ::open(opt_.cache_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string tmpl = opt_.cache_dir + "/dirty-XXXXXX";
    fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("creating a cache file in " + opt_.cache_dir, errno);
    ::unlink(tmpl.c_str());
  }
  f.fd = fd;
  f.md5 = EVP_MD_CTX_new();
  EVP_DigestInit_ex(f.md5, EVP_md5(), nullptr);
  f.md5_pos = 0;
  f.md5_ok = f.size == 0;
  f.loaded = true;
  return Status::OK();
}

// The current bytes of chunk idx (its length follows the current size).
Status FileSystem::ReadChunkLocked(OpenFile& f, uint64_t idx, Bytes* out) {
  uint64_t start = idx * chunk_;
  size_t len = start >= f.size ? 0 : static_cast<size_t>(std::min<uint64_t>(chunk_, f.size - start));
  out->assign(len, 0);
  if (len == 0) return Status::OK();
  if (f.dirty.count(idx)) return ReadAt(f.fd, out->data(), len, start);
  if (idx < f.leaves.size()) {
    if (f.last_idx != idx) {
      S3XFS_ASSIGN_OR_RETURN(f.last_leaf, store_->blocks()->Get(f.leaves[idx].cid));
      f.last_idx = idx;
    }
    const Bytes& leaf = f.last_leaf;
    std::copy_n(leaf.begin(), std::min(leaf.size(), len), out->begin());  // rest: zeros (growth)
  }
  return Status::OK();
}

Status FileSystem::MakeDirtyLocked(OpenFile& f, uint64_t idx) {
  if (f.dirty.count(idx)) return Status::OK();
  Bytes chunk;
  S3XFS_RETURN_IF_ERROR(ReadChunkLocked(f, idx, &chunk));
  chunk.resize(chunk_, 0);  // the whole region, so stale bytes of an earlier life are gone
  S3XFS_RETURN_IF_ERROR(WriteAt(f.fd, chunk, idx * chunk_));
  f.MarkDirty(idx);
  return Status::OK();
}

Status FileSystem::TruncateLocked(OpenFile& f, uint64_t size) {
  S3XFS_RETURN_IF_ERROR(LoadLocked(f));
  if (size == f.size) return Status::OK();
  Publish publish(this, f);
  if (size < f.size) {
    uint64_t keep = (size + chunk_ - 1) / chunk_;
    f.CleanFrom(keep);
    if (size % chunk_) {
      uint64_t idx = size / chunk_;
      S3XFS_RETURN_IF_ERROR(MakeDirtyLocked(f, idx));
      Bytes zeros(chunk_ - size % chunk_, 0);
      S3XFS_RETURN_IF_ERROR(WriteAt(f.fd, zeros, size));
    }
  } else if (f.size % chunk_) {
    // Growing: the old last chunk's tail must read as zeros; committed leaves are shorter than
    // the chunk, and dirty regions beyond the size were zeroed when they were cut.
  }
  if (size == 0) {
    EVP_DigestInit_ex(f.md5, EVP_md5(), nullptr);
    f.md5_pos = 0;
    f.md5_ok = true;
  } else if (size != f.md5_pos) {
    f.md5_ok = false;
  }
  f.size = size;
  f.changed = true;
  f.mtime_ns = Now();
  return Status::OK();
}

Status FileSystem::Read(uint64_t fh, uint64_t offset, size_t size, Bytes* out) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  std::lock_guard<std::mutex> l(f->mu);
  S3XFS_RETURN_IF_ERROR(LoadLocked(*f));
  out->clear();
  if (offset >= f->size) return Status::OK();
  uint64_t end = std::min<uint64_t>(f->size, offset + size);
  out->reserve(end - offset);
  Bytes chunk;
  for (uint64_t idx = offset / chunk_; idx * chunk_ < end; ++idx) {
    S3XFS_RETURN_IF_ERROR(ReadChunkLocked(*f, idx, &chunk));
    uint64_t cstart = idx * chunk_;
    uint64_t from = std::max(offset, cstart) - cstart, to = std::min(end, cstart + chunk.size()) - cstart;
    if (to > from) out->insert(out->end(), chunk.begin() + from, chunk.begin() + to);
  }
  return Status::OK();
}

Status FileSystem::Write(uint64_t fh, uint64_t offset, ByteView data) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  std::lock_guard<std::mutex> l(f->mu);
  S3XFS_RETURN_IF_ERROR(LoadLocked(*f));
  if (data.empty()) return Status::OK();
  Publish publish(this, *f);
  uint64_t end = offset + data.size();
  for (uint64_t idx = offset / chunk_; idx * chunk_ < end; ++idx) {
    // A chunk the write covers entirely needs no old bytes.
    bool whole = offset <= idx * chunk_ && end >= (idx + 1) * chunk_;
    if (whole) f->MarkDirty(idx);
    else S3XFS_RETURN_IF_ERROR(MakeDirtyLocked(*f, idx));
  }
  S3XFS_RETURN_IF_ERROR(WriteAt(f->fd, data, offset));
  if (f->md5_ok && offset == f->md5_pos) {
    EVP_DigestUpdate(f->md5, data.data(), data.size());
    f->md5_pos = end;
  } else if (offset < f->md5_pos || offset > f->md5_pos) {
    f->md5_ok = false;
  }
  f->size = std::max(f->size, end);
  f->changed = true;
  f->mtime_ns = Now();
  if (f->dirty.size() * chunk_ > opt_.dirty_limit) return FlushLocked(*f, Durability::kRelaxed);
  return Status::OK();
}

Status FileSystem::FlushLocked(OpenFile& f, Durability durability) {
  if (!f.loaded || !f.changed) return Status::OK();
  Publish publish(this, f);
  const DagOptions& dag = store_->dag_options();
  auto writer = store_->NewBlockWriter();  // protects the new blocks from GC until committed
  ObjectStore::ContentUpdate u;
  DagBuilder builder(dag, [&](const Cid& cid, ByteView d, bool leaf) -> Status {
    (leaf ? u.leaves : u.nodes).push_back(BlockUse{cid, d.size()});
    return writer->Put(cid, d);
  });
  bool need_md5 = !(f.md5_ok && f.md5_pos == f.size);
  EVP_MD_CTX* md5 = nullptr;
  if (need_md5) {
    md5 = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md5, EVP_md5(), nullptr);
  }
  Status st;
  Bytes chunk;
  uint64_t n = (f.size + chunk_ - 1) / chunk_;
  for (uint64_t idx = 0; idx < n && st.ok(); ++idx) {
    uint64_t len = std::min<uint64_t>(chunk_, f.size - idx * chunk_);
    bool reuse = !f.dirty.count(idx) && idx < f.leaves.size() && f.leaves[idx].size == len &&
                 f.leaves[idx].cid.codec() == Codec::kRaw && dag.raw_leaves;
    if (!reuse || need_md5) {
      st = ReadChunkLocked(f, idx, &chunk);
      if (!st.ok()) break;
      if (md5) EVP_DigestUpdate(md5, chunk.data(), chunk.size());
    }
    if (reuse) {
      st = builder.AddLeaf(LeafInfo{f.leaves[idx].cid, len, len});
      if (st.ok()) u.leaves.push_back(f.leaves[idx]);
    } else {
      st = builder.Write(chunk);
    }
  }
  Result<DagRoot> root = st.ok() ? builder.Finish() : Result<DagRoot>(st);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dn = 0;
  if (md5) {
    EVP_DigestFinal_ex(md5, digest, &dn);
    EVP_MD_CTX_free(md5);
  } else {
    EVP_MD_CTX* copy = EVP_MD_CTX_new();  // keep the running digest usable for more appends
    EVP_MD_CTX_copy_ex(copy, f.md5);
    EVP_DigestFinal_ex(copy, digest, &dn);
    EVP_MD_CTX_free(copy);
  }
  if (!root.ok()) return root.status();
  u.root = *root;
  u.etag = HexEncode(ByteView(digest, dn));
  u.mtime_ns = f.mtime_ns;
  S3XFS_RETURN_IF_ERROR(store_->UpdateContent(f.ino, u, durability).status());
  f.leaves = std::move(u.leaves);
  f.last_idx = UINT64_MAX;  // the leaf list changed
  f.last_leaf.clear();
  f.CleanFrom(0);
  if (::ftruncate(f.fd, 0) != 0) return Status::FromErrno("resetting the chunk cache", errno);
  f.changed = false;
  f.mtime_ns = 0;
  last_flush_ns_.store(Now(), std::memory_order_relaxed);
  return Status::OK();
}

Status FileSystem::Flush(uint64_t fh) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  std::lock_guard<std::mutex> l(f->mu);
  return FlushLocked(*f, Durability::kRelaxed);
}

Status FileSystem::Fsync(uint64_t fh) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  std::lock_guard<std::mutex> l(f->mu);
  if (f->loaded && f->changed) return FlushLocked(*f, Durability::kDurable);
  return store_->SyncLedger();  // earlier relaxed commits (create, rename, close) become durable
}

Status FileSystem::SyncMetadata() { return store_->SyncLedger(); }

Status FileSystem::Release(uint64_t fh) {
  std::shared_ptr<OpenFile> f;
  bool last = false;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = handles_.find(fh);
    if (it == handles_.end()) return Status::InvalidArgument("bad file handle");
    f = it->second;
    handles_.erase(it);
    last = --f->handles == 0;
  }
  Status st;
  {
    std::lock_guard<std::mutex> l(f->mu);
    st = FlushLocked(*f, Durability::kRelaxed);
  }
  if (last) {
    {
      std::lock_guard<std::mutex> l(files_mu_);
      auto it = files_.find(f->ino);
      if (it != files_.end() && it->second == f && f->handles == 0) files_.erase(it);
    }
    store_->CloseInode(f->ino);
  }
  return st;
}

Status FileSystem::FlushAll() {
  std::vector<std::shared_ptr<OpenFile>> all;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    for (auto& [ino, f] : files_) all.push_back(f);
  }
  Status first;
  for (auto& f : all) {
    std::lock_guard<std::mutex> l(f->mu);
    Status st = FlushLocked(*f, Durability::kRelaxed);
    if (first.ok() && !st.ok()) first = st;
  }
  Status synced = store_->SyncLedger();
  if (first.ok() && synced.ok()) last_flush_ns_.store(Now(), std::memory_order_relaxed);
  return first.ok() ? synced : first;
}

// ---------------- xattrs ----------------

namespace {
constexpr char kCidXattr[] = "user.ipfs.cid";
Status NoAttr(const std::string& n) {
  return Status::NotFound("no attribute " + n).With(Reason::kNoSuchAttr);
}
}  // namespace

Result<std::string> FileSystem::GetXattr(InodeId ino, const std::string& name) {
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
  if (name == kCidXattr) {
    if (i.cid.empty()) return NoAttr(name);
    return i.cid.ToString();
  }
  if (name.rfind("user.", 0) != 0) return NoAttr(name);
  auto it = i.meta.user.find(name.substr(5));
  if (it == i.meta.user.end()) return NoAttr(name);
  return it->second;
}

Result<std::vector<std::string>> FileSystem::ListXattr(InodeId ino) {
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
  // user.ipfs.cid is readable by name but not listed: tools that copy every listed attribute
  // (cp -a, rsync -X) would otherwise try to write it, or carry a stale CID elsewhere.
  std::vector<std::string> out;
  for (const auto& [k, v] : i.meta.user) out.push_back("user." + k);
  return out;
}

Status FileSystem::SetXattr(InodeId ino, const std::string& name, const std::string& value,
                            int flags) {
  if (name == kCidXattr) return Status::InvalidArgument(name + " is read-only").With(Reason::kNotPermitted);
  if (name.rfind("user.", 0) != 0 || name.size() == 5)
    return Status::NotSupported("only user.* attributes are supported");
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
  std::string k = name.substr(5);
  bool exists = i.meta.user.count(k) > 0;
  if ((flags & 1) && exists) return Status::AlreadyExists(name).With(Reason::kExists);  // XATTR_CREATE
  if ((flags & 2) && !exists) return NoAttr(name);                                     // XATTR_REPLACE
  i.meta.user[k] = value;
  return store_->SetUserMeta(ino, i.meta.user, Durability::kRelaxed);
}

Status FileSystem::RemoveXattr(InodeId ino, const std::string& name) {
  if (name == kCidXattr) return Status::InvalidArgument(name + " is read-only").With(Reason::kNotPermitted);
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->StatInode(ino));
  if (name.rfind("user.", 0) != 0 || !i.meta.user.erase(name.substr(5))) return NoAttr(name);
  return store_->SetUserMeta(ino, i.meta.user, Durability::kRelaxed);
}

}  // namespace s3xfs
