// Write-back to a remote block store: the core's upload queue over a local store, with the
// remote played by a fault-injecting in-memory store (the gRPC client has its own end-to-end
// tests against a real node in tests/temporalx).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "s3xfs/blockstore/faulty.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/blockstore/tiered.h"
#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/core/object_store.h"
#include "testutil.h"

namespace s3xfs {
namespace {

using namespace std::chrono_literals;

class RemoteTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    o.gc_grace = 0ms;
    o.remote = &faulty_;
    o.remote_poll = 10ms;
    auto s = ObjectStore::Open(o, &tiered_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  RemoteQueueStats Queue() {
    auto st = store_->RemoteState();
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->queue : RemoteQueueStats{};
  }
  // The whole object read back from the remote alone, by its root CID.
  Result<Bytes> ReadFromRemote(const Cid& root) {
    DagReader reader(&remote_);
    Bytes out;
    S3XFS_RETURN_IF_ERROR(reader.Read(root, 0, UINT64_MAX, [&](ByteView b) {
      out.insert(out.end(), b.begin(), b.end());
      return Status::OK();
    }));
    return out;
  }

  testing::TempDir dir_;
  MemoryBlockStore local_, remote_;
  FaultyBlockStore faulty_{&remote_};
  TieredStore tiered_{&local_, &faulty_};
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(RemoteTest, CommittedBlocksAreUploadedInTheBackground) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Bytes data = testing::ChaCha("seed1", 3 * 262144 + 100);
  auto info = store_->Put("bkt", "k", data);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(store_->WaitUploaded(10s).ok());
  auto back = ReadFromRemote(info->cid);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
  auto st = store_->RemoteState();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->enabled);
  EXPECT_EQ(st->queue.uploads, 0u);
  EXPECT_GE(st->uploaded_blocks, 5u);  // 4 leaves + the root
  EXPECT_TRUE(st->healthy);
}

TEST_F(RemoteTest, WritesAndCachedReadsWorkWhileTheRemoteIsDown) {
  faulty_.SetUnavailableFor(std::chrono::hours(1));
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Bytes data = testing::ChaCha("seed2", 600000);
  auto info = store_->Put("bkt", "k", data);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto got = store_->Get("bkt", "k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  // The queue holds every block; the remote has none.
  RemoteQueueStats q = Queue();
  EXPECT_EQ(q.uploads, 4u);  // 3 leaves + root
  EXPECT_GE(q.upload_bytes, data.size());
  EXPECT_GT(q.oldest_upload_ns, 0);
  EXPECT_EQ(remote_.block_count(), 0u);
  auto wait = store_->WaitUploaded(300ms);
  EXPECT_EQ(wait.code(), Status::Code::kTimeout);
  // Back up: everything arrives.
  faulty_.SetUnavailableFor(0ms);
  ASSERT_TRUE(store_->WaitUploaded(20s).ok());
  auto back = ReadFromRemote(info->cid);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
}

TEST_F(RemoteTest, ARestartResumesPendingUploads) {
  faulty_.SetUnavailableFor(std::chrono::hours(1));
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Bytes data = testing::ChaCha("seed3", 300000);
  auto info = store_->Put("bkt", "k", data);
  ASSERT_TRUE(info.ok());
  store_.reset();  // the daemon stops with uploads pending
  auto q = ReadRemoteQueue(dir_.path() + "/ledger.db");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->enabled);
  EXPECT_EQ(q->remote, faulty_.Describe());
  EXPECT_EQ(q->queue.uploads, 3u);
  faulty_.SetUnavailableFor(0ms);
  Open();
  ASSERT_TRUE(store_->WaitUploaded(20s).ok());
  auto back = ReadFromRemote(info->cid);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
}

TEST_F(RemoteTest, GarbageIsDeletedRemotelyOnlyIfItWasUploaded) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Bytes up = testing::ChaCha("seed4", 300000);
  auto uploaded = store_->Put("bkt", "uploaded", up);
  ASSERT_TRUE(uploaded.ok());
  ASSERT_TRUE(store_->WaitUploaded(10s).ok());
  EXPECT_EQ(remote_.block_count(), 3u);
  // Written and deleted while the remote is down: never reaches it, and nothing is deleted
  // there on its behalf.
  faulty_.SetUnavailableFor(std::chrono::hours(1));
  auto local_only = store_->Put("bkt", "local-only", testing::ChaCha("seed5", 300000));
  ASSERT_TRUE(local_only.ok());
  ASSERT_TRUE(store_->Delete("bkt", "local-only").ok());
  ASSERT_TRUE(store_->CollectGarbage(0ms).ok());
  RemoteQueueStats q = Queue();
  EXPECT_EQ(q.uploads, 0u);
  EXPECT_EQ(q.deletes, 0u);
  uint64_t deletes_before = faulty_.calls(FaultyBlockStore::Op::kDelete);
  // The uploaded object goes too: its remote references are dropped once the node is back.
  ASSERT_TRUE(store_->Delete("bkt", "uploaded").ok());
  ASSERT_TRUE(store_->CollectGarbage(0ms).ok());
  EXPECT_EQ(Queue().deletes, 3u);
  faulty_.SetUnavailableFor(0ms);
  for (int i = 0; i < 500 && Queue().deletes > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(Queue().deletes, 0u);
  EXPECT_EQ(remote_.block_count(), 0u);
  EXPECT_GE(faulty_.calls(FaultyBlockStore::Op::kDelete), deletes_before + 3);
}

TEST_F(RemoteTest, ReadsFetchMissingBlocksFromTheRemoteAndKeepThem) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Bytes data = testing::ChaCha("seed6", 700000);
  auto info = store_->Put("bkt", "k", data);
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(store_->WaitUploaded(10s).ok());
  // Lose the local copies (an evicted cache, a new machine with the ledger).
  std::vector<Cid> all;
  ASSERT_TRUE(local_.ForEach([&](const Cid& c) { all.push_back(c); return Status::OK(); }).ok());
  for (const Cid& c : all) ASSERT_TRUE(local_.Delete(c).ok());
  ASSERT_EQ(local_.block_count(), 0u);
  auto got = store_->Get("bkt", "k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_EQ(local_.block_count(), all.size());
  // With neither copy reachable, a read fails with the remote's error instead of hanging.
  for (const Cid& c : all) ASSERT_TRUE(local_.Delete(c).ok());
  faulty_.SetUnavailableFor(std::chrono::hours(1));
  auto fail = store_->Get("bkt", "k");
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().code(), Status::Code::kUnavailable);
}

