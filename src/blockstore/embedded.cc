#include "s3xfs/blockstore/embedded.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "s3xfs/cas/multibase.h"

namespace s3xfs {

namespace {

constexpr char kShardingSpec[] = "/repo/flatfs/shard/v1/next-to-last/2\n";
constexpr size_t kMaxBlockFile = 64u << 20;  // refuse to read absurd files into memory

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Status WriteAll(int fd, ByteView data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("writing " + what, errno);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::OK();
}

class EmbeddedStore final : public BlockStore {
 public:
  EmbeddedStore(std::string dir, int root_fd, EmbeddedOptions opt)
      : dir_(std::move(dir)), root_fd_(root_fd), opt_(opt) {
    for (auto& s : shard_made_) s.store(false, std::memory_order_relaxed);
  }
  ~EmbeddedStore() override { ::close(root_fd_); }

  Status Put(const Cid& cid, ByteView data) override {
    BlockRef ref{cid, data};
    return PutMany(std::span<const BlockRef>(&ref, 1));
  }

  // With sync_each_put, every block of the batch is written first (writeback started at once)
  // and only then waited for, so the disk works on the whole batch instead of one block per
  // round trip; then the renames, then one fsync per shard directory.
  Status PutMany(std::span<const BlockRef> blocks) override {
    struct Pending {
      std::string tmp, final_name;
      std::string shard;
      Fd fd;
    };
    std::vector<Pending> pending;
    pending.reserve(blocks.size());
    std::vector<size_t> new_shards;
    Status st;
    for (const BlockRef& b : blocks) {
      std::string key = Key(b.cid), shard = Shard(key);
      std::string name = shard + "/" + key + ".data";
      struct stat sb;
      if (::fstatat(root_fd_, name.c_str(), &sb, 0) == 0 &&
          static_cast<uint64_t>(sb.st_size) == b.data.size())
        continue;  // already stored (a torn copy of another size gets rewritten)
      st = EnsureShard(shard, &new_shards);
      if (!st.ok()) break;
      std::string tmp = shard + "/.tmp-" + std::to_string(::getpid()) + "-" +
                        std::to_string(tmp_seq_.fetch_add(1, std::memory_order_relaxed));
      auto fd = WriteTemp(tmp, b);
      if (!fd.ok()) {
        st = fd.status();
        break;
      }
      pending.push_back(Pending{std::move(tmp), std::move(name), shard, std::move(*fd)});
    }
    if (st.ok()) st = SyncNewShards(new_shards);
    if (st.ok() && opt_.sync_each_put) {
      for (Pending& p : pending) {
        if (::fdatasync(p.fd.fd) != 0) {
          st = Status::FromErrno("fdatasync " + Path(p.tmp), errno);
          break;
        }
      }
    }
    std::set<std::string> dirs;
    for (Pending& p : pending) {
      if (st.ok() && ::renameat(root_fd_, p.tmp.c_str(), root_fd_, p.final_name.c_str()) != 0)
        st = Status::FromErrno(Path(p.final_name), errno);
      if (!st.ok()) {
        ::unlinkat(root_fd_, p.tmp.c_str(), 0);
        continue;
      }
      dirs.insert(p.shard);
    }
    if (st.ok() && opt_.sync_each_put) {
      for (const std::string& d : dirs) {
        Fd dfd(::openat(root_fd_, d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dfd.fd < 0 || ::fsync(dfd.fd) != 0) return Status::FromErrno("fsync " + Path(d), errno);
      }
    }
    return st;
  }

  Result<Bytes> Get(const Cid& cid) override {
    std::string key = Key(cid);
    std::string name = Shard(key) + "/" + key + ".data";
    Fd fd(::openat(root_fd_, name.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound("block " + cid.ToString() + " not found in " + dir_);
      return Status::FromErrno("reading block " + cid.ToString() + " at " + Path(name), errno);
    }
    struct stat sb;
    if (::fstat(fd.fd, &sb) != 0) return Status::FromErrno(Path(name), errno);
    if (static_cast<uint64_t>(sb.st_size) > kMaxBlockFile)
      return Status::Corruption("block " + cid.ToString() + " at " + Path(name) + " is " +
                                std::to_string(sb.st_size) + " bytes");
    Bytes data(static_cast<size_t>(sb.st_size));
    size_t got = 0;
    while (got < data.size()) {
      ssize_t n = ::pread(fd.fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("reading block " + cid.ToString() + " at " + Path(name), errno);
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    data.resize(got);
    Status v = cid.Verify(data);
    if (!v.ok())
      return v.IsCorruption() ? Status::Corruption(v.message() + " (file " + Path(name) + ")") : v;
    return data;
  }

  Result<bool> Has(const Cid& cid) override {
    auto s = Size(cid);
    if (s.ok()) return true;
    if (s.status().IsNotFound()) return false;
    return s.status();
  }

  Result<uint64_t> Size(const Cid& cid) override {
    std::string key = Key(cid);
    std::string name = Shard(key) + "/" + key + ".data";
    struct stat sb;
    if (::fstatat(root_fd_, name.c_str(), &sb, 0) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound("block " + cid.ToString() + " not found in " + dir_);
      return Status::FromErrno(Path(name), errno);
    }
    return static_cast<uint64_t>(sb.st_size);
  }

  Status Delete(const Cid& cid) override {
    std::string key = Key(cid);
    std::string name = Shard(key) + "/" + key + ".data";
    if (::unlinkat(root_fd_, name.c_str(), 0) != 0 && errno != ENOENT)
      return Status::FromErrno("deleting " + Path(name), errno);
    return Status::OK();
  }

  Status Sync() override {
    if (::syncfs(root_fd_) != 0) return Status::FromErrno("syncfs " + dir_, errno);
    return Status::OK();
  }

  Status ForEach(const std::function<Status(const Cid&)>& fn) override {
    // A new open file description, not dup(): a dup shares root_fd_'s directory offset, so
    // every enumeration after the first would start at the end and see nothing.
    int dfd = ::openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Status::FromErrno(dir_, errno);
    DIR* top = ::fdopendir(dfd);
    if (!top) {
      ::close(dfd);
      return Status::FromErrno(dir_, errno);
    }
    std::vector<std::string> shards;
    while (dirent* e = ::readdir(top))
      if (std::strlen(e->d_name) == 2) shards.emplace_back(e->d_name);
    ::closedir(top);
    for (const std::string& s : shards) {
      int sfd = ::openat(root_fd_, s.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (sfd < 0) continue;
      DIR* d = ::fdopendir(sfd);
      if (!d) {
        ::close(sfd);
        continue;
      }
      std::vector<Cid> cids;
      while (dirent* e = ::readdir(d)) {
        std::string_view n(e->d_name);
        if (n.size() <= 5 || n[0] == '.' || n.substr(n.size() - 5) != ".data") continue;
        Bytes mh;
        if (!Base32Decode(n.substr(0, n.size() - 5), &mh)) continue;
        cids.push_back(Cid::V1(Codec::kRaw, mh));
      }
      ::closedir(d);
      for (const Cid& c : cids) S3XFS_RETURN_IF_ERROR(fn(c));
    }
    return Status::OK();
  }

  std::string Describe() const override { return "embedded:" + dir_; }

 private:
  static std::string Key(const Cid& cid) { return Base32Encode(cid.multihash(), /*upper=*/true); }
  static std::string Shard(const std::string& key) { return key.substr(key.size() - 3, 2); }
  std::string Path(const std::string& rel) const { return dir_ + "/blocks/" + rel; }

  static size_t ShardIndex(const std::string& shard) {
    auto v = [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' : c - '2' + 26; };
    return static_cast<size_t>(v(shard[0]) * 32 + v(shard[1])) % 1024;
  }

  // Creates the shard directory if needed. Its entry in blocks/ is made durable by
  // SyncNewShards, once for all the shards a batch created (a fresh store creates up to 1024).
  Status EnsureShard(const std::string& shard, std::vector<size_t>* new_shards) {
    size_t index = ShardIndex(shard);
    if (shard_made_[index].load(std::memory_order_acquire)) return Status::OK();
    if (::mkdirat(root_fd_, shard.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::FromErrno("creating " + Path(shard), errno);
    new_shards->push_back(index);
    return Status::OK();
  }
  Status SyncNewShards(const std::vector<size_t>& new_shards) {
    if (new_shards.empty()) return Status::OK();
    if (opt_.sync_each_put && ::fsync(root_fd_) != 0)
      return Status::FromErrno("fsync " + dir_ + "/blocks", errno);
    for (size_t i : new_shards) shard_made_[i].store(true, std::memory_order_release);
    return Status::OK();
  }

  // Writes a block to a new temporary file and, when puts are synced, starts its writeback;
  // the caller waits for it (fdatasync) once the whole batch is written.
  Result<Fd> WriteTemp(const std::string& tmp, const BlockRef& b) {
    Fd fd(::openat(root_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.fd < 0) return Status::FromErrno("creating " + Path(tmp), errno);
    Status st = WriteAll(fd.fd, b.data, "block " + b.cid.ToString() + " to " + Path(tmp));
    if (!st.ok()) {
      ::unlinkat(root_fd_, tmp.c_str(), 0);
      return st;
    }
    if (opt_.sync_each_put) ::sync_file_range(fd.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return fd;
  }

  const std::string dir_;
  const int root_fd_;
  const EmbeddedOptions opt_;
  std::atomic<uint64_t> tmp_seq_{0};
  std::array<std::atomic<bool>, 1024> shard_made_;
};

Status MakeDir(const std::string& path, bool create) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) == 0) {
    if (!S_ISDIR(sb.st_mode)) return Status::InvalidArgument(path + " is not a directory");
    return Status::OK();
  }
  if (errno != ENOENT || !create) return Status::FromErrno(path, errno);
  // mkdir -p
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST)
        return Status::FromErrno("creating " + p, errno);
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<BlockStore>> OpenEmbeddedStore(const std::string& dir,
                                                      const EmbeddedOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("empty data directory");
  S3XFS_RETURN_IF_ERROR(MakeDir(dir, options.create_if_missing));
  std::string blocks = dir + "/blocks";
  S3XFS_RETURN_IF_ERROR(MakeDir(blocks, options.create_if_missing));
  int fd = ::open(blocks.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("opening " + blocks, errno);
  // The SHARDING file names the layout; refuse a directory laid out differently.
  std::string spec_path = blocks + "/SHARDING";
  int sfd = ::openat(fd, "SHARDING", O_RDONLY | O_CLOEXEC);
  if (sfd >= 0) {
    char buf[128];
    ssize_t n = ::read(sfd, buf, sizeof buf);
    ::close(sfd);
    if (n < 0 || std::string_view(buf, static_cast<size_t>(n)) != kShardingSpec) {
      ::close(fd);
      return Status::NotSupported(spec_path + " names a block layout other than " +
                                  "next-to-last/2");
    }
  } else {
    std::string tmp = "SHARDING.tmp-" + std::to_string(::getpid());
    int w = ::openat(fd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    Status st = w < 0 ? Status::FromErrno("creating " + spec_path, errno)
                      : WriteAll(w, AsBytes(kShardingSpec), spec_path);
    if (w >= 0) {
      if (st.ok() && ::fsync(w) != 0) st = Status::FromErrno("fsync " + spec_path, errno);
      ::close(w);
    }
    if (st.ok() && ::renameat(fd, tmp.c_str(), fd, "SHARDING") != 0)
      st = Status::FromErrno("creating " + spec_path, errno);
    if (!st.ok()) {
      ::close(fd);
      return st;
    }
  }
  return std::unique_ptr<BlockStore>(new EmbeddedStore(dir, fd, options));
}

}  // namespace s3xfs
