#include <gtest/gtest.h>
#include <sqlite3.h>

#include "s3xfs/ledger/ledger.h"
#include "testutil.h"

namespace s3xfs {
namespace {

TEST(Ledger, CreatesMigratesAndReopens) {
  testing::TempDir t;
  std::string path = t.path() + "/l.db";
  {
    auto l = Ledger::Open(path);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    EXPECT_EQ((*l)->schema_version(), kLedgerSchemaVersion);
    ASSERT_TRUE((*l)->Write([](LedgerTxn& x) {
      return x.InsertBucket(BucketInfo{"bkt", 1, "me", 1});
    }).ok());
  }
  auto l = Ledger::Open(path);
  ASSERT_TRUE(l.ok());
  ASSERT_TRUE((*l)->Read([](LedgerTxn& x) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto b, x.GetBucket("bkt"));
    EXPECT_TRUE(b.has_value());
    EXPECT_EQ(b->owner, "me");
    return Status::OK();
  }).ok());
}

TEST(Ledger, RefusesANewerSchema) {
  testing::TempDir t;
  std::string path = t.path() + "/l.db";
  ASSERT_TRUE(Ledger::Open(path).ok());
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto l = Ledger::Open(path);
  EXPECT_EQ(l.status().code(), Status::Code::kNotSupported);
}

TEST(Ledger, FailedWriteRollsBackEverything) {
  testing::TempDir t;
  auto l = Ledger::Open(t.path() + "/l.db");
  Status s = (*l)->Write([](LedgerTxn& x) -> Status {
    S3XFS_RETURN_IF_ERROR(x.InsertBucket(BucketInfo{"gone", 1, "", 1}));
    return Status::IOError("injected");
  });
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  ASSERT_TRUE((*l)->Read([](LedgerTxn& x) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto b, x.GetBucket("gone"));
    EXPECT_FALSE(b.has_value());
    return Status::OK();
  }).ok());
}

TEST(Ledger, RefcountsFollowUsesAndRecordWhenTheyReachZero) {
  testing::TempDir t;
  auto l = Ledger::Open(t.path() + "/l.db");
  Cid a = Cid::Compute(1, Codec::kRaw, AsBytes("a")), b = Cid::Compute(1, Codec::kRaw, AsBytes("b"));
  ASSERT_TRUE((*l)->Write([&](LedgerTxn& x) -> Status {
    ObjectInfo i;
    S3XFS_ASSIGN_OR_RETURN(InodeId one, x.InsertInode(i));
    S3XFS_ASSIGN_OR_RETURN(InodeId two, x.InsertInode(i));
    S3XFS_RETURN_IF_ERROR(x.AddUses(one, {{a, 1}, {a, 1}}, {{b, 1}}));  // a used twice
    S3XFS_RETURN_IF_ERROR(x.CopyUses(one, two));
    S3XFS_ASSIGN_OR_RETURN(auto rows, x.AllBlocks());
    for (auto& r : rows) EXPECT_EQ(r.refs, Bytes(a.multihash().begin(), a.multihash().end()) == r.multihash ? 4 : 2);
    S3XFS_RETURN_IF_ERROR(x.ReleaseUses(one, 555));
    S3XFS_ASSIGN_OR_RETURN(auto none, x.GcCandidates(1000, 10));
    EXPECT_TRUE(none.empty());
    S3XFS_RETURN_IF_ERROR(x.ReleaseUses(two, 777));
    S3XFS_ASSIGN_OR_RETURN(auto early, x.GcCandidates(777, 10));
    EXPECT_TRUE(early.empty());  // strictly before the cutoff only
    S3XFS_ASSIGN_OR_RETURN(auto due, x.GcCandidates(778, 10));
    EXPECT_EQ(due.size(), 2u);
    S3XFS_ASSIGN_OR_RETURN(auto wrong, x.CheckRefcounts(false, 0));
    EXPECT_TRUE(wrong.empty());
    return Status::OK();
  }).ok());
}

