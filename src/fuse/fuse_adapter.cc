#define FUSE_USE_VERSION 312
#include "fuse_adapter.h"

#include <fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <mutex>
#include <thread>
#include <iostream>
#include <string_view>

#include "s3xfs/base/log.h"
#include "s3xfs/base/metrics.h"

namespace s3xfs {

using Reason = Status::Reason;

int ErrnoOf(const Status& s) {
  switch (s.reason()) {
    case Reason::kNoSuchKey:
    case Reason::kNoSuchBucket:
    case Reason::kNoSuchUpload: return ENOENT;
    case Reason::kExists:
    case Reason::kBucketAlreadyOwnedByYou:
    case Reason::kBucketAlreadyExists: return EEXIST;
    case Reason::kDirectoryNotEmpty:
    case Reason::kBucketNotEmpty: return ENOTEMPTY;
    case Reason::kIsDirectory: return EISDIR;
    case Reason::kNotDirectory: return ENOTDIR;
    case Reason::kCrossBucket: return EXDEV;
    case Reason::kNoSuchAttr: return ENODATA;
    case Reason::kNotPermitted: return EPERM;
    case Reason::kInvalidBucketName:
    case Reason::kInvalidKey: return EINVAL;
    case Reason::kKeyTooLong: return ENAMETOOLONG;
    case Reason::kEntityTooLarge: return EFBIG;
    default: break;
  }
  switch (s.code()) {
    case Status::Code::kOk: return 0;
    case Status::Code::kNotFound: return ENOENT;
    case Status::Code::kAlreadyExists: return EEXIST;
    case Status::Code::kInvalidArgument: return EINVAL;
    case Status::Code::kNotSupported: return EOPNOTSUPP;
    case Status::Code::kTimeout: return ETIMEDOUT;
    default: return EIO;  // corruption, unavailable back end, local I/O failure
  }
}

namespace {

// How long the kernel keeps names (also misses) and attributes, in seconds. Changes made
// through the mount go through the kernel, and changes through S3 are pushed to it at once
// (Invalidator), so this bounds only what neither covers: a directory implied by S3 keys that
// vanishes when its last entry is deleted in the mount (docs/SEMANTICS.md). Longer than the 1 s
// most network filesystems use because nothing else changes the namespace: stat and unlink of
// files created a moment ago need no lookup.
constexpr double kTimeout = 10.0;

// Sequential reads: the kernel reads ahead 128 KiB on a FUSE mount (the default of its backing
// device, which INIT cannot raise), so a reader gets one 128 KiB request at a time. After INIT
// the daemon raises the mount's read_ahead_kb (needs root; otherwise nothing changes): requests
// then come 1 MiB at a time (max_write caps them) and several in parallel. Measured on 1 GiB:
// 0.59 of the local disk's sequential read at 128 KiB, 0.90 at 1 MiB, 1.02 at 4 MiB.
constexpr unsigned kReadaheadKb = 4096;

// ---- metrics: requests and errors per operation ----
// Every handler replies before it returns, on the thread that called it, so the operation a
// reply belongs to is the thread's current one.

constexpr std::string_view kOpNames[] = {
    "lookup",  "getattr", "setattr",  "readlink", "mknod",      "mkdir",     "unlink",
    "rmdir",   "symlink", "rename",   "link",     "open",       "read",      "write",
    "flush",   "release", "fsync",    "opendir",  "readdir",    "releasedir", "fsyncdir",
    "statfs",  "setxattr", "getxattr", "listxattr", "removexattr", "create"};
constexpr size_t kOps = std::size(kOpNames);

consteval size_t OpIndex(std::string_view name) {
  for (size_t i = 0; i < kOps; ++i) {
    if (kOpNames[i] == name) return i;
  }
  throw "unknown FUSE operation";  // not a constant expression: a compile error
}

struct FuseMetrics {
  FuseMetrics()
      : errors(metrics::Global().Counters("s3xfs_fuse_errors_total",
                                          "FUSE requests answered with an error, by operation "
                                          "and errno.",
                                          {"operation", "errno"})),
        read_bytes(metrics::Global().Counters("s3xfs_fuse_read_bytes_total",
                                              "Bytes returned by FUSE reads.").With({})),
        written_bytes(metrics::Global().Counters("s3xfs_fuse_written_bytes_total",
                                                 "Bytes accepted by FUSE writes.").With({})) {
    auto& f = metrics::Global().Counters("s3xfs_fuse_requests_total",
                                         "FUSE requests, by operation.", {"operation"});
    for (size_t i = 0; i < kOps; ++i) requests[i] = &f.With({kOpNames[i]});
  }
  static FuseMetrics& Get() {
    static FuseMetrics* m = new FuseMetrics;  // lives with the registry
    return *m;
  }
  metrics::Counter* requests[kOps];
  metrics::CounterFamily& errors;
  metrics::Counter& read_bytes;
  metrics::Counter& written_bytes;
};

// Session userdata: the FileSystem exists only after daemonizing, before the loop starts.
struct Holder {
  FileSystem* fs = nullptr;
  std::string bdi;  // the mount's backing device ("0:52"), for read_ahead_kb
  std::atomic<bool> tuned{false};
  int ready_fd = -1;  // daemon mode: tells the waiting parent that INIT was answered
  const std::function<void()>* on_ready = nullptr;  // MountOptions::on_ready
};
thread_local size_t t_op = 0;

// MAJ:MIN of the mount at `path` (canonical), from /proc/self/mountinfo (no FUSE request: the
// loop is not serving yet); the last one when mounts are stacked. "" if not found.
std::string MountDevice(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  auto unescape = [](const std::string& s) {  // "\040" for a space, etc.
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      auto octal = [&](size_t k) { return i + k < s.size() && s[i + k] >= '0' && s[i + k] <= '7'; };
      if (s[i] == '\\' && octal(1) && octal(2) && octal(3)) {
        out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
        i += 3;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  };
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp;
    if (!(f >> id >> parent >> dev >> root >> mp)) continue;
    if (unescape(mp) == path) found = dev;
  }
  return found;
}

// Raises the mount's read-ahead (see kReadaheadKb). Best effort: without root, or inside a
// sandbox with a read-only /sys, the kernel's default stays.
void RaiseReadahead(const std::string& bdi) {
  if (bdi.empty()) return;
  const std::string path = "/sys/class/bdi/" + bdi + "/read_ahead_kb";
  unsigned cur = 0;
  {
    std::ifstream in(path);
    if (!(in >> cur) || cur >= kReadaheadKb) return;
  }
  std::ofstream out(path);
  out << kReadaheadKb << "\n";
  out.flush();
  if (out) S3XFS_LOG(kDebug) << "read-ahead of the mount raised to " << kReadaheadKb << " KiB";
  else S3XFS_LOG(kDebug) << "could not raise the mount's read-ahead (" << path << ")";
}

template <size_t Op, auto Fn, typename... A>
void CountedOp(fuse_req_t req, A... a) {
  t_op = Op;
  // The first request after INIT: the kernel has applied INIT's reply (which would lower a
  // read-ahead raised before it).
  if (auto* h = static_cast<Holder*>(fuse_req_userdata(req));
      !h->tuned.load(std::memory_order_relaxed) && !h->tuned.exchange(true)) {
    RaiseReadahead(h->bdi);
  }
  FuseMetrics::Get().requests[Op]->Inc();
  Fn(req, a...);
}
template <size_t Op, auto Fn, typename... A>
constexpr auto Counted(void (*)(fuse_req_t, A...)) {
  return &CountedOp<Op, Fn, A...>;
}
#define S3XFS_COUNTED(name, fn) Counted<OpIndex(#name), fn>(fn)

// fuse_reply_err, counting errors (err != 0) of the thread's current operation.
int ReplyErr(fuse_req_t req, int err) {
  if (err != 0) {
    const char* name = strerrorname_np(err);
    std::string number = name ? std::string() : std::to_string(err);
    FuseMetrics::Get().errors.With({kOpNames[t_op], name ? name : number}).Inc();
  }
  return fuse_reply_err(req, err);
}

FileSystem* Fs(fuse_req_t req) { return static_cast<Holder*>(fuse_req_userdata(req))->fs; }

void ToStat(const ObjectInfo& i, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = i.ino;
  mode_t type = S_IFREG;
  switch (i.kind) {
    case InodeKind::kFile: type = S_IFREG; break;
    case InodeKind::kDirectory: type = S_IFDIR; break;
    case InodeKind::kSymlink: type = S_IFLNK; break;
    case InodeKind::kFifo: type = S_IFIFO; break;
    case InodeKind::kCharDevice: type = S_IFCHR; break;
    case InodeKind::kBlockDevice: type = S_IFBLK; break;
    case InodeKind::kSocket: type = S_IFSOCK; break;
  }
  st->st_mode = type | (i.attrs.mode & 07777);
  st->st_nlink = i.nlink;
  st->st_uid = i.attrs.uid;
  st->st_gid = i.attrs.gid;
  st->st_rdev = i.attrs.rdev;
  st->st_size = static_cast<off_t>(i.kind == InodeKind::kDirectory ? 4096 : i.size);
  st->st_blksize = 262144;
  st->st_blocks = static_cast<blkcnt_t>((i.size + 511) / 512);
  auto ts = [](int64_t ns) {
    return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  };
  st->st_atim = ts(i.attrs.atime_ns);
  st->st_mtim = ts(i.attrs.mtime_ns);
  st->st_ctim = ts(i.attrs.ctime_ns);
}

void ReplyEntry(fuse_req_t req, const Result<ObjectInfo>& r) {
  if (!r.ok()) {
    ReplyErr(req, ErrnoOf(r.status()));
    return;
  }
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = r->ino;
  e.generation = 1;
  e.attr_timeout = kTimeout;
  e.entry_timeout = kTimeout;
  ToStat(*r, &e.attr);
  fuse_reply_entry(req, &e);
}

PosixAttrs NewAttrs(fuse_req_t req, mode_t mode) {
  const fuse_ctx* c = fuse_req_ctx(req);
  PosixAttrs a;
  a.mode = mode & 07777 & ~c->umask;
  a.uid = c->uid;
  a.gid = c->gid;
  return a;
}

int64_t NowNs() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (std::strlen(name) > 255) {
    ReplyErr(req, ENAMETOOLONG);
    return;
  }
  auto r = Fs(req)->Lookup(parent, name);
  if (!r.ok() && ErrnoOf(r.status()) == ENOENT) {
    fuse_entry_param e;  // cache the miss briefly (a zero inode), as passthrough_hp does
    std::memset(&e, 0, sizeof e);
    e.entry_timeout = kTimeout;
    fuse_reply_entry(req, &e);
    return;
  }
  ReplyEntry(req, r);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto r = Fs(req)->GetAttr(ino);
  if (!r.ok()) {
    ReplyErr(req, ErrnoOf(r.status()));
    return;
  }
  struct stat st;
  ToStat(*r, &st);
  fuse_reply_attr(req, &st, kTimeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  SetAttrRequest r;
  if (to_set & FUSE_SET_ATTR_MODE) r.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) r.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) r.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) r.size = static_cast<uint64_t>(attr->st_size);
  // Times are kept as int64 nanoseconds (years 1678 to 2262): later or earlier ones are
  // clamped, as ext4 clamps to its own range, never wrapped.
  auto ns = [](const timespec& t) {
    constexpr int64_t kMaxSec = INT64_MAX / 1000000000 - 1;
    const int64_t sec = std::clamp<int64_t>(t.tv_sec, -kMaxSec, kMaxSec);
    return sec * 1000000000 + t.tv_nsec;
  };
  const int64_t now = NowNs();  // one clock reading: "now" times and ctime agree exactly
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.atime_ns = now;
  else if (to_set & FUSE_SET_ATTR_ATIME) r.atime_ns = ns(attr->st_atim);
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.mtime_ns = now;
  else if (to_set & FUSE_SET_ATTR_MTIME) r.mtime_ns = ns(attr->st_mtim);
  r.ctime_ns = (to_set & FUSE_SET_ATTR_CTIME) ? ns(attr->st_ctim) : now;
  auto res = Fs(req)->SetAttr(ino, r);
  if (!res.ok()) {
    ReplyErr(req, ErrnoOf(res.status()));
    return;
  }
  struct stat st;
  ToStat(*res, &st);
  fuse_reply_attr(req, &st, kTimeout);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  auto r = Fs(req)->ReadLink(ino);
  if (!r.ok()) ReplyErr(req, ErrnoOf(r.status()));
  else fuse_reply_readlink(req, r->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  InodeKind kind;
  switch (mode & S_IFMT) {
    case S_IFIFO: kind = InodeKind::kFifo; break;
    case S_IFSOCK: kind = InodeKind::kSocket; break;
    case S_IFCHR: kind = InodeKind::kCharDevice; break;
    case S_IFBLK: kind = InodeKind::kBlockDevice; break;
    case S_IFREG: {
      auto r = Fs(req)->Create(parent, name, NewAttrs(req, mode));
      if (r.ok()) Fs(req)->Release(r->first);
      ReplyEntry(req, r.ok() ? Result<ObjectInfo>(r->second) : Result<ObjectInfo>(r.status()));
      return;
    }
    default: ReplyErr(req, EINVAL); return;
  }
  PosixAttrs a = NewAttrs(req, mode);
  a.rdev = rdev;
  ReplyEntry(req, Fs(req)->MakeNode(parent, name, kind, a));
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, Fs(req)->MakeDir(parent, name, NewAttrs(req, mode)));
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyErr(req, ErrnoOf(Fs(req)->Unlink(parent, name)));
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyErr(req, ErrnoOf(Fs(req)->RemoveDir(parent, name)));
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req)->Symlink(parent, name, link, NewAttrs(req, 0777)));
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  RenameFlags f = RenameFlags::kNone;
  if (flags & RENAME_NOREPLACE) f = RenameFlags::kNoReplace;
  else if (flags & RENAME_EXCHANGE) f = RenameFlags::kExchange;
  else if (flags) {
    ReplyErr(req, EINVAL);
    return;
  }
  ReplyErr(req, ErrnoOf(Fs(req)->Rename(parent, name, newparent, newname, f)));
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  ReplyEntry(req, Fs(req)->Link(ino, newparent, newname));
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto r = Fs(req)->Open(ino, (fi->flags & O_TRUNC) != 0);
  if (!r.ok()) {
    ReplyErr(req, ErrnoOf(r.status()));
    return;
  }
  fi->fh = *r;
  // An inode's content changes only through this mount (S3 writes make new inodes), so the
  // pages the kernel cached stay right, unless the mount dropped writes it had accepted.
  fi->keep_cache = Fs(req)->KeepCache(ino) ? 1 : 0;
  fuse_reply_open(req, fi);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto r = Fs(req)->Create(parent, name, NewAttrs(req, mode));
  if (!r.ok()) {
    ReplyErr(req, ErrnoOf(r.status()));
    return;
  }
  fi->fh = r->first;
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = r->second.ino;
  e.generation = 1;
  e.attr_timeout = kTimeout;
  e.entry_timeout = kTimeout;
  ToStat(r->second, &e.attr);
  fuse_reply_create(req, &e, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadBuffer out;
  Status s = Fs(req)->Read(fi->fh, static_cast<uint64_t>(off), size, &out);
  if (!s.ok()) {
    ReplyErr(req, ErrnoOf(s));
    return;
  }
  // The pieces go to the kernel as they are (verified blocks are not copied first).
  std::vector<iovec> iov;
  iov.reserve(out.pieces.size());
  size_t n = 0;
  for (const ReadBuffer::Piece& p : out.pieces) {
    iov.push_back(iovec{const_cast<uint8_t*>(p.data()), p.length});
    n += p.length;
  }
  FuseMetrics::Get().read_bytes.Inc(n);
  fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  Status s = Fs(req)->Write(fi->fh, static_cast<uint64_t>(off),
                            ByteView(reinterpret_cast<const uint8_t*>(buf), size));
  if (!s.ok()) {
    ReplyErr(req, ErrnoOf(s));
    return;
  }
  FuseMetrics::Get().written_bytes.Inc(size);
  fuse_reply_write(req, size);
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyErr(req, ErrnoOf(Fs(req)->Flush(fi->fh)));
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyErr(req, ErrnoOf(Fs(req)->Release(fi->fh)));
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  ReplyErr(req, ErrnoOf(Fs(req)->Fsync(fi->fh)));
}

