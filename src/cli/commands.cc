#include "commands.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <cstdlib>
#include <iostream>

#include "s3xfs/base/parallel.h"
#include "s3xfs/blockstore/batch.h"
#include "s3xfs/blockstore/embedded.h"
#include "s3xfs/blockstore/tiered.h"
#include "s3xfs/temporalx/client.h"
#include "s3xfs/core/filesystem.h"
#include "s3xfs/core/object_store.h"
#include "fuse_adapter.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/s3/credentials.h"
#include "s3xfs/s3/server.h"
#include "s3xfs/s3/service.h"
#include "s3xfs/temporalx/node.h"
#include <csignal>

namespace po = boost::program_options;

namespace s3xfs::cli {

namespace {

constexpr size_t kReadBuffer = 4u << 20;  // 16 chunks per builder call: room to hash in parallel

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
  if (::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && threads > 1) {
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
  return vm.count("data-dir") ? vm["data-dir"].as<std::string>() : DefaultDataDir();
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
       "block store: embedded (DATA_DIR/blocks), or a TemporalX node as temporalx://HOST:PORT "
       "(temporalxs:// for TLS)")
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
  return Status::InvalidArgument("--ipfs must be embedded or temporalx://HOST:PORT, not \"" + url + "\"");
}

// What one-shot commands (add, cat, export-car) read and write: the remote node when --ipfs
// names one (blocks go straight to it; its reference counts keep them), else the embedded store.
Result<std::unique_ptr<BlockStore>> OpenCommandStore(const po::variables_map& vm, bool bulk,
                                                     bool* remote) {
  S3XFS_ASSIGN_OR_RETURN(auto r, OpenRemote(vm));
  *remote = r != nullptr;
  if (r) return r;
  return OpenStore(vm, bulk);
}

// The daemons' block stores: the embedded store, and with a remote node a TieredStore over
// both (the embedded store is then the write-back copy the upload queue drains).
struct DaemonBlocks {
  std::unique_ptr<BlockStore> local, remote, tiered;
  BlockStore* view() const { return tiered ? tiered.get() : local.get(); }
};

Result<DaemonBlocks> OpenDaemonBlocks(const po::variables_map& vm, bool create) {
  DaemonBlocks b;
  EmbeddedOptions eo;  // sync_each_put: a committed block is durable
  eo.create_if_missing = create;
  S3XFS_ASSIGN_OR_RETURN(b.local, OpenEmbeddedStore(DataDir(vm), eo));
  S3XFS_ASSIGN_OR_RETURN(b.remote, OpenRemote(vm));
  if (b.remote) b.tiered = std::make_unique<TieredStore>(b.local.get(), b.remote.get());
  return b;
}

// Tells what the upload queue still holds when a daemon stops (it resumes at the next start).
void ReportQueueAtExit(ObjectStore* store) {
  auto rs = store->RemoteState();
  if (rs.ok() && rs->enabled && rs->queue.uploads > 0)
    std::cerr << "s3xfs: " << rs->queue.uploads << " blocks not yet uploaded to " << rs->remote
              << "; they are uploaded at the next start\n";
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

// ---- add ----

void DefineAdd(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("cid-version", po::value<int>()->default_value(1),
       "1: CIDv1, raw leaves (= ipfs add --cid-version=1); 0: CIDv0 (= plain ipfs add)")
      ("only-hash,n", po::bool_switch(), "compute the CID without storing blocks")
      ("data-dir", po::value<std::string>(), "data directory (block store under DIR/blocks)")
      ("file", po::value<std::string>()->required(), "file to add, or - for stdin");
  DefineIpfsOptions(d);
  p.add("file", 1);
}

Status RunAdd(const po::variables_map& vm) {
  int version = vm["cid-version"].as<int>();
  if (version != 0 && version != 1) return Status::InvalidArgument("--cid-version must be 0 or 1");
  DagOptions opt = version == 1 ? DagOptions::KuboV1() : DagOptions::KuboV0();
  opt.hash_threads = std::max(1u, std::thread::hardware_concurrency());
  bool only_hash = vm["only-hash"].as<bool>();
  const std::string& path = vm["file"].as<std::string>();

  std::unique_ptr<BlockStore> store;
  bool remote = false;
  if (!only_hash) {
    S3XFS_ASSIGN_OR_RETURN(store, OpenCommandStore(vm, /*bulk=*/true, &remote));
  }
  S3XFS_ASSIGN_OR_RETURN(int fd, OpenInput(path));
  // Blocks are copied into a batch and written with one PutMany per ~4 MiB.
  std::unique_ptr<BlockBatch> batch;
  std::vector<BlockUse> uses;
  DagBuilder::BlockSink sink;
  if (store) {
    batch = std::make_unique<BlockBatch>(store.get());
    sink = [&](const Cid& cid, ByteView data, bool) -> Status {
      uses.push_back(BlockUse{cid, data.size()});
      return batch->Add(cid, data);
    };
  }
  DagBuilder builder(opt, sink);
  Status st = ReadAll(fd, path, [&](ByteView piece) { return builder.Write(piece); });
  if (fd != 0) ::close(fd);
  S3XFS_RETURN_IF_ERROR(st);
  S3XFS_ASSIGN_OR_RETURN(DagRoot root, builder.Finish());
  if (store) {
    S3XFS_RETURN_IF_ERROR(batch->Flush());
    S3XFS_RETURN_IF_ERROR(store->Sync());
    if (!remote) S3XFS_RETURN_IF_ERROR(PinInLedger(vm, store.get(), root.cid, uses));
  }
  std::string line = root.cid.ToString() + "\n";
  return WriteFd(1, AsBytes(line));
}

// ---- cat ----

void DefineCat(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("offset", po::value<std::string>(), "first byte to write (default 0)")
      ("length", po::value<std::string>(), "number of bytes to write (default: to the end)")
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(), "root CID of the file");
  DefineIpfsOptions(d);
  p.add("cid", 1);
}

Status RunCat(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  S3XFS_ASSIGN_OR_RETURN(uint64_t offset, ParseCount(vm, "offset", 0));
  S3XFS_ASSIGN_OR_RETURN(uint64_t length, ParseCount(vm, "length", UINT64_MAX));
  bool remote = false;
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenCommandStore(vm, false, &remote));
  DagReader reader(store.get());
  return reader.Read(cid, offset, length, [](ByteView b) { return WriteFd(1, b); });
}

