// The FUSE front end: decodes low-level FUSE requests, calls FileSystem, maps Status to errno.
// The only file in the project that includes <fuse_lowlevel.h>.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/core/filesystem.h"

namespace s3xfs {

struct MountOptions {
  std::string mountpoint;
  std::vector<std::string> fuse_options;  // extra -o options
  bool foreground = false;
  bool single_threaded = false;
  bool debug = false;
  // Service-manager hooks (both optional). on_ready runs once, on a FUSE thread, when the kernel's
  // INIT arrives: open_fs has succeeded and requests are about to be served. on_stopping runs
  // when the loop ends (signal or unmount), before dirty data is flushed and the mount removed.
  std::function<void()> on_ready;
  std::function<void()> on_stopping;
};

// Maps a Status to the errno a local filesystem would give.
int ErrnoOf(const Status& s);

// Drops the kernel's cached view of keys changed by another front end (the S3 listener), so
// the mount sees the change at once. KeyChanged only queues: a worker thread resolves the path
// and calls fuse_lowlevel_notify_inval_entry/inode (never from inside a FUSE request, which
// could deadlock on the kernel's directory lock). Thread-safe.
class KernelCache {
 public:
  virtual ~KernelCache() = default;
  // key "" : the bucket itself was created or deleted.
  virtual void KeyChanged(const std::string& bucket, const std::string& key) = 0;
};

// Mounts and serves until unmounted or SIGINT/SIGTERM/SIGHUP. Recovers a stale mount point left
// by a crashed daemon. `open_fs` runs after daemonizing (threads and database handles must be
// created in the serving process) and before the mount becomes ready; if it fails the mount is
// undone and its status returned. The KernelCache it is given is valid until ServeFuse returns
// (calls after unmounting are ignored). On exit all dirty data is flushed.
Status ServeFuse(const MountOptions& options,
                 const std::function<Result<FileSystem*>(KernelCache*)>& open_fs);

}  // namespace s3xfs