// A directory handle holds a snapshot of the listing taken at opendir.
struct DirHandle {
  std::vector<ObjectStore::Child> entries;
  InodeId parent = 1;
};

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto attr = Fs(req)->GetAttr(ino);
  if (!attr.ok()) {
    ReplyErr(req, ErrnoOf(attr.status()));
    return;
  }
  if (attr->kind != InodeKind::kDirectory) {
    ReplyErr(req, ENOTDIR);
    return;
  }
  auto* h = new DirHandle;
  std::string after;
  for (;;) {
    auto page = Fs(req)->ReadDir(ino, after, 4096);
    if (!page.ok()) {
      delete h;
      ReplyErr(req, ErrnoOf(page.status()));
      return;
    }
    if (page->empty()) break;
    after = page->back().name;
    for (auto& c : *page) h->entries.push_back(std::move(c));
  }
  fi->fh = reinterpret_cast<uint64_t>(h);
  fuse_reply_open(req, fi);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  std::vector<char> buf(size);
  size_t used = 0;
  // Offsets: 0 ".", 1 "..", 2 + i the i-th entry; each entry's offset is the next one's.
  for (off_t i = off; i < static_cast<off_t>(h->entries.size()) + 2; ++i) {
    struct stat st;
    std::memset(&st, 0, sizeof st);
    const char* name;
    if (i == 0) {
      name = ".";
      st.st_ino = ino;
      st.st_mode = S_IFDIR;
    } else if (i == 1) {
      name = "..";
      st.st_ino = h->parent;
      st.st_mode = S_IFDIR;
    } else {
      const auto& e = h->entries[static_cast<size_t>(i - 2)];
      name = e.name.c_str();
      st.st_ino = e.ino;
      st.st_mode = e.kind == InodeKind::kDirectory ? S_IFDIR
                   : e.kind == InodeKind::kSymlink ? S_IFLNK
                   : e.kind == InodeKind::kFifo    ? S_IFIFO
                                                   : S_IFREG;
    }
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, i + 1);
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  ReplyErr(req, 0);
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  std::memset(&st, 0, sizeof st);
  // Capacity is that of the disk holding the cache and the embedded store.
  if (::statvfs(Fs(req)->cache_dir().c_str(), &st) != 0) {
    ReplyErr(req, errno);
    return;
  }
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  ReplyErr(req, ErrnoOf(Fs(req)->SetXattr(ino, name, std::string(value, size), flags)));
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto r = Fs(req)->GetXattr(ino, name);
  if (!r.ok()) ReplyErr(req, ErrnoOf(r.status()));
  else if (size == 0) fuse_reply_xattr(req, r->size());
  else if (size < r->size()) ReplyErr(req, ERANGE);
  else fuse_reply_buf(req, r->data(), r->size());
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = Fs(req)->ListXattr(ino);
  if (!r.ok()) {
    ReplyErr(req, ErrnoOf(r.status()));
    return;
  }
  std::string all;
  for (const auto& n : *r) all.append(n).push_back('\0');
  if (size == 0) fuse_reply_xattr(req, all.size());
  else if (size < all.size()) ReplyErr(req, ERANGE);
  else fuse_reply_buf(req, all.data(), all.size());
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  ReplyErr(req, ErrnoOf(Fs(req)->RemoveXattr(ino, name)));
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  conn->max_write = 1u << 20;
  // File locks stay in the kernel: they work between processes using this mount (not across
  // mounts or S3), with no lock requests sent to us.
  conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
  auto* h = static_cast<Holder*>(userdata);
  if (h->on_ready && *h->on_ready) (*h->on_ready)();
  if (h->ready_fd >= 0) {
    // The mount is serving: release the parent, and stop writing to its terminal.
    char r = 'R';
    if (::write(h->ready_fd, &r, 1) != 1) {
      // The parent is gone; nothing to tell.
    }
    ::close(h->ready_fd);
    h->ready_fd = -1;
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
    log::Detached();  // stderr is gone: log to the file or to syslog
  }
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  ReplyErr(req, ErrnoOf(Fs(req)->SyncMetadata()));
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = OpInit;
  ops.lookup = S3XFS_COUNTED(lookup, OpLookup);
  ops.getattr = S3XFS_COUNTED(getattr, OpGetattr);
  ops.setattr = S3XFS_COUNTED(setattr, OpSetattr);
  ops.readlink = S3XFS_COUNTED(readlink, OpReadlink);
  ops.mknod = S3XFS_COUNTED(mknod, OpMknod);
  ops.mkdir = S3XFS_COUNTED(mkdir, OpMkdir);
  ops.unlink = S3XFS_COUNTED(unlink, OpUnlink);
  ops.rmdir = S3XFS_COUNTED(rmdir, OpRmdir);
  ops.symlink = S3XFS_COUNTED(symlink, OpSymlink);
  ops.rename = S3XFS_COUNTED(rename, OpRename);
  ops.link = S3XFS_COUNTED(link, OpLink);
  ops.open = S3XFS_COUNTED(open, OpOpen);
  ops.read = S3XFS_COUNTED(read, OpRead);
  ops.write = S3XFS_COUNTED(write, OpWrite);
  ops.flush = S3XFS_COUNTED(flush, OpFlush);
  ops.release = S3XFS_COUNTED(release, OpRelease);
  ops.fsync = S3XFS_COUNTED(fsync, OpFsync);
  ops.opendir = S3XFS_COUNTED(opendir, OpOpendir);
  ops.readdir = S3XFS_COUNTED(readdir, OpReaddir);
  ops.releasedir = S3XFS_COUNTED(releasedir, OpReleasedir);
  ops.fsyncdir = S3XFS_COUNTED(fsyncdir, OpFsyncdir);
  ops.statfs = S3XFS_COUNTED(statfs, OpStatfs);
  ops.setxattr = S3XFS_COUNTED(setxattr, OpSetxattr);
  ops.getxattr = S3XFS_COUNTED(getxattr, OpGetxattr);
  ops.listxattr = S3XFS_COUNTED(listxattr, OpListxattr);
  ops.removexattr = S3XFS_COUNTED(removexattr, OpRemovexattr);
  ops.create = S3XFS_COUNTED(create, OpCreate);
  return ops;
}