TEST(RemoteAdoption, ADataDirectoryMeetingARemoteUploadsWhatItHad) {
  testing::TempDir dir;
  MemoryBlockStore local, remote;
  Cid root;
  Bytes data = testing::ChaCha("seed7", 400000);
  {
    ObjectStoreOptions o;
    o.ledger_path = dir.path() + "/ledger.db";
    auto s = ObjectStore::Open(o, &local);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->CreateBucket("bkt").ok());
    auto info = (*s)->Put("bkt", "k", data);
    ASSERT_TRUE(info.ok());
    root = info->cid;
  }
  TieredStore tiered(&local, &remote);
  ObjectStoreOptions o;
  o.ledger_path = dir.path() + "/ledger.db";
  o.remote = &remote;
  o.remote_poll = 10ms;
  auto s = ObjectStore::Open(o, &tiered);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->WaitUploaded(10s).ok());
  DagReader reader(&remote);
  Bytes out;
  ASSERT_TRUE(reader.Read(root, 0, UINT64_MAX, [&](ByteView b) {
    out.insert(out.end(), b.begin(), b.end());
    return Status::OK();
  }).ok());
  EXPECT_EQ(out, data);
}


// ---- a remote that pins roots (Kubo) ----

// A node that keeps blocks only while pinned, as Kubo does: PinRoot needs the whole DAG stored
// (NotFound otherwise, as an offline Kubo answers), pins are recorded, moves counted.
class PinningStore : public BlockStore {
 public:
  explicit PinningStore(MemoryBlockStore* inner) : inner_(inner) {}
  Status Put(const Cid& cid, ByteView data) override { return inner_->Put(cid, data); }
  Result<Bytes> Get(const Cid& cid) override { return inner_->Get(cid); }
  Result<bool> Has(const Cid& cid) override { return inner_->Has(cid); }
  Result<uint64_t> Size(const Cid& cid) override { return inner_->Size(cid); }
  Status Delete(const Cid& cid) override {
    ++deletes_;
    return inner_->Delete(cid);
  }
  Status Sync() override { return Status::OK(); }
  Status ForEach(const std::function<Status(const Cid&)>& fn) override { return inner_->ForEach(fn); }
  std::string Describe() const override { return "pinning"; }
  bool pins_roots() const override { return true; }
  Status PinRoot(const Cid& root, const std::optional<Cid>& replaces) override {
    if (before_pin) before_pin(root);
    DagReader reader(inner_);
    Status whole = reader.Read(root, 0, UINT64_MAX, [](ByteView) { return Status::OK(); });
    std::lock_guard l(mu_);
    if (!whole.ok()) {
      ++refused_;
      return Status::NotFound("pin " + root.ToString() + ": " + whole.message());
    }
    pins_.insert(root);
    if (replaces) {
      pins_.erase(*replaces);
      ++moves_;
    }
    return Status::OK();
  }
  Status UnpinRoot(const Cid& root) override {
    std::lock_guard l(mu_);
    pins_.erase(root);
    return Status::OK();
  }
  std::set<Cid> pins() {
    std::lock_guard l(mu_);
    return pins_;
  }
  int moves() {
    std::lock_guard l(mu_);
    return moves_;
  }
  int refused() {
    std::lock_guard l(mu_);
    return refused_;
  }
  int deletes() const { return deletes_.load(); }
  std::function<void(const Cid&)> before_pin;  // set before use (not synchronised)

