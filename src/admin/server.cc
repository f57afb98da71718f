#include "s3xfs/admin/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

namespace s3xfs::admin {
namespace {

using Clock = std::chrono::steady_clock;

// A sockaddr_un for path. Paths longer than sun_path (107 bytes) are reached through an O_PATH
// descriptor of their directory as /proc/self/fd/N/NAME; `dir_fd` keeps it open meanwhile.
struct UnixAddr {
  sockaddr_un sa{};
  socklen_t len = 0;
  int dir_fd = -1;
  UnixAddr() = default;
  UnixAddr(const UnixAddr&) = delete;
  UnixAddr& operator=(const UnixAddr&) = delete;
  ~UnixAddr() {
    if (dir_fd >= 0) ::close(dir_fd);
  }
};

Status MakeAddr(const std::string& path, UnixAddr* a) {
  a->sa.sun_family = AF_UNIX;
  std::string target = path;
  if (path.size() >= sizeof a->sa.sun_path) {
    std::filesystem::path p(path);
    std::string dir = p.parent_path().string(), name = p.filename().string();
    if (dir.empty()) dir = ".";
    a->dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (a->dir_fd < 0) return Status::FromErrno("open " + dir, errno);
    target = "/proc/self/fd/" + std::to_string(a->dir_fd) + "/" + name;
    if (target.size() >= sizeof a->sa.sun_path)
      return Status::InvalidArgument("socket name too long: " + path);
  }
  std::memcpy(a->sa.sun_path, target.data(), target.size());
  a->len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + target.size() + 1);
  return Status::OK();
}

void SetTimeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Writes all of s (the socket's send timeout bounds each write).
bool SendAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void SendReply(int fd, const Json& reply) { SendAll(fd, reply.Dump() + "\n"); }

// Reads the lock file's pid line (0 when unreadable).
pid_t PidInLockFile(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  return static_cast<pid_t>(std::strtol(buf, nullptr, 10));
}

std::string LockPath(const std::string& socket_path) { return socket_path + ".lock"; }

}  // namespace

std::string AdminSocketPath(const std::string& data_dir) { return data_dir + "/admin.sock"; }

std::string CodeString(Status::Code code) {
  using C = Status::Code;
  switch (code) {
    case C::kOk: return "ok";
    case C::kNotFound: return "not_found";
    case C::kCorruption: return "corruption";
    case C::kInvalidArgument: return "invalid_argument";
    case C::kIOError: return "io_error";
    case C::kUnavailable: return "unavailable";
    case C::kAlreadyExists: return "already_exists";
    case C::kNotSupported: return "not_supported";
    case C::kTimeout: return "timeout";
    case C::kInternal: return "internal";
  }
  return "internal";
}

Json ErrorReply(const Status& status) {
  Json j = Json::MakeObject();
  j.Set("ok", false);
  j.Set("code", CodeString(status.code()));
  j.Set("error", status.message());
  return j;
}

Status ReplyStatus(const Json& reply) {
  if (!reply.is_object() || !reply["ok"].is_bool())
    return Status::Internal("malformed reply from the daemon: " + reply.Dump().substr(0, 200));
  if (reply["ok"].bool_or(false)) return Status::OK();
  const std::string code = reply["code"].str();
  std::string msg = reply["error"].str();
  if (msg.empty()) msg = "the daemon reported an error without a message";
  if (code == "not_found") return Status::NotFound(msg);
  if (code == "corruption") return Status::Corruption(msg);
  if (code == "invalid_argument") return Status::InvalidArgument(msg);
  if (code == "io_error") return Status::IOError(msg);
  if (code == "unavailable") return Status::Unavailable(msg);
  if (code == "already_exists") return Status::AlreadyExists(msg);
  if (code == "not_supported") return Status::NotSupported(msg);
  if (code == "timeout") return Status::Timeout(msg);
  return Status::Internal(msg);
}

// ---- server ----

AdminServer::AdminServer(AdminServerOptions options, AdminHandler handler)
    : opt_(std::move(options)), handler_(std::move(handler)) {}

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const AdminServerOptions& options,
                                                        AdminHandler handler) {
  if (options.socket_path.empty()) return Status::InvalidArgument("no admin socket path");
  std::unique_ptr<AdminServer> s(new AdminServer(options, std::move(handler)));
  const std::string& path = s->opt_.socket_path;
  const std::string lock = LockPath(path);

  // 1. The lock: whoever holds it owns the path.
  s->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (s->lock_fd_ < 0) return Status::FromErrno("open " + lock, errno);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(s->lock_fd_, F_OFD_SETLK, &fl) != 0) {
    int err = errno;
    if (err != EAGAIN && err != EACCES) return Status::FromErrno("lock " + lock, err);
    pid_t other = PidInLockFile(s->lock_fd_);
    return Status::AlreadyExists("admin socket " + path + " is served by another daemon" +
                                 (other > 0 ? " (pid " + std::to_string(other) + ")" : ""));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(s->lock_fd_, 0) != 0 ||
      ::pwrite(s->lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return Status::FromErrno("write " + lock, errno);

  // 2. A leftover socket of a daemon that died is ours to replace; anything else is not.
  struct stat sb;
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode))
      return Status::AlreadyExists(path + " exists and is not a socket; not replacing it");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::FromErrno("remove stale socket " + path, errno);
  } else if (errno != ENOENT) {
    return Status::FromErrno("stat " + path, errno);
  }

  // 3. Bind with mode 0600 from the start: on Linux the mode of the socket inode (fchmod
  // before bind) becomes the file's, so there is no moment with a wider mode.
  UnixAddr addr;
  S3XFS_RETURN_IF_ERROR(MakeAddr(path, &addr));
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0) return Status::FromErrno("socket", errno);
  if (::fchmod(s->listen_fd_, 0600) != 0) return Status::FromErrno("fchmod socket", errno);
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr.sa), addr.len) != 0)
    return Status::FromErrno("bind " + path, errno);
  if (::chmod(path.c_str(), 0600) != 0 || ::lstat(path.c_str(), &sb) != 0) {
    Status st = Status::FromErrno("chmod " + path, errno);
    ::unlink(path.c_str());
    return st;
  }
  s->dev_ = sb.st_dev;
  s->ino_ = sb.st_ino;
  if ((sb.st_mode & 07777) != 0600) {
    ::unlink(path.c_str());
    return Status::Internal(path + " has mode " + std::to_string(sb.st_mode & 07777) + ", not 0600");
  }
  if (::listen(s->listen_fd_, 16) != 0) {
    Status st = Status::FromErrno("listen " + path, errno);
    ::unlink(path.c_str());
    return st;
  }
  if (::pipe2(s->stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    Status st = Status::FromErrno("pipe", errno);
    ::unlink(path.c_str());
    return st;
  }
  AdminServer* raw = s.get();
  s->acceptor_ = std::thread([raw] { raw->AcceptLoop(); });
  return s;
}

