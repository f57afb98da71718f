// WritePipeline: stores the whole chunks of sequentially written files as IPFS blocks on
// background threads, so the thread that accepts a write only copies its bytes (DESIGN.md §4:
// the block is written once, straight into the block store, never through the cache file).
//
// A file's chunks go into its Stream, in file order. Each chunk is worked on twice, on
// different threads (different cores):
//  - store: sha2-256 of the bytes gives the raw leaf CID; the block goes to the stream's
//    ObjectStore::BlockWriter with PutUnsynced (protected from GC, readable at once). When a
//    writer has `sync_batch` unsynced blocks a sync thread makes them durable
//    (BlockWriter::Sync), so the flush that commits them only waits for the last few.
//  - md5 (when asked for the chunk): one thread adds the bytes to the stream's running MD5 (the
//    ETag), in submission order.
// A chunk's bytes are released once both are done. Memory is bounded: Reserve() makes the
// caller wait while `max_queued_bytes` of chunk bytes are held.
//
// Errors: a chunk whose put fails keeps its bytes and is marked failed; the stream's error()
// reports it until Retry() stores it. A failed background sync is reported the same way until
// a sync through SyncWriter() succeeds. Nothing is lost silently: the owner (FileSystem) fails
// writes while error() is set and retries, or fails, at flush.
//
// Thread-safety: every method may be called from any thread. The chunks of one stream must be
// submitted in file order by one thread at a time (the file's lock). Workers never take a lock
// of the caller's, so a caller may wait on a stream while holding its own locks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/cid.h"
#include "s3xfs/core/object_store.h"

namespace s3xfs {

class WritePipeline {
 public:
  struct Options {
    size_t chunk_size = 262144;
    // Chunk bytes held (queued, being hashed or stored, or failed) before Reserve() waits.
    size_t max_queued_bytes = 16u << 20;
    // A writer with this many unsynced blocks is synced in the background.
    size_t sync_batch = 64;
    // Threads that hash and store chunks (MD5 always has one thread, which keeps the order).
    unsigned store_threads = 1;
  };

  class Stream;

  // One chunk on its way into the block store.
  class Chunk {
   public:
    ~Chunk();  // a chunk dropped with its bytes (failed, then abandoned) gives them back

   private:
    friend class WritePipeline;
    friend class Stream;
    WritePipeline* pipeline_ = nullptr;
    bool md5_ = false;
    Bytes data_;       // released once stored and hashed; kept while the put failed
    std::shared_ptr<ObjectStore::BlockWriter> writer_;  // where the store stage puts it
    // GUARDED_BY(the stream's mu_):
    Cid cid_;
    Status status_;
    bool stored_ = false;  // the store stage finished (status_ tells how)
    bool hashed_ = false;  // the md5 stage finished (or was not asked for)
    bool released_ = false;
    bool dropped_ = false;
    bool counted_ = true;  // data_ counts in the pipeline's held bytes (not while failed)
  };

  // A file's chunks, its running MD5 and its current block writer.
  class Stream : public std::enable_shared_from_this<Stream> {
   public:
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Queues a whole chunk (data.size() == chunk_size) for the store stage and, when md5 is
    // true, the md5 stage. Call Reserve() first, without holding locks the workers could need
    // (they need none of the caller's).
    std::shared_ptr<Chunk> Submit(Bytes data, bool md5);
    // Waits until the chunk's store stage is done: its CID, or the put's error.
    Result<Cid> Stored(const std::shared_ptr<Chunk>& c);
    // The bytes of a chunk whose put failed (null if they were released).
    const Bytes* FailedBytes(const std::shared_ptr<Chunk>& c);
    // Waits until every submitted chunk has been through both stages.
    void WaitIdle();
    // Stores a failed chunk again on this thread. REQUIRES: Stored(c) returned an error.
    Status Retry(const std::shared_ptr<Chunk>& c);
    // The owner no longer needs the chunk (overwritten, truncated away): its failure, if it
    // fails, no longer counts in error().
    void Drop(const std::shared_ptr<Chunk>& c);
    // The first failure not yet repaired (a failed put, or a failed background sync), or OK.
    Status error();

    // The MD5 of the bytes of every md5 chunk submitted, followed by `tail`, as lower-case hex.
    // REQUIRES: WaitIdle() since the last Submit.
    std::string Md5Hex(ByteView tail);
    // The running MD5 as it is after the md5 chunks submitted so far (later chunks do not
    // change it): for a commit of this point while writing goes on. Wait with Md5HexAt.
    struct Md5Mark;
    std::shared_ptr<Md5Mark> MarkMd5();
    // Waits for the mark; its MD5 followed by `tail`, as lower-case hex.
    std::string Md5HexAt(const std::shared_ptr<Md5Mark>& mark, ByteView tail);
    // Starts the MD5 over. REQUIRES: WaitIdle() since the last Submit.
    void ResetMd5();

