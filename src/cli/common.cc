// Helpers shared by the subcommands (see common.h).
#include "common.h"

#include "commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "s3xfs/base/log.h"
#include "s3xfs/base/parallel.h"
#include "s3xfs/blockstore/embedded.h"
#include "s3xfs/blockstore/metered.h"
#include "s3xfs/kubo/client.h"
#include "s3xfs/temporalx/client.h"

namespace s3xfs::cli {

namespace {
constexpr size_t kReadBuffer = 4u << 20;  // 16 chunks per builder call: room to hash in parallel

}  // namespace

Status WriteFd(int fd, ByteView data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("writing output", errno);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::OK();
}

// Opens FILE or "-" (stdin) for reading.
Result<int> OpenInput(const std::string& path) {
  if (path == "-") return 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot read " + path, errno);
  return fd;
}

// Reads the whole input in pieces, calling fn for each. Regular files are read with one
// pread per thread into one buffer (the copy from the page cache then runs on every core, as
// the hashing that follows does); pipes are read sequentially.
Status ReadAll(int fd, const std::string& name, const std::function<Status(ByteView)>& fn) {
  struct stat sb;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  bool regular = ::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
  if (regular && static_cast<uint64_t>(sb.st_size) < kReadBuffer / 4) {
    // Small files (add -r of many): one buffer of their size, no threads, no 4 MiB zeroing.
    Bytes buf(static_cast<size_t>(sb.st_size) + 1);
    size_t got = 0;
    for (;;) {
      ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("reading " + name, errno);
      if (n == 0) break;
      got += static_cast<size_t>(n);
      if (got == buf.size()) buf.resize(buf.size() * 2);  // the file grew meanwhile
    }
    return got ? fn(ByteView(buf.data(), got)) : Status::OK();
  }
  if (regular && threads > 1) {
    ParallelFor pool(threads);
    Bytes buf(kReadBuffer);
    const size_t slice = kReadBuffer / threads;
    for (uint64_t off = 0;;) {
      std::vector<ssize_t> got(threads, 0);
      std::vector<int> err(threads, 0);
      pool.Run(threads, [&](size_t t) {
        size_t done = 0;
        while (done < slice) {
          ssize_t n = ::pread(fd, buf.data() + t * slice + done, slice - done,
                              static_cast<off_t>(off + t * slice + done));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) err[t] = errno;
          if (n <= 0) break;
          done += static_cast<size_t>(n);
        }
        got[t] = static_cast<ssize_t>(done);
      });
      size_t total = 0;
      for (unsigned t = 0; t < threads; ++t) {
        if (err[t]) return Status::FromErrno("reading " + name, err[t]);
        total += static_cast<size_t>(got[t]);
        if (static_cast<size_t>(got[t]) < slice) break;  // end of file inside this slice
      }
      if (total == 0) return Status::OK();
      S3XFS_RETURN_IF_ERROR(fn(ByteView(buf.data(), total)));
      off += total;
      if (total < kReadBuffer) return Status::OK();
    }
  }
  Bytes buf(kReadBuffer);
  for (;;) {
    // Fill the buffer completely when possible so whole chunks go to the builder uncopied.
    size_t got = 0;
    while (got < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("reading " + name, errno);
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == 0) return Status::OK();
    S3XFS_RETURN_IF_ERROR(fn(ByteView(buf.data(), got)));
  }
}