void AdminServer::AcceptLoop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    int n = ::poll(p, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid descriptors
    }
    if (p[1].revents) return;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // EAGAIN (another wakeup), ECONNABORTED, EMFILE: try again
    SetTimeouts(fd, opt_.io_timeout);
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != ::geteuid() && cred.uid != 0)) {
      SendReply(fd, ErrorReply(Status::IOError("permission denied: the admin socket only serves "
                                               "its owner (uid " + std::to_string(::geteuid()) +
                                               ") and root")));
      ::close(fd);
      continue;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (active_ >= opt_.max_connections) {
        SendReply(fd, ErrorReply(Status::Unavailable(
                          "busy: " + std::to_string(active_) + " admin requests in progress")));
        ::close(fd);
        continue;
      }
      ++active_;
    }
    // Detached: Shutdown waits for active_ to reach 0, and the thread touches nothing of ours
    // after decrementing it.
    std::thread([this, fd] {
      Serve(fd);
      std::lock_guard<std::mutex> l(mu_);
      if (--active_ == 0) idle_cv_.notify_all();
    }).detach();
  }
}

void AdminServer::Serve(int fd) {
  std::string line;
  bool complete = false;
  char buf[4096];
  while (!complete) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        SendReply(fd, ErrorReply(Status::Timeout("no complete request line within " +
                                                 std::to_string(opt_.io_timeout.count()) + " ms")));
      ::close(fd);
      return;
    }
    if (n == 0) break;  // the client closed its side: what came is the request
    const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
    line.append(buf, nl ? static_cast<size_t>(nl - buf) : static_cast<size_t>(n));
    complete = nl != nullptr;
    if (line.size() > opt_.max_request) {
      SendReply(fd, ErrorReply(Status::InvalidArgument(
                        "request longer than " + std::to_string(opt_.max_request) + " bytes")));
      ::close(fd);
      return;
    }
  }
  Json reply;
  if (line.empty()) {
    reply = ErrorReply(Status::InvalidArgument("empty request (expected one JSON object line)"));
  } else if (auto req = Json::Parse(line); !req.ok()) {
    reply = ErrorReply(req.status());
  } else if (!req->is_object() || !(*req)["cmd"].is_string()) {
    reply = ErrorReply(Status::InvalidArgument("a request is a JSON object with a \"cmd\" string"));
  } else {
    try {
      reply = handler_(*req);
    } catch (const std::exception& e) {
      reply = ErrorReply(Status::Internal(std::string("request failed: ") + e.what()));
    }
  }
  SendReply(fd, reply);
  ::close(fd);
}

