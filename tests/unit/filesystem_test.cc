// FileSystem's write paths without a kernel: sequential writes through the WritePipeline (the
// tail in memory, whole chunks stored as blocks in the background, the ETag as they go), random
// writes through the cache file, and every mix of the two with truncates, reads and flushes.
// Each case checks the bytes read back, the committed root CID (== `ipfs add` of the same
// bytes), the ETag (MD5) and that fsck finds no orphan or missing block. The failure cases check
// that a block store failing under the pipeline surfaces as an error from write, fsync and
// close, and never as a successful fsync of data that is not stored.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include <fstream>
#include <sstream>

#include "s3xfs/base/log.h"
#include "s3xfs/blockstore/faulty.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/core/filesystem.h"
#include "s3xfs/core/object_store.h"
#include "s3xfs/core/write_pipeline.h"
#include "testutil.h"

namespace s3xfs {
namespace {

constexpr uint64_t kChunk = 262144;

class FileSystemTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { Open(); }

  void Open(bool pipeline = true) {
    fs_.reset();
    store_.reset();
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    o.gc_grace = std::chrono::milliseconds(0);
    auto s = ObjectStore::Open(o, &faulty_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    (void)store_->CreateBucket("bkt");
    FsOptions fo;
    fo.cache_dir = dir_.path() + "/cache";
    fo.flush_interval = std::chrono::milliseconds(0);
    fo.write_pipeline = pipeline && GetParam();
    fo.pipeline_queue_bytes = 2 << 20;  // small, so the writer waits for the workers often
    auto f = FileSystem::Create(store_.get(), fo);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    fs_ = std::move(f).value();
    root_ = store_->HeadBucket("bkt")->root_ino;
  }

  // The file system again over the same store, committing files above `dirty_limit`.
  void ReopenFs(uint64_t dirty_limit) {
    fs_.reset();
    FsOptions fo;
    fo.cache_dir = dir_.path() + "/cache";
    fo.flush_interval = std::chrono::milliseconds(0);
    fo.dirty_limit = dirty_limit;
    fo.write_pipeline = GetParam();
    auto f = FileSystem::Create(store_.get(), fo);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    fs_ = std::move(f).value();
  }

  // A new file: (handle, inode).
  std::pair<uint64_t, InodeId> NewFile(const std::string& name) {
    auto c = fs_->Create(root_, name, PosixAttrs{0644, 0, 0});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return {c->first, c->second.ino};
  }

  Bytes ReadAll(uint64_t fh, uint64_t size) {
    Bytes out, piece;
    for (uint64_t off = 0; off < size; off += 131072) {  // as the kernel asks
      Status st = fs_->Read(fh, off, 131072, &piece);
      EXPECT_TRUE(st.ok()) << st.ToString();
      out.insert(out.end(), piece.begin(), piece.end());
    }
    return out;
  }

  // The committed version of the key equals `want`: bytes, CID of `ipfs add`, MD5 ETag.
  void ExpectCommitted(const std::string& key, const Bytes& want) {
    auto h = store_->Head("bkt", key);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->size, want.size());
    EXPECT_EQ(h->etag, testing::Md5Hex(want));
    EXPECT_EQ(h->cid, ComputeFileRoot(want)->cid);
    auto got = store_->Get("bkt", key);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == want) << "content differs";
  }

  void ExpectFsckClean() {
    auto r = store_->Fsck(false);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->missing_blocks.empty());
    EXPECT_TRUE(r->orphan_blocks.empty()) << r->orphan_blocks.size() << " orphans";
    EXPECT_TRUE(r->wrong_refcounts.empty());
  }

  testing::TempDir dir_;
  MemoryBlockStore mem_;
  FaultyBlockStore faulty_{&mem_};
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<FileSystem> fs_;
  InodeId root_ = 0;
};

