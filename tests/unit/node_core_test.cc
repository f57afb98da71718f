// NodeCore (src/temporalx/node_core.h): reference-counted puts and deletes, uploads in flight,
// and the garbage collector, including their interleavings.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "node_core.h"
#include "testutil.h"

namespace s3xfs::node {
namespace {

Block MakeBlock(const std::string& s) {
  Bytes d = ToBytes(s);
  return Block{Cid::Compute(1, Codec::kRaw, d), d};
}

int64_t Count(NodeCore& c, const Block& b) {
  Bytes mh(b.cid.multihash().begin(), b.cid.multihash().end());
  return *c.refs()->Get(mh);
}

bool Has(NodeCore& c, const Block& b) { return *c.store()->Has(b.cid); }

class NodeCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = NodeCore::Open(dir_.path());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    core_ = std::move(c).value();
  }
  Status Put(const Block& b) {
    BlockRef r{b.cid, b.data};
    return core_->PutCounted(std::span<const BlockRef>(&r, 1));
  }
  Status Release(const Block& b, bool force = false) {
    return core_->Release(std::span<const Cid>(&b.cid, 1), force);
  }
  Status StageOne(NodeCore::Upload& u, const Block& b) {
    BlockRef r{b.cid, b.data};
    return u.Stage(std::span<const BlockRef>(&r, 1));
  }
  NodeCore::SweepResult SweepNow() {
    std::atomic<bool> stop{false};
    auto r = core_->Sweep(stop);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : NodeCore::SweepResult{};
  }

  testing::TempDir dir_;
  std::unique_ptr<NodeCore> core_;
};

TEST_F(NodeCoreTest, PutsCountAndDeletesRemoveAtZero) {
  Block a = MakeBlock("a");
  ASSERT_TRUE(Put(a).ok());
  ASSERT_TRUE(Put(a).ok());
  EXPECT_EQ(Count(*core_, a), 2);
  ASSERT_TRUE(Release(a).ok());
  EXPECT_TRUE(Has(*core_, a));
  ASSERT_TRUE(Release(a).ok());
  EXPECT_FALSE(Has(*core_, a));
  EXPECT_EQ(Count(*core_, a), 0);
  EXPECT_TRUE(Release(a).IsNotFound());
}

TEST_F(NodeCoreTest, ForceRemovesWhateverTheCount) {
  Block a = MakeBlock("a");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Put(a).ok());
  ASSERT_TRUE(Release(a, /*force=*/true).ok());
  EXPECT_FALSE(Has(*core_, a));
  EXPECT_EQ(Count(*core_, a), 0);
}

TEST_F(NodeCoreTest, UnknownCidFailsTheWholeRelease) {
  Block a = MakeBlock("a"), unknown = MakeBlock("unknown");
  ASSERT_TRUE(Put(a).ok());
  std::vector<Cid> cids = {a.cid, unknown.cid};
  Status st = core_->Release(cids, false);
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find(unknown.cid.ToString()), std::string::npos) << st.message();
  EXPECT_EQ(Count(*core_, a), 1);
}

TEST_F(NodeCoreTest, ReleaseOfAnUnreferencedBlockDeletesIt) {
  Block orphan = MakeBlock("orphan");
  ASSERT_TRUE(core_->store()->Put(orphan.cid, orphan.data).ok());  // no reference
  ASSERT_TRUE(Release(orphan).ok());
  EXPECT_FALSE(Has(*core_, orphan));
}

TEST_F(NodeCoreTest, SweepRemovesOnlyUnreferencedBlocks) {
  Block kept = MakeBlock("kept"), orphan = MakeBlock("orphan");
  ASSERT_TRUE(Put(kept).ok());
  ASSERT_TRUE(core_->store()->Put(orphan.cid, orphan.data).ok());
  auto r = SweepNow();
  EXPECT_EQ(r.checked, 2u);
  EXPECT_EQ(r.removed, 1u);
  EXPECT_FALSE(r.stopped);
  EXPECT_TRUE(Has(*core_, kept));
  EXPECT_FALSE(Has(*core_, orphan));
  // A second sweep sees the store again (the embedded store's enumeration is repeatable).
  EXPECT_EQ(SweepNow().checked, 1u);
}

