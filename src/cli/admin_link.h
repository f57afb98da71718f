// The CLI's side of the admin socket: a daemon (mount, serve) starts one on its data directory;
// the admin commands (status, flush, gc, fsck, keys) ask it when one runs.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "s3xfs/admin/json.h"
#include "s3xfs/admin/server.h"
#include "s3xfs/admin/service.h"
#include "s3xfs/base/status.h"

namespace s3xfs::s3 {
class S3Service;
}

namespace s3xfs::cli {

// The credentials file of a daemon: --s3-keys, else DATA_DIR/s3-keys.
std::string DaemonKeysPath(const boost::program_options::variables_map& vm);
// What a daemon started with these options is, with absolute paths (the mount changes
// directory); s3_listen is filled in once the listener runs.
admin::DaemonInfo DaemonInfoFor(const boost::program_options::variables_map& vm,
                                const std::string& mode);
// reload-keys for a daemon's S3 service: loads keys_file and swaps it in (a malformed file
// leaves the keys in use as they are).
std::function<Result<size_t>()> KeysReloader(s3::S3Service* service, std::string keys_file);

// A daemon's admin socket and the service behind it. Destroying it cancels waiting requests,
// waits for those in progress and removes the socket: do it before the store and file system
// go away.
class DaemonAdmin {
 public:
  // Serves DATA_DIR/admin.sock (info.data_dir must be absolute: the mount changes directory).
  // When that fails (another daemon serves the directory, ...), says so on stderr and returns
  // null: the daemon runs on without a socket.
  static std::unique_ptr<DaemonAdmin> Start(admin::DaemonInfo info, admin::AdminTargets targets);
  ~DaemonAdmin();

 private:
  std::unique_ptr<admin::AdminService> service_;
  std::unique_ptr<admin::AdminServer> server_;
};

// Asks the daemon running on data_dir. The reply (which may be an error reply, see
// admin::ReplyStatus), or nullopt when no daemon runs there. An error when one runs but cannot
// be asked (it is starting or stuck, or belongs to another user).
Result<std::optional<admin::Json>> AskDaemon(const std::string& data_dir, const admin::Json& request,
                                             std::chrono::milliseconds timeout);
// AskDaemon and an error reply turned into its Status.
Result<std::optional<admin::Json>> AskDaemonOk(const std::string& data_dir,
                                               const admin::Json& request,
                                               std::chrono::milliseconds timeout);

// {"cmd": name}
admin::Json Request(const char* name);

}  // namespace s3xfs::cli
