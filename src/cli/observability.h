// Logging and metrics of the daemons: --log-level and --log-file (mount, serve, node),
// --metrics-listen (mount, serve), and the series a running daemon's core answers at scrape
// time (upload queue, remote health, stored blocks, dirty bytes).
#pragma once

#include <memory>

#include <boost/program_options.hpp>

#include "s3xfs/base/metrics.h"
#include "s3xfs/base/status.h"
#include "s3xfs/core/filesystem.h"
#include "s3xfs/core/object_store.h"
#include "s3xfs/s3/metrics_server.h"

namespace s3xfs::cli {

namespace po = boost::program_options;

// --log-level, --log-file.
void DefineLogOptions(po::options_description& d);
// Configures logging from them (stderr unless --log-file). Call before anything logs.
Status InitLogging(const po::variables_map& vm);

// --metrics-listen.
void DefineMetricsOptions(po::options_description& d);

// The metrics listener of a daemon and the scrape-time series it reads from the daemon's core.
// Destroy it before the store and file system it reads.
class DaemonMetrics {
 public:
  // Registers the series and starts the listener; null when --metrics-listen is none. `fs`
  // may be null (serve). Both must outlive the result.
  static Result<std::unique_ptr<DaemonMetrics>> Start(const po::variables_map& vm,
                                                      ObjectStore* store, FileSystem* fs);
  ~DaemonMetrics();  // stops the listener, then removes the callbacks

 private:
  DaemonMetrics() = default;
  void Register(ObjectStore* store, FileSystem* fs);

  std::vector<metrics::Registration> registrations_;
  std::unique_ptr<s3::MetricsServer> server_;
  // Read once per scrape by a collect hook (GUARDED_BY the registry's scrape lock).
  RemoteStatus remote_;
  ObjectStore::StoredBlocks stored_;
  int64_t stored_at_ns_ = 0;    // when stored_ was counted (0: never)
  int64_t stored_cost_ns_ = 0;  // how long that count took
};

}  // namespace s3xfs::cli
