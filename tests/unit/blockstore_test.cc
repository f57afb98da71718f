#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "s3xfs/blockstore/batch.h"
#include "s3xfs/blockstore/embedded.h"
#include "s3xfs/blockstore/faulty.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/multibase.h"
#include "testutil.h"

namespace s3xfs {
namespace {

namespace fs = std::filesystem;

Block MakeBlock(const std::string& seed, size_t n = 1000) {
  Bytes d = testing::ChaCha(seed, n);
  return Block{Cid::Compute(1, Codec::kRaw, d), d};
}

// Contract tests run against every implementation.
class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      store_ = std::make_unique<MemoryBlockStore>();
    } else {
      EmbeddedOptions opt;
      opt.sync_each_put = GetParam() == "embedded-sync";
      auto s = OpenEmbeddedStore(dir_.path() + "/data", opt);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(s).value();
    }
  }
  testing::TempDir dir_;
  std::unique_ptr<BlockStore> store_;
};

TEST_P(StoreContract, PutGetHasSizeDelete) {
  Block b = MakeBlock("a");
  EXPECT_FALSE(*store_->Has(b.cid));
  EXPECT_TRUE(store_->Get(b.cid).status().IsNotFound());
  EXPECT_TRUE(store_->Size(b.cid).status().IsNotFound());
  ASSERT_TRUE(store_->Put(b.cid, b.data).ok());
  ASSERT_TRUE(store_->Put(b.cid, b.data).ok());  // idempotent
  EXPECT_TRUE(*store_->Has(b.cid));
  EXPECT_EQ(*store_->Size(b.cid), 1000u);
  EXPECT_EQ(*store_->Get(b.cid), b.data);
  ASSERT_TRUE(store_->Sync().ok());
  ASSERT_TRUE(store_->Delete(b.cid).ok());
  ASSERT_TRUE(store_->Delete(b.cid).ok());  // absent is fine
  EXPECT_FALSE(*store_->Has(b.cid));
}

TEST_P(StoreContract, EmptyBlock) {
  Block b{Cid::Compute(1, Codec::kRaw, {}), {}};
  ASSERT_TRUE(store_->Put(b.cid, b.data).ok());
  auto got = store_->Get(b.cid);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
}

TEST_P(StoreContract, KeyedByMultihash) {
  // The same bytes under a CIDv0 (dag-pb) are found when put as CIDv1 raw.
  Block b = MakeBlock("mh");
  ASSERT_TRUE(store_->Put(b.cid, b.data).ok());
  Cid v0 = Cid::Compute(0, Codec::kDagPb, b.data);
  EXPECT_EQ(*store_->Get(v0), b.data);
}

