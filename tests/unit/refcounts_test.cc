// RefCounts: the node's SQLite reference-count table (include/s3xfs/ledger/refcounts.h).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "s3xfs/cas/cid.h"
#include "s3xfs/ledger/refcounts.h"
#include "testutil.h"

namespace s3xfs {
namespace {

Bytes Mh(const std::string& s) { return Sha256Multihash(Sha256(AsBytes(s))); }

std::unique_ptr<RefCounts> OpenOrDie(const std::string& path) {
  auto r = RefCounts::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(RefCounts, IncrementCountsEveryEntryIncludingDuplicates) {
  testing::TempDir t;
  auto rc = OpenOrDie(t.path() + "/refcounts.db");
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->schema_version(), kRefCountsSchemaVersion);
  std::vector<Bytes> v = {Mh("a"), Mh("b"), Mh("a")};
  auto counts = rc->Increment(v);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(*counts, (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(*rc->Get(Mh("a")), 2);
  EXPECT_EQ(*rc->Get(Mh("b")), 1);
  EXPECT_EQ(*rc->Get(Mh("never")), 0);
  std::vector<Bytes> q = {Mh("b"), Mh("never"), Mh("a")};
  EXPECT_EQ(*rc->GetMany(q), (std::vector<int64_t>{1, 0, 2}));
}

TEST(RefCounts, DecrementDeletesRowsReachingZeroAndReportsMissing) {
  testing::TempDir t;
  auto rc = OpenOrDie(t.path() + "/refcounts.db");
  ASSERT_TRUE(rc);
  std::vector<Bytes> put = {Mh("a"), Mh("a"), Mh("b")};
  ASSERT_TRUE(rc->Increment(put).ok());

  std::vector<Bytes> del = {Mh("a"), Mh("b"), Mh("zzz")};
  auto d = rc->Decrement(del);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->reached_zero, std::vector<Bytes>{Mh("b")});
  EXPECT_EQ(d->missing, std::vector<Bytes>{Mh("zzz")});
  EXPECT_EQ(*rc->Get(Mh("a")), 1);
  EXPECT_EQ(*rc->Get(Mh("b")), 0);

  // Twice in one call: the second decrement of "a" finds no row.
  std::vector<Bytes> twice = {Mh("a"), Mh("a")};
  d = rc->Decrement(twice);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->reached_zero, std::vector<Bytes>{Mh("a")});
  EXPECT_EQ(d->missing, std::vector<Bytes>{Mh("a")});
  EXPECT_TRUE(rc->All(0)->empty());
}

TEST(RefCounts, DropRemovesWhateverTheCount) {
  testing::TempDir t;
  auto rc = OpenOrDie(t.path() + "/refcounts.db");
  ASSERT_TRUE(rc);
  std::vector<Bytes> put = {Mh("a"), Mh("a"), Mh("a"), Mh("b")};
  ASSERT_TRUE(rc->Increment(put).ok());
  std::vector<Bytes> drop = {Mh("a"), Mh("c")};
  EXPECT_EQ(*rc->Drop(drop), 1);
  EXPECT_EQ(*rc->Get(Mh("a")), 0);
  EXPECT_EQ(*rc->Get(Mh("b")), 1);
}

TEST(RefCounts, AllIsOrderedAndLimited) {
  testing::TempDir t;
  auto rc = OpenOrDie(t.path() + "/refcounts.db");
  ASSERT_TRUE(rc);
  std::vector<Bytes> put;
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j <= i; ++j) put.push_back(Mh("k" + std::to_string(i)));
  ASSERT_TRUE(rc->Increment(put).ok());
  auto all = rc->All(0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 10u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].first, (*all)[i].first);
  int64_t total = 0;
  for (auto& [mh, c] : *all) total += c;
  EXPECT_EQ(total, 55);
  auto some = rc->All(3);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 3u);
  EXPECT_EQ((*some)[0], (*all)[0]);
}

TEST(RefCounts, PersistAcrossReopen) {
  testing::TempDir t;
  std::string path = t.path() + "/refcounts.db";
  {
    auto rc = OpenOrDie(path);
    ASSERT_TRUE(rc);
    std::vector<Bytes> put = {Mh("a"), Mh("a"), Mh("b")};
    ASSERT_TRUE(rc->Increment(put).ok());
    ASSERT_TRUE(rc->Checkpoint().ok());
  }
  auto rc = OpenOrDie(path);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc->Get(Mh("a")), 2);
  EXPECT_EQ(*rc->Get(Mh("b")), 1);
}

TEST(RefCounts, RefusesANewerSchema) {
  testing::TempDir t;
  std::string path = t.path() + "/refcounts.db";
  ASSERT_TRUE(RefCounts::Open(path).ok());
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto rc = RefCounts::Open(path);
  EXPECT_EQ(rc.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(rc.status().message().find(path), std::string::npos) << rc.status().message();
}

TEST(RefCounts, ConcurrentIncrementsAndDecrementsBalance) {
  testing::TempDir t;
  auto rc = OpenOrDie(t.path() + "/refcounts.db");
  ASSERT_TRUE(rc);
  // Each thread adds 3 references per key and removes 1: 4 threads leave 8 per key.
  std::vector<Bytes> keys = {Mh("x"), Mh("y")};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) EXPECT_TRUE(rc->Increment(keys).ok());
      auto d = rc->Decrement(keys);
      ASSERT_TRUE(d.ok());
      EXPECT_TRUE(d->reached_zero.empty());
      EXPECT_TRUE(d->missing.empty());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(*rc->GetMany(keys), (std::vector<int64_t>{8, 8}));
}

}  // namespace
}  // namespace s3xfs
