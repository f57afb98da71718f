#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <functional>

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


// ---- remote root pins (schema 3) ----

class LedgerPins : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = Ledger::Open(dir_.path() + "/l.db");
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ledger_ = std::move(l).value();
    ledger_->TrackRemote(true);
    ledger_->TrackRemotePins(true);
  }
  static Cid Root(const std::string& s) { return Cid::Compute(1, Codec::kDagPb, AsBytes(s)); }
  static ObjectInfo File(const Cid& root, uint64_t size = 100, uint32_t nlink = 1) {
    ObjectInfo i;
    i.kind = InodeKind::kFile;
    i.cid = root;
    i.size = size;
    i.nlink = nlink;
    return i;
  }
  // Runs fn in a write transaction; fails the test on error.
  void W(const std::function<Status(LedgerTxn&)>& fn) {
    Status st = ledger_->Write(fn);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::vector<PinTask> Tasks() {
    std::vector<PinTask> out;
    EXPECT_TRUE(ledger_->Read([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(out, t.PinTasks(100, INT64_MAX));
      return Status::OK();
    }).ok());
    return out;
  }
  RemoteQueueStats Stats() {
    RemoteQueueStats st;
    EXPECT_TRUE(ledger_->Read([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(st, t.RemoteStats());
      return Status::OK();
    }).ok());
    return st;
  }
  // Applies every due task as a remote would.
  void Drain() {
    for (const PinTask& task : Tasks())
      W([&](LedgerTxn& t) { return task.pin ? t.PinDone(task.root, task.replaces) : t.UnpinDone(task.root); });
  }

  testing::TempDir dir_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerPins, ALinkedObjectWithContentNeedsOnePinOfItsRoot) {
  Cid a = Root("a");
  InodeId ino = 0;
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(ino, t.InsertInode(File(a)));
    // Neither empty objects, nor unlinked inodes (parts, readers' ghosts), nor rootless ones.
    S3XFS_RETURN_IF_ERROR(t.InsertInode(File(Root("empty"), 0)).status());
    S3XFS_RETURN_IF_ERROR(t.InsertInode(File(Root("part"), 100, 0)).status());
    ObjectInfo dir;
    dir.kind = InodeKind::kDirectory;
    dir.nlink = 2;
    return t.InsertInode(dir).status();
  });
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].root, a);
  EXPECT_TRUE(tasks[0].pin);
  EXPECT_FALSE(tasks[0].replaces);
  EXPECT_EQ(Stats().pins, 1u);
  Drain();
  EXPECT_TRUE(Tasks().empty());
  EXPECT_EQ(Stats().pins, 0u);
  // Attribute changes keep it; a second object with the same content shares the pin.
  InodeId copy = 0;
  W([&](LedgerTxn& t) -> Status {
    ObjectInfo i = File(a);
    i.attrs.mode = 0600;
    S3XFS_RETURN_IF_ERROR(t.UpdateInode(ino, i));
    S3XFS_ASSIGN_OR_RETURN(copy, t.InsertInode(File(a)));
    return Status::OK();
  });
  EXPECT_TRUE(Tasks().empty());
  W([&](LedgerTxn& t) { return t.DeleteInode(copy); });
  EXPECT_TRUE(Tasks().empty());
  // The last user goes (unlinked while open: nlink 0): unpin.
  W([&](LedgerTxn& t) { return t.SetNlink(ino, 0); });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(tasks[0].pin);
  EXPECT_EQ(Stats().unpins, 1u);
  Drain();
  EXPECT_TRUE(Tasks().empty());
  // Freeing the unlinked inode later changes nothing.
  W([&](LedgerTxn& t) { return t.DeleteInode(ino); });
  EXPECT_TRUE(Tasks().empty());
  EXPECT_EQ(Stats().pins + Stats().unpins, 0u);
}

TEST_F(LedgerPins, AnOverwriteMovesThePinAndTheOldRootIsNotUnpinnedSeparately) {
  Cid a = Root("a"), b = Root("b"), c = Root("c");
  InodeId ino = 0;
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(ino, t.InsertInode(File(a)));
    return Status::OK();
  });
  Drain();
  // In place (FUSE writes): a -> b.
  W([&](LedgerTxn& t) { return t.UpdateInode(ino, File(b)); });
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u) << "the unpin of a waits for the pin of b that replaces it";
  EXPECT_EQ(tasks[0].root, b);
  ASSERT_TRUE(tasks[0].replaces);
  EXPECT_EQ(*tasks[0].replaces, a);
  EXPECT_EQ(Stats().unpins, 1u);
  // Overwritten again before b was pinned: b is forgotten, c inherits the move from a.
  W([&](LedgerTxn& t) { return t.UpdateInode(ino, File(c)); });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].root, c);
  ASSERT_TRUE(tasks[0].replaces);
  EXPECT_EQ(*tasks[0].replaces, a);
  Drain();
  EXPECT_TRUE(Tasks().empty());
  EXPECT_EQ(Stats().pins + Stats().unpins, 0u);
  // S3 style: a new inode takes the key, the old one loses its last link, one transaction.
  InodeId fresh = 0;
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(fresh, t.InsertInode(File(a)));
    return t.DeleteInode(ino);
  });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].root, a);
  ASSERT_TRUE(tasks[0].replaces);
  EXPECT_EQ(*tasks[0].replaces, c);
  // The replaced root came back before the move happened: the move becomes a plain pin, and c
  // stays pinned.
  InodeId back = 0;
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(back, t.InsertInode(File(c)));
    return Status::OK();
  });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].root, a);
  EXPECT_FALSE(tasks[0].replaces);
  Drain();
  EXPECT_EQ(Stats().pins + Stats().unpins, 0u);
}