// Writes of every size (1 byte to 3 chunks) one after another, as cp, tar and fio write.
TEST_P(FileSystemTest, SequentialWritesOfAnySizeGiveTheCidAndEtagOfThePut) {
  std::mt19937 rng(7);
  Bytes data = testing::ChaCha("seq", 5 * kChunk + 12345);
  auto [fh, ino] = NewFile("f");
  for (uint64_t off = 0; off < data.size();) {
    size_t n = std::min<size_t>(data.size() - off, 1 + rng() % (3 * kChunk));
    if (rng() % 4 == 0) n = std::min<size_t>(data.size() - off, 1 + rng() % 5000);
    ASSERT_TRUE(fs_->Write(fh, off, ByteView(data.data() + off, n)).ok());
    off += n;
  }
  EXPECT_TRUE(ReadAll(fh, data.size()) == data);  // before the flush: tail + staged chunks
  ASSERT_TRUE(fs_->Fsync(fh).ok());
  ExpectCommitted("f", data);
  EXPECT_TRUE(ReadAll(fh, data.size()) == data);
  // Appending after a commit continues the same tail and ETag.
  Bytes more = testing::ChaCha("more", kChunk + 99);
  ASSERT_TRUE(fs_->Write(fh, data.size(), more).ok());
  data.insert(data.end(), more.begin(), more.end());
  ASSERT_TRUE(fs_->Release(fh).ok());
  ExpectCommitted("f", data);
  ExpectFsckClean();
}

// Small appends (a log file) and chunk-aligned sizes (the tail empty at the end).
TEST_P(FileSystemTest, SmallAppendsAndAlignedSizes) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk}) {
    std::string name = "s" + std::to_string(size);
    Bytes data = testing::ChaCha(name, size);
    auto [fh, ino] = NewFile(name);
    for (uint64_t off = 0; off < size; off += 1000)
      ASSERT_TRUE(fs_->Write(fh, off, ByteView(data.data() + off, std::min<uint64_t>(1000, size - off))).ok());
    ASSERT_TRUE(fs_->Release(fh).ok());
    ExpectCommitted(name, data);
  }
  ExpectFsckClean();
}

// Overwriting chunks the pipeline already stored, writing past a gap, then appending again.
TEST_P(FileSystemTest, RandomWritesIntoASequentialFile) {
  Bytes data = testing::ChaCha("mix", 4 * kChunk);
  auto [fh, ino] = NewFile("m");
  ASSERT_TRUE(fs_->Write(fh, 0, data).ok());
  Bytes patch = testing::ChaCha("patch", 5000);
  const uint64_t at = kChunk + 100;  // inside a chunk the pipeline stored
  ASSERT_TRUE(fs_->Write(fh, at, patch).ok());
  std::copy(patch.begin(), patch.end(), data.begin() + at);
  ASSERT_TRUE(fs_->Write(fh, 0, patch).ok());  // chunk 0, which came before the tail
  std::copy(patch.begin(), patch.end(), data.begin());
  // A gap: the file grows sparsely, then sequential writes go on from the new end.
  const uint64_t gap_at = data.size() + 3 * kChunk + 17;
  Bytes far = testing::ChaCha("far", 2 * kChunk + 5);
  ASSERT_TRUE(fs_->Write(fh, gap_at, far).ok());
  data.resize(gap_at, 0);
  data.insert(data.end(), far.begin(), far.end());
  Bytes tail = testing::ChaCha("tail", kChunk + 3);
  ASSERT_TRUE(fs_->Write(fh, data.size(), tail).ok());
  data.insert(data.end(), tail.begin(), tail.end());
  EXPECT_TRUE(ReadAll(fh, data.size()) == data);
  ASSERT_TRUE(fs_->Release(fh).ok());
  ExpectCommitted("m", data);
  ExpectFsckClean();
}

// Truncates cut staged chunks and the tail; growing reads zeros (also where a committed version
// had data); truncating to 0 starts the ETag over.
TEST_P(FileSystemTest, TruncatesCutStagedChunksAndTheTail) {
  Bytes data = testing::ChaCha("trunc", 3 * kChunk + 500);
  auto [fh, ino] = NewFile("t");
  ASSERT_TRUE(fs_->Write(fh, 0, data).ok());
  SetAttrRequest r;
  r.size = kChunk + kChunk / 2;
  {
    // SetAttr opens its own handle; the data of the open handle is shared.
    ASSERT_TRUE(fs_->SetAttr(ino, r).ok());
  }
  data.resize(*r.size);
  ExpectCommitted("t", data);
  r.size = 5 * kChunk;  // grow: zeros
  ASSERT_TRUE(fs_->SetAttr(ino, r).ok());
  data.resize(*r.size, 0);
  ExpectCommitted("t", data);
  // Shrink below a committed chunk, then grow by writing far away: the old bytes stay gone.
  r.size = 10;
  ASSERT_TRUE(fs_->SetAttr(ino, r).ok());
  ASSERT_TRUE(fs_->Write(fh, 700000, ByteView(data.data(), 1)).ok());
  data.resize(10);
  data.resize(700000, 0);
  data.push_back(data[0]);
  EXPECT_TRUE(ReadAll(fh, data.size()) == data);
  ASSERT_TRUE(fs_->Fsync(fh).ok());
  ExpectCommitted("t", data);
  ASSERT_TRUE(fs_->Release(fh).ok());
  // O_TRUNC, then a sequential rewrite: the ETag is computed as it goes again.
  auto h = fs_->Open(ino, true);
  ASSERT_TRUE(h.ok());
  Bytes again = testing::ChaCha("again", 2 * kChunk + 7);
  ASSERT_TRUE(fs_->Write(*h, 0, again).ok());
  ASSERT_TRUE(fs_->Release(*h).ok());
  ExpectCommitted("t", again);
  ExpectFsckClean();
}

