#include "s3xfs/core/filesystem.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <set>

#include "s3xfs/base/log.h"
#include "s3xfs/cas/dag_builder.h"

namespace s3xfs {

using Reason = Status::Reason;

struct FileSystem::OpenFile {
  OpenFile(InodeId i, std::atomic<uint64_t>* total) : ino(i), dirty_total(total) {}
  ~OpenFile() {
    CleanFrom(0);
    dirty_total->fetch_sub(staged.size() + (tail_dirty ? 1 : 0), std::memory_order_relaxed);
    if (fd >= 0) ::close(fd);
  }
  // `dirty` and `staged` change only through these, which keep the file system's total current.
  void MarkDirty(uint64_t idx) {
    if (dirty.insert(idx).second) dirty_total->fetch_add(1, std::memory_order_relaxed);
  }
  void CleanFrom(uint64_t first) {
    auto it = dirty.lower_bound(first);
    dirty_total->fetch_sub(static_cast<uint64_t>(std::distance(it, dirty.end())),
                           std::memory_order_relaxed);
    dirty.erase(it, dirty.end());
  }
  void CleanOne(uint64_t idx) {
    if (dirty.erase(idx)) dirty_total->fetch_sub(1, std::memory_order_relaxed);
  }
  void Stage(uint64_t idx, std::shared_ptr<WritePipeline::Chunk> c) {
    auto [it, added] = staged.insert_or_assign(idx, std::move(c));
    if (added) dirty_total->fetch_add(1, std::memory_order_relaxed);
  }
  // Staged chunks [first, ...) are replaced before a commit: their blocks become garbage.
  void DropStagedFrom(uint64_t first) {
    for (auto it = staged.lower_bound(first); it != staged.end();) {
      stream->Drop(it->second);
      dropped.push_back(std::move(it->second));
      it = staged.erase(it);
      dirty_total->fetch_sub(1, std::memory_order_relaxed);
    }
  }
  void DropStaged(uint64_t idx) {
    auto it = staged.find(idx);
    if (it == staged.end()) return;
    stream->Drop(it->second);
    dropped.push_back(std::move(it->second));
    staged.erase(it);
    dirty_total->fetch_sub(1, std::memory_order_relaxed);
  }
  bool has_tail() const { return tail_idx != kNoTail; }
  // The tail counts as one dirty chunk while it differs from the committed version.
  void SetTailDirty(bool d) {
    if (d == tail_dirty) return;
    tail_dirty = d;
    if (d) dirty_total->fetch_add(1, std::memory_order_relaxed);
    else dirty_total->fetch_sub(1, std::memory_order_relaxed);
  }