    // The writer chunks go to (created on first use). Blocks the owner puts for the same commit
    // should go to it too, so one SyncWriter() covers them all.
    std::shared_ptr<ObjectStore::BlockWriter> writer();
    // writer()->Sync(), which also clears a background sync failure when it succeeds.
    Status SyncWriter();
    // After a commit: chunks submitted from now on go to a new writer (the old one, and the GC
    // protection of its blocks, goes when the last reference to it does).
    void ResetWriter();
    // The current writer (null if none), which chunks submitted from now on no longer use.
    std::shared_ptr<ObjectStore::BlockWriter> TakeWriter();

   private:
    friend class WritePipeline;
    Stream(WritePipeline* p, std::function<std::unique_ptr<ObjectStore::BlockWriter>()> factory);
    // Called by the workers (mu_ not held).
    void StoreDone(const std::shared_ptr<Chunk>& c, Cid cid, Status st);
    void HashDone(const std::shared_ptr<Chunk>& c);
    // A sync's result, from the ticket it took before it started (StartSync): a result older
    // than one already recorded is ignored, so a slow failed sync never hides a newer success
    // and a slow success never hides a newer failure.
    uint64_t StartSync();
    void SyncDone(uint64_t ticket, Status st);
    // Releases the chunk's bytes once both stages are done (REQUIRES: mu_ held).
    void MaybeReleaseLocked(Chunk& c);

    WritePipeline* pipeline_;
    std::function<std::unique_ptr<ObjectStore::BlockWriter>()> factory_;
    std::mutex mu_;
    std::condition_variable cv_;
    int pending_ = 0;          // GUARDED_BY(mu_): stages not yet finished
    int failed_ = 0;           // GUARDED_BY(mu_): chunks whose put failed, not yet retried
    Status first_error_;       // GUARDED_BY(mu_)
    Status sync_error_;        // GUARDED_BY(mu_)
    bool sync_queued_ = false; // GUARDED_BY(mu_)
    uint64_t sync_tickets_ = 0;   // GUARDED_BY(mu_): syncs started
    uint64_t sync_recorded_ = 0;  // GUARDED_BY(mu_): ticket of the result in sync_error_
    std::shared_ptr<ObjectStore::BlockWriter> writer_;  // GUARDED_BY(mu_)
    void* md5_ = nullptr;      // EVP_MD_CTX*; used by the md5 worker while chunks are pending
  };

  explicit WritePipeline(Options options);
  // Finishes the work queued (streams may outlive the pipeline only if idle).
  ~WritePipeline();
  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;

  // A stream whose blocks go to writers made by `factory` (one per commit, see ResetWriter).
  std::shared_ptr<Stream> NewStream(
      std::function<std::unique_ptr<ObjectStore::BlockWriter>()> factory);

  // Waits until `bytes` more chunk bytes fit under max_queued_bytes (or nothing is held, so a
  // large request still proceeds).
  void Reserve(size_t bytes);
  // A buffer for a chunk: empty, with capacity chunk_size (recycled from released chunks).
  Bytes TakeBuffer();
  // Chunk bytes held now.
  size_t held_bytes();

  const Options& options() const { return opt_; }

 private:
  struct Job {
    std::shared_ptr<Stream> stream;
    std::shared_ptr<Chunk> chunk;                 // null for an MD5 mark
    std::shared_ptr<Stream::Md5Mark> mark;
  };
  void Enqueue(std::shared_ptr<Stream> s, std::shared_ptr<Chunk> c);
  void EnqueueMark(std::shared_ptr<Stream> s, std::shared_ptr<Stream::Md5Mark> m);
  // Released chunk buffers kept for reuse (a fresh 256 KiB buffer costs page faults).
  static constexpr size_t kFreeBuffers = 16;
  // Gives a chunk's bytes back (recycled); `counted`: they count in held_.
  void Release(Bytes data, bool counted);
  // A failed chunk's bytes stop counting in held_ (kept until Retry, or the chunk is dropped).
  void Uncount(size_t bytes);
  void StoreWorker();
  void Md5Worker();
  void SyncWorker();
  void QueueSync(std::shared_ptr<Stream> s);

  const Options opt_;
  std::mutex mu_;
  std::condition_variable work_cv_, room_cv_;
  std::deque<Job> store_q_;                      // GUARDED_BY(mu_)
  std::deque<Job> md5_q_;                        // GUARDED_BY(mu_)
  std::deque<std::shared_ptr<Stream>> sync_q_;   // GUARDED_BY(mu_)
  std::vector<Bytes> free_;                      // GUARDED_BY(mu_)
  size_t held_ = 0;                              // GUARDED_BY(mu_)
  bool stop_ = false;                            // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace s3xfs
