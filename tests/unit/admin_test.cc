// The admin protocol: its JSON, the socket server and client (ownership of the path, stale
// sockets, permissions, limits), and the commands (AdminService) over a real core with a
// fault-injecting remote, without a daemon.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "s3xfs/admin/json.h"
#include "s3xfs/admin/server.h"
#include "s3xfs/admin/service.h"
#include "s3xfs/blockstore/faulty.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/blockstore/tiered.h"
#include "s3xfs/core/filesystem.h"
#include "testutil.h"

namespace s3xfs::admin {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Json Req(const char* cmd) { return Json::MakeObject().Set("cmd", cmd); }

// ---- JSON ----

TEST(AdminJson, RoundTripsEveryKind) {
  auto j = Json::Parse(R"( {"a": null, "b": true, "c": -42, "d": 1.5, "e": "x\"y\\z\n\u00e9\ud83d\ude00",
                           "f": [1, [2, {}], []], "g": {"h": false}} )");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_TRUE((*j)["a"].is_null());
  EXPECT_TRUE((*j)["b"].bool_or(false));
  EXPECT_EQ((*j)["c"].int_or(0), -42);
  EXPECT_DOUBLE_EQ((*j)["d"].number_or(0), 1.5);
  EXPECT_EQ((*j)["e"].str(), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ((*j)["f"].array().size(), 3u);
  EXPECT_FALSE((*j)["g"]["h"].bool_or(true));
  EXPECT_TRUE((*j)["missing"].is_null());
  std::string dumped = j->Dump();
  EXPECT_EQ(dumped.find('\n'), std::string::npos) << "a dumped value must fit on one line";
  auto again = Json::Parse(dumped);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *j);
  // Member order is kept.
  EXPECT_EQ(dumped.substr(0, 10), "{\"a\":null,");
}

TEST(AdminJson, LargeIntegersStayExact) {
  auto j = Json::Parse("[9007199254740993, -9223372036854775808, 1e3, 123456789012345678901]");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->array()[0].int_or(0), 9007199254740993);
  EXPECT_EQ(j->array()[1].int_or(0), INT64_MIN);
  EXPECT_EQ(j->array()[2].int_or(0), 1000);  // integral double
  EXPECT_FALSE(j->array()[3].is_int());      // out of range: a double
}

TEST(AdminJson, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "{\"a\":1,}", "01", "1.", "-",
                          "\"abc", "\"a\nb\"", "\"\\x\"", "\"\\ud800\"", "tru", "{} x",
                          "{\"a\":1,\"a\":2}", "nan", "{'a':1}"}) {
    auto j = Json::Parse(bad);
    EXPECT_FALSE(j.ok()) << "accepted: " << bad;
    if (!j.ok()) {
      EXPECT_EQ(j.status().code(), Status::Code::kInvalidArgument);
    }
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto j = Json::Parse(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("nested too deeply"));
}

TEST(AdminJson, EscapesControlCharactersWhenDumping) {
  Json j = Json::MakeObject().Set("k", std::string("a\x01\tb\x7f", 5));
  EXPECT_EQ(j.Dump(), "{\"k\":\"a\\u0001\\tb\\u007f\"}");
}

TEST(AdminJson, ErrorRepliesCarryTheirStatus) {
  for (Status s : {Status::NotFound("n"), Status::Corruption("c"), Status::InvalidArgument("i"),
                   Status::IOError("io"), Status::Unavailable("u"), Status::AlreadyExists("a"),
                   Status::NotSupported("ns"), Status::Timeout("t"), Status::Internal("x")}) {
    Status back = ReplyStatus(ErrorReply(s));
    EXPECT_EQ(back.code(), s.code());
    EXPECT_EQ(back.message(), s.message());
  }
  EXPECT_TRUE(ReplyStatus(Json::MakeObject().Set("ok", true)).ok());
  EXPECT_EQ(ReplyStatus(Json("nonsense")).code(), Status::Code::kInternal);
}

// ---- the socket ----

class AdminServerTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/admin.sock"; }
  Result<std::unique_ptr<AdminServer>> Start(AdminHandler h = nullptr, int max_connections = 8) {
    AdminServerOptions o;
    o.socket_path = Path();
    o.io_timeout = 2s;
    o.max_connections = max_connections;
    if (!h) h = [](const Json& r) { return Json::MakeObject().Set("ok", true).Set("echo", r["cmd"]); };
    return AdminServer::Start(o, std::move(h));
  }
  // Sends raw bytes and returns everything the server writes back.
  std::string Raw(const std::string& bytes, bool close_write = true) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string p = Path();
    std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may stop reading an oversized request
      done += static_cast<size_t>(n);
    }
    if (close_write) ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }
  testing::TempDir dir_;
};

TEST_F(AdminServerTest, AnswersOneJsonLinePerConnection) {
  auto s = Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto r = AdminCall(Path(), Req("status"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)["ok"].bool_or(false));
  EXPECT_EQ((*r)["echo"].str(), "status");
  // Raw: the reply is exactly one line, whatever follows the request line is ignored.
  std::string raw = Raw("{\"cmd\":\"x\"}\n{\"cmd\":\"y\"}\n");
  EXPECT_EQ(raw, "{\"ok\":true,\"echo\":\"x\"}\n");
  // A request ended by closing the connection instead of a newline is accepted too.
  EXPECT_EQ(Raw("{\"cmd\":\"z\"}"), "{\"ok\":true,\"echo\":\"z\"}\n");
}

