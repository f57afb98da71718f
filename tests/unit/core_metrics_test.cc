// The series the core and the block stores feed: dirty bytes (FileSystem), GC counters,
// MeteredStore operations and errors by kind, TieredStore hits and misses. They live in the
// global registry, so each test looks at deltas.
#include <gtest/gtest.h>

#include <algorithm>

#include "s3xfs/base/metrics.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/blockstore/metered.h"
#include "s3xfs/blockstore/tiered.h"
#include "s3xfs/core/filesystem.h"
#include "s3xfs/core/object_store.h"
#include "testutil.h"

namespace s3xfs {
namespace {

constexpr uint64_t kChunk = 262144;

double M(const std::string& series) { return testing::MetricValue(series); }

class CoreMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    o.gc_grace = std::chrono::milliseconds(0);
    auto s = ObjectStore::Open(o, &mem_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  }
  testing::TempDir dir_;
  MemoryBlockStore mem_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(CoreMetricsTest, DirtyBytesFollowWritesTruncatesAndFlushes) {
  FsOptions fo;
  fo.cache_dir = dir_.path();
  fo.flush_interval = std::chrono::milliseconds(0);
  auto fs = std::move(FileSystem::Create(store_.get(), fo).value());
  auto bucket = store_->HeadBucket("bkt");
  ASSERT_TRUE(bucket.ok());
  InodeId root = bucket->root_ino;
  EXPECT_EQ(fs->DirtyBytes(), 0u);

  auto a = fs->Create(root, "a", PosixAttrs{});
  auto b = fs->Create(root, "b", PosixAttrs{});
  ASSERT_TRUE(a.ok() && b.ok());
  Bytes data = testing::ChaCha("dirty", 300000);
  ASSERT_TRUE(fs->Write(a->first, 0, data).ok());  // chunks 0 and 1
  EXPECT_EQ(fs->DirtyBytes(), 2 * kChunk);
  ASSERT_TRUE(fs->Write(a->first, 10, ByteView(data.data(), 100)).ok());  // same chunk
  EXPECT_EQ(fs->DirtyBytes(), 2 * kChunk);
  ASSERT_TRUE(fs->Write(b->first, 5 * kChunk, ByteView(data.data(), 10)).ok());
  EXPECT_EQ(fs->DirtyBytes(), 3 * kChunk);  // both files

  ASSERT_TRUE(fs->Flush(a->first).ok());
  EXPECT_EQ(fs->DirtyBytes(), kChunk);  // only b's chunk

  ASSERT_TRUE(fs->Write(a->first, 0, data).ok());
  EXPECT_EQ(fs->DirtyBytes(), 3 * kChunk);
  SetAttrRequest shrink;
  shrink.size = 1000;  // truncate(2) drops chunk 1 and commits the file
  ASSERT_TRUE(fs->SetAttr(a->second.ino, shrink).ok());
  EXPECT_EQ(fs->DirtyBytes(), kChunk);

  ASSERT_TRUE(fs->Release(b->first).ok());  // release flushes
  EXPECT_EQ(fs->DirtyBytes(), 0u);
  ASSERT_TRUE(fs->Release(a->first).ok());
  EXPECT_EQ(fs->DirtyBytes(), 0u);
}

TEST_F(CoreMetricsTest, GcRunsAndDeletionsAreCounted) {
  double runs0 = std::max(0.0, M("s3xfs_gc_runs_total{result=\"ok\"}"));
  double blocks0 = std::max(0.0, M("s3xfs_gc_deleted_blocks_total"));
  double bytes0 = std::max(0.0, M("s3xfs_gc_deleted_bytes_total"));

  Bytes data = testing::ChaCha("gc", 3 * kChunk + 7);  // 4 leaves and a root
  ASSERT_TRUE(store_->Put("bkt", "k", data).ok());
  ASSERT_TRUE(store_->Delete("bkt", "k").ok());
  auto st = store_->CollectGarbage(std::chrono::milliseconds(0));
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->blocks_deleted, 5u);
  EXPECT_EQ(M("s3xfs_gc_runs_total{result=\"ok\"}"), runs0 + 1);
  EXPECT_EQ(M("s3xfs_gc_runs_total{result=\"error\"}"), 0);
  EXPECT_EQ(M("s3xfs_gc_deleted_blocks_total"), blocks0 + 5);
  EXPECT_EQ(M("s3xfs_gc_deleted_bytes_total"), bytes0 + st->bytes_deleted);
  EXPECT_GE(st->bytes_deleted, data.size());
  EXPECT_GT(M("s3xfs_gc_last_run_timestamp_seconds"), 1.6e9);
  EXPECT_EQ(M("s3xfs_gc_last_run_timestamp_seconds"), M("s3xfs_gc_last_success_timestamp_seconds"));
  EXPECT_EQ(M("s3xfs_gc_waiting_blocks"), 0);
  EXPECT_NE(metrics::Global().Render().find("# TYPE s3xfs_gc_runs_total counter\n"),
            std::string::npos);
}

TEST_F(CoreMetricsTest, StoredBlocksCountTheLedger) {
  auto before = store_->CountStoredBlocks();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->blocks, 0u);
  Bytes data = testing::ChaCha("stored", 2 * kChunk);
  ASSERT_TRUE(store_->Put("bkt", "k", data).ok());
  auto after = store_->CountStoredBlocks();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->blocks, 3u);  // 2 leaves and a root
  EXPECT_GT(after->bytes, data.size());
}