TEST_P(StoreContract, PutManyGetManyAndForEach) {
  std::vector<Block> blocks;
  for (int i = 0; i < 50; ++i) blocks.push_back(MakeBlock("many" + std::to_string(i), 100 + i));
  std::vector<BlockRef> refs;
  std::vector<Cid> cids;
  for (auto& b : blocks) {
    refs.push_back({b.cid, b.data});
    cids.push_back(b.cid);
  }
  ASSERT_TRUE(store_->PutMany(refs).ok());
  cids.push_back(Cid::Compute(1, Codec::kRaw, AsBytes("absent")));
  auto got = store_->GetMany(cids);
  ASSERT_EQ(got.size(), 51u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(*got[i], blocks[i].data);
  EXPECT_TRUE(got[50].status().IsNotFound());
  std::set<Cid> seen;
  ASSERT_TRUE(store_->ForEach([&](const Cid& c) {
    seen.insert(c);
    return Status::OK();
  }).ok());
  EXPECT_EQ(seen.size(), 50u);
  for (auto& b : blocks) EXPECT_TRUE(seen.count(b.cid));  // enumerated as CIDv1 raw
  // Enumerating again sees everything again (regression: the embedded store's second ForEach
  // saw nothing, its directory offset shared with the first).
  size_t again = 0;
  ASSERT_TRUE(store_->ForEach([&](const Cid&) {
    ++again;
    return Status::OK();
  }).ok());
  EXPECT_EQ(again, 50u);
}

TEST_P(StoreContract, ConcurrentWritersAndReaders) {
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        // Threads overlap on half their blocks: same CID written concurrently.
        Block b = MakeBlock("c" + std::to_string((t % 2) * 1000 + i), 4096);
        if (!store_->Put(b.cid, b.data).ok()) ++errors;
        auto g = store_->Get(b.cid);
        if (!g.ok() || *g != b.data) ++errors;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
}

// PutManyUnsynced: readable at once, durable after SyncBlocks; SyncBlocks of a block that was
// never stored is NotFound.
TEST_P(StoreContract, UnsyncedPutsThenSyncBlocks) {
  std::vector<Block> blocks;
  for (int i = 0; i < 20; ++i) blocks.push_back(MakeBlock("u" + std::to_string(i), 3000 + i));
  std::vector<BlockRef> refs;
  std::vector<Cid> cids;
  for (const Block& b : blocks) {
    refs.push_back(BlockRef{b.cid, b.data});
    cids.push_back(b.cid);
  }
  ASSERT_TRUE(store_->PutManyUnsynced(refs).ok());
  for (const Block& b : blocks) EXPECT_EQ(*store_->Get(b.cid), b.data);
  ASSERT_TRUE(store_->PutManyUnsynced(refs).ok());  // idempotent
  cids.push_back(cids[3]);                          // duplicates are fine
  Status st = store_->SyncBlocks(cids);
  EXPECT_TRUE(st.ok()) << st.ToString();
  Block absent = MakeBlock("never stored");
  EXPECT_TRUE(store_->SyncBlocks(std::vector<Cid>{absent.cid}).IsNotFound());
  // A durable put of a block stored unsynced earlier is fine too.
  EXPECT_TRUE(store_->Put(blocks[0].cid, blocks[0].data).ok());
}

INSTANTIATE_TEST_SUITE_P(All, StoreContract,
                         ::testing::Values("memory", "embedded", "embedded-sync"));

std::string BlockPath(const std::string& dir, const Cid& c) {
  std::string key = Base32Encode(c.multihash(), true);
  return dir + "/blocks/" + key.substr(key.size() - 3, 2) + "/" + key + ".data";
}

TEST(EmbeddedStore, FlatfsLayoutAndShardingFile) {
  testing::TempDir t;
  auto s = OpenEmbeddedStore(t.path());
  ASSERT_TRUE(s.ok());
  Block b = MakeBlock("layout");
  ASSERT_TRUE((*s)->Put(b.cid, b.data).ok());
  EXPECT_TRUE(fs::exists(BlockPath(t.path(), b.cid)));
  std::ifstream sh(t.path() + "/blocks/SHARDING");
  std::string line;
  std::getline(sh, line);
  EXPECT_EQ(line, "/repo/flatfs/shard/v1/next-to-last/2");
  // No temporary files are left behind.
  for (auto& e : fs::recursive_directory_iterator(t.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(EmbeddedStore, FlippedByteOnDiskIsReportedWithItsCid) {
  testing::TempDir t;
  auto s = OpenEmbeddedStore(t.path());
  ASSERT_TRUE(s.ok());
  Block b = MakeBlock("rot", 262144);
  ASSERT_TRUE((*s)->Put(b.cid, b.data).ok());
  std::string p = BlockPath(t.path(), b.cid);
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(12345);
    char c;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(12345);
    f.write(&c, 1);
  }
  auto got = (*s)->Get(b.cid);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsCorruption());
  EXPECT_NE(got.status().message().find(b.cid.ToString()), std::string::npos);
  // A truncated file (torn write) is corruption too, and a re-put repairs it.
  fs::resize_file(p, 1000);
  EXPECT_TRUE((*s)->Get(b.cid).status().IsCorruption());
  ASSERT_TRUE((*s)->Put(b.cid, b.data).ok());
  EXPECT_EQ(*(*s)->Get(b.cid), b.data);
}

// A stored block whose bytes went bad without changing its size (a crash before an unsynced put
// was synced can leave that) is not trusted by the next put of the block: it is rewritten.
TEST(EmbeddedStore, PutRewritesADamagedCopyOfTheSameSize) {
  testing::TempDir t;
  auto s = OpenEmbeddedStore(t.path());
  ASSERT_TRUE(s.ok());
  Block b = MakeBlock("damaged", 262144);
  BlockRef ref{b.cid, b.data};
  ASSERT_TRUE((*s)->PutManyUnsynced(std::span<const BlockRef>(&ref, 1)).ok());
  std::string p = BlockPath(t.path(), b.cid);
  fs::resize_file(p, 0);
  fs::resize_file(p, 262144);  // the right size, all zeros
  s->reset();                  // what a crash leaves is found by the next process
  s = OpenEmbeddedStore(t.path());
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->Get(b.cid).status().IsCorruption());
  ASSERT_TRUE((*s)->Put(b.cid, b.data).ok());
  EXPECT_EQ(*(*s)->Get(b.cid), b.data);
  ASSERT_TRUE((*s)->PutManyUnsynced(std::span<const BlockRef>(&ref, 1)).ok());
  ASSERT_TRUE((*s)->SyncBlocks(std::vector<Cid>{b.cid}).ok());
  for (auto& e : fs::recursive_directory_iterator(t.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

// Linux reports a writeback error to one fdatasync only: a block whose sync failed is never
// reported durable by a later sync (which would open a new fd and get 0), whichever path asks,
// until a put writes it again.
std::atomic<int> g_sync_failures{0};
int FailingDatasync(int fd) {
  if (g_sync_failures.load() > 0) {
    g_sync_failures--;
    errno = EIO;
    return -1;
  }
  return ::fdatasync(fd);
}

TEST(EmbeddedStore, AFailedSyncIsNeverRetriedIntoSuccess) {
  testing::TempDir t;
  EmbeddedOptions o;
  o.datasync = FailingDatasync;
  auto s = OpenEmbeddedStore(t.path(), o);
  ASSERT_TRUE(s.ok());
  BlockStore& store = **s;
  Block a = MakeBlock("synced later", 5000), b = MakeBlock("put durably", 6000);
  BlockRef ra{a.cid, a.data}, rb{b.cid, b.data};
  ASSERT_TRUE(store.PutManyUnsynced(std::span<const BlockRef>(&ra, 1)).ok());
  g_sync_failures = 1;
  Status st = store.SyncBlocks(std::vector<Cid>{a.cid});
  EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
  EXPECT_EQ(g_sync_failures.load(), 0);
  // fdatasync works again, but the bytes of that file are not known to be on disk.
  st = store.SyncBlocks(std::vector<Cid>{a.cid});
  EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("earlier fdatasync"), std::string::npos) << st.ToString();
  EXPECT_EQ(*store.Get(a.cid), a.data);  // readable meanwhile
  // A durable put does not take the file as present: it writes a new one.
  ASSERT_TRUE(store.PutMany(std::span<const BlockRef>(&ra, 1)).ok());
  EXPECT_TRUE(store.SyncBlocks(std::vector<Cid>{a.cid}).ok());
  // The same through a synced put that finds an unsynced copy present.
  ASSERT_TRUE(store.PutManyUnsynced(std::span<const BlockRef>(&rb, 1)).ok());
  g_sync_failures = 1;
  EXPECT_EQ(store.PutMany(std::span<const BlockRef>(&rb, 1)).code(), Status::Code::kIOError);
  EXPECT_EQ(store.SyncBlocks(std::vector<Cid>{b.cid}).code(), Status::Code::kIOError);
  ASSERT_TRUE(store.PutManyUnsynced(std::span<const BlockRef>(&rb, 1)).ok());  // rewritten
  EXPECT_TRUE(store.SyncBlocks(std::vector<Cid>{b.cid}).ok());
  EXPECT_EQ(*store.Get(b.cid), b.data);
  for (auto& e : fs::recursive_directory_iterator(t.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(EmbeddedStore, RefusesForeignLayoutAndNonDirectory) {
  testing::TempDir t;
  fs::create_directories(t.path() + "/blocks");
  std::ofstream(t.path() + "/blocks/SHARDING") << "/repo/flatfs/shard/v1/prefix/4\n";
  EXPECT_EQ(OpenEmbeddedStore(t.path()).status().code(), Status::Code::kNotSupported);
  std::ofstream(t.path() + "/file") << "x";
  EXPECT_FALSE(OpenEmbeddedStore(t.path() + "/file").ok());
  EmbeddedOptions no_create;
  no_create.create_if_missing = false;
  EXPECT_FALSE(OpenEmbeddedStore(t.path() + "/missing", no_create).ok());
}

// A write the OS refuses is an IOError naming the path, and nothing is stored. (A regular file
// where the block's shard directory belongs fails for root too, unlike a permission check.)
TEST(EmbeddedStore, RefusedWriteGivesAClearErrorAndStoresNothing) {
  testing::TempDir t;
  auto s = OpenEmbeddedStore(t.path());
  ASSERT_TRUE(s.ok());
  Block b = MakeBlock("refused");
  std::string shard = fs::path(BlockPath(t.path(), b.cid)).parent_path();
  std::ofstream(shard) << "not a directory";
  Status st = (*s)->Put(b.cid, b.data);
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_NE(st.message().find(shard), std::string::npos) << st.message();
  EXPECT_FALSE(*(*s)->Has(b.cid));
}

TEST(FaultyStore, FailNthUnavailableDelayAndCorruptPuts) {
  MemoryBlockStore mem;
  FaultyBlockStore f(&mem);
  Block a = MakeBlock("fa"), b = MakeBlock("fb");
  f.FailNth(FaultyBlockStore::Op::kPut, 2, Status::IOError("injected"));
  EXPECT_TRUE(f.Put(a.cid, a.data).ok());
  EXPECT_EQ(f.Put(b.cid, b.data).code(), Status::Code::kIOError);
  EXPECT_TRUE(f.Put(b.cid, b.data).ok());  // only the 2nd call failed
  EXPECT_EQ(f.calls(FaultyBlockStore::Op::kPut), 3u);

  f.SetUnavailableFor(std::chrono::milliseconds(100));
  EXPECT_TRUE(f.Get(a.cid).status().IsUnavailable());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(f.Get(a.cid).ok());

  f.SetDelay(std::chrono::milliseconds(30));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(f.Has(a.cid).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  f.SetDelay(std::chrono::milliseconds(0));

  Block c = MakeBlock("fc");
  f.SetCorruptPuts(true);
  ASSERT_TRUE(f.Put(c.cid, c.data).ok());
  f.SetCorruptPuts(false);
  auto got = f.Get(c.cid);
  EXPECT_TRUE(got.status().IsCorruption());  // the inner store's verification catches it
}

TEST(FaultyStore, UnsyncedPutsCountAsPutsAndSyncBlocksAsSync) {
  MemoryBlockStore mem;
  FaultyBlockStore f(&mem);
  Block a = MakeBlock("fa"), b = MakeBlock("fb");
  std::vector<BlockRef> refs{{a.cid, a.data}, {b.cid, b.data}};
  f.FailNth(FaultyBlockStore::Op::kPut, 2, Status::IOError("disk full"));
  EXPECT_EQ(f.PutManyUnsynced(refs).code(), Status::Code::kIOError);
  EXPECT_EQ(f.calls(FaultyBlockStore::Op::kPut), 2u);
  EXPECT_TRUE(*mem.Has(a.cid));
  EXPECT_FALSE(*mem.Has(b.cid));
  ASSERT_TRUE(f.PutManyUnsynced(refs).ok());
  f.FailNth(FaultyBlockStore::Op::kSync, 1, Status::IOError("sync failed"));
  EXPECT_FALSE(f.SyncBlocks(std::vector<Cid>{a.cid, b.cid}).ok());
  EXPECT_TRUE(f.SyncBlocks(std::vector<Cid>{a.cid, b.cid}).ok());
}

TEST(FaultyStore, HoldBlocksOnlyMatchingCids) {
  MemoryBlockStore mem;
  FaultyBlockStore f(&mem);
  Block slow = MakeBlock("slow"), fast = MakeBlock("fast");
  ASSERT_TRUE(mem.Put(slow.cid, slow.data).ok());
  ASSERT_TRUE(mem.Put(fast.cid, fast.data).ok());
  f.HoldWhen([&](const Cid& c) { return c == slow.cid; });
  std::atomic<bool> done{false};
  std::thread t([&] {
    EXPECT_TRUE(f.Get(slow.cid).ok());
    done = true;
  });
  while (f.held_count() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(f.Get(fast.cid).ok());  // not held
  EXPECT_FALSE(done.load());
  f.ReleaseHeld();
  t.join();
  EXPECT_TRUE(done.load());
}

}  // namespace
}  // namespace s3xfs

namespace s3xfs {
namespace {

Block NumberedBlock(int i, size_t size) {
  Bytes d(size, static_cast<uint8_t>(i));
  d[0] = static_cast<uint8_t>(i >> 8);
  return Block{Cid::Compute(1, Codec::kRaw, d), d};
}

// Full batches are written in the background; Flush makes everything durable-and-present.
TEST(BlockBatchTest, BackgroundBatchesAllArriveByFlush) {
  MemoryBlockStore mem;
  FaultyBlockStore slow(&mem);
  slow.SetDelay(std::chrono::milliseconds(5));
  BlockBatch batch(&slow, 3000);
  std::vector<Cid> cids;
  for (int i = 0; i < 40; ++i) {
    Block b = NumberedBlock(i, 1000);
    cids.push_back(b.cid);
    ASSERT_TRUE(batch.Add(std::move(b)).ok());
  }
  ASSERT_TRUE(batch.Flush().ok());
  for (const Cid& c : cids) EXPECT_TRUE(mem.Has(c).value()) << c.ToString();
}

// A failed background write is reported by the next Add or Flush, never lost.
TEST(BlockBatchTest, BackgroundErrorIsReported) {
  MemoryBlockStore mem;
  FaultyBlockStore faulty(&mem);
  faulty.FailNth(FaultyBlockStore::Op::kPut, 1, Status::IOError("disk full"));
  BlockBatch batch(&faulty, 2000);
  Status first_error;
  for (int i = 0; i < 20 && first_error.ok(); ++i) first_error = batch.Add(NumberedBlock(i, 1000));
  Status flushed = batch.Flush();
  EXPECT_TRUE(!first_error.ok() || !flushed.ok()) << "the failed PutMany was not reported";
  std::string msg = first_error.ok() ? flushed.message() : first_error.message();
  EXPECT_NE(msg.find("disk full"), std::string::npos) << msg;
}

}  // namespace
}  // namespace s3xfs