TEST_F(AdminServerTest, SocketIsOwnerOnly) {
  ::umask(0);  // the widest umask: the mode must still be 0600
  auto s = Start();
  ::umask(022);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  struct stat sb;
  ASSERT_EQ(::lstat(Path().c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(sb.st_uid, ::geteuid());
  ASSERT_EQ(::lstat((Path() + ".lock").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
}

TEST_F(AdminServerTest, RefusesWhatIsNotARequest) {
  auto s = Start();
  ASSERT_TRUE(s.ok());
  for (const char* junk : {"GET / HTTP/1.1\r\n\r\n", "\n", "[1,2]\n", "{\"cmd\": 5}\n",
                           "{\"nocmd\":1}\n", "\x16\x03\x01\x02\x00\x01\n"}) {
    std::string raw = Raw(junk);
    ASSERT_FALSE(raw.empty()) << junk;
    EXPECT_EQ(raw.back(), '\n');
    auto j = Json::Parse(raw);
    ASSERT_TRUE(j.ok()) << raw;
    EXPECT_FALSE((*j)["ok"].bool_or(true)) << junk;
    EXPECT_EQ((*j)["code"].str(), "invalid_argument") << junk;
  }
  // Over the size limit: refused without reading on.
  std::string big = "{\"cmd\":\"" + std::string(100000, 'a') + "\"}\n";
  auto j = Json::Parse(Raw(big));
  ASSERT_TRUE(j.ok());
  EXPECT_THAT((*j)["error"].str(), HasSubstr("longer than 65536"));
  // A client that says nothing is dropped after the read timeout, with an error.
  auto start = std::chrono::steady_clock::now();
  j = Json::Parse(Raw("{\"cmd\"", /*close_write=*/false));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["code"].str(), "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // The server still serves afterwards.
  EXPECT_TRUE(AdminCall(Path(), Req("status"), 5s).ok());
}

TEST_F(AdminServerTest, SecondServerDoesNotStealTheSocket) {
  auto first = Start();
  ASSERT_TRUE(first.ok());
  auto holder = AdminLockHolder(Path());
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(*holder, ::getpid());
  auto second = Start([](const Json&) { return Json::MakeObject().Set("ok", true).Set("who", "second"); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(::getpid())));
  // The first still owns and answers on the path.
  auto r = AdminCall(Path(), Req("who"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["echo"].str(), "who");
  // After the first shuts down, the path is gone and free.
  (*first)->Shutdown();
  EXPECT_NE(::access(Path().c_str(), F_OK), 0);
  holder = AdminLockHolder(Path());
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(*holder, 0);
  auto r2 = AdminCall(Path(), Req("x"), 5s);
  EXPECT_EQ(r2.status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(Start().ok());
}

TEST_F(AdminServerTest, ReplacesTheStaleSocketOfADeadDaemon) {
  // A socket file nobody listens on, as a daemon killed with SIGKILL leaves it.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, Path().c_str(), Path().size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  auto r = AdminCall(Path(), Req("x"), 5s);
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("no daemon listens"));
  auto s = Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(AdminCall(Path(), Req("x"), 5s).ok());
}

TEST_F(AdminServerTest, NeverReplacesSomethingThatIsNotASocket) {
  int fd = ::open(Path().c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto s = Start();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("not a socket"));
  struct stat sb;
  ASSERT_EQ(::lstat(Path().c_str(), &sb), 0);
  EXPECT_TRUE(S_ISREG(sb.st_mode));
  // And the lock was released: a later start (after the file is gone) works.
  ::unlink(Path().c_str());
  EXPECT_TRUE(Start().ok());
}

TEST_F(AdminServerTest, ALongRequestDoesNotHoldUpOthersAndTheLimitHolds) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> slow_started{0};
  auto s = Start(
      [&](const Json& r) {
        if (r["cmd"].str() == "slow") {
          slow_started++;
          released.wait();
        }
        return Json::MakeObject().Set("ok", true);
      },
      /*max_connections=*/2);
  ASSERT_TRUE(s.ok());
  auto slow = std::async(std::launch::async, [&] { return AdminCall(Path(), Req("slow"), 20s); });
  while (slow_started.load() == 0) std::this_thread::sleep_for(5ms);
  // A quick request is answered while the slow one runs.
  auto quick = AdminCall(Path(), Req("quick"), 5s);
  ASSERT_TRUE(quick.ok());
  EXPECT_TRUE((*quick)["ok"].bool_or(false));
  // Fill the second slot; a third request is turned away as busy.
  auto slow2 = std::async(std::launch::async, [&] { return AdminCall(Path(), Req("slow"), 20s); });
  while (slow_started.load() < 2) std::this_thread::sleep_for(5ms);
  auto busy = AdminCall(Path(), Req("quick"), 5s);
  ASSERT_TRUE(busy.ok());
  EXPECT_EQ(ReplyStatus(*busy).code(), Status::Code::kUnavailable);
  EXPECT_THAT(ReplyStatus(*busy).message(), HasSubstr("busy"));
  release.set_value();
  EXPECT_TRUE(slow.get().ok());
  EXPECT_TRUE(slow2.get().ok());
  // Shutdown waits for requests in progress (none now) and returns.
  (*s)->Shutdown();
}

TEST_F(AdminServerTest, ClientTimesOutOnASilentServer) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto s = Start([&](const Json&) {
    released.wait();
    return Json::MakeObject().Set("ok", true);
  });
  ASSERT_TRUE(s.ok());
  auto r = AdminCall(Path(), Req("x"), 300ms);
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  release.set_value();
}

TEST_F(AdminServerTest, WorksForPathsLongerThanSunPath) {
  std::string deep = dir_.path();
  while (deep.size() < 150) {
    deep += "/abcdefghijklmnopqrstuvwxyz";
    ASSERT_EQ(::mkdir(deep.c_str(), 0700), 0);
  }
  AdminServerOptions o;
  o.socket_path = deep + "/admin.sock";
  ASSERT_GT(o.socket_path.size(), sizeof(sockaddr_un::sun_path));
  auto s = AdminServer::Start(o, [](const Json&) { return Json::MakeObject().Set("ok", true); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  struct stat sb;
  ASSERT_EQ(::lstat(o.socket_path.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  auto r = AdminCall(o.socket_path, Req("x"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)["ok"].bool_or(false));
}

TEST_F(AdminServerTest, HandlerExceptionsBecomeErrorReplies) {
  auto s = Start([](const Json&) -> Json { throw std::runtime_error("boom"); });
  ASSERT_TRUE(s.ok());
  auto r = AdminCall(Path(), Req("x"), 5s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReplyStatus(*r).code(), Status::Code::kInternal);
  EXPECT_THAT(ReplyStatus(*r).message(), HasSubstr("boom"));
}

// ---- the commands ----

class AdminServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    o.gc_grace = 0ms;
    o.remote = &faulty_;
    o.remote_poll = 10ms;
    auto s = ObjectStore::Open(o, &tiered_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    FsOptions fo;
    fo.cache_dir = dir_.path() + "/cache";
    fo.flush_interval = 0ms;  // only explicit flushes
    auto f = FileSystem::Create(store_.get(), fo);
    ASSERT_TRUE(f.ok());
    fs_ = std::move(f).value();
    ASSERT_EQ(::mkdir((dir_.path() + "/blocks").c_str(), 0700), 0);
    DaemonInfo info;
    info.mode = "mount";
    info.version = "test";
    info.data_dir = dir_.path();
    info.blocks_dir = dir_.path() + "/blocks";
    info.mountpoint = "/mnt/x";
    info.backend = "temporalx://node:1";
    AdminTargets t;
    t.store = store_.get();
    t.fs = fs_.get();
    t.reload_keys = [this]() -> Result<size_t> {
      reloads_++;
      if (reload_fails_) return Status::InvalidArgument("keys file line 3: bad");
      return size_t{2};
    };
    svc_ = std::make_unique<AdminService>(info, t);
  }
  void TearDown() override {
    svc_.reset();
    fs_.reset();
    store_.reset();
  }
  Json Call(Json req) { return svc_->Handle(req); }
  Json Ok(Json req) {
    Json r = Call(std::move(req));
    EXPECT_TRUE(ReplyStatus(r).ok()) << r.Dump();
    return r;
  }
  // Writes n bytes into a new file through the file system and leaves it open (dirty).
  uint64_t WriteOpen(const std::string& name, size_t n) {
    auto bucket = fs_->Lookup(kRootInode, "bkt");
    if (!bucket.ok()) bucket = fs_->MakeDir(kRootInode, "bkt", PosixAttrs{});
    EXPECT_TRUE(bucket.ok()) << bucket.status().ToString();
    auto fh = fs_->Create(bucket->ino, name, PosixAttrs{});
    EXPECT_TRUE(fh.ok()) << fh.status().ToString();
    EXPECT_TRUE(fs_->Write(fh->first, 0, testing::ChaCha("seed7", n)).ok());
    return fh->first;
  }

  testing::TempDir dir_;
  MemoryBlockStore local_, remote_;
  FaultyBlockStore faulty_{&remote_};
  TieredStore tiered_{&local_, &faulty_};
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<AdminService> svc_;
  int reloads_ = 0;
  bool reload_fails_ = false;
};

TEST_F(AdminServiceTest, StatusDescribesTheDaemon) {
  Json s = Ok(Req("status"));
  EXPECT_EQ(s["source"].str(), "daemon");
  EXPECT_EQ(s["data_dir"].str(), dir_.path());
  EXPECT_EQ(s["daemon"]["pid"].int_or(0), ::getpid());
  EXPECT_EQ(s["daemon"]["mode"].str(), "mount");
  EXPECT_EQ(s["daemon"]["mountpoint"].str(), "/mnt/x");
  EXPECT_TRUE(s["daemon"]["s3_listen"].is_null());
  EXPECT_EQ(s["backend"].str(), "temporalx://node:1");
  EXPECT_EQ(s["remote"].str(), faulty_.Describe());
  EXPECT_TRUE(s["remote_healthy"].bool_or(false));
  for (const char* k : {"pending_uploads", "pending_upload_bytes", "oldest_pending_upload_age_s",
                        "pending_remote_deletes", "uploaded_blocks", "uploaded_bytes", "dirty_bytes",
                        "dirty_files", "open_files", "local_store_bytes", "local_store_files"})
    EXPECT_TRUE(s[k].is_int()) << k << " in " << s.Dump();
  EXPECT_TRUE(s["last_gc"].is_null());
  EXPECT_TRUE(s["last_flush_unix"].is_null());
  Json info = Ok(Req("info"));
  EXPECT_EQ(info["daemon"]["mode"].str(), "mount");
}

TEST_F(AdminServiceTest, FlushCommitsDirtyFilesAndReportsThem) {
  uint64_t fh = WriteOpen("f", 3 * 262144 + 1000);
  Json before = Ok(Req("status"));
  EXPECT_EQ(before["dirty_bytes"].int_or(0), 3 * 262144 + 1000);
  EXPECT_EQ(before["dirty_files"].int_or(0), 1);
  EXPECT_EQ(before["open_files"].int_or(0), 1);
  EXPECT_EQ(Ok(Req("progress"))["dirty_bytes"].int_or(0), 3 * 262144 + 1000);
  // Not visible to S3 yet.
  EXPECT_FALSE(store_->Head("bkt", "f").ok() && store_->Head("bkt", "f")->size == 3 * 262144 + 1000);

  Json f = Ok(Req("flush"));
  EXPECT_EQ(f["flushed_bytes"].int_or(0), 3 * 262144 + 1000);
  EXPECT_EQ(f["flushed_files"].int_or(0), 1);
  auto head = store_->Head("bkt", "f");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 3u * 262144 + 1000);
  Json after = Ok(Req("status"));
  EXPECT_EQ(after["dirty_bytes"].int_or(-1), 0);
  EXPECT_EQ(after["dirty_files"].int_or(-1), 0);
  EXPECT_TRUE(after["last_flush_unix"].is_int());
  EXPECT_TRUE(fs_->Release(fh).ok());
  EXPECT_EQ(Ok(Req("status"))["open_files"].int_or(-1), 0);
}

TEST_F(AdminServiceTest, FlushWaitsForUploadsAndTimesOutWhileTheRemoteIsDown) {
  faulty_.SetUnavailableFor(3s);
  uint64_t fh = WriteOpen("g", 2 * 262144);
  Json f = Call(Req("flush").Set("wait_upload_s", 0.5));
  Status st = ReplyStatus(f);
  EXPECT_EQ(st.code(), Status::Code::kTimeout) << f.Dump();
  EXPECT_THAT(st.message(), HasSubstr("not yet uploaded"));
  Json s = Ok(Req("status"));
  EXPECT_GT(s["pending_uploads"].int_or(0), 0);
  EXPECT_GT(s["pending_upload_bytes"].int_or(0), 0);
  // The remote comes back: a longer wait succeeds and nothing is left.
  Json ok = Ok(Req("flush").Set("wait_upload_s", 30));
  EXPECT_EQ(ok["pending_uploads"].int_or(-1), 0);
  s = Ok(Req("status"));
  EXPECT_EQ(s["pending_uploads"].int_or(-1), 0);
  EXPECT_GT(s["uploaded_blocks"].int_or(0), 0);
  EXPECT_TRUE(fs_->Release(fh).ok());
}

TEST_F(AdminServiceTest, CancelEndsAWaitingFlush) {
  faulty_.SetUnavailableFor(60s);
  uint64_t fh = WriteOpen("h", 262144);
  auto start = std::chrono::steady_clock::now();
  auto waiting = std::async(std::launch::async, [&] { return Call(Req("flush").Set("wait_upload_s", 60)); });
  std::this_thread::sleep_for(300ms);
  svc_->Cancel();
  Json r = waiting.get();
  EXPECT_EQ(ReplyStatus(r).code(), Status::Code::kUnavailable) << r.Dump();
  EXPECT_THAT(ReplyStatus(r).message(), HasSubstr("shutting down"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // Later requests are refused the same way.
  EXPECT_EQ(ReplyStatus(Call(Req("status"))).code(), Status::Code::kUnavailable);
  faulty_.SetUnavailableFor(0ms);
  EXPECT_TRUE(fs_->Release(fh).ok());
}

TEST_F(AdminServiceTest, GcRunsNowAndStatusRemembersIt) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  ASSERT_TRUE(store_->Put("bkt", "k", testing::ChaCha("seed3", 2 * 262144)).ok());
  ASSERT_TRUE(store_->WaitUploaded(10s).ok());
  ASSERT_TRUE(store_->Delete("bkt", "k").ok());
  Json g = Ok(Req("gc").Set("grace_s", 0));
  EXPECT_GE(g["blocks_deleted"].int_or(0), 2);
  EXPECT_GE(g["bytes_deleted"].int_or(0), 2 * 262144);
  Json last = Ok(Req("status"))["last_gc"];
  ASSERT_TRUE(last.is_object());
  EXPECT_TRUE(last["ok"].bool_or(false));
  EXPECT_EQ(last["blocks_deleted"].int_or(-1), g["blocks_deleted"].int_or(-2));
  EXPECT_TRUE(last["unix"].is_int());
}

TEST_F(AdminServiceTest, FsckRunsInsideAndReportsProblems) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  auto info = store_->Put("bkt", "k", testing::ChaCha("seed4", 262144 + 5));
  ASSERT_TRUE(info.ok());
  Json clean = Ok(Req("fsck"));
  EXPECT_TRUE(clean["clean"].bool_or(false)) << clean.Dump();
  // A block lost from the local store (and the remote): fsck names it.
  ASSERT_TRUE(store_->WaitUploaded(10s).ok());
  ASSERT_TRUE(local_.Delete(info->cid).ok());
  ASSERT_TRUE(remote_.Delete(info->cid).ok());
  Json bad = Ok(Req("fsck").Set("repair", false));
  EXPECT_FALSE(bad["clean"].bool_or(true));
  ASSERT_EQ(bad["missing_blocks"].array().size(), 1u) << bad.Dump();
  // fsck names blocks by their multihash, as raw CIDs.
  auto mh = info->cid.multihash();
  EXPECT_THAT(bad["missing_blocks"].array()[0].str(),
              HasSubstr(Cid::V1(Codec::kRaw, Bytes(mh.begin(), mh.end())).ToString()));
  EXPECT_FALSE(Ok(Req("status"))["fsck_running"].bool_or(true));
  EXPECT_TRUE(Ok(Req("progress"))["fsck"].is_null());
}

TEST_F(AdminServiceTest, ReloadKeysCallsTheHookAndReportsItsErrors) {
  Json r = Ok(Req("reload-keys"));
  EXPECT_EQ(r["keys"].int_or(0), 2);
  EXPECT_EQ(reloads_, 1);
  reload_fails_ = true;
  Json bad = Call(Req("reload-keys"));
  EXPECT_EQ(ReplyStatus(bad).code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(ReplyStatus(bad).message(), HasSubstr("line 3"));
  // A daemon without an S3 listener has nothing to reload.
  AdminService no_s3(DaemonInfo{}, AdminTargets{store_.get(), nullptr, nullptr, nullptr});
  EXPECT_EQ(ReplyStatus(no_s3.Handle(Req("reload-keys"))).code(), Status::Code::kNotSupported);
}

TEST_F(AdminServiceTest, RejectsUnknownCommandsAndBadArguments) {
  EXPECT_THAT(ReplyStatus(Call(Req("reboot"))).message(), HasSubstr("unknown command \"reboot\""));
  EXPECT_EQ(ReplyStatus(Call(Req("gc").Set("grace_s", -1))).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplyStatus(Call(Req("gc").Set("grace_s", "soon"))).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplyStatus(Call(Req("flush").Set("wait_upload_s", true))).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplyStatus(Call(Req("fsck").Set("repair", "yes"))).code(), Status::Code::kInvalidArgument);
  // Unknown members are ignored (newer clients, older daemons).
  EXPECT_TRUE(ReplyStatus(Call(Req("status").Set("verbose", true))).ok());
}

TEST_F(AdminServiceTest, StatusCountsTheLocalStore) {
  std::string shard = dir_.path() + "/blocks/AB";
  ASSERT_EQ(::mkdir(shard.c_str(), 0700), 0);
  for (int i = 0; i < 3; ++i) {
    int fd = ::open((shard + "/b" + std::to_string(i) + ".data").c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "0123456789", 10), 10);
    ::close(fd);
  }
  Json s = Ok(Req("status"));
  EXPECT_EQ(s["local_store_files"].int_or(0), 3);
  EXPECT_EQ(s["local_store_bytes"].int_or(0), 30);
  EXPECT_FALSE(s["local_store_partial"].bool_or(true));
}

// The service behind a real socket, as a daemon runs it.
TEST_F(AdminServiceTest, ServedOverTheSocket) {
  AdminServerOptions o;
  o.socket_path = dir_.path() + "/admin.sock";
  AdminService* svc = svc_.get();
  auto server = AdminServer::Start(o, [svc](const Json& r) { return svc->Handle(r); });
  ASSERT_TRUE(server.ok());
  uint64_t fh = WriteOpen("s", 1000);
  auto r = AdminCall(o.socket_path, Req("status"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["dirty_bytes"].int_or(0), 1000);
  r = AdminCall(o.socket_path, Req("flush"), 30s);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(ReplyStatus(*r).ok()) << r->Dump();
  EXPECT_TRUE(store_->Head("bkt", "s").ok());
  EXPECT_TRUE(fs_->Release(fh).ok());
}

}  // namespace
}  // namespace s3xfs::admin