// ---- export-car / import-car ----

void DefineExportCar(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(), "root CID of the DAG");
  DefineIpfsOptions(d);
  p.add("cid", 1);
}

Status RunExportCar(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  bool remote = false;
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenCommandStore(vm, false, &remote));
  if (::isatty(1)) return Status::InvalidArgument("refusing to write a CAR to a terminal; redirect stdout");
  return ExportCar(store.get(), std::span<const Cid>(&cid, 1),
                   [](ByteView b) { return WriteFd(1, b); });
}

void DefineImportCar(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("file", po::value<std::string>()->required(), "CAR file, or - for stdin");
  p.add("file", 1);
}

Status RunImportCar(const po::variables_map& vm) {
  const std::string& path = vm["file"].as<std::string>();
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenStore(vm, /*bulk=*/true));
  S3XFS_ASSIGN_OR_RETURN(int fd, OpenInput(path));
  CarReader reader([fd, &path](uint8_t* buf, size_t n) -> Result<size_t> {
    for (;;) {
      ssize_t r = ::read(fd, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Status::FromErrno("reading " + path, errno);
    }
  });
  auto run = [&]() -> Result<std::vector<Cid>> {
    S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> roots, reader.ReadHeader());
    BlockBatch batch(store.get());
    std::vector<BlockUse> uses;
    for (;;) {
      auto next = reader.Next();  // verified against its CID
      if (!next.ok())
        return Status(Status::Corruption(path + ": " + next.status().message()));
      if (!next->has_value()) break;
      uses.push_back(BlockUse{(*next)->cid, (*next)->data.size()});
      S3XFS_RETURN_IF_ERROR(batch.Add(std::move(**next)));
    }
    S3XFS_RETURN_IF_ERROR(batch.Flush());
    S3XFS_RETURN_IF_ERROR(store->Sync());
    // One pin for the whole CAR, under its first root.
    if (!roots.empty()) S3XFS_RETURN_IF_ERROR(PinInLedger(vm, store.get(), roots[0], uses));
    return roots;
  };
  auto roots = run();
  if (fd != 0) ::close(fd);
  if (!roots.ok()) return roots.status();
  std::string out;
  for (const Cid& r : *roots) {
    auto has = store->Has(r);
    if (has.ok() && !*has)
      std::cerr << "s3xfs import-car: warning: root " << r.ToString() << " is not in the CAR\n";
    out += r.ToString() + "\n";
  }
  return WriteFd(1, AsBytes(out));
}

