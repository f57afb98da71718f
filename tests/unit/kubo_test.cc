// The Kubo client's pieces that need no node: URL parsing, and the HTTP connection pool against
// small local servers that drop idle connections or never answer (deadlines, stale keep-alive
// connections). The client against real and misbehaving nodes: tests/ipfs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "http_pool.h"
#include "s3xfs/kubo/client.h"

namespace s3xfs {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(KuboUrl, ParsesHostAndPort) {
  auto o = ParseKuboUrl("kubo://127.0.0.1:5001");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, "5001");
  o = ParseKuboUrl("kubo://ipfs.local:5001/");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->host, "ipfs.local");
  o = ParseKuboUrl("kubo://[::1]:5001");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->host, "::1");
  for (const char* bad : {"kubo://", "kubo://host", "kubo://host:", "kubo://:5001", "kubo://h:0",
                          "kubo://h:65536", "kubo://h:12a", "kubo://h:1/api", "kubo://::1:5001",
                          "http://h:5001", "temporalx://h:1"})
    EXPECT_EQ(ParseKuboUrl(bad).status().code(), Status::Code::kInvalidArgument) << bad;
}

// A TCP listener on 127.0.0.1; with `serve`, each connection gets one canned answer and is then
// closed although the answer says keep-alive (a node timing out idle connections).
class Server {
 public:
  explicit Server(bool serve, std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (serve) thread_ = std::thread([this] { Loop(); });
  }
  ~Server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  std::string port() const { return std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void Loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      (void)!::write(c, answer_.data(), answer_.size());
      ::close(c);
    }
  }
  const std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(KuboHttpPool, ReplacesAKeepAliveConnectionTheServerDropped) {
  Server server(true);
  kubo::HttpPool pool("127.0.0.1", server.port(), 4);
  for (int i = 0; i < 3; ++i) {
    auto r = pool.Post("/api/v0/version", {}, "", Clock::now() + 5s, 1024);
    ASSERT_TRUE(r.ok()) << "request " << i << ": " << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_EQ(server.connections(), 3);
}

TEST(KuboHttpPool, ANodeThatNeverAnswersCostsTheDeadline) {
  Server silent(false);  // accepts (in the kernel's backlog) and never answers
  kubo::HttpPool pool("127.0.0.1", silent.port(), 4);
  const auto start = Clock::now();
  auto r = pool.Post("/api/v0/version", {}, "", start + 300ms, 1024);
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout) << r.status().ToString();
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
}

TEST(KuboStore, FailsWithinBoundsWhenTheNodeIsSilentOrAbsent) {
  Cid cid = Cid::Compute(1, Codec::kRaw, AsBytes("x"));
  {
    Server silent(false);
    KuboOptions o;
    o.host = "127.0.0.1";
    o.port = silent.port();
    o.call_timeout = 200ms;
    o.attempts = 2;
    o.backoff = 10ms;
    auto store = OpenKuboStore(o);
    ASSERT_TRUE(store.ok());
    const auto start = Clock::now();
    auto got = (*store)->Get(cid);
    EXPECT_EQ(got.status().code(), Status::Code::kTimeout) << got.status().ToString();
    EXPECT_LT(Clock::now() - start, 2s);
  }
  // Nothing listens on the port any more: refused at once, Unavailable after the retries.
  std::string port;
  {
    Server gone(false);
    port = gone.port();
  }
  KuboOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.backoff = 10ms;
  auto store = OpenKuboStore(o);
  ASSERT_TRUE(store.ok());
  auto got = (*store)->Get(cid);
  EXPECT_EQ(got.status().code(), Status::Code::kUnavailable) << got.status().ToString();
  EXPECT_EQ((*store)->Health().code(), Status::Code::kUnavailable);
  EXPECT_TRUE((*store)->pins_roots());
  EXPECT_EQ((*store)->Describe(), "kubo://127.0.0.1:" + port);
}

TEST(KuboStore, ForEachStreamsRefsLocalAsRawCids) {
  Cid a = Cid::Compute(1, Codec::kRaw, AsBytes("a"));
  Cid b = Cid::Compute(1, Codec::kDagPb, AsBytes("b"));
  Cid c = Cid::Compute(0, Codec::kDagPb, AsBytes("c"));
  std::string lines;
  for (const Cid* x : {&a, &b, &c}) lines += "{\"Ref\":\"" + x->ToString() + "\",\"Err\":\"\"}\n";
  // Chunked, with chunk boundaries inside the lines.
  std::string body;
  for (size_t at = 0; at < lines.size(); at += 37) {
    std::string piece = lines.substr(at, 37);
    char len[16];
    std::snprintf(len, sizeof len, "%zx\r\n", piece.size());
    body += len + piece + "\r\n";
  }
  body += "0\r\n\r\n";
  Server server(true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
  KuboOptions o;
  o.host = "127.0.0.1";
  o.port = server.port();
  auto store = OpenKuboStore(o);
  ASSERT_TRUE(store.ok());
  std::vector<Cid> got;
  Status st = (*store)->ForEach([&](const Cid& x) {
    got.push_back(x);
    return Status::OK();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::vector<Cid> want = {a, b.WithCodecV1(Codec::kRaw), c.WithCodecV1(Codec::kRaw)};
  EXPECT_EQ(got, want);
  // The callback's error ends the walk and is returned.
  st = (*store)->ForEach([](const Cid&) { return Status::IOError("stop"); });
  EXPECT_EQ(st.code(), Status::Code::kIOError);
}

}  // namespace
}  // namespace s3xfs
