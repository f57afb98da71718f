// Write-back to a remote block store: the core's upload queue over a local store, with the
// remote played by a fault-injecting in-memory store (the gRPC client has its own end-to-end
// tests against a real node in tests/temporalx).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace s3xfs
