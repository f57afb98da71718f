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