// ---- fsck ----

void DefineFsck(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory (ledger.db and blocks/)")
      ("repair", po::bool_switch(), "fix reference counts, forget absent unreferenced blocks, "
                                    "delete orphan blocks (never referenced data)");
}

Status RunFsck(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(auto blocks, OpenStore(vm, false));
  ObjectStoreOptions opt;
  opt.ledger_path = DataDir(vm) + "/ledger.db";
  S3XFS_ASSIGN_OR_RETURN(auto store, ObjectStore::Open(opt, blocks.get()));
  bool repair = vm["repair"].as<bool>();
  S3XFS_ASSIGN_OR_RETURN(FsckReport rep, store->Fsck(repair));
  std::string out;
  auto section = [&](const char* title, const std::vector<std::string>& items) {
    for (const std::string& i : items) out += std::string(title) + ": " + i + "\n";
  };
  section("missing block", rep.missing_blocks);
  section("wrong reference count", rep.wrong_refcounts);
  section("orphan block", rep.orphan_blocks);
  section("problem", rep.other);
  if (repair) out += "repaired: " + std::to_string(rep.repaired) + "\n";
  out += rep.clean() ? "clean\n" : "NOT clean\n";
  S3XFS_RETURN_IF_ERROR(WriteFd(1, AsBytes(out)));
  if (!rep.clean())
    return Status::Corruption(std::to_string(rep.missing_blocks.size() + rep.wrong_refcounts.size() +
                                             rep.orphan_blocks.size() + rep.other.size()) +
                              " problem(s) found");
  return Status::OK();
}

// Daemons (mount, serve) collect garbage this often; blocks go no earlier than the grace period
// after their last reference.
constexpr std::chrono::milliseconds kDaemonGcInterval = std::chrono::minutes(1);

// ---- S3 listener (serve, and mount unless --s3-listen none) ----

void DefineS3Options(po::options_description& d, const char* default_listen) {
  d.add_options()
      ("s3-listen", po::value<std::string>()->default_value(default_listen),
       "S3 listener address ADDR:PORT, or none")
      ("s3-keys", po::value<std::string>(), "credentials file (default DATA_DIR/s3-keys; "
                                            "generated with one key pair if missing)")
      ("s3-region", po::value<std::string>()->default_value("us-east-1"), "S3 region")
      ("s3-domain", po::value<std::string>()->default_value(""),
       "domain for virtual-host style requests (BUCKET.DOMAIN); path style always works")
      ("s3-threads", po::value<std::string>(), "S3 I/O threads (default 8)");
}

bool S3Enabled(const po::variables_map& vm) { return vm["s3-listen"].as<std::string>() != "none"; }

// Loads (or creates, showing the new pair on stderr) the credentials.
Result<s3::KeyStore> LoadKeys(const po::variables_map& vm) {
  std::string path = vm.count("s3-keys") ? vm["s3-keys"].as<std::string>() : DataDir(vm) + "/s3-keys";
  std::string generated;
  S3XFS_ASSIGN_OR_RETURN(s3::KeyStore keys, s3::KeyStore::LoadOrCreate(path, &generated));
  if (!generated.empty()) std::cerr << "s3xfs: " << generated << "\n";
  return keys;
}