  static constexpr uint64_t kNoTail = UINT64_MAX;
  const InodeId ino;
  std::atomic<uint64_t>* const dirty_total;  // FileSystem::dirty_chunks_
  std::mutex mu;
  int handles = 0;                 // GUARDED_BY(files_mu_)
  bool loaded = false;
  uint64_t size = 0;               // current size, including unflushed writes
  std::vector<BlockUse> leaves;    // the committed version's chunks (none past the size)
  // The content of chunk i is, first match: dirty (the cache file), the tail, staged (a block
  // the pipeline stored), leaves[i] (zeros past its end), zeros. The three sets are disjoint.
  std::set<uint64_t> dirty;        // chunk indexes whose bytes live in the cache file
  // The chunk at the end of the file while it is written sequentially, in memory: its index and
  // bytes (tail_idx * chunk + tail.size() == size). Full, it goes to the pipeline.
  uint64_t tail_idx = kNoTail;
  Bytes tail;
  bool tail_dirty = false;         // changed since the last commit (see SetTailDirty)
  std::map<uint64_t, std::shared_ptr<WritePipeline::Chunk>> staged;
  std::vector<std::shared_ptr<WritePipeline::Chunk>> dropped;  // staged, then replaced
  std::shared_ptr<WritePipeline::Stream> stream;  // this file's pipeline stream (first use)
  // The stream's MD5 covers exactly the chunks before the tail (every chunk from offset 0 went
  // through the pipeline with md5, unchanged since): the ETag needs only the tail added.
  bool md5_ok = false;
  bool changed = false;            // differs from the committed version
  uint64_t generation = 0;         // of the committed version (as the ledger counts them)
  uint64_t version = 0;            // bumped by every change (write, truncate)
  uint64_t commits = 0;            // commits made so far (by any path)
  // A background commit (dirty limit) is running; min_size: the smallest size since its
  // snapshot; old_writers: writers of snapshots being committed in the background, synced by
  // any commit (their blocks are staged until one succeeds) and kept until then (GC).
  bool bg_commit = false;
  std::condition_variable bg_done;  // notified (mu held) when bg_commit turns false
  uint64_t min_size = 0;
  std::vector<std::shared_ptr<ObjectStore::BlockWriter>> old_writers;
  int fd = -1;                     // cache file: a sparse mirror at the file's own offsets
  int64_t mtime_ns = 0;            // of the last write
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

std::string Md5HexOf(ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
  return HexEncode(ByteView(digest, n));
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
  // Every dirty chunk is whole but the file's last one, which holds the bytes up to the size;
  // staged chunks are whole; the tail holds its bytes.
  uint64_t bytes = f.dirty.size() * chunk_;
  if (!f.dirty.empty()) {
    const uint64_t start = *f.dirty.rbegin() * chunk_;
    const uint64_t end = std::clamp<uint64_t>(f.size, start, start + chunk_);
    bytes -= start + chunk_ - end;
  }
  bytes += f.staged.size() * chunk_ + (f.tail_dirty ? f.tail.size() : 0);
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
    : store_(store),
      opt_(std::move(options)),
      chunk_(store->dag_options().chunk_size),
      zeros_(std::make_shared<const Bytes>(chunk_, 0)),
      zero_chunk_(*zeros_),
      zero_leaf_(Cid::Compute(1, Codec::kRaw, zero_chunk_)) {
  // The pipeline makes raw leaves only (CIDv1, the default); other layouts take the cache path.
  if (opt_.write_pipeline && store->dag_options().raw_leaves) {
    WritePipeline::Options po;
    po.chunk_size = chunk_;
    po.max_queued_bytes = std::max<size_t>(opt_.pipeline_queue_bytes, 2 * chunk_);
    po.store_threads = 2;
    pipeline_ = std::make_unique<WritePipeline>(po);
    committer_ = std::thread([this] { CommitLoop(); });
  }
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
  {
    std::lock_guard<std::mutex> l(commit_mu_);
    commit_stop_ = true;
  }
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
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
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->InodeAttrs(ino));
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
  return store_->UnlinkChild(parent, name, Durability::kRelaxed);
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
  lo.etags = false;
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

namespace {
Status FileTooLarge() {
  return Status::InvalidArgument("files are at most " + std::to_string(kMaxFileSize) + " bytes")
      .With(Reason::kEntityTooLarge);
}
}  // namespace

Result<ObjectInfo> FileSystem::SetAttr(InodeId ino, const SetAttrRequest& r) {
  if (r.size && *r.size > kMaxFileSize) return FileTooLarge();
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
    const int64_t now = r.ctime_ns ? *r.ctime_ns : Now();
    if (auto f = OpenFileFor(ino); f && r.mtime_ns) {
      std::lock_guard<std::mutex> l(f->mu);
      f->mtime_ns = 0;  // an explicit mtime wins over pending writes' time
    }
    // One read-modify-write transaction; the reply carries the attributes it wrote.
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, store_->UpdateAttrs(ino, [&](PosixAttrs& a) {
      if (r.mode) a.mode = *r.mode & 07777;
      if (r.uid) a.uid = *r.uid;
      if (r.gid) a.gid = *r.gid;
      if (r.atime_ns) a.atime_ns = *r.atime_ns;
      if (r.mtime_ns) a.mtime_ns = *r.mtime_ns;
      a.ctime_ns = now;
    }, Durability::kRelaxed));
    Overlay(&i);
    return i;
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
  // One transaction: the parent, the name check, the set-group-ID rule and the new inode.
  auto info = store_->CreateFile(parent, name, attrs, Durability::kRelaxed);
  if (!info.ok()) return info.status();
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
  f.generation = i.generation;
  if (pipeline_ && f.size == 0) {
    f.tail_idx = 0;  // an empty file: everything written from 0 on is sequential so far
    f.md5_ok = true;
  }
  f.loaded = true;
  return Status::OK();
}

Status FileSystem::CacheFileLocked(OpenFile& f) {
  if (f.fd >= 0) return Status::OK();
  int fd = ::open(opt_.cache_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string tmpl = opt_.cache_dir + "/dirty-XXXXXX";
    fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("creating a cache file in " + opt_.cache_dir, errno);
    ::unlink(tmpl.c_str());
  }
  f.fd = fd;
  return Status::OK();
}

Result<std::shared_ptr<const Bytes>> FileSystem::Block(const Cid& cid) {
  constexpr size_t kCachedBlocks = 32;
  {
    std::lock_guard<std::mutex> l(blocks_mu_);
    for (size_t i = cached_blocks_.size(); i-- > 0;) {
      if (cached_blocks_[i].first == cid) {
        auto hit = cached_blocks_[i];
        cached_blocks_.erase(cached_blocks_.begin() + static_cast<ptrdiff_t>(i));
        cached_blocks_.push_back(hit);
        return hit.second;
      }
    }
  }
  // No lock held across the read and its verification.
  S3XFS_ASSIGN_OR_RETURN(Bytes b, store_->blocks()->Get(cid));
  auto block = std::make_shared<const Bytes>(std::move(b));
  std::lock_guard<std::mutex> l(blocks_mu_);
  if (cached_blocks_.size() >= kCachedBlocks) cached_blocks_.erase(cached_blocks_.begin());
  cached_blocks_.emplace_back(cid, block);
  return block;
}

// The current bytes of chunk idx (its length follows the current size).
Status FileSystem::ReadChunkLocked(OpenFile& f, uint64_t idx, Bytes* out) {
  uint64_t start = idx * chunk_;
  size_t len = start >= f.size ? 0 : static_cast<size_t>(std::min<uint64_t>(chunk_, f.size - start));
  out->assign(len, 0);
  if (len == 0) return Status::OK();
  if (f.dirty.count(idx)) return ReadAt(f.fd, out->data(), len, start);
  if (idx == f.tail_idx) {
    std::copy_n(f.tail.begin(), std::min(f.tail.size(), len), out->begin());
    return Status::OK();
  }
  const Bytes* leaf = nullptr;
  std::shared_ptr<const Bytes> block;
  if (auto it = f.staged.find(idx); it != f.staged.end()) {
    Result<Cid> cid = f.stream->Stored(it->second);
    if (!cid.ok()) {
      // Its put failed: the pipeline kept the bytes for the retry.
      leaf = f.stream->FailedBytes(it->second);
      if (!leaf) return cid.status();
    } else {
      S3XFS_ASSIGN_OR_RETURN(block, Block(*cid));
    }
  } else if (idx < f.leaves.size()) {
    S3XFS_ASSIGN_OR_RETURN(block, Block(f.leaves[idx].cid));
  }
  if (block) leaf = block.get();
  if (leaf) std::copy_n(leaf->begin(), std::min(leaf->size(), len), out->begin());  // rest: zeros
  return Status::OK();
}

Status FileSystem::MakeDirtyLocked(OpenFile& f, uint64_t idx) {
  if (f.dirty.count(idx)) return Status::OK();
  S3XFS_RETURN_IF_ERROR(CacheFileLocked(f));
  Bytes chunk;
  S3XFS_RETURN_IF_ERROR(ReadChunkLocked(f, idx, &chunk));
  chunk.resize(chunk_, 0);  // the whole region, so stale bytes of an earlier life are gone
  S3XFS_RETURN_IF_ERROR(WriteAt(f.fd, chunk, idx * chunk_));
  f.DropStaged(idx);
  f.MarkDirty(idx);
  return Status::OK();
}

// The tail stops being in memory (it is no longer at the end of the file): its bytes become a
// dirty chunk.
Status FileSystem::SpillTailLocked(OpenFile& f) {
  if (!f.has_tail()) return Status::OK();
  if (!f.tail.empty()) {
    S3XFS_RETURN_IF_ERROR(CacheFileLocked(f));
    Bytes region = f.tail;
    region.resize(chunk_, 0);
    S3XFS_RETURN_IF_ERROR(WriteAt(f.fd, region, f.tail_idx * chunk_));
    f.MarkDirty(f.tail_idx);
  }
  f.SetTailDirty(false);
  f.tail_idx = OpenFile::kNoTail;
  f.tail.clear();
  f.md5_ok = false;
  return Status::OK();
}

// Writing continues at the end of the file: the last chunk's bytes move into the tail (out of
// the cache file or the pipeline), so appends land in memory.
Status FileSystem::StartTailLocked(OpenFile& f) {
  const uint64_t idx = f.size / chunk_;
  Bytes cur;
  if (f.size % chunk_) S3XFS_RETURN_IF_ERROR(ReadChunkLocked(f, idx, &cur));
  const bool was_dirty = f.dirty.count(idx) || f.staged.count(idx);
  f.CleanOne(idx);
  f.DropStaged(idx);
  f.SetTailDirty(was_dirty);
  f.tail.clear();
  if (!cur.empty()) {
    f.tail = pipeline_->TakeBuffer();
    f.tail.insert(f.tail.end(), cur.begin(), cur.end());
  }
  f.tail_idx = idx;
  return Status::OK();
}

// A full tail goes to the pipeline; the next chunk starts empty.
void FileSystem::SubmitTailLocked(OpenFile& f) {
  if (!f.stream) f.stream = pipeline_->NewStream([this] { return store_->NewBlockWriter(); });
  f.Stage(f.tail_idx, f.stream->Submit(std::move(f.tail), f.md5_ok));
  f.SetTailDirty(false);
  f.tail = Bytes();
  f.tail_idx++;
}

// Blocks of staged chunks that were replaced before a commit: once stored, they are garbage.
// REQUIRES: the stream is idle.
void FileSystem::AbandonDroppedLocked(OpenFile& f) {
  std::vector<BlockUse> gone;
  for (const auto& c : f.dropped) {
    auto cid = f.stream->Stored(c);
    if (cid.ok()) gone.push_back(BlockUse{*cid, chunk_});
  }
  f.dropped.clear();
  if (!gone.empty()) store_->AbandonBlocks(gone);
}

Status FileSystem::TruncateLocked(OpenFile& f, uint64_t size) {
  S3XFS_RETURN_IF_ERROR(LoadLocked(f));
  if (size == f.size) {
    // Nothing to cut, but the file counts as modified (as on ext4: `truncate -s SAME`, O_TRUNC
    // of an empty file): its times move, without a new version of the content.
    const int64_t now = Now();
    if (f.changed) {
      f.mtime_ns = now;  // committed with the pending writes
      f.version++;       // (a background commit running does not take them as committed)
      return Status::OK();
    }
    return store_->UpdateAttrs(f.ino, [&](PosixAttrs& a) { a.mtime_ns = a.ctime_ns = now; },
                               Durability::kRelaxed).status();
  }
  Publish publish(this, f);
  if (size < f.size) {
    uint64_t keep = (size + chunk_ - 1) / chunk_;
    f.CleanFrom(keep);
    f.DropStagedFrom(keep);
    if (f.leaves.size() > keep) f.leaves.resize(keep);  // growing again must read zeros there
    if (f.has_tail() && f.tail_idx * chunk_ > size) {
      f.SetTailDirty(false);
      f.tail_idx = OpenFile::kNoTail;
      f.tail.clear();
      f.md5_ok = false;
    }
    if (f.has_tail()) {
      f.tail.resize(size - f.tail_idx * chunk_);  // still at the end
      f.SetTailDirty(!f.tail.empty());
    } else if (size % chunk_) {
      uint64_t idx = size / chunk_;
      S3XFS_RETURN_IF_ERROR(MakeDirtyLocked(f, idx));
      Bytes zeros(chunk_ - size % chunk_, 0);
      S3XFS_RETURN_IF_ERROR(WriteAt(f.fd, zeros, size));
    }
  } else {
    // Growing: the tail is no longer at the end. The old last chunk's bytes past the old size
    // read as zeros: committed leaves are shorter than the chunk, and dirty regions beyond the
    // size were zeroed when they were cut.
    S3XFS_RETURN_IF_ERROR(SpillTailLocked(f));
  }
  if (size == 0 && pipeline_) {
    // Written from scratch again: sequential writes from here on give the ETag as they go.
    if (f.stream) {
      f.stream->WaitIdle();  // the MD5 worker is done with the old bytes
      f.stream->ResetMd5();
    }
    f.SetTailDirty(false);
    f.tail_idx = 0;
    f.tail.clear();
    f.md5_ok = true;
  }
  f.size = size;
  f.min_size = std::min(f.min_size, size);
  f.changed = true;
  f.version++;
  f.mtime_ns = Now();
  return Status::OK();
}

Status FileSystem::Read(uint64_t fh, uint64_t offset, size_t size, Bytes* out) {
  ReadBuffer buf;
  S3XFS_RETURN_IF_ERROR(Read(fh, offset, size, &buf));
  out->clear();
  out->reserve(buf.size());
  buf.AppendTo(out);
  return Status::OK();
}

Status FileSystem::Read(uint64_t fh, uint64_t offset, size_t size, ReadBuffer* out) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  out->pieces.clear();
  // Under the lock: the bytes of dirty chunks and the tail (copied), and which blocks hold the
  // others. A block stays readable after the lock is dropped: the open handle keeps the
  // version's blocks from GC, and the pipeline's writer keeps staged ones.
  struct FromBlock {
    size_t piece;
    Cid cid;
    size_t from, to;  // of the chunk; past the block's end: zeros
  };
  std::vector<FromBlock> fetch;
  // Chunks the pipeline is still storing: waited for after the lock is dropped (a put may queue
  // behind other files' puts; the writer and other readers of this file must not wait too).
  struct FromChunk {
    size_t piece;
    std::shared_ptr<WritePipeline::Chunk> chunk;
    size_t from, to;
  };
  std::vector<FromChunk> staged;
  std::shared_ptr<WritePipeline::Stream> stream;
  {
    std::lock_guard<std::mutex> l(f->mu);
    stream = f->stream;
    S3XFS_RETURN_IF_ERROR(LoadLocked(*f));
    if (offset >= f->size) return Status::OK();
    const uint64_t end = std::min<uint64_t>(f->size, offset + size);
    for (uint64_t idx = offset / chunk_; idx * chunk_ < end; ++idx) {
      const uint64_t cstart = idx * chunk_;
      const size_t from = static_cast<size_t>(std::max(offset, cstart) - cstart);
      const size_t to = static_cast<size_t>(std::min(end, cstart + chunk_) - cstart);
      std::optional<Cid> cid;
      if (f->dirty.count(idx)) {
        auto b = std::make_shared<Bytes>(to - from);
        S3XFS_RETURN_IF_ERROR(ReadAt(f->fd, b->data(), b->size(), cstart + from));
        out->pieces.push_back({std::move(b), 0, to - from});
        continue;
      }
      if (idx == f->tail_idx) {
        auto b = std::make_shared<Bytes>(to - from, 0);
        if (from < f->tail.size())
          std::copy(f->tail.begin() + from, f->tail.begin() + std::min(to, f->tail.size()), b->begin());
        out->pieces.push_back({std::move(b), 0, to - from});
        continue;
      }
      if (auto it = f->staged.find(idx); it != f->staged.end()) {
        staged.push_back(FromChunk{out->pieces.size(), it->second, from, to});
        out->pieces.push_back({});
        continue;
      } else if (idx < f->leaves.size()) {
        cid = f->leaves[idx].cid;
      }
      if (cid) {
        fetch.push_back(FromBlock{out->pieces.size(), *cid, from, to});
        out->pieces.push_back({});
      } else {
        out->pieces.push_back({zeros_, from, to - from});  // a hole
      }
    }
  }
  for (const FromChunk& c : staged) {
    Result<Cid> cid = stream->Stored(c.chunk);
    if (cid.ok()) {
      fetch.push_back(FromBlock{c.piece, *cid, c.from, c.to});
      continue;
    }
    // Its put failed: the bytes stay with the chunk until a flush stores them again (which
    // takes the file's lock to do so).
    std::lock_guard<std::mutex> l(f->mu);
    if (Result<Cid> again = stream->Stored(c.chunk); again.ok()) {  // stored again meanwhile
      fetch.push_back(FromBlock{c.piece, *again, c.from, c.to});
      continue;
    }
    const Bytes* kept = stream->FailedBytes(c.chunk);
    if (!kept) return cid.status();
    out->pieces[c.piece] = {std::make_shared<const Bytes>(kept->begin() + c.from, kept->begin() + c.to), 0,
                            c.to - c.from};
  }
  for (const FromBlock& w : fetch) {
    S3XFS_ASSIGN_OR_RETURN(auto block, Block(w.cid));
    ReadBuffer::Piece& p = out->pieces[w.piece];
    if (block->size() >= w.to) {
      p = {std::move(block), w.from, w.to - w.from};
      continue;
    }
    // The file grew past this (short, last) leaf: zeros follow its bytes.
    auto b = std::make_shared<Bytes>(w.to - w.from, 0);
    if (w.from < block->size()) std::copy(block->begin() + w.from, block->end(), b->begin());
    p = {std::move(b), 0, w.to - w.from};
  }
  return Status::OK();
}

Status FileSystem::Write(uint64_t fh, uint64_t offset, ByteView data) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  Status st = WriteTo(f, offset, data);
  if (!st.ok()) PagesStale(f->ino);  // the kernel may hold the bytes it could not write
  return st;
}