// The bug this guards against: a truncate to 0 kept the committed chunk list, so a later
// sparse write re-linked the old first chunk instead of zeros.
TEST_P(FileSystemTest, OpenTruncateThenSparseWriteReadsZeros) {
  Bytes data = testing::ChaCha("old", 3 * kChunk);
  ASSERT_TRUE(store_->Put("bkt", "o", data).ok());
  auto ino = store_->Head("bkt", "o")->ino;
  auto h = fs_->Open(ino, true);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(fs_->Write(*h, 700000, ByteView(data.data(), 1)).ok());
  ASSERT_TRUE(fs_->Release(*h).ok());
  Bytes want(700000, 0);
  want.push_back(data[0]);
  ExpectCommitted("o", want);
}

// Many files written at once from several threads.
TEST_P(FileSystemTest, ConcurrentSequentialWriters) {
  constexpr int kFiles = 6;
  std::vector<Bytes> data;
  for (int i = 0; i < kFiles; ++i) data.push_back(testing::ChaCha("c" + std::to_string(i), (i + 1) * 300000));
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int i = 0; i < kFiles; ++i) {
    ts.emplace_back([&, i] {
      auto c = fs_->Create(root_, "c" + std::to_string(i), PosixAttrs{0644, 0, 0});
      if (!c.ok()) {
        errors++;
        return;
      }
      for (uint64_t off = 0; off < data[i].size(); off += 65536) {
        size_t n = std::min<uint64_t>(65536, data[i].size() - off);
        if (!fs_->Write(c->first, off, ByteView(data[i].data() + off, n)).ok()) errors++;
      }
      if (!fs_->Release(c->first).ok()) errors++;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  for (int i = 0; i < kFiles; ++i) ExpectCommitted("c" + std::to_string(i), data[i]);
  ExpectFsckClean();
}

// A file above the dirty limit is committed while the writer goes on; the ETag stays exact.
TEST_P(FileSystemTest, DirtyLimitCommitsWhileWriting) {
  ReopenFs(3 * kChunk);
  Bytes data = testing::ChaCha("limit", 11 * kChunk + 3);
  auto [fh, ino] = NewFile("l");
  for (uint64_t off = 0; off < data.size(); off += kChunk / 2) {
    size_t n = std::min<uint64_t>(kChunk / 2, data.size() - off);
    ASSERT_TRUE(fs_->Write(fh, off, ByteView(data.data() + off, n)).ok());
  }
  // A commit happened before close (in the background with the pipeline): a prefix of the
  // data, consistent (its CID and ETag are those of that prefix). A reader holds one version
  // while later commits land.
  std::unique_ptr<ObjectReader> r;
  for (int i = 0; i < 500; ++i) {
    r = std::move(store_->OpenReader("bkt", "l").value());
    if (r->info().size > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const uint64_t committed = r->info().size;
  ASSERT_GT(committed, 0u);
  Bytes prefix(data.begin(), data.begin() + committed), got;
  ASSERT_TRUE(r->Read(0, committed, [&](ByteView b) {
    got.insert(got.end(), b.begin(), b.end());
    return Status::OK();
  }).ok());
  EXPECT_TRUE(got == prefix);
  EXPECT_EQ(r->info().etag, testing::Md5Hex(prefix));
  EXPECT_EQ(r->info().cid, ComputeFileRoot(prefix)->cid);
  r.reset();
  EXPECT_TRUE(ReadAll(fh, data.size()) == data);
  ASSERT_TRUE(fs_->Release(fh).ok());
  EXPECT_EQ(fs_->DirtyBytes(), 0u);
  ExpectCommitted("l", data);
  ExpectFsckClean();
}

// Background commits racing with fsync, overwrites and truncates: whichever commits last wins,
// the content is always the file's, nothing is orphaned.
TEST_P(FileSystemTest, BackgroundCommitsRaceWithFsyncOverwriteAndTruncate) {
  ReopenFs(2 * kChunk);
  const std::string log_file = dir_.path() + "/debug.log";
  ASSERT_TRUE(log::Init(log::Options{log::Level::kDebug, log_file}).ok());
  faulty_.SetDelay(std::chrono::milliseconds(2));  // slow puts and syncs: commits overlap
  std::mt19937 rng(3);
  Bytes data;
  auto [fh, ino] = NewFile("race");
  for (int round = 0; round < 30; ++round) {
    Bytes more = testing::ChaCha("r" + std::to_string(round), kChunk + rng() % kChunk);
    ASSERT_TRUE(fs_->Write(fh, data.size(), more).ok());
    data.insert(data.end(), more.begin(), more.end());
    switch (rng() % 5) {
      case 0:
        ASSERT_TRUE(fs_->Fsync(fh).ok());
        ExpectCommitted("race", data);
        break;
      case 1: {  // overwrite inside a chunk that may be in a background commit
        uint64_t at = rng() % data.size();
        Bytes patch = testing::ChaCha("p" + std::to_string(round), std::min<uint64_t>(3000, data.size() - at));
        ASSERT_TRUE(fs_->Write(fh, at, patch).ok());
        std::copy(patch.begin(), patch.end(), data.begin() + at);
        break;
      }
      case 2: {  // truncate, then growth must read zeros
        SetAttrRequest r;
        r.size = data.size() / 2;
        ASSERT_TRUE(fs_->SetAttr(ino, r).ok());
        data.resize(*r.size);
        break;
      }
      default:
        break;
    }
  }
  faulty_.SetDelay(std::chrono::milliseconds(0));
  EXPECT_TRUE(ReadAll(fh, data.size()) == data);
  ASSERT_TRUE(fs_->Release(fh).ok());
  fs_.reset();  // background commits finish
  log::Flush();
  ASSERT_TRUE(log::Init(log::Options{}).ok());
  ExpectCommitted("race", data);
  ExpectFsckClean();
  std::ifstream in(log_file);
  std::stringstream text;
  text << in.rdbuf();
  const bool background = text.str().find("in the background") != std::string::npos;
  EXPECT_EQ(background, GetParam()) << "background commits only with the pipeline";
}

// A put that fails once: the write after it fails (EIO to the caller), fsync stores the chunk
// again and succeeds, and nothing was lost.
TEST_P(FileSystemTest, OneFailedPutFailsAWriteThenFsyncRetries) {
  if (!GetParam()) GTEST_SKIP() << "the cache path puts blocks only at flush";
  Bytes data = testing::ChaCha("retry", 16 * kChunk);
  auto [fh, ino] = NewFile("r");
  faulty_.FailNth(FaultyBlockStore::Op::kPut, 2, Status::IOError("injected write error"));
  uint64_t accepted = 0;
  bool write_failed = false;
  for (uint64_t off = 0; off < 8 * kChunk && !write_failed; off += kChunk) {
    Status st = fs_->Write(fh, off, ByteView(data.data() + off, kChunk));
    if (st.ok()) {
      accepted = off + kChunk;
    } else {
      write_failed = true;
      EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
    }
  }
  // The failure is reported by a later write at the latest once the workers got to it.
  for (int i = 0; i < 400 && !write_failed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    write_failed = !fs_->Write(fh, accepted, ByteView(data.data() + accepted, 1)).ok();
    if (!write_failed) accepted += 1;
  }
  EXPECT_TRUE(write_failed);
  Status st = fs_->Fsync(fh);
  ASSERT_TRUE(st.ok()) << st.ToString();
  data.resize(accepted);
  ExpectCommitted("r", data);
  // The error is gone: writing works again.
  ASSERT_TRUE(fs_->Write(fh, accepted, ByteView(data.data(), 10)).ok());
  data.insert(data.end(), data.begin(), data.begin() + 10);
  ASSERT_TRUE(fs_->Release(fh).ok());
  ExpectCommitted("r", data);
}

// A block store that stays down: writes, fsync and close all fail; the committed version is
// the one from before; nothing is reported durable that is not.
TEST_P(FileSystemTest, StoreDownFailsWriteFsyncAndClose) {
  Bytes old = testing::ChaCha("before", kChunk + 5);
  ASSERT_TRUE(store_->Put("bkt", "d", old).ok());
  auto ino = store_->Head("bkt", "d")->ino;
  auto h = fs_->Open(ino, true);
  ASSERT_TRUE(h.ok());
  faulty_.SetUnavailableFor(std::chrono::minutes(10));
  Bytes data = testing::ChaCha("down", 6 * kChunk);
  Status first_error;
  for (uint64_t off = 0; off < data.size() && first_error.ok(); off += kChunk)
    first_error = fs_->Write(*h, off, ByteView(data.data() + off, kChunk));
  EXPECT_FALSE(fs_->Fsync(*h).ok());
  EXPECT_FALSE(fs_->Flush(*h).ok());
  if (GetParam()) {
    // The pipeline's failed puts fail the writes that follow (the cache path fails at flush).
    EXPECT_FALSE(fs_->Write(*h, data.size(), ByteView(data.data(), 1)).ok());
  }
  EXPECT_FALSE(fs_->Release(*h).ok());
  faulty_.SetUnavailableFor(std::chrono::milliseconds(0));
  ExpectCommitted("d", old);
}

// A background sync that fails: the fsync that follows syncs again (and succeeds here); a sync
// that keeps failing fails fsync.
TEST_P(FileSystemTest, FailedSyncIsRetriedOrReported) {
  Bytes data = testing::ChaCha("sync", 3 * kChunk + 1);
  auto [fh, ino] = NewFile("y");
  ASSERT_TRUE(fs_->Write(fh, 0, data).ok());
  faulty_.FailNth(FaultyBlockStore::Op::kSync, 1, Status::IOError("injected sync error"));
  Status first = fs_->Fsync(fh);
  EXPECT_FALSE(first.ok());
  EXPECT_EQ(store_->Head("bkt", "y")->size, 0u) << "committed without a sync";
  ASSERT_TRUE(fs_->Fsync(fh).ok());
  ExpectCommitted("y", data);
  ASSERT_TRUE(fs_->Release(fh).ok());
}

// Create and unlink are one ledger transaction each (CreateFile/UnlinkChild): the same rules as
// the put and delete they replace.
TEST_P(FileSystemTest, CreateAndUnlinkRules) {
  if (!GetParam()) GTEST_SKIP() << "not about the write path";
  auto f = fs_->Create(root_, "f", PosixAttrs{0640, 1, 2});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->second.attrs.mode, 0640u);
  EXPECT_EQ(f->second.etag, testing::Md5Hex({}));
  EXPECT_EQ(f->second.cid, ComputeFileRoot({})->cid);
  ASSERT_TRUE(fs_->Release(f->first).ok());
  EXPECT_EQ(fs_->Create(root_, "f", PosixAttrs{0644, 0, 0}).status().reason(), Status::Reason::kExists);
  auto d = fs_->MakeDir(root_, "d", PosixAttrs{02775, 0, 77});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(fs_->Create(root_, "d", PosixAttrs{0644, 0, 0}).status().reason(), Status::Reason::kExists);
  ASSERT_TRUE(store_->Put("bkt", "s3only", {}).ok());  // exists over S3 first
  EXPECT_EQ(fs_->Create(root_, "s3only", PosixAttrs{0644, 0, 0}).status().reason(), Status::Reason::kExists);
  auto in_sgid = fs_->Create(d->ino, "g", PosixAttrs{0644, 5, 6});
  ASSERT_TRUE(in_sgid.ok());
  EXPECT_EQ(in_sgid->second.attrs.gid, 77u);  // the set-group-ID directory's group
  EXPECT_EQ(in_sgid->second.key, "d/g");
  ASSERT_TRUE(fs_->Release(in_sgid->first).ok());
  EXPECT_TRUE(store_->Head("bkt", "d/g").ok());
  EXPECT_EQ(fs_->Create(kRootInode, "x", PosixAttrs{0644, 0, 0}).status().reason(), Status::Reason::kNotPermitted);
  EXPECT_EQ(fs_->Unlink(root_, "d").reason(), Status::Reason::kIsDirectory);
  EXPECT_EQ(fs_->Unlink(root_, "missing").reason(), Status::Reason::kNoSuchKey);
  ASSERT_TRUE(fs_->Unlink(d->ino, "g").ok());
  EXPECT_FALSE(store_->Head("bkt", "d/g").ok());
  ASSERT_TRUE(fs_->Unlink(root_, "f").ok());
  EXPECT_FALSE(store_->Head("bkt", "f").ok());
  ExpectFsckClean();
}

// chmod/chown/utimens are one read-modify-write transaction (ObjectStore::UpdateAttrs): the
// reply carries the new attributes, the fields not asked for keep their values, the object's
// content, ETag and user metadata are untouched, and a missing inode is ENOENT.
TEST_P(FileSystemTest, SetAttrChangesOnlyWhatIsAsked) {
  if (!GetParam()) GTEST_SKIP() << "not about the write path";
  auto [fh, ino] = NewFile("a");
  ASSERT_TRUE(fs_->Write(fh, 0, AsBytes("hello")).ok());
  ASSERT_TRUE(fs_->Release(fh).ok());
  ASSERT_TRUE(fs_->SetXattr(ino, "user.color", "blue", 0).ok());
  auto before = store_->Head("bkt", "a");
  ASSERT_TRUE(before.ok());
  SetAttrRequest r;
  r.mode = 0600;
  r.mtime_ns = 1234567890123456789;
  r.ctime_ns = 1234567890999999999;
  auto after = fs_->SetAttr(ino, r);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->attrs.mode, 0600u);
  EXPECT_EQ(after->attrs.mtime_ns, 1234567890123456789);
  EXPECT_EQ(after->attrs.ctime_ns, 1234567890999999999);
  EXPECT_EQ(after->attrs.uid, before->attrs.uid);
  EXPECT_EQ(after->attrs.atime_ns, before->attrs.atime_ns);
  EXPECT_EQ(after->size, 5u);
  auto got = fs_->GetAttr(ino);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->attrs.mode, 0600u);
  EXPECT_EQ(got->attrs.mtime_ns, 1234567890123456789);
  EXPECT_EQ(got->size, 5u);
  auto head = store_->Head("bkt", "a");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, before->etag);
  EXPECT_EQ(head->cid, before->cid);
  EXPECT_EQ(head->meta.user, (std::map<std::string, std::string>{{"color", "blue"}}));
  EXPECT_EQ(head->attrs.mode, 0600u);
  EXPECT_EQ(fs_->SetAttr(987654321, r).status().reason(), Status::Reason::kNoSuchKey);
  EXPECT_EQ(fs_->GetAttr(987654321).status().reason(), Status::Reason::kNoSuchKey);
  ExpectFsckClean();
}