 private:
  MemoryBlockStore* inner_;
  std::mutex mu_;
  std::set<Cid> pins_;  // GUARDED_BY(mu_)
  int moves_ = 0, refused_ = 0;  // GUARDED_BY(mu_)
  std::atomic<int> deletes_{0};
};

class RemotePinsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    o.gc_grace = 0ms;
    o.remote = &faulty_;
    o.remote_poll = 10ms;
    o.remote_pin_retry = 50ms;
    auto s = ObjectStore::Open(o, &tiered_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  RemoteQueueStats Queue() {
    auto st = store_->RemoteState();
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->queue : RemoteQueueStats{};
  }
  // Until nothing is left to upload, pin or unpin.
  void Settle() {
    ASSERT_TRUE(store_->WaitUploaded(20s).ok());
    for (int i = 0; i < 2000 && Queue().unpins > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(Queue().unpins, 0u);
  }

  testing::TempDir dir_;
  MemoryBlockStore local_, remote_;
  PinningStore pinning_{&remote_};
  FaultyBlockStore faulty_{&pinning_};
  TieredStore tiered_{&local_, &faulty_};
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(RemotePinsTest, EveryObjectRootIsPinnedAndOnlyOnceItsBlocksAreThere) {
  faulty_.SetDelay(2ms);  // slow uploads: pins would overtake them if they could
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  std::set<Cid> roots;
  for (int i = 0; i < 6; ++i) {
    auto info = store_->Put("bkt", "k" + std::to_string(i),
                            testing::ChaCha("p" + std::to_string(i), 100000 + i * 150000));
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    roots.insert(info->cid);
  }
  // An empty object has nothing to pin.
  ASSERT_TRUE(store_->Put("bkt", "empty", Bytes()).ok());
  Settle();
  faulty_.SetDelay(0ms);
  EXPECT_EQ(pinning_.pins(), roots);
  EXPECT_EQ(pinning_.refused(), 0) << "a pin was tried before its blocks were uploaded";
  auto st = store_->RemoteState();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->pins_roots);
  EXPECT_EQ(st->pinned_roots, roots.size());
  EXPECT_EQ(st->queue.pins, 0u);
}

TEST_F(RemotePinsTest, OverwritesMoveThePinDeletesUnpinAndNothingIsDeletedOnTheNode) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  auto v1 = store_->Put("bkt", "k", testing::ChaCha("v1", 400000));
  ASSERT_TRUE(v1.ok());
  Settle();
  EXPECT_EQ(pinning_.pins(), std::set<Cid>{v1->cid});
  auto v2 = store_->Put("bkt", "k", testing::ChaCha("v2", 500000));
  ASSERT_TRUE(v2.ok());
  Settle();
  EXPECT_EQ(pinning_.pins(), std::set<Cid>{v2->cid});
  EXPECT_EQ(pinning_.moves(), 1) << "the overwrite's pin moved from the old root";
  // A copy shares the root: deleting one of the two keeps the pin.
  ASSERT_TRUE(store_->Copy("bkt", "k", "bkt", "k2", CopyOptions{}).ok());
  ASSERT_TRUE(store_->Delete("bkt", "k").ok());
  Settle();
  EXPECT_EQ(pinning_.pins(), std::set<Cid>{v2->cid});
  ASSERT_TRUE(store_->Delete("bkt", "k2").ok());
  Settle();
  EXPECT_TRUE(pinning_.pins().empty());
  // GC forgets the blocks locally; the node keeps them (its own GC reclaims unpinned blocks).
  const size_t on_node = remote_.block_count();
  ASSERT_TRUE(store_->CollectGarbage(0ms).ok());
  for (int i = 0; i < 200 && Queue().deletes > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(Queue().deletes, 0u);
  EXPECT_EQ(pinning_.deletes(), 0);
  EXPECT_EQ(remote_.block_count(), on_node);
}

TEST_F(RemotePinsTest, PinsWaitForTheNodeAndSurviveARestart) {
  faulty_.SetUnavailableFor(std::chrono::hours(1));
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  auto info = store_->Put("bkt", "k", testing::ChaCha("down", 300000));
  ASSERT_TRUE(info.ok());
  auto got = store_->Get("bkt", "k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Queue().pins, 1u);
  store_.reset();
  auto q = ReadRemoteQueue(dir_.path() + "/ledger.db");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->pins_roots);
  EXPECT_EQ(q->queue.pins, 1u);
  EXPECT_EQ(q->queue.uploads, 3u);
  faulty_.SetUnavailableFor(0ms);
  Open();
  Settle();
  EXPECT_EQ(pinning_.pins(), std::set<Cid>{info->cid});
  EXPECT_EQ(pinning_.refused(), 0);
}

TEST_F(RemotePinsTest, ANodeThatLostBlocksGetsThemAgainBeforeThePin) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  // The node loses a block between its upload and the pin (its GC ran, say).
  std::atomic<bool> lost{false};
  pinning_.before_pin = [&](const Cid& root) {
    if (lost.exchange(true)) return;
    std::vector<Cid> all;
    (void)remote_.ForEach([&](const Cid& c) {
      if (!std::ranges::equal(c.multihash(), root.multihash())) all.push_back(c);
      return Status::OK();
    });
    ASSERT_FALSE(all.empty());
    ASSERT_TRUE(remote_.Delete(all.front()).ok());
  };
  auto info = store_->Put("bkt", "k", testing::ChaCha("lost", 600000));
  ASSERT_TRUE(info.ok());
  Settle();
  EXPECT_EQ(pinning_.refused(), 1);
  EXPECT_EQ(pinning_.pins(), std::set<Cid>{info->cid});
  DagReader reader(&remote_);
  Status whole = reader.Read(info->cid, 0, UINT64_MAX, [](ByteView) { return Status::OK(); });
  EXPECT_TRUE(whole.ok()) << whole.ToString();
}

