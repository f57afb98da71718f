#include "observability.h"

#include <chrono>

#include "s3xfs/base/log.h"

namespace s3xfs::cli {

namespace {

// The ledger scan behind the stored-blocks series costs ~0.2 s of CPU per million blocks: it
// runs again only when the last count is older than 100 times what that count took (at least
// 1 s), so it never uses more than 1% of a core whatever the scrape interval.
constexpr int64_t kStoredBlocksCostFactor = 100;
constexpr int64_t kStoredBlocksMinNs = 1'000'000'000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void DefineLogOptions(po::options_description& d) {
  d.add_options()
      ("log-level", po::value<std::string>()->default_value("info"),
       "log level: trace, debug, info, warning or error")
      ("log-file", po::value<std::string>(),
       "append log lines to FILE (default: stderr; a mount that daemonizes logs to syslog)");
}

Status InitLogging(const po::variables_map& vm) {
  log::Options o;
  S3XFS_ASSIGN_OR_RETURN(o.level, log::ParseLevel(vm["log-level"].as<std::string>()));
  if (vm.count("log-file")) o.file = vm["log-file"].as<std::string>();
  return log::Init(o);
}

void DefineMetricsOptions(po::options_description& d) {
  d.add_options()
      ("metrics-listen", po::value<std::string>()->default_value("none"),
       "serve Prometheus metrics at http://ADDR:PORT/metrics (port 0: any free port), or none");
}

Result<std::unique_ptr<DaemonMetrics>> DaemonMetrics::Start(const po::variables_map& vm,
                                                            ObjectStore* store, FileSystem* fs) {
  const std::string& listen = vm["metrics-listen"].as<std::string>();
  if (listen == "none") return std::unique_ptr<DaemonMetrics>();
  std::unique_ptr<DaemonMetrics> m(new DaemonMetrics);
  m->Register(store, fs);
  S3XFS_ASSIGN_OR_RETURN(m->server_, s3::MetricsServer::Start(listen, &metrics::Global()));
  S3XFS_LOG(kInfo) << "metrics listening on http://" << m->server_->address() << "/metrics";
  return m;
}

DaemonMetrics::~DaemonMetrics() {
  if (server_) server_->Shutdown();
  registrations_.clear();  // waits for a scrape in progress
}

void DaemonMetrics::Register(ObjectStore* store, FileSystem* fs) {
  metrics::Registry& r = metrics::Global();
  auto add = [&](metrics::Registration reg) { registrations_.push_back(std::move(reg)); };
  auto gauge = [&](const char* name, const char* help, std::function<double()> fn) {
    add(r.Bind(r.Gauges(name, help), {}, std::move(fn)));
  };
  auto counter = [&](const char* name, const char* help, std::function<double()> fn) {
    add(r.Bind(r.Counters(name, help), {}, std::move(fn)));
  };

  add(r.Bind(r.Gauges("s3xfs_build_info", "The running s3xfs version (always 1).", {"version"}),
             {S3XFS_VERSION}, [] { return 1.0; }));
  const double start = static_cast<double>(NowNs()) / 1e9;
  gauge("s3xfs_start_time_seconds", "When the daemon started (Unix time).",
        [start] { return start; });

  if (fs) {
    gauge("s3xfs_cache_dirty_bytes",
          "Bytes written through the mount and not yet flushed (dirty chunks in the write-back "
          "cache).",
          [fs] { return static_cast<double>(fs->DirtyBytes()); });
  }

  // Stored blocks: counted in the ledger, no more often than its cost allows.
  add(r.OnCollect([this, store] {
    int64_t now = NowNs();
    if (stored_at_ns_ != 0 &&
        now - stored_at_ns_ < std::max(kStoredBlocksMinNs, kStoredBlocksCostFactor * stored_cost_ns_))
      return;
    auto s = store->CountStoredBlocks();
    if (!s.ok()) {
      S3XFS_LOG(kWarning) << "metrics: counting stored blocks: " << s.status().message();
      return;
    }
    stored_ = *s;
    stored_at_ns_ = NowNs();
    stored_cost_ns_ = stored_at_ns_ - now;
  }));
  gauge("s3xfs_local_store_blocks",
        "Blocks in the local block store (as the ledger counts them; recounted at most every "
        "second, less often for large ledgers).",
        [this] { return static_cast<double>(stored_.blocks); });
  gauge("s3xfs_local_store_bytes",
        "Bytes of the blocks in the local block store (recounted like s3xfs_local_store_blocks).",
        [this] { return static_cast<double>(stored_.bytes); });

  // The upload queue and the remote's health: one RemoteState() per scrape.
  auto initial = store->RemoteState();
  if (!initial.ok() || !initial->enabled) return;
  remote_ = *initial;
  add(r.OnCollect([this, store] {
    auto s = store->RemoteState();
    if (s.ok()) {
      remote_ = *s;
    } else {
      remote_.healthy = false;
      S3XFS_LOG(kWarning) << "metrics: reading the upload queue: " << s.status().message();
    }
  }));
  gauge("s3xfs_remote_up", "Whether the remote block store answered its last call (1) or not (0).",
        [this] { return remote_.healthy ? 1.0 : 0.0; });
  gauge("s3xfs_upload_queue_blocks", "Blocks waiting to be uploaded to the remote block store.",
        [this] { return static_cast<double>(remote_.queue.uploads); });
  gauge("s3xfs_upload_queue_bytes", "Bytes waiting to be uploaded to the remote block store.",
        [this] { return static_cast<double>(remote_.queue.upload_bytes); });
  gauge("s3xfs_upload_queue_oldest_age_seconds",
        "Age of the oldest block waiting to be uploaded (0 when the queue is empty).", [this] {
          int64_t oldest = remote_.queue.oldest_upload_ns;
          return oldest == 0 ? 0.0 : std::max(0.0, static_cast<double>(NowNs() - oldest) / 1e9);
        });
  gauge("s3xfs_remote_delete_queue_blocks",
        "Blocks whose reference on the remote block store is still to be dropped.",
        [this] { return static_cast<double>(remote_.queue.deletes); });
  gauge("s3xfs_remote_pin_queue_roots",
        "Object roots waiting to be pinned on a remote that pins roots (Kubo).",
        [this] { return static_cast<double>(remote_.queue.pins); });
  gauge("s3xfs_remote_unpin_queue_roots",
        "Roots no object uses any more, waiting to be unpinned on a remote that pins roots.",
        [this] { return static_cast<double>(remote_.queue.unpins); });
  counter("s3xfs_remote_uploaded_blocks_total",
          "Blocks uploaded to the remote block store since the daemon started.",
          [this] { return static_cast<double>(remote_.uploaded_blocks); });
  counter("s3xfs_remote_uploaded_bytes_total",
          "Bytes uploaded to the remote block store since the daemon started.",
          [this] { return static_cast<double>(remote_.uploaded_bytes); });
  counter("s3xfs_remote_deleted_blocks_total",
          "Block references dropped on the remote block store since the daemon started.",
          [this] { return static_cast<double>(remote_.deleted_blocks); });
  gauge("s3xfs_remote_last_upload_timestamp_seconds",
        "When the last upload to the remote block store finished (Unix time; 0: none yet).",
        [this] { return static_cast<double>(remote_.last_upload_ns) / 1e9; });
}

}  // namespace s3xfs::cli