Status FileSystem::WriteTo(const std::shared_ptr<OpenFile>& self, uint64_t offset, ByteView data) {
  OpenFile* f = self.get();
  if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset) return FileTooLarge();
  // Wait for room in the pipeline before taking the file's lock (readers of the file need it).
  if (pipeline_ && !data.empty()) pipeline_->Reserve(data.size());
  std::lock_guard<std::mutex> l(f->mu);
  S3XFS_RETURN_IF_ERROR(LoadLocked(*f));
  // A chunk the pipeline could not store fails writes until a flush stores it again.
  if (f->stream) S3XFS_RETURN_IF_ERROR(f->stream->error());
  if (data.empty()) return Status::OK();
  Publish publish(this, *f);
  // Changed from the first piece on: a write failing half-way still leaves its first pieces.
  f->changed = true;
  f->version++;
  uint64_t pos = offset;
  while (!data.empty()) {
    const uint64_t idx = pos / chunk_, cstart = idx * chunk_;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), cstart + chunk_ - pos));
    ByteView piece = data.first(n);
    if (pipeline_ && !f->has_tail() && pos == f->size) S3XFS_RETURN_IF_ERROR(StartTailLocked(*f));
    if (f->has_tail() && idx > f->tail_idx) S3XFS_RETURN_IF_ERROR(SpillTailLocked(*f));  // a gap
    if (idx == f->tail_idx) {
      // In memory. The tail's bytes are not in the running MD5 yet, so changing them keeps it.
      const size_t at = static_cast<size_t>(pos - cstart);
      if (f->tail.capacity() < at + n && at + n > chunk_ / 4) {
        Bytes b = pipeline_->TakeBuffer();
        b.assign(f->tail.begin(), f->tail.end());
        f->tail.swap(b);
      }
      if (at > f->tail.size()) f->tail.resize(at, 0);  // a hole inside the last chunk
      const size_t overlap = std::min(n, f->tail.size() - at);
      std::copy_n(piece.begin(), overlap, f->tail.begin() + at);
      f->tail.insert(f->tail.end(), piece.begin() + overlap, piece.end());
      f->size = std::max<uint64_t>(f->size, cstart + f->tail.size());
      f->SetTailDirty(true);
      if (f->tail.size() == chunk_) SubmitTailLocked(*f);
    } else {
      // The cache file. A chunk the write covers entirely needs no old bytes.
      if (n == chunk_) {
        S3XFS_RETURN_IF_ERROR(CacheFileLocked(*f));
        f->DropStaged(idx);
        f->MarkDirty(idx);
      } else {
        S3XFS_RETURN_IF_ERROR(MakeDirtyLocked(*f, idx));
      }
      S3XFS_RETURN_IF_ERROR(WriteAt(f->fd, piece, pos));
      f->md5_ok = false;  // bytes before the tail changed: the ETag is left pending
      f->size = std::max(f->size, pos + n);
    }
    pos += n;
    data = data.subspan(n);
  }
  f->mtime_ns = Now();
  if ((f->dirty.size() + f->staged.size()) * chunk_ > opt_.dirty_limit) {
    // A file written sequentially is committed in the background: the writer goes on.
    if (f->dirty.empty() && f->stream && !f->bg_commit && f->stream->error().ok())
      return StartBackgroundCommitLocked(self);
    if (!f->bg_commit) return FlushLocked(*f, Durability::kRelaxed);
  }
  return Status::OK();
}