struct S3Stack {
  std::unique_ptr<s3::KeyStore> keys;
  std::unique_ptr<s3::S3Service> service;
  std::unique_ptr<s3::S3Server> server;
};

Result<S3Stack> StartS3(const po::variables_map& vm, ObjectStore* store, s3::KeyStore keys,
                        KernelCache* kernel_cache) {
  S3Stack st;
  st.keys = std::make_unique<s3::KeyStore>(std::move(keys));
  s3::S3ServiceOptions so;
  so.region = vm["s3-region"].as<std::string>();
  so.domain = vm["s3-domain"].as<std::string>();
  st.service = std::make_unique<s3::S3Service>(store, st.keys.get(), so);
  if (kernel_cache) {
    st.service->SetChangeHook([kernel_cache](const std::string& b, const std::string& k) {
      kernel_cache->KeyChanged(b, k);
    });
  }
  s3::S3ServerOptions opts;
  opts.listen = vm["s3-listen"].as<std::string>();
  S3XFS_ASSIGN_OR_RETURN(uint64_t threads, ParseCount(vm, "s3-threads", 8));
  opts.threads = static_cast<int>(std::clamp<uint64_t>(threads, 1, 256));
  // Each connection is a descriptor: lift the soft limit (often 1024) to the hard one, as
  // servers do, so max_connections can be reached instead of accept() failing with EMFILE.
  if (struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  S3XFS_ASSIGN_OR_RETURN(st.server, s3::S3Server::Start(st.service.get(), opts));
  std::cerr << "s3xfs: S3 listening on http://" << st.server->address() << "\n";
  return st;
}

// ---- mount ----

void DefineMount(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory (ledger.db and blocks/)")
      ("cache-dir", po::value<std::string>(), "write-back cache directory (default DATA_DIR/cache)")
      ("cache-size", po::value<std::string>(), "dirty bytes per file before it is flushed (default 268435456)")
      ("foreground,f", po::bool_switch(), "stay attached to the terminal")
      ("single-threaded,s", po::bool_switch(), "serve requests on one thread (debugging)")
      ("debug,d", po::bool_switch(), "print every FUSE request")
      ("option,o", po::value<std::vector<std::string>>()->composing(), "FUSE mount options")
      ("mountpoint", po::value<std::string>()->required(), "where to mount");
  DefineIpfsOptions(d);
  DefineS3Options(d, "127.0.0.1:9000");
  p.add("mountpoint", 1);
}

Status RunMount(const po::variables_map& vm) {
  std::string data = DataDir(vm);
  std::string cache = vm.count("cache-dir") ? vm["cache-dir"].as<std::string>() : data + "/cache";
  S3XFS_ASSIGN_OR_RETURN(uint64_t dirty_limit, ParseCount(vm, "cache-size", 256u << 20));
  MountOptions mo;
  mo.mountpoint = vm["mountpoint"].as<std::string>();
  mo.foreground = vm["foreground"].as<bool>();
  mo.single_threaded = vm["single-threaded"].as<bool>();
  mo.debug = vm["debug"].as<bool>();
  if (vm.count("option")) {
    for (const std::string& o : vm["option"].as<std::vector<std::string>>()) mo.fuse_options.push_back(o);
  }
  // Check that the data directory and --ipfs open before mounting, so errors reach the
  // terminal. (An unreachable node is not an error: writes queue until it is back.)
  {
    S3XFS_ASSIGN_OR_RETURN(DaemonBlocks probe, OpenDaemonBlocks(vm, true));
    ObjectStoreOptions so;
    so.ledger_path = data + "/ledger.db";
    S3XFS_RETURN_IF_ERROR(ObjectStore::Open(so, probe.view()).status());
  }
  // Credentials are loaded (or generated and shown) before daemonizing.
  std::optional<s3::KeyStore> keys;
  if (S3Enabled(vm)) {
    S3XFS_ASSIGN_OR_RETURN(keys, LoadKeys(vm));
  }
  DaemonBlocks blocks;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<FileSystem> fs;
  S3Stack s3stack;
  Status st = ServeFuse(mo, [&](KernelCache* kernel_cache) -> Result<FileSystem*> {
    S3XFS_ASSIGN_OR_RETURN(blocks, OpenDaemonBlocks(vm, false));
    ObjectStoreOptions so;
    so.ledger_path = data + "/ledger.db";
    so.gc_interval = kDaemonGcInterval;
    so.remote = blocks.remote.get();
    S3XFS_ASSIGN_OR_RETURN(store, ObjectStore::Open(so, blocks.view()));
    FsOptions fo;
    fo.cache_dir = cache;
    fo.dirty_limit = dirty_limit;
    S3XFS_ASSIGN_OR_RETURN(fs, FileSystem::Create(store.get(), fo));
    if (keys) {
      auto started = StartS3(vm, store.get(), std::move(*keys), kernel_cache);
      if (started.ok()) {
        s3stack = std::move(*started);
      } else if (vm["s3-listen"].defaulted()) {
        // Only the default address: a second mount on the machine still mounts.
        std::cerr << "s3xfs: S3 listener not started: " << started.status().message()
                  << " (give --s3-listen ADDR:PORT or none)\n";
      } else {
        return started.status();
      }
    }
    return fs.get();
  });
  if (s3stack.server) s3stack.server->Shutdown(std::chrono::seconds(10));
  if (store) ReportQueueAtExit(store.get());
  return st;
}

// ---- serve ----

void DefineServe(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory (ledger.db and blocks/)");
  DefineIpfsOptions(d);
  DefineS3Options(d, "127.0.0.1:9000");
}

Status RunServe(const po::variables_map& vm) {
  if (!S3Enabled(vm)) return Status::InvalidArgument("serve needs an --s3-listen address");
  std::string data = DataDir(vm);
  S3XFS_ASSIGN_OR_RETURN(DaemonBlocks blocks, OpenDaemonBlocks(vm, true));
  ObjectStoreOptions so;
  so.ledger_path = data + "/ledger.db";
  so.gc_interval = kDaemonGcInterval;
  so.remote = blocks.remote.get();
  S3XFS_ASSIGN_OR_RETURN(auto store, ObjectStore::Open(so, blocks.view()));
  S3XFS_ASSIGN_OR_RETURN(s3::KeyStore keys, LoadKeys(vm));
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  S3XFS_ASSIGN_OR_RETURN(S3Stack s3stack, StartS3(vm, store.get(), std::move(keys), nullptr));
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "s3xfs: signal " << sig << ", shutting down\n";
  s3stack.server->Shutdown(std::chrono::seconds(10));
  ReportQueueAtExit(store.get());
  return store->SyncLedger();
}

// ---- status ----

void DefineStatus(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("json", po::bool_switch(), "print one JSON object");
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

// What the data directory's ledger says; works while a daemon runs on it.
Status RunStatus(const po::variables_map& vm) {
  std::string data = DataDir(vm);
  std::string ledger = data + "/ledger.db";
  if (::access(ledger.c_str(), F_OK) != 0) return Status::NotFound("no ledger at " + ledger);
  S3XFS_ASSIGN_OR_RETURN(RemoteStatus rs, ReadRemoteQueue(ledger));
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t age_s = rs.queue.oldest_upload_ns ? (now - rs.queue.oldest_upload_ns) / 1'000'000'000 : 0;
  std::string out;
  if (vm["json"].as<bool>()) {
    out = "{\"data_dir\":" + JsonString(data) + ",\"remote\":" +
          (rs.enabled ? JsonString(rs.remote) : std::string("null")) +
          ",\"pending_uploads\":" + std::to_string(rs.queue.uploads) +
          ",\"pending_upload_bytes\":" + std::to_string(rs.queue.upload_bytes) +
          ",\"oldest_pending_upload_age_s\":" + std::to_string(age_s) +
          ",\"pending_remote_deletes\":" + std::to_string(rs.queue.deletes) + "}\n";
  } else {
    out = "data directory:         " + data + "\n";
    out += "remote block store:     " + (rs.enabled ? rs.remote : std::string("none (embedded only)")) + "\n";
    out += "pending uploads:        " + std::to_string(rs.queue.uploads) + " blocks, " +
           std::to_string(rs.queue.upload_bytes) + " bytes";
    if (rs.queue.uploads) out += ", oldest queued " + std::to_string(age_s) + " s ago";
    out += "\npending remote deletes: " + std::to_string(rs.queue.deletes) + "\n";
  }
  return WriteFd(1, AsBytes(out));
}

// ---- node ----

void DefineNode(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(),
       "node directory (blocks/ and refcounts.db); default: the data directory's node/")
      ("listen", po::value<std::string>()->default_value("127.0.0.1:9090"),
       "gRPC address HOST:PORT (port 0: any free port)")
      ("tls-cert", po::value<std::string>(), "PEM certificate chain; with --tls-key: serve TLS")
      ("tls-key", po::value<std::string>(), "PEM private key of --tls-cert")
      ("max-message", po::value<size_t>()->default_value(4u << 20),
       "largest gRPC message accepted, bytes (TemporalX's default: 4 MiB)");
}

Status RunNode(const po::variables_map& vm) {
  NodeOptions o;
  o.data_dir = vm.count("data-dir") ? vm["data-dir"].as<std::string>() : DefaultDataDir() + "/node";
  o.listen = vm["listen"].as<std::string>();
  if (vm.count("tls-cert")) o.tls_cert_file = vm["tls-cert"].as<std::string>();
  if (vm.count("tls-key")) o.tls_key_file = vm["tls-key"].as<std::string>();
  o.max_receive_message = vm["max-message"].as<size_t>();
  // Block the stop signals before gRPC starts its threads, then wait for one.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  S3XFS_ASSIGN_OR_RETURN(auto node, TemporalXNode::Start(o));
  std::cerr << "s3xfs: TemporalX node listening on " << node->address() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "s3xfs: signal " << sig << ", shutting down\n";
  node->Shutdown(std::chrono::seconds(10));
  return Status::OK();
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> cmds = {
      {"add", "import a file as a UnixFS DAG and print its root CID", "FILE|-", DefineAdd, RunAdd},
      {"cat", "write the bytes of a file DAG", "CID", DefineCat, RunCat},
      {"export-car", "write a CARv1 of the DAG under CID to stdout", "CID", DefineExportCar,
       RunExportCar},
      {"import-car", "import a CARv1 file and print its root CIDs", "FILE|-", DefineImportCar,
       RunImportCar},
      {"fsck", "check the ledger against the block store", "", DefineFsck, RunFsck},
      {"mount", "mount the buckets as a filesystem (daemonizes unless --foreground)", "MOUNTPOINT",
       DefineMount, RunMount},
      {"serve", "serve the buckets over S3 without a mount (stays in the foreground)", "",
       DefineServe, RunServe},
      {"node", "serve the blocks as a TemporalX-compatible gRPC node", "", DefineNode, RunNode},
      {"status", "show the upload queue of a data directory (works while a daemon runs)", "",
       DefineStatus, RunStatus},
  };
  return cmds;
}

int RunCommand(const Command& c, const std::vector<std::string>& args) {
  po::options_description desc(std::string("s3xfs ") + c.name + " [options] " +
                               c.positional_usage + "\n" + c.summary + "\n\noptions");
  desc.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  c.define(desc, pos);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "s3xfs " << c.name << ": " << e.what() << "\n"
              << "usage: s3xfs " << c.name << " [options] " << c.positional_usage
              << " (see --help)\n";
    return 2;
  }
  Status st = c.run(vm);
  if (!st.ok()) {
    std::cerr << "s3xfs " << c.name << ": " << st.message() << "\n";
    return st.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

std::string DefaultDataDir() {
  if (const char* d = std::getenv("S3XFS_DATA_DIR"); d && *d) return d;
  if (::geteuid() == 0) return "/var/lib/s3xfs";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/s3xfs";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/s3xfs";
  return ".s3xfs";
}

}  // namespace s3xfs::cli