// A write out of order (a database page, an append to an existing file) leaves the ETag
// pending instead of reading the whole file again at each fsync. S3 never sees it pending:
// Head, List and Copy compute it from the content and record it for that version, and the
// background pass computes those of files nobody has open.
TEST_P(FileSystemTest, OutOfOrderWritesLeaveTheEtagPendingUntilAsked) {
  Bytes data = testing::ChaCha("pending", 3 * kChunk + 777);
  auto [fh, ino] = NewFile("db");
  ASSERT_TRUE(fs_->Write(fh, 0, data).ok());
  ASSERT_TRUE(fs_->Fsync(fh).ok());
  // In order through the pipeline: known at once (without it every ETag waits to be asked).
  EXPECT_EQ(store_->StatInode(ino)->etag, GetParam() ? testing::Md5Hex(data) : "");
  // A page in the middle, fsynced with the file still open.
  Bytes page = testing::ChaCha("page", 4096);
  std::copy(page.begin(), page.end(), data.begin() + kChunk + 100);
  ASSERT_TRUE(fs_->Write(fh, kChunk + 100, page).ok());
  ASSERT_TRUE(fs_->Fsync(fh).ok());
  EXPECT_EQ(store_->StatInode(ino)->etag, "");
  // Open files are left to their next commit.
  auto n = store_->ComputePendingEtags(100);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(store_->StatInode(ino)->etag, "");
  // S3 asks: computed, recorded, the same answer everywhere.
  auto h = store_->Head("bkt", "db");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->etag, testing::Md5Hex(data));
  EXPECT_EQ(store_->StatInode(ino)->etag, testing::Md5Hex(data));
  // Another change; List and Copy answer with the new content's MD5.
  ASSERT_TRUE(fs_->Write(fh, 5, AsBytes("xyz")).ok());
  std::copy_n(AsBytes("xyz").begin(), 3, data.begin() + 5);
  ASSERT_TRUE(fs_->Release(fh).ok());
  EXPECT_EQ(store_->StatInode(ino)->etag, "");
  auto l = store_->List("bkt", ListOptions{});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->objects.size(), 1u);
  EXPECT_EQ(l->objects[0].etag, testing::Md5Hex(data));
  auto fh2 = fs_->Open(ino, false);
  ASSERT_TRUE(fh2.ok());
  ASSERT_TRUE(fs_->Write(*fh2, 2 * kChunk, AsBytes("again")).ok());
  std::copy_n(AsBytes("again").begin(), 5, data.begin() + 2 * kChunk);
  ASSERT_TRUE(fs_->Release(*fh2).ok());
  CopyOptions co;
  co.if_match = testing::Md5Hex(data);  // compared with the pending ETag, once computed
  auto c = store_->Copy("bkt", "db", "bkt", "copy", co);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->etag, testing::Md5Hex(data));
  ExpectCommitted("copy", data);
  // A conditional PUT over a pending ETag.
  fh2 = fs_->Open(ino, false);
  ASSERT_TRUE(fh2.ok());
  ASSERT_TRUE(fs_->Write(*fh2, 7, AsBytes("more")).ok());
  std::copy_n(AsBytes("more").begin(), 4, data.begin() + 7);
  ASSERT_TRUE(fs_->Release(*fh2).ok());
  EXPECT_EQ(store_->StatInode(ino)->etag, "");
  PutOptions po;
  po.if_match = testing::Md5Hex(data);
  auto wrong = store_->Put("bkt", "db", AsBytes("new"), [] { PutOptions p; p.if_match = "0123"; return p; }());
  EXPECT_EQ(wrong.status().reason(), Status::Reason::kPreconditionFailed);
  auto replaced = store_->Put("bkt", "db", data, po);  // the same bytes again, conditionally
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(replaced->etag, testing::Md5Hex(data));
  // Closed and pending again: the background pass computes it.
  fh2 = fs_->Open(replaced->ino, false);
  ASSERT_TRUE(fs_->Write(*fh2, 9, AsBytes("bg")).ok());
  std::copy_n(AsBytes("bg").begin(), 2, data.begin() + 9);
  ASSERT_TRUE(fs_->Release(*fh2).ok());
  ino = replaced->ino;
  EXPECT_EQ(store_->StatInode(ino)->etag, "");
  n = store_->ComputePendingEtags(100);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(store_->StatInode(ino)->etag, testing::Md5Hex(data));
  EXPECT_EQ(*store_->ComputePendingEtags(100), 0u);
  ExpectCommitted("db", data);
  ExpectFsckClean();
}

