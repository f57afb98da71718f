// sd_notify(3) by hand: one AF_UNIX datagram per message to $NOTIFY_SOCKET.
#include "s3xfs/base/sd_notify.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

namespace s3xfs::sd {

Status Notify(std::string_view state) {
  const char* addr = std::getenv("NOTIFY_SOCKET");
  if (!addr || !*addr) return Status::OK();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  size_t n = std::strlen(addr);
  socklen_t len;
  if (addr[0] == '/' || addr[0] == '@') {
    // A path needs room for its NUL; an abstract name is '\0' + the bytes after '@', no NUL.
    if (n >= sizeof sa.sun_path) return Status::InvalidArgument("NOTIFY_SOCKET too long");
    std::memcpy(sa.sun_path, addr, n);
    if (addr[0] == '@') sa.sun_path[0] = '\0';
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + (addr[0] == '/' ? 1 : 0));
  } else {
    return Status::InvalidArgument(std::string("unsupported NOTIFY_SOCKET address: ") + addr);
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket(AF_UNIX)", errno);
  ssize_t sent;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
                    len);
  } while (sent < 0 && errno == EINTR);
  int err = errno;
  ::close(fd);
  if (sent < 0) return Status::FromErrno(std::string("notify ") + addr, err);
  if (static_cast<size_t>(sent) != state.size())
    return Status::IOError(std::string("notify ") + addr + ": short datagram");
  return Status::OK();
}

std::chrono::microseconds WatchdogInterval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) return {};
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid) {
    char* end = nullptr;
    errno = 0;
    long long p = std::strtoll(pid, &end, 10);
    if (errno || *end || p != ::getpid()) return {};  // meant for another process
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long us = std::strtoull(usec, &end, 10);
  if (errno || *end || usec[0] == '-' || us == 0) return {};
  return std::chrono::microseconds(us);
}

namespace {

class WatchdogImpl final : public Watchdog {
 public:
  WatchdogImpl(std::chrono::microseconds interval, std::function<Status()> alive)
      : period_(interval / 2), alive_(std::move(alive)) {
    // The thread inherits the creator's signal mask: block the stop signals while creating it,
    // so SIGTERM and friends keep going to the threads that wait for them.
    sigset_t block, old;
    sigemptyset(&block);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&block, s);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    thread_ = std::thread([this] { Loop(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  ~WatchdogImpl() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    bool failing = false, send_failing = false;
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      l.unlock();
      Status st = alive_ ? alive_() : Status::OK();
      if (st.ok()) {
        failing = false;
        Status sent = Notify("WATCHDOG=1");
        if (!sent.ok() && !send_failing)
          std::cerr << "s3xfs: watchdog ping failed: " << sent.message() << "\n";
        send_failing = !sent.ok();
      } else if (!failing) {
        failing = true;
        std::cerr << "s3xfs: watchdog: the daemon does not answer (" << st.message()
                  << "); not pinging\n";
      }
      l.lock();
      cv_.wait_for(l, period_, [this] { return stop_; });
    }
  }

  const std::chrono::microseconds period_;
  const std::function<Status()> alive_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Watchdog> Watchdog::Start(std::function<Status()> alive) {
  std::chrono::microseconds interval = WatchdogInterval();
  if (interval.count() == 0) return nullptr;
  return std::make_unique<WatchdogImpl>(interval, std::move(alive));
}

}  // namespace s3xfs::sd