TEST_F(NodeCoreTest, SweepStopsWhenAsked) {
  Block orphan = MakeBlock("orphan");
  ASSERT_TRUE(core_->store()->Put(orphan.cid, orphan.data).ok());
  std::atomic<bool> stop{true};
  auto r = core_->Sweep(stop);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stopped);
  EXPECT_EQ(r->removed, 0u);
  EXPECT_TRUE(Has(*core_, orphan));
}

TEST_F(NodeCoreTest, UploadInFlightSurvivesGcAndForcedDeletesThenCountsOnce) {
  Block leaf = MakeBlock("leaf"), shared = MakeBlock("shared");
  ASSERT_TRUE(Put(shared).ok());
  {
    NodeCore::Upload up(core_.get());
    ASSERT_TRUE(StageOne(up, leaf).ok());
    ASSERT_TRUE(StageOne(up, leaf).ok());  // repeated in the file: still one reference
    ASSERT_TRUE(StageOne(up, shared).ok());
    EXPECT_EQ(Count(*core_, leaf), 0);  // not counted before the file is complete
    EXPECT_EQ(SweepNow().removed, 0u);
    EXPECT_TRUE(Has(*core_, leaf));
    // The other reference to `shared` goes, forcefully: the upload still needs the block.
    ASSERT_TRUE(Release(shared, /*force=*/true).ok());
    EXPECT_TRUE(Has(*core_, shared));
    ASSERT_TRUE(up.Commit().ok());
  }
  EXPECT_EQ(Count(*core_, leaf), 1);
  EXPECT_EQ(Count(*core_, shared), 1);
  EXPECT_EQ(SweepNow().removed, 0u);
  EXPECT_TRUE(Has(*core_, leaf));
}

TEST_F(NodeCoreTest, AbandonedUploadLeavesNoReferencesAndGcCollectsIt) {
  Block leaf = MakeBlock("abandoned leaf");
  {
    NodeCore::Upload up(core_.get());
    ASSERT_TRUE(StageOne(up, leaf).ok());
  }  // destroyed without Commit (client cancelled)
  EXPECT_EQ(Count(*core_, leaf), 0);
  EXPECT_EQ(SweepNow().removed, 1u);
  EXPECT_FALSE(Has(*core_, leaf));
}

TEST_F(NodeCoreTest, BackgroundGcReportsItsRun) {
  EXPECT_EQ(core_->GcStatus(), "idle: never run");
  Block orphan = MakeBlock("orphan");
  ASSERT_TRUE(core_->store()->Put(orphan.cid, orphan.data).ok());
  EXPECT_EQ(core_->StartGc(), "started");
  for (int i = 0; i < 500 && core_->gc_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(core_->GcStatus(), "idle: last run removed 1 blocks (checked 1)");
  EXPECT_EQ(core_->StopGc(), "idle: last run removed 1 blocks (checked 1)");
}

// Puts and deletes racing with sweeps: a block is never missing while a reference to it is held.
TEST_F(NodeCoreTest, ConcurrentPutsDeletesAndSweepsKeepReferencedBlocks) {
  std::atomic<bool> done{false};
  std::atomic<int> missing{0}, errors{0};
  std::thread gc([&] {
    std::atomic<bool> stop{false};
    while (!done)
      if (!core_->Sweep(stop).ok()) ++errors;
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        Block b = MakeBlock("race " + std::to_string(i % 10));  // threads share blocks
        if (!Put(b).ok()) ++errors;
        if (!Has(*core_, b)) ++missing;  // we hold a reference: it must be there
        if (t % 2 == 0) {
          NodeCore::Upload up(core_.get());
          if (!StageOne(up, b).ok()) ++errors;
          if (i % 3 != 0 && !up.Commit().ok()) ++errors;
          if (i % 3 != 0 && !Release(b).ok()) ++errors;  // drop the upload's reference
        }
        if (!Release(b).ok()) ++errors;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  gc.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(missing.load(), 0);
  // Every reference was given back: nothing counted, and a sweep leaves an empty store.
  EXPECT_TRUE(core_->refs()->All(0)->empty());
  SweepNow();
  size_t left = 0;
  ASSERT_TRUE(core_->store()->ForEach([&](const Cid&) {
    ++left;
    return Status::OK();
  }).ok());
  EXPECT_EQ(left, 0u);
}

TEST(NodeCoreOpen, RefusesADaemonDataDirectory) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/ledger.db") << "";
  auto c = NodeCore::Open(dir.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("ledger.db"), std::string::npos);
}

}  // namespace
}  // namespace s3xfs::node