// A file whose content cannot be read (a block lost) does not stop the others: List answers
// with an empty ETag for it, the background pass logs it and computes the next one, and HEAD
// fails with an I/O error, not "no such key".
TEST_P(FileSystemTest, AnUnreadablePendingFileDoesNotBlockTheOthers) {
  if (!GetParam()) GTEST_SKIP() << "one write path is enough";
  Bytes a = testing::ChaCha("a", 2 * kChunk), b = testing::ChaCha("b", 2 * kChunk);
  InodeId inos[2];
  for (int n = 0; n < 2; ++n) {
    auto [fh, ino] = NewFile(n == 0 ? "a" : "b");
    inos[n] = ino;
    const Bytes& d = n == 0 ? a : b;
    ASSERT_TRUE(fs_->Write(fh, kChunk, ByteView(d).subspan(kChunk)).ok());  // the end first
    ASSERT_TRUE(fs_->Write(fh, 0, ByteView(d).first(kChunk)).ok());
    ASSERT_TRUE(fs_->Release(fh).ok());
    EXPECT_EQ(store_->StatInode(ino)->etag, "");
  }
  auto leaves = store_->FileLeaves(inos[0]);
  ASSERT_TRUE(leaves.ok());
  ASSERT_TRUE(mem_.Delete(leaves->back().cid).ok());
  auto l = store_->List("bkt", ListOptions{});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->objects.size(), 2u);
  EXPECT_EQ(l->objects[0].etag, "");
  EXPECT_EQ(l->objects[1].etag, testing::Md5Hex(b));
  auto n = store_->ComputePendingEtags(100);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0u);  // b was recorded by List already; a cannot be read
  auto h = store_->Head("bkt", "a");
  ASSERT_FALSE(h.ok());
  EXPECT_FALSE(h.status().IsNotFound()) << h.status().ToString();
  EXPECT_EQ(store_->StatInode(inos[0])->etag, "");
  EXPECT_EQ(store_->StatInode(inos[1])->etag, testing::Md5Hex(b));
}