Status FileSystem::FlushLocked(OpenFile& f, Durability durability) {
  if (!f.loaded || !f.changed) return Status::OK();
  Publish publish(this, f);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t staged_chunks = f.staged.size(), dirty_chunks = f.dirty.size();
  // Every chunk the pipeline took is stored first; a failed put is retried here, once.
  if (f.stream) {
    f.stream->WaitIdle();
    for (auto& [idx, c] : f.staged) {
      if (!f.stream->Stored(c).ok()) S3XFS_RETURN_IF_ERROR(f.stream->Retry(c));
    }
  }
  const DagOptions& dag = store_->dag_options();
  // The flush's blocks go to the stream's writer, so one sync makes them and the pipeline's
  // durable; the writer protects them from GC until it is dropped after the commit.
  std::shared_ptr<ObjectStore::BlockWriter> writer =
      f.stream ? f.stream->writer() : std::shared_ptr<ObjectStore::BlockWriter>(store_->NewBlockWriter());
  ObjectStore::ContentUpdate u;
  DagBuilder builder(dag, [&](const Cid& cid, ByteView d, bool leaf) -> Status {
    (leaf ? u.leaves : u.nodes).push_back(BlockUse{cid, d.size()});
    return writer->PutUnsynced(cid, d);
  });
  Status st;
  Bytes chunk;
  bool zero_put = false;
  uint64_t n = (f.size + chunk_ - 1) / chunk_;
  for (uint64_t idx = 0; idx < n && st.ok(); ++idx) {
    uint64_t len = std::min<uint64_t>(chunk_, f.size - idx * chunk_);
    auto staged = f.staged.find(idx);
    std::optional<Cid> leaf;  // an existing raw leaf holding exactly this chunk
    if (f.dirty.count(idx) || idx == f.tail_idx) {
    } else if (idx >= f.leaves.size() && staged == f.staged.end() && len == chunk_ &&
               dag.raw_leaves) {
      // A hole (sparse file): the zero chunk's leaf, stored once, not hashed per chunk.
      if (!zero_put) {
        st = writer->PutUnsynced(zero_leaf_, zero_chunk_);
        zero_put = true;
        if (!st.ok()) break;
      }
      leaf = zero_leaf_;
      st = builder.AddLeaf(LeafInfo{*leaf, len, len});
      if (st.ok()) u.leaves.push_back(BlockUse{*leaf, len});
      continue;
    } else if (staged != f.staged.end()) {
      auto cid = f.stream->Stored(staged->second);
      if (!cid.ok()) {
        st = cid.status();
        break;
      }
      leaf = *cid;
    } else if (idx < f.leaves.size() && f.leaves[idx].size == len &&
               f.leaves[idx].cid.codec() == Codec::kRaw && dag.raw_leaves) {
      leaf = f.leaves[idx].cid;
    }
    if (!leaf) {
      st = ReadChunkLocked(f, idx, &chunk);
      if (!st.ok()) break;
    }
    if (leaf) {
      st = builder.AddLeaf(LeafInfo{*leaf, len, len});
      if (st.ok()) u.leaves.push_back(BlockUse{*leaf, len});
    } else {
      st = builder.Write(chunk);
    }
  }
  Result<DagRoot> root = st.ok() ? builder.Finish() : Result<DagRoot>(st);
  // Written in order from offset 0: the running MD5 of the chunks before the tail, then the
  // tail. Otherwise the ETag is left pending (ObjectStore::ComputePendingEtags): an MD5 here
  // would read the whole file again at every flush.
  if (f.md5_ok) u.etag = f.stream ? f.stream->Md5Hex(f.tail) : Md5HexOf(f.tail);
  if (!root.ok()) return root.status();
  S3XFS_RETURN_IF_ERROR(f.stream ? f.stream->SyncWriter() : writer->Sync());
  // Chunks of a snapshot a background commit has not committed yet went to its writer.
  for (const auto& w : f.old_writers) S3XFS_RETURN_IF_ERROR(w->Sync());
  u.root = *root;
  u.mtime_ns = f.mtime_ns;
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo committed, store_->UpdateContent(f.ino, u, durability));
  f.generation = committed.generation;
  f.commits++;
  f.old_writers.clear();
  f.leaves = std::move(u.leaves);
  f.CleanFrom(0);
  f.SetTailDirty(false);
  for (auto it = f.staged.begin(); it != f.staged.end(); it = f.staged.erase(it))
    f.dirty_total->fetch_sub(1, std::memory_order_relaxed);
  if (f.stream) {
    AbandonDroppedLocked(f);
    f.stream->ResetWriter();  // the committed blocks no longer need protection from GC
  }
  if (f.fd >= 0 && ::ftruncate(f.fd, 0) != 0) return Status::FromErrno("resetting the chunk cache", errno);
  f.changed = false;
  f.mtime_ns = 0;
  last_flush_ns_.store(Now(), std::memory_order_relaxed);
  S3XFS_LOG(kDebug) << "committed inode " << f.ino << " (" << f.size << " bytes; "
                    << staged_chunks << " chunks from the pipeline, " << dirty_chunks
                    << " from the cache file) in "
                    << std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - t0).count() / 1000.0 << " ms";
  return Status::OK();
}