// A crashed daemon leaves "Transport endpoint is not connected"; detach it.
void RecoverStaleMount(const std::string& mp) {
  // statfs, not stat: the kernel answers stat from its attribute cache (kTimeout) even when the
  // daemon is gone, but always asks the daemon for statfs.
  struct statvfs sv;
  if (::statvfs(mp.c_str(), &sv) == 0 || errno != ENOTCONN) return;
  if (::umount2(mp.c_str(), MNT_DETACH) == 0) return;
  // Not root: the setuid helper can detach it. No shell: the path is passed as one argument.
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 2);
    ::execlp("fusermount3", "fusermount3", "-uz", mp.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid > 0) {
    int ws;
    ::waitpid(pid, &ws, 0);
  }
}

}  // namespace

class Invalidator final : public KernelCache {
 public:
  explicit Invalidator(fuse_session* se) : se_(se), worker_([this] { Work(); }) {}
  ~Invalidator() override { Stop(); }

  void SetFs(FileSystem* fs) {
    std::lock_guard lock(mu_);
    fs_ = fs;
  }
  // Waits (bounded) until the kernel has dropped its entries, so the change is visible in the
  // mount when the S3 reply goes out. Safe: callers hold no lock a FUSE request could need.
  void KeyChanged(const std::string& bucket, const std::string& key) override {
    std::unique_lock lock(mu_);
    if (stop_) return;
    queue_.emplace_back(bucket, key);
    uint64_t mine = ++queued_;
    cv_.notify_all();
    done_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return stop_ || done_ >= mine; });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
      cv_.notify_all();
      done_cv_.notify_all();
    }
    worker_.join();
  }

 private:
  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      auto [bucket, key] = std::move(queue_.front());
      queue_.pop_front();
      FileSystem* fs = fs_;
      lock.unlock();
      if (fs) Invalidate(fs, bucket, key);
      lock.lock();
      ++done_;
      done_cv_.notify_all();
    }
  }

  // Walks the key's components from the mount root: each entry on the way is dropped from the
  // kernel's dentry cache (positive or negative), and the last inode's attributes and pages.
  void Invalidate(FileSystem* fs, const std::string& bucket, const std::string& key) {
    fuse_ino_t parent = kRootInode;
    std::vector<std::string> names = {bucket};
    size_t pos = 0;
    while (pos < key.size()) {
      size_t slash = key.find('/', pos);
      if (slash == std::string::npos) slash = key.size();
      if (slash > pos) names.push_back(key.substr(pos, slash - pos));
      pos = slash + 1;
    }
    for (const std::string& name : names) {
      fuse_lowlevel_notify_inval_entry(se_, parent, name.c_str(), name.size());
      auto child = fs->Lookup(parent, name);
      if (!child.ok()) return;
      parent = child->ino;
    }
    fuse_lowlevel_notify_inval_inode(se_, parent, 0, 0);
  }

  fuse_session* se_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  uint64_t queued_ = 0;
  uint64_t done_ = 0;
  std::deque<std::pair<std::string, std::string>> queue_;
  FileSystem* fs_ = nullptr;
  bool stop_ = false;
  std::thread worker_;
};