INSTANTIATE_TEST_SUITE_P(Paths, FileSystemTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "Pipeline" : "CacheFile"; });

// ---------------- the pipeline alone ----------------

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    store_ = std::move(ObjectStore::Open(o, &faulty_).value());
  }
  testing::TempDir dir_;
  MemoryBlockStore mem_;
  FaultyBlockStore faulty_{&mem_};
  std::unique_ptr<ObjectStore> store_;
};

// Chunks come back with the CIDs of raw leaves, the MD5 covers them in submission order (also
// when the store stage finishes out of order), and held bytes stay bounded.
TEST_F(PipelineTest, OrderCidsMd5AndBoundedMemory) {
  WritePipeline::Options po;
  po.chunk_size = 4096;
  po.max_queued_bytes = 8 * 4096;
  po.store_threads = 3;
  po.sync_batch = 5;
  WritePipeline p(po);
  auto s = p.NewStream([&] { return store_->NewBlockWriter(); });
  // Every other chunk's put is slow, so the store stage completes out of order.
  faulty_.SetDelay(std::chrono::milliseconds(1));
  Bytes all;
  std::vector<std::shared_ptr<WritePipeline::Chunk>> chunks;
  size_t max_held = 0;
  for (int i = 0; i < 100; ++i) {
    p.Reserve(4096);
    Bytes b = p.TakeBuffer();
    Bytes d = testing::ChaCha("p" + std::to_string(i), 4096);
    b.assign(d.begin(), d.end());
    all.insert(all.end(), d.begin(), d.end());
    chunks.push_back(s->Submit(std::move(b), true));
    max_held = std::max(max_held, p.held_bytes());
  }
  EXPECT_LE(max_held, po.max_queued_bytes + 4096);
  s->WaitIdle();
  EXPECT_EQ(p.held_bytes(), 0u);
  for (int i = 0; i < 100; ++i) {
    auto cid = s->Stored(chunks[i]);
    ASSERT_TRUE(cid.ok());
    EXPECT_EQ(*cid, Cid::Compute(1, Codec::kRaw, ByteView(all.data() + i * 4096, 4096)));
    EXPECT_TRUE(*mem_.Get(*cid) == Bytes(all.begin() + i * 4096, all.begin() + (i + 1) * 4096));
  }
  Bytes tail = testing::ChaCha("tail", 77);
  Bytes whole = all;
  whole.insert(whole.end(), tail.begin(), tail.end());
  EXPECT_EQ(s->Md5Hex(tail), testing::Md5Hex(whole));
  EXPECT_TRUE(s->error().ok());
  EXPECT_TRUE(s->SyncWriter().ok());
  EXPECT_GT(faulty_.calls(FaultyBlockStore::Op::kSync), 1u);  // background syncs happened
  s->ResetMd5();
  EXPECT_EQ(s->Md5Hex(tail), testing::Md5Hex(tail));
}