bool FileSystem::KeepCache(InodeId ino) {
  std::lock_guard<std::mutex> l(stale_mu_);
  return stale_pages_.erase(ino) == 0;
}

// ---------------- background commits (dirty limit) ----------------

// What a background commit commits: the file as it was when the commit started.
struct FileSystem::Snapshot {
  std::shared_ptr<OpenFile> file;
  uint64_t size = 0, version = 0, commits = 0, generation = 0;
  int64_t mtime_ns = 0;
  std::vector<BlockUse> leaves;  // committed chunks
  std::vector<std::pair<uint64_t, std::shared_ptr<WritePipeline::Chunk>>> staged;
  uint64_t tail_idx = 0;
  Bytes tail;
  std::shared_ptr<WritePipeline::Stream::Md5Mark> md5;
  std::shared_ptr<ObjectStore::BlockWriter> writer;  // where the staged chunks went
  // Every writer whose blocks the snapshot may refer to (this one and those of earlier
  // background commits that did not commit): all are synced before the commit.
  std::vector<std::shared_ptr<ObjectStore::BlockWriter>> writers;
};

// REQUIRES: f.mu held; no dirty chunks (the cache file changes under a commit that runs
// without the lock), no background commit running.
Status FileSystem::StartBackgroundCommitLocked(const std::shared_ptr<OpenFile>& self) {
  OpenFile& f = *self;
  auto snap = std::make_unique<Snapshot>();
  snap->file = self;
  snap->size = f.size;
  snap->version = f.version;
  snap->commits = f.commits;
  snap->generation = f.generation;
  snap->mtime_ns = f.mtime_ns;
  snap->leaves = f.leaves;
  snap->staged.assign(f.staged.begin(), f.staged.end());
  snap->tail_idx = f.tail_idx;
  snap->tail = f.tail;
  if (f.md5_ok) snap->md5 = f.stream->MarkMd5();  // else the ETag is left pending
  // Chunks from now on go to a new writer; this one is synced and committed in the background.
  snap->writer = f.stream->TakeWriter();
  if (!snap->writer) snap->writer = store_->NewBlockWriter();
  f.old_writers.push_back(snap->writer);
  snap->writers = f.old_writers;
  f.bg_commit = true;
  f.min_size = f.size;
  {
    std::lock_guard<std::mutex> l(commit_mu_);
    commit_queue_.push_back(std::move(snap));
  }
  commit_cv_.notify_all();
  return Status::OK();
}