Status ServeFuse(const MountOptions& mo,
                 const std::function<Result<FileSystem*>(KernelCache*)>& open_fs) {
  RecoverStaleMount(mo.mountpoint);
  FuseMetrics::Get();  // every operation's series, at zero, before the first request
  Holder holder;
  holder.on_ready = &mo.on_ready;
  if (!mo.foreground) {
    // Daemonize before mounting: the parent returns only once the child has answered the
    // kernel's INIT (the mount is usable), or with the child's failure.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
    pid_t pid = ::fork();
    if (pid < 0) return Status::FromErrno("fork", errno);
    if (pid > 0) {
      ::close(p[1]);
      char c = 0;
      ssize_t n;
      do n = ::read(p[0], &c, 1); while (n < 0 && errno == EINTR);
      ::close(p[0]);
      if (n == 1 && c == 'R') std::_Exit(0);
      int ws = 0;
      ::waitpid(pid, &ws, 0);
      return Status::IOError("the mount did not come up (see the messages above)");
    }
    ::close(p[0]);
    ::setsid();
    holder.ready_fd = p[1];
  }
  // Canonical before mounting: resolving it afterwards would ask this (not yet serving) mount.
  std::string canonical_mp = mo.mountpoint;
  if (char* rp = ::realpath(mo.mountpoint.c_str(), nullptr)) {
    canonical_mp = rp;
    std::free(rp);
  }
  std::vector<std::string> argv_s = {"s3xfs"};
  std::string opts = "fsname=s3xfs,subtype=s3xfs,default_permissions";
  if (::geteuid() == 0) opts += ",allow_other";
  for (const auto& o : mo.fuse_options) opts += "," + o;
  argv_s.push_back("-o");
  argv_s.push_back(opts);
  if (mo.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_lowlevel_ops ops = MakeOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &holder);
  fuse_opt_free_args(&args);
  if (!se) return Status::InvalidArgument("bad FUSE options: " + opts);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return Status::Internal("cannot install signal handlers");
  }
  if (fuse_session_mount(se, mo.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Status::IOError("cannot mount on " + mo.mountpoint);
  }
  holder.bdi = MountDevice(canonical_mp);
  if (::chdir("/") != 0) {
    // Not fatal: only keeps the daemon from pinning a directory.
  }
  Status st;
  Invalidator invalidator(se);
  auto fs = open_fs(&invalidator);
  if (!fs.ok()) {
    st = fs.status();
  } else {
    holder.fs = *fs;
    invalidator.SetFs(*fs);
    int rc;
    if (mo.single_threaded) {
      rc = fuse_session_loop(se);
    } else {
      fuse_loop_config* cfg = fuse_loop_cfg_create();
      fuse_loop_cfg_set_clone_fd(cfg, 0);
      fuse_loop_cfg_set_max_threads(cfg, 16);
      rc = fuse_session_loop_mt(se, cfg);
      fuse_loop_cfg_destroy(cfg);
    }
    if (rc < 0) st = Status::IOError(std::string("FUSE loop failed: ") + std::strerror(-rc));
    if (mo.on_stopping) mo.on_stopping();
    invalidator.Stop();
    Status flushed = holder.fs->FlushAll();
    if (st.ok() && !flushed.ok()) st = flushed;
  }
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return st;
}

}  // namespace s3xfs