TEST_F(RemotePinsTest, PinsAreExactlyTheLiveRootsAfterEveryKindOfChange) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  auto put = [&](const std::string& key, const std::string& seed, size_t n) {
    auto r = store_->Put("bkt", key, testing::ChaCha(seed, n));
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  };
  put("a", "a", 300000);
  put("b", "b", 200000);
  put("dir/x", "x", 100);
  ASSERT_TRUE(store_->Copy("bkt", "b", "bkt", "c", CopyOptions{}).ok());
  ASSERT_TRUE(store_->Link("bkt", "b", "b-link").ok());
  ASSERT_TRUE(store_->Rename("bkt", "c", "a").ok());          // a's old root is unused now
  ASSERT_TRUE(store_->Rename("bkt", "dir/", "moved/").ok());   // roots unchanged
  ASSERT_TRUE(store_->MakeDirectory("bkt", "empty-dir/", PosixAttrs{}).ok());
  put("marker/", "marker", 5000);                              // an S3 "dir/" object with content
  // Multipart: parts are not objects (not pinned); the completed object is.
  auto up = store_->CreateMultipart("bkt", "mp", PutOptions{});
  ASSERT_TRUE(up.ok());
  Bytes p1 = testing::ChaCha("p1", 5u << 20), p2 = testing::ChaCha("p2", 1000);
  auto e1 = store_->UploadPart(*up, 1, p1);
  auto e2 = store_->UploadPart(*up, 2, p2);
  ASSERT_TRUE(e1.ok() && e2.ok());
  auto aborted = store_->CreateMultipart("bkt", "gone", PutOptions{});
  ASSERT_TRUE(aborted.ok());
  ASSERT_TRUE(store_->UploadPart(*aborted, 1, testing::ChaCha("p3", 1000)).ok());
  Settle();  // the parts' blocks are uploaded, nothing of them is pinned
  ASSERT_TRUE(store_->CompleteMultipart(*up, {{1, e1->etag}, {2, e2->etag}}).ok());
  ASSERT_TRUE(store_->AbortMultipart(*aborted).ok());
  // An overwrite while a reader has the old version open (the reader keeps it locally): the new
  // version is pinned; the old root stays pinned, "a" uses it too.
  auto reader = store_->OpenReader("bkt", "b");
  ASSERT_TRUE(reader.ok());
  put("b", "b2", 250000);
  put("empty", "", 0);
  put("moved/x", "x2", 150);  // a plain overwrite: the pin moves
  ASSERT_TRUE(store_->Delete("bkt", "b-link").ok());
  Settle();
  reader->reset();
  Settle();

  std::set<Cid> live;
  auto list = store_->List("bkt", ListOptions{});
  ASSERT_TRUE(list.ok());
  for (const ObjectInfo& o : list->objects) {
    auto h = store_->Head("bkt", o.key);
    ASSERT_TRUE(h.ok()) << o.key;
    if (h->size > 0) live.insert(h->cid);
  }
  EXPECT_EQ(live.size(), 5u);  // a (= the old b), b, moved/x, marker/, mp
  EXPECT_EQ(pinning_.pins(), live);
  EXPECT_EQ(pinning_.refused(), 0);
  EXPECT_GE(pinning_.moves(), 1);
}
}  // namespace
}  // namespace s3xfs
