// AdminService: the commands a daemon answers on its admin socket (server.h), as a function
// from request object to reply object, over the core (ObjectStore, FileSystem). No socket here,
// so it is tested directly. The request and reply fields are in docs/FORMATS.md.
//
//   info         what the daemon is: pid, mode, version, mount point, S3 address, keys file
//   status       what the daemon is doing: back end and its health, the upload queue, dirty
//                bytes in the write-back cache, local store use, last flush and GC
//   progress     the cheap subset of status that long-running clients poll (dirty bytes, the
//                upload queue, a running fsck)
//   flush        commits every dirty file and syncs the ledger; with "wait_upload_s" also waits
//                (at most that long) for the upload queue to drain
//   gc           collects garbage now ("grace_s" overrides the grace period)
//   fsck         checks (with "repair": repairs) the ledger against the block store, inside the
//                daemon, where it is safe beside the daemon's own writes
//   reload-keys  reads the S3 keys file again
//   snapshot     flushes the mount, then snapshots "bucket" (optional "prefix"): ObjectStore::Snapshot
//   restore      rebuilds "bucket" from the snapshot "cid": ObjectStore::Restore
//
// Thread-safety: Handle may be called from several threads at once. No lock of this class is
// held while the core works.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "s3xfs/admin/json.h"
#include "s3xfs/base/status.h"
#include "s3xfs/core/filesystem.h"
#include "s3xfs/core/object_store.h"

namespace s3xfs::admin {

// What the daemon is, for status. Empty strings are reported as null.
struct DaemonInfo {
  std::string mode;        // "mount" or "serve"
  std::string version;
  std::string data_dir;
  std::string blocks_dir;  // the local block store (its size is reported)
  std::string cache_dir;   // the mount's write-back cache
  std::string mountpoint;
  std::string s3_listen;   // the S3 listener's address
  std::string keys_file;   // the S3 credentials it reads
  std::string backend;     // --ipfs: "embedded" or the remote's URL
};

struct AdminTargets {
  ObjectStore* store = nullptr;  // required; must outlive the service
  FileSystem* fs = nullptr;      // the mount's; null for an S3-only daemon
  // Reads the keys file again and puts it into service; returns the number of key pairs. Null
  // when the daemon has no S3 listener.
  std::function<Result<size_t>()> reload_keys;
  // Wall clock in nanoseconds since the epoch (tests inject one). Default: the system clock.
  std::function<int64_t()> now_ns;
};

// The replies of snapshot and restore (also what `s3xfs snapshot --json` prints).
Json SnapshotJson(const SnapshotInfo& s);
Json RestoreJson(const RestoreInfo& r);

class AdminService {
 public:
  AdminService(DaemonInfo info, AdminTargets targets);

  // One request ({"cmd": ..., ...}) to one reply ({"ok": true, ...} or an error reply).
  // Unknown members of a request are ignored; an unknown command is an error.
  Json Handle(const Json& request);
  // Makes waiting requests (flush with wait_upload_s) return now with an error, and every later
  // one too: the daemon is stopping.
  void Cancel();

 private:
  Json DaemonSection();
  Json DoInfo();
  Json DoStatus();
  Json DoProgress();
  Json DoFlush(const Json& req);
  Json DoGc(const Json& req);
  Json DoFsck(const Json& req);
  Json DoReloadKeys();
  Json DoSnapshot(const Json& req);
  Json DoRestore(const Json& req);
  // Bytes and files under blocks_dir, remembered for a few seconds (a walk costs I/O).
  struct DiskUse {
    uint64_t bytes = 0, files = 0;
    bool partial = false;  // the walk stopped at its time limit
  };
  DiskUse BlocksUse();
  int64_t Now() const;

  const DaemonInfo info_;
  const AdminTargets t_;
  const int64_t started_ns_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> fsck_running_{false};
  std::atomic<uint64_t> fsck_done_{0}, fsck_total_{0};
  std::mutex use_mu_;                 // leaf lock; never held during the walk
  DiskUse use_;                       // GUARDED_BY(use_mu_)
  std::chrono::steady_clock::time_point use_at_{};  // GUARDED_BY(use_mu_)
};

}  // namespace s3xfs::admin