void FileSystem::CommitLoop() {
  std::unique_lock<std::mutex> l(commit_mu_);
  for (;;) {
    commit_cv_.wait(l, [&] { return commit_stop_ || !commit_queue_.empty(); });
    if (commit_queue_.empty()) return;
    std::unique_ptr<Snapshot> snap = std::move(commit_queue_.front());
    commit_queue_.pop_front();
    l.unlock();
    BackgroundCommit(*snap);
    snap.reset();
    l.lock();
  }
}

// Runs without the file's lock: waits for the snapshot's chunks and MD5, stores the tail and
// the interior nodes, syncs, commits if no newer commit came first, then (under the lock)
// records what it committed.
void FileSystem::BackgroundCommit(Snapshot& snap) {
  OpenFile& f = *snap.file;
  const auto t0 = std::chrono::steady_clock::now();
  const DagOptions& dag = store_->dag_options();
  ObjectStore::ContentUpdate u;
  std::vector<BlockUse> put;  // blocks this commit wrote (garbage if it does not commit)
  DagBuilder builder(dag, [&](const Cid& cid, ByteView d, bool leaf) -> Status {
    (leaf ? u.leaves : u.nodes).push_back(BlockUse{cid, d.size()});
    put.push_back(BlockUse{cid, d.size()});
    return snap.writer->PutUnsynced(cid, d);
  });
  std::map<uint64_t, Cid> cids;
  Status st;
  for (const auto& [idx, c] : snap.staged) {
    auto cid = f.stream->Stored(c);
    if (!cid.ok()) {
      st = cid.status();
      break;
    }
    cids.emplace(idx, *cid);
  }
  const uint64_t n = (snap.size + chunk_ - 1) / chunk_;
  bool zero_put = false;
  for (uint64_t idx = 0; idx < n && st.ok(); ++idx) {
    const uint64_t len = std::min<uint64_t>(chunk_, snap.size - idx * chunk_);
    std::optional<Cid> leaf;
    if (auto it = cids.find(idx); it != cids.end()) {
      leaf = it->second;
    } else if (idx == snap.tail_idx) {
      Bytes chunk(snap.tail.begin(), snap.tail.end());
      chunk.resize(len, 0);
      st = builder.Write(chunk);
      continue;
    } else if (idx < snap.leaves.size() && snap.leaves[idx].size == len &&
               snap.leaves[idx].cid.codec() == Codec::kRaw) {
      leaf = snap.leaves[idx].cid;
    } else if (idx >= snap.leaves.size() && len == chunk_) {
      if (!zero_put) {
        st = snap.writer->PutUnsynced(zero_leaf_, zero_chunk_);
        zero_put = true;
      }
      leaf = zero_leaf_;
    } else {
      // A committed leaf the file grew past (or a short hole): its bytes, then zeros.
      Bytes chunk(len, 0);
      if (idx < snap.leaves.size()) {
        auto b = Block(snap.leaves[idx].cid);
        if (!b.ok()) {
          st = b.status();
          break;
        }
        std::copy_n((*b)->begin(), std::min<size_t>((*b)->size(), len), chunk.begin());
      }
      st = builder.Write(chunk);
      continue;
    }
    if (st.ok()) st = builder.AddLeaf(LeafInfo{*leaf, len, len});
    if (st.ok()) u.leaves.push_back(BlockUse{*leaf, len});
  }
  Result<DagRoot> root = st.ok() ? builder.Finish() : Result<DagRoot>(st);
  if (root.ok()) {
    u.root = *root;
    // Without a running MD5 (not written in order) the ETag is left pending, as in a flush.
    if (snap.md5) u.etag = f.stream->Md5HexAt(snap.md5, snap.tail);
    u.mtime_ns = snap.mtime_ns;
    u.if_generation = snap.generation;
    for (const auto& w : snap.writers) {
      st = w->Sync();
      if (!st.ok()) break;
    }
  } else {
    st = root.status();
  }
  Result<ObjectInfo> committed = st.ok() ? store_->UpdateContent(f.ino, u, Durability::kRelaxed)
                                         : Result<ObjectInfo>(st);
  {
    std::lock_guard<std::mutex> l(f.mu);
    Publish publish(this, f);
    if (committed.ok() && f.commits == snap.commits) {
      // The newest commit: the staged chunks it took are committed leaves now.
      f.generation = committed->generation;
      f.commits++;
      f.leaves = u.leaves;
      const uint64_t keep = (f.min_size + chunk_ - 1) / chunk_;
      if (f.leaves.size() > keep) f.leaves.resize(keep);  // truncated since the snapshot
      for (const auto& [idx, c] : snap.staged) {
        auto it = f.staged.find(idx);
        if (it != f.staged.end() && it->second == c) {
          f.staged.erase(it);
          f.dirty_total->fetch_sub(1, std::memory_order_relaxed);
        }
      }
      // Everything the snapshot refers to is committed: its writers need not be synced again.
      for (const auto& w : snap.writers) std::erase(f.old_writers, w);
      if (f.version == snap.version) {
        f.changed = false;
        f.mtime_ns = 0;
        f.SetTailDirty(false);
      }
      last_flush_ns_.store(Now(), std::memory_order_relaxed);
    }
    f.bg_commit = false;
    f.bg_done.notify_all();
  }
  if (!committed.ok()) {
    // A newer commit (flush, fsync) came first, or this one failed: the file stays dirty and
    // the next flush commits everything; the blocks only this commit wrote are garbage.
    if (!put.empty()) store_->AbandonBlocks(put);
    if (committed.status().reason() != Reason::kPreconditionFailed)
      S3XFS_LOG(kWarning) << "background commit of inode " << f.ino << " failed (retried at the "
                          << "next flush): " << committed.status().message();
    return;
  }
  S3XFS_LOG(kDebug) << "committed inode " << f.ino << " in the background (" << snap.size
                    << " bytes, " << snap.staged.size() << " chunks from the pipeline) in "
                    << std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - t0).count() / 1000.0 << " ms";
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
      // A background commit still running lands before the file is forgotten: a reopen then
      // loads what it committed, not the version before it.
      std::unique_lock<std::mutex> l(f->mu);
      f->bg_done.wait(l, [&] { return !f->bg_commit; });
    }
    bool gone = false;
    {
      std::lock_guard<std::mutex> l(files_mu_);
      auto it = files_.find(f->ino);
      if (it != files_.end() && it->second == f && f->handles == 0) {
        files_.erase(it);
        gone = true;
      }
    }
    if (gone) {
      // Changes that could not be committed (the error went to close) are dropped with the
      // file; the pipeline's blocks for them become garbage.
      std::lock_guard<std::mutex> l(f->mu);
      if (f->changed) PagesStale(f->ino);
      if (f->stream) {
        f->stream->WaitIdle();
        f->DropStagedFrom(0);
        AbandonDroppedLocked(*f);
      }
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