TEST(Ledger, RemoteQueueFollowsBlockRowsWhileTracking) {
  testing::TempDir t;
  std::string path = t.path() + "/l.db";
  auto l = Ledger::Open(path);
  ASSERT_TRUE(l.ok());
  Cid leaf = Cid::Compute(1, Codec::kRaw, AsBytes("leaf"));
  Cid node = Cid::Compute(1, Codec::kDagPb, AsBytes("node"));
  Bytes leaf_mh(leaf.multihash().begin(), leaf.multihash().end());
  InodeId ino = 0;
  // Off: no queue.
  ASSERT_TRUE((*l)->Write([&](LedgerTxn& x) -> Status {
    S3XFS_ASSIGN_OR_RETURN(ino, x.InsertInode(ObjectInfo{}));
    S3XFS_RETURN_IF_ERROR(x.AddUses(ino, {{leaf, 4}}, {}));
    S3XFS_ASSIGN_OR_RETURN(auto st, x.RemoteStats());
    EXPECT_EQ(st.uploads, 0u);
    return x.ReleaseUses(ino, 1);
  }).ok());
  (*l)->TrackRemote(true);
  ASSERT_TRUE((*l)->Write([&](LedgerTxn& x) -> Status {
    // The leaf's row already existed (refs 0): not new, not queued. The node is new: queued
    // with its codec.
    S3XFS_RETURN_IF_ERROR(x.AddUses(ino, {{leaf, 4}}, {{node, 4}}));
    S3XFS_ASSIGN_OR_RETURN(auto up, x.RemoteTasks(RemoteOp::kUpload, 10, INT64_MAX));
    EXPECT_EQ(up.size(), 1u);
    if (!up.empty()) EXPECT_EQ(up[0].codec, static_cast<uint64_t>(Codec::kDagPb));
    // Released and forgotten before its upload: nothing to do remotely.
    S3XFS_RETURN_IF_ERROR(x.ReleaseUses(ino, 1));
    Bytes node_mh(node.multihash().begin(), node.multihash().end());
    S3XFS_ASSIGN_OR_RETURN(bool gone, x.ForgetBlockIfUnused(node_mh));
    EXPECT_TRUE(gone);
    S3XFS_ASSIGN_OR_RETURN(auto st, x.RemoteStats());
    EXPECT_EQ(st.uploads, 0u);
    EXPECT_EQ(st.deletes, 0u);
    // The leaf is forgotten too; a new row for it queues an upload; its upload finishing
    // empties the queue; forgetting it then queues a delete...
    S3XFS_ASSIGN_OR_RETURN(gone, x.ForgetBlockIfUnused(leaf_mh));
    EXPECT_TRUE(gone);
    S3XFS_RETURN_IF_ERROR(x.AddUses(ino, {{leaf, 4}}, {}));
    S3XFS_ASSIGN_OR_RETURN(bool known, x.UploadDone(leaf_mh));
    EXPECT_TRUE(known);
    S3XFS_RETURN_IF_ERROR(x.ReleaseUses(ino, 1));
    S3XFS_ASSIGN_OR_RETURN(gone, x.ForgetBlockIfUnused(leaf_mh));
    EXPECT_TRUE(gone);
    S3XFS_ASSIGN_OR_RETURN(st, x.RemoteStats());
    EXPECT_EQ(st.deletes, 1u);
    // ...which a new use cancels (the remote still holds it): no upload, no delete.
    S3XFS_RETURN_IF_ERROR(x.AddUses(ino, {{leaf, 4}}, {}));
    S3XFS_ASSIGN_OR_RETURN(st, x.RemoteStats());
    EXPECT_EQ(st.deletes, 0u);
    EXPECT_EQ(st.uploads, 0u);
    // An upload that finishes after its block was forgotten queues a delete to undo it.
    S3XFS_RETURN_IF_ERROR(x.ReleaseUses(ino, 1));
    S3XFS_RETURN_IF_ERROR(x.ForgetBlockIfUnused(leaf_mh).status());
    S3XFS_RETURN_IF_ERROR(x.DeleteDone(leaf_mh));
    S3XFS_RETURN_IF_ERROR(x.AddUses(ino, {{leaf, 4}}, {}));  // queued again
    S3XFS_RETURN_IF_ERROR(x.ReleaseUses(ino, 1));
    S3XFS_RETURN_IF_ERROR(x.ForgetBlockIfUnused(leaf_mh).status());  // cancels the upload
    S3XFS_ASSIGN_OR_RETURN(known, x.UploadDone(leaf_mh));            // ...which had run
    EXPECT_FALSE(known);
    S3XFS_ASSIGN_OR_RETURN(auto del, x.RemoteTasks(RemoteOp::kDelete, 10, INT64_MAX));
    EXPECT_EQ(del.size(), 1u);
    return x.SetSetting("remote", "test://node");
  }).ok());
  // A ledger whose settings name a remote tracks from the start.
  l->reset();
  auto again = Ledger::Open(path);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Write([&](LedgerTxn& x) -> Status {
    Cid other = Cid::Compute(1, Codec::kRaw, AsBytes("other"));
    S3XFS_RETURN_IF_ERROR(x.AddUses(ino, {{other, 5}}, {}));
    S3XFS_ASSIGN_OR_RETURN(auto st, x.RemoteStats());
    EXPECT_EQ(st.uploads, 1u);
    EXPECT_EQ(st.upload_bytes, 5u);
    S3XFS_ASSIGN_OR_RETURN(auto name, x.GetSetting("remote"));
    EXPECT_EQ(name.value_or(""), "test://node");
    return Status::OK();
  }).ok());
}

TEST(Ledger, RekeyPrefixIsByteExact) {
  testing::TempDir t;
  auto l = Ledger::Open(t.path() + "/l.db");
  const std::vector<std::string> keys = {"d/", "d/\xc3\xa9t\xc3\xa9", "d/x\xff\xfe", "d/sub/k", "dx", "e"};
  ASSERT_TRUE((*l)->Write([&](LedgerTxn& x) -> Status {
    InodeId n = 10;
    for (const auto& k : keys) S3XFS_RETURN_IF_ERROR(x.InsertDentry(Dentry{"b", k, n++, 0, "", false}));
    S3XFS_RETURN_IF_ERROR(x.RekeyPrefix("b", "d/", "new dir/"));
    S3XFS_ASSIGN_OR_RETURN(auto all, x.Scan("b", "", true, 100));
    std::vector<std::string> got;
    for (auto& d : all) got.push_back(d.key);
    EXPECT_EQ(got, (std::vector<std::string>{"dx", "e", "new dir/", "new dir/sub/k",
                                             "new dir/x\xff\xfe", "new dir/\xc3\xa9t\xc3\xa9"}));
    return Status::OK();
  }).ok());
}

}  // namespace
}  // namespace s3xfs