void AdminServer::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shut_) return;
    shut_ = true;
  }
  if (acceptor_.joinable()) {
    char c = 'x';
    while (::write(stop_pipe_[1], &c, 1) < 0 && errno == EINTR) {
    }
    acceptor_.join();
  }
  {
    std::unique_lock<std::mutex> l(mu_);
    idle_cv_.wait(l, [&] { return active_ == 0; });
  }
  // Remove the socket only if it is still the one we bound (we hold the lock, so it should be).
  struct stat sb;
  if (listen_fd_ >= 0 && ::lstat(opt_.socket_path.c_str(), &sb) == 0 && sb.st_dev == dev_ &&
      sb.st_ino == ino_)
    ::unlink(opt_.socket_path.c_str());
  for (int* fd : {&listen_fd_, &stop_pipe_[0], &stop_pipe_[1], &lock_fd_}) {
    if (*fd >= 0) ::close(*fd);  // closing the lock file releases the lock
    *fd = -1;
  }
}

AdminServer::~AdminServer() { Shutdown(); }

// ---- client ----

Result<pid_t> AdminLockHolder(const std::string& socket_path) {
  const std::string lock = LockPath(socket_path);
  int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return pid_t{0};
    return Status::FromErrno("open " + lock, errno);
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
  int err = errno;
  pid_t pid = rc == 0 && fl.l_type != F_UNLCK ? PidInLockFile(fd) : 0;
  ::close(fd);
  if (rc != 0) return Status::FromErrno("query lock " + lock, err);
  if (fl.l_type != F_UNLCK && pid <= 0) pid = -1;  // held, by a process that wrote no pid yet
  return pid;
}

Result<Json> AdminCall(const std::string& socket_path, const Json& request,
                       std::chrono::milliseconds timeout) {
  UnixAddr addr;
  S3XFS_RETURN_IF_ERROR(MakeAddr(socket_path, &addr));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr.sa), addr.len) != 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("no daemon: " + socket_path + " does not exist");
    if (err == ECONNREFUSED)
      return Status::NotFound("no daemon listens on " + socket_path +
                              " (left behind by one that stopped)");
    if (err == EACCES || err == EPERM)
      return Status::IOError("permission denied on " + socket_path +
                             " (the daemon runs as another user)");
    return Status::FromErrno("connect to " + socket_path, err);
  }
  const auto deadline = Clock::now() + timeout;
  auto wait = [&](short events) -> Status {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0)
        return Status::Timeout("no reply from the daemon on " + socket_path + " within " +
                               std::to_string(timeout.count() / 1000) + " s");
      pollfd p{fd, events, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
      if (n > 0) return Status::OK();
      if (n < 0 && errno != EINTR) return Status::FromErrno("poll", errno);
    }
  };
  std::string out = request.Dump() + "\n";
  for (size_t done = 0; done < out.size();) {
    S3XFS_RETURN_IF_ERROR(wait(POLLOUT));
    ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && errno == EPIPE) break;  // the server refused early: its reply explains why
    if (n < 0) return Status::FromErrno("sending to " + socket_path, errno);
    done += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string in;
  constexpr size_t kMaxReply = 64u << 20;
  char buf[65536];
  for (;;) {
    S3XFS_RETURN_IF_ERROR(wait(POLLIN));
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return Status::FromErrno("reading from " + socket_path, errno);
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.find('\n') != std::string::npos) break;
    if (in.size() > kMaxReply) return Status::Internal("reply from the daemon too long");
  }
  if (size_t nl = in.find('\n'); nl != std::string::npos) in.resize(nl);
  if (in.empty())
    return Status::Unavailable("the daemon on " + socket_path + " closed the connection without a reply");
  auto reply = Json::Parse(in);
  if (!reply.ok()) return Status::Internal("bad reply from the daemon: " + reply.status().message());
  if (!reply->is_object() || !(*reply)["ok"].is_bool())
    return Status::Internal("bad reply from the daemon: " + in.substr(0, 200));
  return std::move(*reply);
}

}  // namespace s3xfs::admin