TEST_F(LedgerPins, WorkDoneMeanwhileIsRedoneAndRollbacksLeaveNoTrace) {
  Cid a = Root("a");
  InodeId ino = 0;
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(ino, t.InsertInode(File(a)));
    return Status::OK();
  });
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  // The object goes while its pin is on the way: once the pin lands, it needs an unpin.
  W([&](LedgerTxn& t) { return t.SetNlink(ino, 0); });
  EXPECT_TRUE(Tasks().empty()) << "never pinned: forgotten at once";
  W([&](LedgerTxn& t) { return t.PinDone(a, std::nullopt); });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(tasks[0].pin) << "the pin that landed meanwhile must not leak";
  Drain();
  EXPECT_TRUE(Tasks().empty());
  // Unpin on the way while the root comes back: it is pinned again afterwards.
  W([&](LedgerTxn& t) { return t.SetNlink(ino, 1); });
  Drain();
  W([&](LedgerTxn& t) { return t.SetNlink(ino, 0); });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(tasks[0].pin);
  W([&](LedgerTxn& t) { return t.SetNlink(ino, 1); });
  EXPECT_TRUE(Tasks().empty()) << "used again before the unpin ran: still pinned, nothing to do";
  W([&](LedgerTxn& t) { return t.SetNlink(ino, 0); });
  W([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(t.SetNlink(ino, 1));
    return t.UnpinDone(a);  // the unpin had already run
  });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks[0].pin);
  Drain();
  // A failed transaction changes nothing.
  Status st = ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(t.InsertInode(File(Root("never"))).status());
    S3XFS_RETURN_IF_ERROR(t.DeleteInode(ino));
    return Status::IOError("injected");
  });
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_TRUE(Tasks().empty());
}

TEST_F(LedgerPins, LedgerPinsCountAndPinsWaitForTheUploadsQueuedWithThem) {
  Cid root = Root("dag");
  Cid leaf = Cid::Compute(1, Codec::kRaw, AsBytes("leaf"));
  W([&](LedgerTxn& t) -> Status {
    ObjectInfo holder = File(root, 0, 0);  // what ObjectStore::Pin writes
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(holder));
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, {}, {{leaf, 4}, {root, 50}}));
    return t.PutPin(root, ino, 1).status();
  });
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].root, root);
  // Queued by the same transaction: the uploads are not after the pin.
  RemoteQueueStats st = Stats();
  EXPECT_EQ(st.uploads, 2u);
  EXPECT_LE(st.oldest_upload_ns, tasks[0].queued_ns);
  // The node lost blocks: they are queued again and the pin waits until after them.
  W([&](LedgerTxn& t) -> Status {
    for (auto* c : {&leaf, &root})
      S3XFS_RETURN_IF_ERROR(t.UploadDone(c->multihash()).status());
    return Status::OK();
  });
  EXPECT_EQ(Stats().uploads, 0u);
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t hour = 3'600'000'000'000;
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(uint64_t n, t.RequeueBlocksOf(root, now + hour));
    EXPECT_EQ(n, 2u);
    return Status::OK();
  });
  st = Stats();
  EXPECT_EQ(st.uploads, 2u);
  EXPECT_TRUE(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto due, t.PinTasks(10, now + hour / 2));
    EXPECT_TRUE(due.empty()) << "postponed";
    S3XFS_ASSIGN_OR_RETURN(auto later, t.PinTasks(10, INT64_MAX));
    EXPECT_EQ(later.size(), 1u);
    // ...and after the uploads queued again.
    if (!later.empty()) EXPECT_GE(later[0].queued_ns, st.oldest_upload_ns);
    return Status::OK();
  }).ok());
  W([&](LedgerTxn& t) { return t.DeferPin(root, 0); });
  Drain();
  W([&](LedgerTxn& t) { return t.RemovePin(root).status(); });
  tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(tasks[0].pin);
}

TEST_F(LedgerPins, ResetRecountsAndTrackingOffChangesNothing) {
  Cid a = Root("a"), b = Root("b");
  ledger_->TrackRemotePins(false);
  W([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(t.InsertInode(File(a)).status());
    S3XFS_RETURN_IF_ERROR(t.InsertInode(File(a)).status());
    return t.InsertInode(File(b)).status();
  });
  EXPECT_TRUE(Tasks().empty());
  W([&](LedgerTxn& t) { return t.ResetPins(true, 5); });
  auto tasks = Tasks();
  EXPECT_EQ(tasks.size(), 2u);
  ledger_->TrackRemotePins(true);
  Drain();
  // a is counted twice: one delete keeps it pinned.
  W([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto all, t.UnlinkedInodes());  // none; just a read in a write
    (void)all;
    return Status::OK();
  });
  W([&](LedgerTxn& t) { return t.ResetPins(false, 5); });
  EXPECT_TRUE(Tasks().empty());
  EXPECT_EQ(Stats().pins, 0u);
}
}  // namespace
}  // namespace s3xfs