std::string DataDir(const po::variables_map& vm) {
  return AbsolutePath(vm.count("data-dir") ? vm["data-dir"].as<std::string>() : DefaultDataDir());
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// Writers (bulk: add, import-car) create the data directory; readers require it.
Result<std::unique_ptr<BlockStore>> OpenStore(const po::variables_map& vm, bool bulk) {
  EmbeddedOptions opt;
  opt.sync_each_put = !bulk;  // bulk imports sync once at the end
  opt.create_if_missing = bulk;
  auto s = OpenEmbeddedStore(DataDir(vm), opt);
  if (!s.ok() && !bulk && s.status().code() == Status::Code::kIOError)
    return Status::NotFound("no data directory at " + DataDir(vm) + " (" + s.status().message() + ")");
  return s;
}

// ---- --ipfs: which block store holds the data ----

void DefineIpfsOptions(po::options_description& d) {
  d.add_options()
      ("ipfs", po::value<std::string>()->default_value("embedded"),
       "block store: embedded (DATA_DIR/blocks), a TemporalX node as temporalx://HOST:PORT "
       "(temporalxs:// for TLS), or a Kubo node's RPC API as kubo://HOST:PORT (one recursive "
       "pin per object root)")
      ("ipfs-tls-ca", po::value<std::string>(), "PEM CA certificates for temporalxs:// "
                                                "(default: the system's)");
}

// The remote block store named by --ipfs, or null for the embedded one.
Result<std::unique_ptr<BlockStore>> OpenRemote(const po::variables_map& vm) {
  const std::string& url = vm["ipfs"].as<std::string>();
  if (url == "embedded") return std::unique_ptr<BlockStore>();
  if (url.rfind("temporalx", 0) == 0) {
    S3XFS_ASSIGN_OR_RETURN(TemporalXOptions o, ParseTemporalXUrl(url));
    if (vm.count("ipfs-tls-ca")) o.tls_ca_file = vm["ipfs-tls-ca"].as<std::string>();
    return OpenTemporalXStore(o);
  }
  if (url.rfind("kubo", 0) == 0) {
    S3XFS_ASSIGN_OR_RETURN(KuboOptions o, ParseKuboUrl(url));
    return OpenKuboStore(o);
  }
  return Status::InvalidArgument("--ipfs must be embedded, temporalx://HOST:PORT or kubo://HOST:PORT, not \"" +
                                 url + "\"");
}

// What one-shot commands (add, cat, export-car) read and write: the remote node when --ipfs
// names one (blocks go straight to it; its reference counts, or on Kubo the root pin add makes,
// keep them), else the embedded store.
Result<std::unique_ptr<BlockStore>> OpenCommandStore(const po::variables_map& vm, bool bulk,
                                                     bool* remote) {
  S3XFS_ASSIGN_OR_RETURN(auto r, OpenRemote(vm));
  *remote = r != nullptr;
  if (r) return r;
  return OpenStore(vm, bulk);
}

Result<DaemonBlocks> OpenDaemonBlocks(const po::variables_map& vm, bool create) {
  DaemonBlocks b;
  EmbeddedOptions eo;  // sync_each_put: a committed block is durable
  eo.create_if_missing = create;
  S3XFS_ASSIGN_OR_RETURN(b.local_store, OpenEmbeddedStore(DataDir(vm), eo));
  S3XFS_ASSIGN_OR_RETURN(b.remote_store, OpenRemote(vm));
  b.local = NewMeteredStore(b.local_store.get(), "local");
  if (b.remote_store) {
    b.remote = NewMeteredStore(b.remote_store.get(), "remote");
    b.tiered = std::make_unique<TieredStore>(b.local.get(), b.remote.get());
  }
  return b;
}

// Tells what the upload queue still holds when a daemon stops (it resumes at the next start).
void ReportQueueAtExit(ObjectStore* store) {
  auto rs = store->RemoteState();
  if (rs.ok() && rs->enabled && rs->queue.uploads > 0)
    S3XFS_LOG(kWarning) << rs->queue.uploads << " blocks not yet uploaded to " << rs->remote
                        << "; they are uploaded at the next start";
  if (rs.ok() && rs->enabled && rs->queue.pins + rs->queue.unpins > 0)
    S3XFS_LOG(kWarning) << rs->queue.pins << " roots not yet pinned and " << rs->queue.unpins
                        << " not yet unpinned on " << rs->remote << "; done at the next start";
}

// Parses a non-negative decimal option (Boost would wrap "-1" into 2^64-1 for unsigned types).
Result<uint64_t> ParseCount(const po::variables_map& vm, const char* name, uint64_t dflt) {
  if (!vm.count(name)) return dflt;
  const std::string& s = vm[name].as<std::string>();
  uint64_t v = 0;
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("--" + std::string(name) + " must be a non-negative integer, not \"" + s + "\"");
  for (char c : s) {
    if (v > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10)
      return Status::InvalidArgument("--" + std::string(name) + " is too large");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Records an imported DAG in the data directory's ledger so GC and fsck keep its blocks.
Status PinInLedger(const po::variables_map& vm, BlockStore* blocks, const Cid& root,
                   const std::vector<BlockUse>& uses) {
  ObjectStoreOptions opt;
  opt.ledger_path = DataDir(vm) + "/ledger.db";
  S3XFS_ASSIGN_OR_RETURN(auto store, ObjectStore::Open(opt, blocks));
  return store->Pin(root, uses);
}

Result<Cid> ParseCidArg(const po::variables_map& vm) {
  return Cid::Parse(vm["cid"].as<std::string>());
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace s3xfs::cli
