// The daemons: mount (FUSE + S3), serve (S3 only) and node (the TemporalX gRPC node).
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <optional>

#include "admin_link.h"
#include "commands.h"
#include "common.h"
#include "fuse_adapter.h"
#include "service.h"
#include "observability.h"
#include "s3xfs/base/log.h"
#include "s3xfs/core/filesystem.h"
#include "s3xfs/s3/credentials.h"
#include "s3xfs/s3/server.h"
#include "s3xfs/s3/service.h"
#include "s3xfs/temporalx/node.h"

namespace s3xfs::cli {

namespace {

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
      ("s3-threads", po::value<std::string>(), "S3 I/O threads (default 8)")
      ("gateway", po::value<std::string>()->default_value("signed"),
       "IPFS gateway at /ipfs/CID on the S3 listener: off, signed (requests signed with any "
       "known key) or public (anyone)");
}

bool S3Enabled(const po::variables_map& vm) { return vm["s3-listen"].as<std::string>() != "none"; }

// Loads (or creates, showing the new pair on stderr) the credentials.
Result<s3::KeyStore> LoadKeys(const po::variables_map& vm) {
  std::string path = DaemonKeysPath(vm);
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
  S3XFS_ASSIGN_OR_RETURN(so.gateway, s3::ParseGatewayMode(vm["gateway"].as<std::string>()));
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
  S3XFS_LOG(kInfo) << "S3 listening on http://" << st.server->address();
  if (so.gateway != s3::GatewayMode::kOff) {
    S3XFS_LOG(kInfo) << "IPFS gateway on http://" << st.server->address() << "/ipfs/ ("
                     << s3::GatewayModeName(so.gateway) << ")";
  }
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
  DefineMetricsOptions(d);
  DefineLogOptions(d);
  p.add("mountpoint", 1);
}

Status RunMount(const po::variables_map& vm) {
  S3XFS_RETURN_IF_ERROR(InitLogging(vm));
  std::string data = DataDir(vm);
  std::string cache = vm.count("cache-dir") ? AbsolutePath(vm["cache-dir"].as<std::string>()) : data + "/cache";
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
    S3XFS_RETURN_IF_ERROR(s3::ParseGatewayMode(vm["gateway"].as<std::string>()).status());
    S3XFS_ASSIGN_OR_RETURN(keys, LoadKeys(vm));
  }
  DaemonBlocks blocks;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<FileSystem> fs;
  S3Stack s3stack;
  ServiceNotifier service;  // after store and fs: the watchdog's check uses them
  mo.on_ready = [&] {
    std::string s3 = s3stack.server ? "; S3 on http://" + s3stack.server->address()
                     : S3Enabled(vm)  ? "; S3 listener not started (see the log)"
                                      : "";
    service.Ready("mounted on " + mo.mountpoint + s3,
                  [&] { return fs->GetAttr(kRootInode).status(); });
  };
  mo.on_stopping = [&] { service.Stopping("flushing dirty data and unmounting"); };
  admin::DaemonInfo admin_info = DaemonInfoFor(vm, "mount");  // before the mount changes directory
  std::unique_ptr<DaemonAdmin> admin;
  std::unique_ptr<DaemonMetrics> metrics;  // reads store and fs: destroyed first
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
        S3XFS_LOG(kWarning) << "S3 listener not started: " << started.status().message()
                            << " (give --s3-listen ADDR:PORT or none)";
      } else {
        return started.status();
      }
    }
    S3XFS_ASSIGN_OR_RETURN(metrics, DaemonMetrics::Start(vm, store.get(), fs.get()));
    admin::AdminTargets targets{store.get(), fs.get(), nullptr, nullptr};
    if (s3stack.server) {
      admin_info.s3_listen = s3stack.server->address();
      targets.reload_keys = KeysReloader(s3stack.service.get(), admin_info.keys_file);
    } else {
      admin_info.keys_file.clear();
    }
    admin = DaemonAdmin::Start(admin_info, targets);
    return fs.get();
  });
  admin.reset();
  if (s3stack.server) s3stack.server->Shutdown(std::chrono::seconds(10));
  metrics.reset();
  if (store) ReportQueueAtExit(store.get());
  return st;
}

