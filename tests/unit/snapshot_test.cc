// ObjectStore::Snapshot and Restore over an in-memory block store: the tree equals one built
// independently from the objects' bytes, metadata survives a lost ledger, the snapshot survives
// deletes and GC, keys that cannot be paths come back, and the error cases.
#include <gtest/gtest.h>

#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/directory.h"
#include "s3xfs/core/object_store.h"
#include "testutil.h"

namespace s3xfs {
namespace {

using Reason = Status::Reason;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Open(dir_.path() + "/ledger.db"); }
  std::unique_ptr<ObjectStore> Open(const std::string& ledger) {
    ObjectStoreOptions o;
    o.ledger_path = ledger;
    o.gc_grace = std::chrono::milliseconds(0);
    o.now_ns = [this] { return now_ += 1000; };
    auto s = ObjectStore::Open(o, &mem_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  void Put(const std::string& key, const std::string& data, PutOptions o = {}) {
    auto r = store_->Put("bkt", key, AsBytes(data), std::move(o));
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  }
  std::string Get(ObjectStore* s, const std::string& bucket, const std::string& key) {
    auto r = s->Get(bucket, key);
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
    return r.ok() ? std::string(AsChars(*r)) : std::string();
  }

  testing::TempDir dir_;
  MemoryBlockStore mem_;
  int64_t now_ = 1'700'000'000'000'000'000;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(SnapshotTest, TreeEqualsOneBuiltFromTheBytes) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  const std::string big(700000, 'z');  // three chunks: a dag-pb root
  Put("a.txt", "alpha");
  Put("dir/b.txt", "beta");
  Put("dir/big", big);
  auto snap = store_->Snapshot("bkt", {});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();

  // The same tree from scratch: file roots from the bytes, directories from entries.
  auto file = [](const std::string& data) {
    auto r = ComputeFileRoot(AsBytes(data));
    EXPECT_TRUE(r.ok());
    return *r;
  };
  auto sink = [](const Block&) { return Status::OK(); };
  DagRoot b = file("beta"), g = file(big), a = file("alpha");
  auto sub = BuildDirectory({{"b.txt", b.cid, b.dag_size}, {"big", g.cid, g.dag_size}}, 1, sink);
  ASSERT_TRUE(sub.ok());
  auto top = BuildDirectory({{"a.txt", a.cid, a.dag_size}, {"dir", sub->cid, sub->tsize}}, 1, sink);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(snap->tree, top->cid);
  EXPECT_EQ(snap->files, 3u);
  EXPECT_EQ(snap->bytes, 5u + 4u + big.size());

  // A prefix is the subtree.
  SnapshotOptions o;
  o.prefix = "dir";
  auto part = store_->Snapshot("bkt", o);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->tree, sub->cid);
}

TEST_F(SnapshotTest, SurvivesDeletesAndGc) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Put("keep/me", std::string(300000, 'k'));
  auto snap = store_->Snapshot("bkt", {});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_TRUE(store_->Delete("bkt", "keep/me").ok());
  ASSERT_TRUE(store_->CollectGarbage(std::chrono::milliseconds(0)).ok());
  auto r = store_->Restore(snap->manifest, "again", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Get(store_.get(), "again", "keep/me"), std::string(300000, 'k'));
}

TEST_F(SnapshotTest, MetadataComesBackWithoutTheLedger) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  PutOptions po;
  po.meta.content_type = "text/plain";
  po.meta.cache_control = "no-cache";
  po.meta.user = {{"colour", "blue"}};
  PosixAttrs at;
  at.mode = 0600;
  at.uid = 1000;
  at.gid = 100;
  at.mtime_ns = 1'600'000'000'123'456'789;
  po.attrs = at;
  Put("docs/readme", "read me", po);
  Put("odd//key", "not a path");                     // unpathable
  Put("x", "file x");
  Put("x/y", "file under a file's name");            // unpathable beside x
  ASSERT_TRUE(store_->Link("bkt", "docs/readme", "docs/hardlink").ok());
  ASSERT_TRUE(store_->Symlink("bkt", "docs/sym", "readme", PosixAttrs{0777}).ok());
  ASSERT_TRUE(store_->MakeNode("bkt", "docs/fifo", InodeKind::kFifo, PosixAttrs{0644}).ok());
  auto before = store_->Head("bkt", "docs/readme");
  ASSERT_TRUE(before.ok());
  auto snap = store_->Snapshot("bkt", {});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->unpathable, 2u);

  // A new ledger elsewhere (no snapshot index): the tree alone has no metadata...
  testing::TempDir other;
  auto fresh = Open(other.path() + "/ledger.db");
  ASSERT_TRUE(fresh);
  auto plain = fresh->Restore(snap->tree, "plain", {});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->metadata);
  auto p = fresh->Head("plain", "docs/readme");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->etag, before->etag);  // computed from the content
  EXPECT_EQ(p->attrs.mode, 0644u);
  EXPECT_FALSE(fresh->Head("plain", "odd//key").ok());

  // ...the manifest has all of it.
  auto full = fresh->Restore(snap->manifest, "full", {});
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_TRUE(full->metadata);
  auto f = fresh->Head("full", "docs/readme");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->etag, before->etag);
  EXPECT_EQ(f->meta, before->meta);
  EXPECT_EQ(f->attrs.mode, 0600u);
  EXPECT_EQ(f->attrs.uid, 1000u);
  EXPECT_EQ(f->attrs.gid, 100u);
  EXPECT_EQ(f->attrs.mtime_ns, at.mtime_ns);
  EXPECT_EQ(f->nlink, 2u);
  auto h = fresh->Head("full", "docs/hardlink");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->ino, f->ino);
  EXPECT_EQ(Get(fresh.get(), "full", "odd//key"), "not a path");
  EXPECT_EQ(Get(fresh.get(), "full", "x/y"), "file under a file's name");
  EXPECT_EQ(Get(fresh.get(), "full", "x"), "file x");
  auto s = fresh->Head("full", "docs/sym");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, InodeKind::kSymlink);
  EXPECT_EQ(s->symlink, "readme");
  auto fifo = fresh->Head("full", "docs/fifo");
  ASSERT_TRUE(fifo.ok());
  EXPECT_EQ(fifo->kind, InodeKind::kFifo);

  // The same snapshot again gives the same tree.
  auto again = fresh->Snapshot("full", {});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->tree, snap->tree);
}

TEST_F(SnapshotTest, Errors) {
  ASSERT_TRUE(store_->CreateBucket("bkt").ok());
  Put("f", "data");
  EXPECT_EQ(store_->Snapshot("nope", {}).status().reason(), Reason::kNoSuchBucket);
  SnapshotOptions o;
  o.prefix = "missing/";
  EXPECT_EQ(store_->Snapshot("bkt", o).status().code(), Status::Code::kNotFound);
  auto snap = store_->Snapshot("bkt", {});
  ASSERT_TRUE(snap.ok());
  // Into a bucket that has objects.
  EXPECT_EQ(store_->Restore(snap->tree, "bkt", {}).status().reason(), Reason::kBucketNotEmpty);
  // A file is not a directory.
  auto file = store_->Head("bkt", "f");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(store_->Restore(file->cid, "other", {}).ok());
  // Blocks that are not there.
  auto missing = Cid::Parse("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(store_->Restore(*missing, "other", {}).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace s3xfs