TEST(MeteredStore, CountsOperationsBytesAndErrorsByKind) {
  MemoryBlockStore mem;
  auto store = NewMeteredStore(&mem, "unit");
  auto ops = [](const char* op) {
    return M(std::string("s3xfs_blockstore_operations_total{store=\"unit\",op=\"") + op + "\"}");
  };
  auto errors = [](const char* op, const char* kind) {
    return M(std::string("s3xfs_blockstore_errors_total{store=\"unit\",op=\"") + op +
             "\",kind=\"" + kind + "\"}");
  };
  auto read = [] { return M("s3xfs_blockstore_read_bytes_total{store=\"unit\"}"); };
  auto written = [] { return M("s3xfs_blockstore_written_bytes_total{store=\"unit\"}"); };
  EXPECT_EQ(ops("get"), 0);  // every operation's series exists from the start
  EXPECT_EQ(errors("get", "not_found"), -1);  // errors appear when they happen
  Bytes a = testing::ChaCha("a", 1000), b = testing::ChaCha("b", 2000);
  Cid ca = Cid::Compute(1, Codec::kRaw, a), cb = Cid::Compute(1, Codec::kRaw, b);
  ASSERT_TRUE(store->Put(ca, a).ok());
  EXPECT_EQ(ops("put"), 1);
  EXPECT_EQ(written(), 1000);
  ASSERT_TRUE(store->Get(ca).ok());
  EXPECT_EQ(read(), 1000);
  EXPECT_FALSE(store->Get(cb).ok());  // absent
  EXPECT_EQ(errors("get", "not_found"), 1);
  auto many = store->GetMany(std::vector<Cid>{ca, cb, cb});
  EXPECT_EQ(ops("get"), 5);
  EXPECT_EQ(errors("get", "not_found"), 3);
  EXPECT_EQ(read(), 2000);
  auto has = store->Has(cb);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);  // false is an answer, not an error
  EXPECT_EQ(ops("has"), 1);
  EXPECT_EQ(errors("has", "not_found"), -1);
  ASSERT_TRUE(mem.CorruptForTest(ca));
  EXPECT_FALSE(store->Get(ca).ok());
  EXPECT_EQ(errors("get", "corruption"), 1);
  EXPECT_EQ(store->Describe(), "memory");
}

TEST(TieredStoreMetrics, HitsMissesAndFetchedBytes) {
  MemoryBlockStore local, remote;
  TieredStore tiered(&local, &remote);
  auto hits = [] { return std::max(0.0, M("s3xfs_local_cache_hits_total")); };
  auto misses = [] { return std::max(0.0, M("s3xfs_local_cache_misses_total")); };
  auto fetched = [] { return std::max(0.0, M("s3xfs_remote_fetched_bytes_total")); };
  double h0 = hits(), m0 = misses(), f0 = fetched();
  Bytes a = testing::ChaCha("remote-only", 5000);
  Cid ca = Cid::Compute(1, Codec::kRaw, a);
  ASSERT_TRUE(remote.Put(ca, a).ok());
  ASSERT_TRUE(tiered.Get(ca).ok());  // miss: fetched and kept
  EXPECT_EQ(misses(), m0 + 1);
  EXPECT_EQ(hits(), h0);
  EXPECT_EQ(fetched(), f0 + 5000);
  ASSERT_TRUE(tiered.Get(ca).ok());  // hit
  EXPECT_EQ(hits(), h0 + 1);
  EXPECT_EQ(misses(), m0 + 1);
}

}  // namespace
}  // namespace s3xfs
