// Concurrency contract of ObjectStore (s3xfs/core/object_store.h, "Concurrency"):
//  - operations on different keys never wait for each other's block I/O: with the block I/O of
//    one object held (FaultyBlockStore::HoldWhen), Puts/Gets/Lists/Deletes of other keys finish;
//  - same-key operations are ordered by a lock held only around the ledger commit, never across
//    block I/O: even a second Put of the held key finishes;
//  - concurrent writers of one key never produce a mixed object; readers see whole versions;
//  - GC running alongside writers of deduplicated content never deletes a referenced block.
// Every wait has a timeout: a deadlock fails the test instead of hanging it.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3xfs/blockstore/faulty.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/core/object_store.h"
#include "testutil.h"

namespace s3xfs {
namespace {

using Reason = Status::Reason;
using namespace std::chrono_literals;
constexpr size_t kChunk = 262144;
constexpr uint64_t kMinPart = 300000;
constexpr auto kOpTimeout = 20s;

std::string Md5Hex(ByteView b) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(b.data(), b.size(), d, &n, EVP_md5(), nullptr);
  return HexEncode(ByteView(d, n));
}

Bytes Mh(const Cid& c) { return Bytes(c.multihash().begin(), c.multihash().end()); }

// Multihashes of every block of `data` as the store builds it.
std::set<Bytes> BlocksOf(ByteView data, const DagOptions& dag) {
  std::set<Bytes> out;
  auto r = ComputeFileRoot(data, dag, [&](const Cid& c, ByteView, bool) {
    out.insert(Mh(c));
    return Status::OK();
  });
  EXPECT_TRUE(r.ok());
  return out;
}

// Runs fn on its own thread; Wait() fails the test after a timeout instead of hanging. If the
// operation never finishes even after `on_timeout` (which should unblock it), the process exits:
// a hung test is worse than a failed one.
class Async {
 public:
  explicit Async(std::function<void()> fn) : state_(std::make_shared<State>()) {
    auto st = state_;
    std::thread([st, fn = std::move(fn)] {
      fn();
      std::lock_guard<std::mutex> l(st->mu);
      st->done = true;
      st->cv.notify_all();
    }).detach();
  }
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> l(state_->mu);
    return state_->cv.wait_for(l, d, [&] { return state_->done; });
  }
  bool done() {
    std::lock_guard<std::mutex> l(state_->mu);
    return state_->done;
  }
  // true when finished in time.
  bool Wait(const std::string& what, std::chrono::milliseconds d,
            const std::function<void()>& on_timeout = nullptr) {
    if (WaitFor(d)) return true;
    ADD_FAILURE() << what << ": did not finish within " << d.count() << " ms";
    if (on_timeout) on_timeout();
    if (!WaitFor(30s)) {
      std::fprintf(stderr, "FATAL: %s is deadlocked; exiting\n", what.c_str());
      std::fflush(stderr);
      std::_Exit(1);
    }
    return false;
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  std::shared_ptr<State> state_;
};

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    o.gc_grace = 0ms;
    o.min_part_size = kMinPart;
    auto s = ObjectStore::Open(o, &faulty_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->CreateBucket(kBucket).ok());
  }
  void TearDown() override { faulty_.ReleaseHeld(); }

  // Runs one operation with the timeout; the held I/O is released if it hangs.
  void Quick(const std::string& what, const std::function<void()>& fn) {
    Async a(fn);
    a.Wait(what + " (while another key's block I/O is held)", kOpTimeout,
           [&] { faulty_.ReleaseHeld(); });
  }

  void ExpectFsckClean(const std::string& when) {
    auto f = store_->Fsck(false);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    std::string e;
    for (auto& x : f->missing_blocks) e += " missing " + x;
    for (auto& x : f->wrong_refcounts) e += " refcount " + x;
    for (auto& x : f->orphan_blocks) e += " orphan " + x;
    for (auto& x : f->other) e += " other " + x;
    EXPECT_TRUE(f->clean()) << when << ":" << e;
  }

  void DeleteAllAndExpectNoBlocks() {
    for (;;) {
      auto l = store_->List(kBucket, ListOptions{});
      ASSERT_TRUE(l.ok());
      if (l->objects.empty()) break;
      for (auto& i : l->objects) ASSERT_TRUE(store_->Delete(kBucket, i.key).ok());
    }
    auto gc = store_->CollectGarbage(0ms);
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    EXPECT_EQ(mem_.block_count(), 0u);
    ExpectFsckClean("after deleting everything");
  }

  static constexpr const char* kBucket = "conc";
  testing::TempDir dir_;
  MemoryBlockStore mem_;
  FaultyBlockStore faulty_{&mem_};
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(ConcurrencyTest, HeldPutDoesNotBlockOtherKeys) {
  const Bytes held = testing::ChaCha("conc/held", 3 * kChunk + 1234);
  const std::set<Bytes> held_blocks = BlocksOf(held, store_->dag_options());
  ASSERT_FALSE(held_blocks.empty());
  // A pre-existing version of the held key, and some other objects.
  const Bytes old_version = testing::ChaCha("conc/held-old", 5000);
  ASSERT_TRUE(store_->Put(kBucket, "dir/held", old_version).ok());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store_->Put(kBucket, "dir/pre" + std::to_string(i),
                            testing::ChaCha("conc/pre" + std::to_string(i), 70000 * i))
                    .ok());

  faulty_.HoldWhen([held_blocks](const Cid& c) { return held_blocks.count(Mh(c)) > 0; });
  Result<ObjectInfo> held_result = Status::Internal("not run");
  Async put([&] { held_result = store_->Put(kBucket, "dir/held", held); });
  // Wait until the put is stuck in the block store.
  for (auto t0 = std::chrono::steady_clock::now(); faulty_.held_count() == 0;) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, 10s) << "the put never reached a held block";
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_FALSE(put.done());

  // Other keys in the same bucket (and the same directory) proceed.
  for (int i = 0; i < 20; ++i) {
    const std::string k = "dir/other" + std::to_string(i);
    const Bytes d = testing::ChaCha("conc/other" + std::to_string(i), 1000 + 60000 * (i % 7));
    Quick("Put " + k, [&] {
      auto r = store_->Put(kBucket, k, d);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    });
    Quick("Get " + k, [&] {
      auto r = store_->Get(kBucket, k);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(*r == d);
    });
    Quick("Head " + k, [&] {
      auto r = store_->Head(kBucket, k);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->etag, Md5Hex(d));
    });
  }
  Quick("List with delimiter", [&] {
    ListOptions lo;
    lo.delimiter = "/";
    auto r = store_->List(kBucket, lo);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->common_prefixes, std::vector<std::string>{"dir/"});
  });
  Quick("List dir/", [&] {
    ListOptions lo;
    lo.prefix = "dir/";
    auto r = store_->List(kBucket, lo);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->objects.size(), 1u + 5 + 20);  // the held key shows its old version
  });
  Quick("Head of the held key (old version still visible)", [&] {
    auto r = store_->Head(kBucket, "dir/held");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->etag, Md5Hex(old_version));
  });
  Quick("Get of the held key (old version)", [&] {
    auto r = store_->Get(kBucket, "dir/held");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r == old_version);
  });
  Quick("Copy", [&] { EXPECT_TRUE(store_->Copy(kBucket, "dir/pre1", kBucket, "dir/copy", {}).ok()); });
  Quick("Rename", [&] { EXPECT_TRUE(store_->Rename(kBucket, "dir/copy", "dir/renamed").ok()); });
  Quick("Link", [&] { EXPECT_TRUE(store_->Link(kBucket, "dir/pre2", "dir/linked").ok()); });
  Quick("Delete", [&] {
    for (int i = 0; i < 20; i += 2)
      EXPECT_TRUE(store_->Delete(kBucket, "dir/other" + std::to_string(i)).ok());
  });
  Quick("Multipart on another key", [&] {
    auto up = store_->CreateMultipart(kBucket, "dir/mp", {});
    ASSERT_TRUE(up.ok());
    const Bytes p1 = testing::ChaCha("conc/p1", kMinPart), p2 = testing::ChaCha("conc/p2", 777);
    auto r1 = store_->UploadPart(*up, 1, p1);
    auto r2 = store_->UploadPart(*up, 2, p2);
    ASSERT_TRUE(r1.ok() && r2.ok());
    auto done = store_->CompleteMultipart(*up, {{1, r1->etag}, {2, r2->etag}});
    EXPECT_TRUE(done.ok()) << done.status().ToString();
  });
  Quick("CollectGarbage", [&] { EXPECT_TRUE(store_->CollectGarbage(0ms).ok()); });
  Quick("Fsck", [&] { ExpectFsckClean("while a put is held"); });
  // A second writer of the SAME key: the key lock is held only around the commit, never across
  // block I/O, so this finishes too.
  const Bytes racer = testing::ChaCha("conc/racer", 4321);
  Quick("Put of the held key itself", [&] {
    auto r = store_->Put(kBucket, "dir/held", racer);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  });
  Quick("Get of the held key (the racer's version)", [&] {
    auto r = store_->Get(kBucket, "dir/held");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r == racer);
  });
  EXPECT_FALSE(put.done()) << "the held put finished while its blocks were held";
  EXPECT_GT(faulty_.held_count(), 0);

  // Release: the held put commits, and being the last commit it wins.
  faulty_.ReleaseHeld();
  ASSERT_TRUE(put.Wait("the held put after release", kOpTimeout));
  ASSERT_TRUE(held_result.ok()) << held_result.status().ToString();
  EXPECT_EQ(held_result->etag, Md5Hex(held));
  auto got = store_->Get(kBucket, "dir/held");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == held);
  ExpectFsckClean("after the held put committed");
  DeleteAllAndExpectNoBlocks();
}

