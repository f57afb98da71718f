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
};

// Maps a Status to the errno a local filesystem would give.
int ErrnoOf(const Status& s);

// Mounts and serves until unmounted or SIGINT/SIGTERM/SIGHUP. Recovers a stale mount point left
// by a crashed daemon. `open_fs` runs after daemonizing (threads and database handles must be
// created in the serving process) and before the mount becomes ready; if it fails the mount is
// undone and its status returned. On exit all dirty data is flushed.
Status ServeFuse(const MountOptions& options,
                 const std::function<Result<FileSystem*>()>& open_fs);

}  // namespace s3xfs