// Blocks SIGINT, SIGTERM and SIGHUP in this thread (call before any thread starts, so every
// thread inherits the mask) and returns the set for WaitStopSignal.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void WaitStopSignal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  S3XFS_LOG(kInfo) << "signal " << sig << ", shutting down";
}

// ---- serve ----

void DefineServe(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory (ledger.db and blocks/)");
  DefineIpfsOptions(d);
  DefineS3Options(d, "127.0.0.1:9000");
  DefineMetricsOptions(d);
  DefineLogOptions(d);
}

Status RunServe(const po::variables_map& vm) {
  if (!S3Enabled(vm)) return Status::InvalidArgument("serve needs an --s3-listen address");
  S3XFS_RETURN_IF_ERROR(s3::ParseGatewayMode(vm["gateway"].as<std::string>()).status());
  S3XFS_RETURN_IF_ERROR(InitLogging(vm));
  std::string data = DataDir(vm);
  S3XFS_ASSIGN_OR_RETURN(DaemonBlocks blocks, OpenDaemonBlocks(vm, true));
  ObjectStoreOptions so;
  so.ledger_path = data + "/ledger.db";
  so.gc_interval = kDaemonGcInterval;
  so.remote = blocks.remote.get();
  S3XFS_ASSIGN_OR_RETURN(auto store, ObjectStore::Open(so, blocks.view()));
  S3XFS_ASSIGN_OR_RETURN(s3::KeyStore keys, LoadKeys(vm));
  // Block the stop signals before any thread starts, then wait for one.
  const sigset_t set = BlockStopSignals();
  S3XFS_ASSIGN_OR_RETURN(S3Stack s3stack, StartS3(vm, store.get(), std::move(keys), nullptr));
  S3XFS_ASSIGN_OR_RETURN(auto metrics, DaemonMetrics::Start(vm, store.get(), nullptr));
  admin::DaemonInfo admin_info = DaemonInfoFor(vm, "serve");
  admin_info.s3_listen = s3stack.server->address();
  auto admin = DaemonAdmin::Start(
      admin_info, {store.get(), nullptr, KeysReloader(s3stack.service.get(), admin_info.keys_file), nullptr});
  ServiceNotifier service;
  service.Ready("S3 on http://" + s3stack.server->address(),
                [&] { return store->ListBuckets().status(); });
  WaitStopSignal(set);
  service.Stopping("shutting down");
  admin.reset();
  s3stack.server->Shutdown(std::chrono::seconds(10));
  metrics.reset();
  ReportQueueAtExit(store.get());
  return store->SyncLedger();
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
  DefineLogOptions(d);
}

Status RunNode(const po::variables_map& vm) {
  S3XFS_RETURN_IF_ERROR(InitLogging(vm));
  NodeOptions o;
  o.data_dir = vm.count("data-dir") ? vm["data-dir"].as<std::string>() : DefaultDataDir() + "/node";
  o.listen = vm["listen"].as<std::string>();
  if (vm.count("tls-cert")) o.tls_cert_file = vm["tls-cert"].as<std::string>();
  if (vm.count("tls-key")) o.tls_key_file = vm["tls-key"].as<std::string>();
  o.max_receive_message = vm["max-message"].as<size_t>();
  // Block the stop signals before gRPC starts its threads, then wait for one.
  const sigset_t set = BlockStopSignals();
  S3XFS_ASSIGN_OR_RETURN(auto node, TemporalXNode::Start(o));
  S3XFS_LOG(kInfo) << "TemporalX node listening on " << node->address();
  ServiceNotifier service;
  service.Ready("TemporalX node on " + node->address(), nullptr);
  WaitStopSignal(set);
  service.Stopping("shutting down");
  node->Shutdown(std::chrono::seconds(10));
  return Status::OK();
}

}  // namespace

std::vector<Command> DaemonCommands() {
  return {
      {"mount", "mount the buckets as a filesystem (daemonizes unless --foreground)", "MOUNTPOINT",
       DefineMount, RunMount},
      {"serve", "serve the buckets over S3 without a mount (stays in the foreground)", "",
       DefineServe, RunServe},
      {"node", "serve the blocks as a TemporalX-compatible gRPC node", "", DefineNode, RunNode},
  };
}

}  // namespace s3xfs::cli