TEST_F(ConcurrencyTest, HeldReadDoesNotBlockOtherKeysAndKeepsItsVersion) {
  const Bytes a = testing::ChaCha("conc/a", 2 * kChunk + 99);
  ASSERT_TRUE(store_->Put(kBucket, "a", a).ok());
  const std::set<Bytes> a_blocks = BlocksOf(a, store_->dag_options());
  faulty_.HoldWhen([a_blocks](const Cid& c) { return a_blocks.count(Mh(c)) > 0; });
  Result<Bytes> read = Status::Internal("not run");
  Async get([&] { read = store_->Get(kBucket, "a"); });
  for (auto t0 = std::chrono::steady_clock::now(); faulty_.held_count() == 0;) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, 10s) << "the get never reached a held block";
    std::this_thread::sleep_for(1ms);
  }
  for (int i = 0; i < 10; ++i) {
    const std::string k = "b" + std::to_string(i);
    const Bytes d = testing::ChaCha("conc/b" + std::to_string(i), 100000 * i + 1);
    Quick("Put " + k, [&] { EXPECT_TRUE(store_->Put(kBucket, k, d).ok()); });
    Quick("Get " + k, [&] {
      auto r = store_->Get(kBucket, k);
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(*r == d);
    });
  }
  Quick("List", [&] {
    auto r = store_->List(kBucket, ListOptions{});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->objects.size(), 11u);
  });
  // The object being read is overwritten, then deleted, then GC runs: the reader keeps its
  // version (the blocks are released when it closes).
  Quick("overwrite of the key being read", [&] {
    EXPECT_TRUE(store_->Put(kBucket, "a", testing::ChaCha("conc/a2", 10)).ok());
  });
  Quick("delete of the key being read", [&] { EXPECT_TRUE(store_->Delete(kBucket, "a").ok()); });
  Quick("GC while the read is held", [&] { EXPECT_TRUE(store_->CollectGarbage(0ms).ok()); });
  for (const Bytes& mh : a_blocks) {
    auto has = mem_.Has(Cid::V1(Codec::kRaw, mh));
    EXPECT_TRUE(has.ok() && *has) << "a block of an object still being read was deleted";
  }
  EXPECT_FALSE(get.done());
  faulty_.ReleaseHeld();
  ASSERT_TRUE(get.Wait("the held get after release", kOpTimeout));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(*read == a);
  ExpectFsckClean("after the read");
  DeleteAllAndExpectNoBlocks();
}