// A failed put keeps the chunk's bytes (FailedBytes), reports the error until Retry stores it.
TEST_F(PipelineTest, FailedPutKeepsBytesUntilRetried) {
  WritePipeline::Options po;
  po.chunk_size = 4096;
  WritePipeline p(po);
  auto s = p.NewStream([&] { return store_->NewBlockWriter(); });
  faulty_.FailNth(FaultyBlockStore::Op::kPut, 2, Status::IOError("injected"));
  std::vector<std::shared_ptr<WritePipeline::Chunk>> chunks;
  for (int i = 0; i < 3; ++i)
    chunks.push_back(s->Submit(testing::ChaCha("f" + std::to_string(i), 4096), false));
  s->WaitIdle();
  EXPECT_TRUE(s->Stored(chunks[0]).ok());
  EXPECT_EQ(s->Stored(chunks[1]).status().code(), Status::Code::kIOError);
  EXPECT_EQ(s->error().code(), Status::Code::kIOError);
  ASSERT_NE(s->FailedBytes(chunks[1]), nullptr);
  EXPECT_TRUE(*s->FailedBytes(chunks[1]) == testing::ChaCha("f1", 4096));
  EXPECT_EQ(p.held_bytes(), 0u);  // failed bytes do not hold other writers back
  ASSERT_TRUE(s->Retry(chunks[1]).ok());
  EXPECT_TRUE(s->error().ok());
  EXPECT_TRUE(s->Stored(chunks[1]).ok());
  EXPECT_EQ(s->FailedBytes(chunks[1]), nullptr);
  // A chunk dropped while failed gives its accounting back.
  faulty_.FailNth(FaultyBlockStore::Op::kPut, 1, Status::IOError("injected"));
  auto c = s->Submit(testing::ChaCha("f9", 4096), false);
  s->WaitIdle();
  EXPECT_FALSE(s->error().ok());
  c.reset();
}

}  // namespace
}  // namespace s3xfs
