// The admin socket: a Unix stream socket (DATA_DIR/admin.sock) through which the commands
// `s3xfs status|flush|gc|fsck|keys` reach the daemon running on a data directory. One request
// per connection: the client sends one JSON object on one line, the server answers with one JSON
// object on one line and closes. The protocol is in docs/FORMATS.md; the commands are
// AdminService's (service.h). This file knows nothing about them.
//
// Owning the path: a daemon holds an open-file-description write lock on PATH.lock for as long
// as it serves PATH. Start takes that lock first; when another live process holds it, Start
// fails with AlreadyExists naming that process and leaves PATH alone (two daemons on one data
// directory: the second has no socket). With the lock held, an existing socket at PATH is the
// leftover of a daemon that died, and is replaced. The lock is released when the daemon exits,
// however it exits.
//
// Access: the socket file has mode 0600, set on the socket before bind so it is never more open
// than that, and the peer of every connection (SO_PEERCRED) must have the server's user id or be
// root; others get an error reply and nothing else.
//
// Limits: a request line of at most max_request bytes, read within io_timeout; at most
// max_connections requests run at once (more get a "busy" error reply). Each request runs on its
// own thread, so a long one (a flush waiting for uploads) does not hold up a status request.
//
// Thread-safety: the handler is called from several threads at once. Shutdown() (also run by
// the destructor) stops accepting, waits for the requests in progress, removes PATH and releases
// the lock; make long handlers return first (AdminService::Cancel).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "s3xfs/admin/json.h"
#include "s3xfs/base/status.h"

namespace s3xfs::admin {

// The data directory's admin socket.
std::string AdminSocketPath(const std::string& data_dir);

struct AdminServerOptions {
  std::string socket_path;                  // the lock is socket_path + ".lock"
  size_t max_request = 64 << 10;            // bytes of one request line
  std::chrono::milliseconds io_timeout{5000};  // to read a request, and to send a reply
  int max_connections = 8;                  // requests served at once
};

// Turns one request object into one reply object ({"ok": true, ...} or ErrorReply).
using AdminHandler = std::function<Json(const Json& request)>;

class AdminServer {
 public:
  // Takes the lock, binds and listens, and starts serving on a thread.
  static Result<std::unique_ptr<AdminServer>> Start(const AdminServerOptions& options,
                                                    AdminHandler handler);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void Shutdown();
  const std::string& path() const { return opt_.socket_path; }

 private:
  AdminServer(AdminServerOptions options, AdminHandler handler);
  void AcceptLoop();
  void Serve(int fd);

  AdminServerOptions opt_;
  AdminHandler handler_;
  int lock_fd_ = -1;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  dev_t dev_ = 0;  // the socket file we bound, removed at shutdown only if still there
  ino_t ino_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  int active_ = 0;       // GUARDED_BY(mu_): requests being served
  bool shut_ = false;    // GUARDED_BY(mu_)
};

// The process serving socket_path: its pid (from the lock file) when a live process holds the
// lock, 0 when none does. Only looks; never takes the lock.
Result<pid_t> AdminLockHolder(const std::string& socket_path);

// Sends one request and returns the reply object (which may be an error reply: ReplyStatus).
// NotFound when no daemon serves socket_path (no socket, or a leftover nobody accepts on);
// IOError when it may not be used (another user's daemon); Timeout when no reply came in time.
Result<Json> AdminCall(const std::string& socket_path, const Json& request,
                       std::chrono::milliseconds timeout);

// {"ok": false, "code": "...", "error": "..."} for a failed request.
Json ErrorReply(const Status& status);
// OK for {"ok": true, ...}; the Status an error reply carries otherwise.
Status ReplyStatus(const Json& reply);
// The protocol's name of a status code ("not_found", "timeout", ...) and back.
std::string CodeString(Status::Code code);

}  // namespace s3xfs::admin