// Two writers of one key, many times, with a reader checking whole versions.
TEST_F(ConcurrencyTest, SameKeyWritersNeverMix) {
  constexpr int kPerThread = 40;
  std::mutex mu;
  std::set<std::string> written;  // md5 of every version written
  auto content = [](int t, int i) {
    // Sizes straddle chunk boundaries; versions share leading chunks within a thread.
    return testing::ChaCha("conc/w" + std::to_string(t) + "/" + std::to_string(i % 5),
                           (i * 97531 + t * 13) % (3 * kChunk) + 1);
  };
  for (int t = 0; t < 2; ++t)
    for (int i = 0; i < kPerThread; ++i) written.insert(Md5Hex(content(t, i)));
  written.insert(Md5Hex(Bytes{}));
  ASSERT_TRUE(store_->Put(kBucket, "k", Bytes{}).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, reads{0};
  std::vector<std::unique_ptr<Async>> workers;
  for (int t = 0; t < 2; ++t) {
    workers.push_back(std::make_unique<Async>([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Bytes d = content(t, i);
        auto r = store_->Put(kBucket, "k", d);
        if (!r.ok() || r->etag != Md5Hex(d)) {
          ++errors;
          ADD_FAILURE() << "writer " << t << " put " << i << ": " << r.status().ToString();
        }
      }
    }));
  }
  Async reader([&] {
    while (!stop) {
      auto r = store_->OpenReader(kBucket, "k");
      if (!r.ok()) {
        ++errors;
        ADD_FAILURE() << "OpenReader: " << r.status().ToString();
        return;
      }
      Bytes got;
      Status st = (*r)->Read(0, UINT64_MAX, [&](ByteView b) {
        got.insert(got.end(), b.begin(), b.end());
        return Status::OK();
      });
      if (!st.ok() || Md5Hex(got) != (*r)->info().etag || got.size() != (*r)->info().size ||
          !written.count(Md5Hex(got))) {
        ++errors;
        ADD_FAILURE() << "reader saw a mixed/unknown version: " << st.ToString() << " size "
                      << got.size() << " info size " << (*r)->info().size;
        return;
      }
      ++reads;
    }
  });
  Async gc([&] {
    while (!stop) {
      auto r = store_->CollectGarbage(0ms);
      if (!r.ok()) {
        ++errors;
        ADD_FAILURE() << "GC: " << r.status().ToString();
        return;
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  for (auto& w : workers) w->Wait("same-key writer", 120s);
  stop = true;
  reader.Wait("reader", 30s);
  gc.Wait("gc loop", 30s);
  EXPECT_EQ(errors.load(), 0);
  std::cout << "[concurrency] " << reads.load() << " whole-version reads during the writes"
            << std::endl;
  auto final_r = store_->Get(kBucket, "k");
  ASSERT_TRUE(final_r.ok());
  std::string m = Md5Hex(*final_r);
  bool last_of_a_thread = m == Md5Hex(content(0, kPerThread - 1)) ||
                          m == Md5Hex(content(1, kPerThread - 1));
  EXPECT_TRUE(last_of_a_thread) << "final content is not the last write of either writer";
  auto h = store_->Head(kBucket, "k");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->etag, m);
  ExpectFsckClean("after concurrent same-key writes");
  DeleteAllAndExpectNoBlocks();
}

// The reader lease must cover the version the reader resolved: OpenReader resolves the key and
// only then registers the reader, so an overwrite + GC (grace 0) landing in between deletes the
// blocks of a version a reader already holds. Tight loop: overwrite, GC and open+read at once.
TEST_F(ConcurrencyTest, ReaderOpenRacingOverwriteAndGc) {
  const Bytes a = testing::ChaCha("conc/race-a", kChunk + 1), b = testing::ChaCha("conc/race-b", kChunk + 2);
  ASSERT_TRUE(store_->Put(kBucket, "r", a).ok());
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, failures{0};
  std::string first_failure;
  std::mutex mu;
  Async writer([&] {
    for (int i = 0; !stop && std::chrono::steady_clock::now() < deadline; ++i)
      if (!store_->Put(kBucket, "r", i % 2 ? a : b).ok()) ++failures;
  });
  Async gc([&] {
    while (!stop && std::chrono::steady_clock::now() < deadline)
      if (!store_->CollectGarbage(0ms).ok()) ++failures;
  });
  Async reader([&] {
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      auto r = store_->OpenReader(kBucket, "r");
      if (!r.ok()) continue;
      Bytes got;
      Status st = (*r)->Read(0, UINT64_MAX, [&](ByteView v) {
        got.insert(got.end(), v.begin(), v.end());
        return Status::OK();
      });
      ++reads;
      if (!st.ok() || !(got == a || got == b)) {
        std::lock_guard<std::mutex> l(mu);
        if (failures++ == 0) first_failure = st.ToString();
        stop = true;  // one is enough
      }
    }
  });
  writer.Wait("writer", 60s);
  gc.Wait("gc", 60s);
  reader.Wait("reader", 60s);
  EXPECT_EQ(failures.load(), 0) << "after " << reads.load()
                                << " reads, a reader lost the version it opened: " << first_failure;
  ExpectFsckClean("after the race");
}

// Writers of overlapping keys with deduplicated content, deleters and GC at once: no referenced
// block is ever deleted (every committed object stays readable) and the counts stay right.
TEST_F(ConcurrencyTest, DedupWritersDeletersAndGcTogether) {
  constexpr int kThreads = 3;
  const auto deadline = std::chrono::steady_clock::now() + 4s;
  std::atomic<int> errors{0}, ops{0};
  std::vector<std::unique_ptr<Async>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<Async>([&, t] {
      std::mt19937 rng(1000 + t);
      while (std::chrono::steady_clock::now() < deadline && errors == 0) {
        std::string key = "k" + std::to_string(rng() % 6);
        int action = rng() % 10;
        if (action < 6) {
          // Three contents only, so blocks are shared across keys and threads.
          Bytes d = testing::ChaCha("conc/dedup" + std::to_string(rng() % 3),
                                    kChunk * (1 + rng() % 3) + (rng() % 2) * 17);
          auto r = store_->Put(kBucket, key, d);
          if (!r.ok()) {
            ++errors;
            ADD_FAILURE() << "Put " << key << ": " << r.status().ToString();
          }
        } else if (action < 8) {
          Status st = store_->Delete(kBucket, key);
          if (!st.ok()) {
            ++errors;
            ADD_FAILURE() << "Delete " << key << ": " << st.ToString();
          }
        } else {
          auto r = store_->OpenReader(kBucket, key);
          if (!r.ok()) {
            if (r.status().reason() != Reason::kNoSuchKey) {
              ++errors;
              ADD_FAILURE() << "OpenReader " << key << ": " << r.status().ToString();
            }
            continue;
          }
          Bytes got;
          Status st = (*r)->Read(0, UINT64_MAX, [&](ByteView b) {
            got.insert(got.end(), b.begin(), b.end());
            return Status::OK();
          });
          if (!st.ok() || Md5Hex(got) != (*r)->info().etag) {
            // Tell the two possible causes apart: GC deleted blocks of the version the key still
            // names (referenced data lost), or the reader's own version was freed under it (the
            // reader lease window; see ReaderOpenRacingOverwriteAndGc).
            auto h = store_->Head(kBucket, key);
            bool current = h.ok() && h->ino == (*r)->info().ino;
            ++errors;
            ADD_FAILURE() << "Read " << key << ": " << st.ToString()
                          << (current ? " -- the key still names this version: GC deleted "
                                        "referenced blocks"
                                      : " -- the version was replaced/deleted after OpenReader "
                                        "resolved it (reader lease window)");
          }
        }
        ++ops;
      }
    }));
  }
  Async gc([&] {
    while (std::chrono::steady_clock::now() < deadline && errors == 0) {
      auto r = store_->CollectGarbage(0ms);
      if (!r.ok()) {
        ++errors;
        ADD_FAILURE() << "GC: " << r.status().ToString();
      }
    }
  });
  for (auto& t : threads) t->Wait("dedup worker", 120s);
  gc.Wait("gc loop", 60s);
  EXPECT_EQ(errors.load(), 0);
  std::cout << "[concurrency] " << ops.load() << " mixed operations alongside GC" << std::endl;
  // Everything left is whole and readable.
  auto l = store_->List(kBucket, ListOptions{});
  ASSERT_TRUE(l.ok());
  for (auto& i : l->objects) {
    auto r = store_->Get(kBucket, i.key);
    ASSERT_TRUE(r.ok()) << i.key << ": " << r.status().ToString();
    EXPECT_EQ(Md5Hex(*r), i.etag) << i.key;
  }
  ExpectFsckClean("after dedup writers + GC");
  DeleteAllAndExpectNoBlocks();
}

}  // namespace
}  // namespace s3xfs
