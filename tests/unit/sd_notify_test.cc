// sd_notify.h: datagrams to path and abstract sockets, the watchdog interval from the
// environment, and Watchdog pinging only while its check passes.
#include "s3xfs/base/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace s3xfs::sd {
namespace {

// A datagram socket standing in for systemd's; sets NOTIFY_SOCKET to it.
class FakeManager {
 public:
  explicit FakeManager(bool abstract) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string name = "s3xfs-sd-test-" + std::to_string(::getpid());
    socklen_t len;
    if (abstract) {
      sa.sun_path[0] = '\0';
      name.copy(sa.sun_path + 1, name.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
      address_ = "@" + name;
    } else {
      path_ = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : "/tmp") + "/" + name;
      ::unlink(path_.c_str());
      path_.copy(sa.sun_path, path_.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() + 1);
      address_ = path_;
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len), 0);
    ::setenv("NOTIFY_SOCKET", address_.c_str(), 1);
  }
  ~FakeManager() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  // The next datagram, or "" after timeout_ms.
  std::string Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  std::string path_, address_;
};

TEST(SdNotify, NoSocketIsANoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(Notify("READY=1").ok());
  ::setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_TRUE(Notify("READY=1").ok());
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotify, PathSocketGetsTheExactDatagram) {
  FakeManager m(/*abstract=*/false);
  ASSERT_TRUE(Notify("READY=1\nSTATUS=serving").ok());
  EXPECT_EQ(m.Receive(1000), "READY=1\nSTATUS=serving");
}

TEST(SdNotify, AbstractSocket) {
  FakeManager m(/*abstract=*/true);
  ASSERT_TRUE(Notify("STOPPING=1").ok());
  EXPECT_EQ(m.Receive(1000), "STOPPING=1");
}

TEST(SdNotify, Errors) {
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  EXPECT_EQ(Notify("READY=1").code(), Status::Code::kInvalidArgument);
  ::setenv("NOTIFY_SOCKET", "/nonexistent/dir/notify", 1);
  EXPECT_FALSE(Notify("READY=1").ok());
  ::setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);
  EXPECT_EQ(Notify("READY=1").code(), Status::Code::kInvalidArgument);
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotify, WatchdogInterval) {
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(WatchdogInterval().count(), 0);
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  EXPECT_EQ(WatchdogInterval().count(), 30000000);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval().count(), 30000000);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(WatchdogInterval().count(), 0) << "meant for another process";
  ::unsetenv("WATCHDOG_PID");
  for (const char* bad : {"0", "-5", "12x", "", "99999999999999999999999"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_EQ(WatchdogInterval().count(), 0) << bad;
  }
  ::unsetenv("WATCHDOG_USEC");
}

TEST(SdNotify, WatchdogPingsWhileAliveOnly) {
  FakeManager m(/*abstract=*/false);
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(Watchdog::Start(nullptr), nullptr) << "no WATCHDOG_USEC, no watchdog";
  ::setenv("WATCHDOG_USEC", "100000", 1);  // pings every 50 ms
  std::atomic<bool> alive{true};
  std::atomic<int> checks{0};
  auto w = Watchdog::Start([&] {
    ++checks;
    return alive ? Status::OK() : Status::Unavailable("core stuck");
  });
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(m.Receive(1000), "WATCHDOG=1") << "the first ping comes at once";
  EXPECT_EQ(m.Receive(1000), "WATCHDOG=1");
  alive = false;
  while (m.Receive(200) == "WATCHDOG=1") {
  }  // drain a ping sent before the switch
  int before = checks;
  EXPECT_EQ(m.Receive(300), "") << "no ping while the check fails";
  EXPECT_GT(checks.load(), before) << "the check keeps running";
  alive = true;
  EXPECT_EQ(m.Receive(1000), "WATCHDOG=1") << "pings resume";
  w.reset();
  while (!m.Receive(100).empty()) {
  }
  EXPECT_EQ(m.Receive(300), "") << "no ping after the Watchdog is gone";
  ::unsetenv("WATCHDOG_USEC");
}

}  // namespace
}  // namespace s3xfs::sd
