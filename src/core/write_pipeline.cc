#include "s3xfs/core/write_pipeline.h"

#include <openssl/evp.h>
#include <pthread.h>

#include <algorithm>

namespace s3xfs {

namespace {
EVP_MD_CTX* Md5(void* p) { return static_cast<EVP_MD_CTX*>(p); }

// Finishes an MD5 context (freed here): the digest in lower-case hex.
std::string Md5FinishHex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, digest, &n);
  EVP_MD_CTX_free(ctx);
  return HexEncode(ByteView(digest, n));
}

// The MD5 of what `ctx` has seen, then `tail` (ctx itself is left as it is).
std::string Md5HexWith(void* ctx, ByteView tail) {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_MD_CTX_copy_ex(copy, Md5(ctx));
  EVP_DigestUpdate(copy, tail.data(), tail.size());
  return Md5FinishHex(copy);
}
}  // namespace

// ---------------- chunks ----------------

WritePipeline::Chunk::~Chunk() {
  if (pipeline_ && !released_) pipeline_->Release(std::move(data_), counted_);
}

// ---------------- streams ----------------

WritePipeline::Stream::Stream(WritePipeline* p,
                              std::function<std::unique_ptr<ObjectStore::BlockWriter>()> factory)
    : pipeline_(p), factory_(std::move(factory)) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  md5_ = ctx;
}

WritePipeline::Stream::~Stream() { EVP_MD_CTX_free(Md5(md5_)); }

std::shared_ptr<WritePipeline::Chunk> WritePipeline::Stream::Submit(Bytes data,
                                                                    bool md5) {
  auto c = std::make_shared<Chunk>();
  c->pipeline_ = pipeline_;
  c->md5_ = md5;
  c->data_ = std::move(data);
  c->hashed_ = !md5;
  c->writer_ = writer();
  {
    std::lock_guard<std::mutex> l(mu_);
    pending_ += md5 ? 2 : 1;
  }
  pipeline_->Enqueue(shared_from_this(), c);
  return c;
}

Result<Cid> WritePipeline::Stream::Stored(const std::shared_ptr<Chunk>& c) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return c->stored_; });
  if (!c->status_.ok()) return c->status_;
  return c->cid_;
}

const Bytes* WritePipeline::Stream::FailedBytes(const std::shared_ptr<Chunk>& c) {
  std::lock_guard<std::mutex> l(mu_);
  if (!c->stored_ || c->status_.ok() || c->released_) return nullptr;
  return &c->data_;
}

void WritePipeline::Stream::WaitIdle() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return pending_ == 0; });
}

Status WritePipeline::Stream::Retry(const std::shared_ptr<Chunk>& c) {
  auto w = writer();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!c->stored_ || c->status_.ok()) return Status::OK();
    if (c->released_) return Status::Internal("chunk bytes already released");
  }
  // The bytes are stable: only a successful store (this call) releases them.
  Status st = w->PutUnsynced(c->cid_, c->data_);
  std::lock_guard<std::mutex> l(mu_);
  if (!st.ok()) return st;
  c->status_ = Status::OK();
  c->writer_ = w;
  if (!c->dropped_ && --failed_ == 0) first_error_ = Status::OK();
  MaybeReleaseLocked(*c);
  return Status::OK();
}

void WritePipeline::Stream::Drop(const std::shared_ptr<Chunk>& c) {
  std::lock_guard<std::mutex> l(mu_);
  if (c->dropped_) return;
  c->dropped_ = true;
  if (c->stored_ && !c->status_.ok() && --failed_ == 0) first_error_ = Status::OK();
}

Status WritePipeline::Stream::error() {
  std::lock_guard<std::mutex> l(mu_);
  if (failed_ > 0) return first_error_;
  return sync_error_;
}

std::string WritePipeline::Stream::Md5Hex(ByteView tail) { return Md5HexWith(md5_, tail); }

struct WritePipeline::Stream::Md5Mark {
  ~Md5Mark() { EVP_MD_CTX_free(Md5(ctx)); }
  void* ctx = nullptr;  // EVP_MD_CTX*, a copy of the stream's at the mark
  bool done = false;    // GUARDED_BY(the stream's mu_)
};

std::shared_ptr<WritePipeline::Stream::Md5Mark> WritePipeline::Stream::MarkMd5() {
  auto mark = std::make_shared<Md5Mark>();
  {
    std::lock_guard<std::mutex> l(mu_);
    ++pending_;
  }
  pipeline_->EnqueueMark(shared_from_this(), mark);
  return mark;
}

std::string WritePipeline::Stream::Md5HexAt(const std::shared_ptr<Md5Mark>& mark, ByteView tail) {
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return mark->done; });
  }
  return Md5HexWith(mark->ctx, tail);
}

void WritePipeline::Stream::ResetMd5() { EVP_DigestInit_ex(Md5(md5_), EVP_md5(), nullptr); }

std::shared_ptr<ObjectStore::BlockWriter> WritePipeline::Stream::writer() {
  std::lock_guard<std::mutex> l(mu_);
  if (!writer_) writer_ = factory_();
  return writer_;
}

Status WritePipeline::Stream::SyncWriter() {
  auto w = writer();
  const uint64_t ticket = StartSync();
  Status st = w->Sync();
  std::lock_guard<std::mutex> l(mu_);
  if (ticket > sync_recorded_) {
    sync_recorded_ = ticket;
    sync_error_ = st;
  }
  return st;
}

uint64_t WritePipeline::Stream::StartSync() {
  std::lock_guard<std::mutex> l(mu_);
  return ++sync_tickets_;
}

void WritePipeline::Stream::ResetWriter() {
  std::lock_guard<std::mutex> l(mu_);
  writer_.reset();
}

std::shared_ptr<ObjectStore::BlockWriter> WritePipeline::Stream::TakeWriter() {
  std::lock_guard<std::mutex> l(mu_);
  return std::move(writer_);
}

void WritePipeline::Stream::StoreDone(const std::shared_ptr<Chunk>& c, Cid cid, Status st) {
  size_t uncount = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    c->cid_ = std::move(cid);
    c->stored_ = true;
    --pending_;
    if (!st.ok()) {
      if (!c->dropped_ && failed_++ == 0) first_error_ = st;
      // Read here: once pending_ dropped, Retry may move the bytes away.
      if (c->counted_) uncount = c->data_.size();
      c->counted_ = false;
    }
    c->status_ = std::move(st);
    MaybeReleaseLocked(*c);
  }
  cv_.notify_all();
  if (uncount) pipeline_->Uncount(uncount);
}

void WritePipeline::Stream::HashDone(const std::shared_ptr<Chunk>& c) {
  {
    std::lock_guard<std::mutex> l(mu_);
    c->hashed_ = true;
    --pending_;
    MaybeReleaseLocked(*c);
  }
  cv_.notify_all();
}

void WritePipeline::Stream::SyncDone(uint64_t ticket, Status st) {
  std::lock_guard<std::mutex> l(mu_);
  sync_queued_ = false;
  if (ticket > sync_recorded_) {
    sync_recorded_ = ticket;
    sync_error_ = std::move(st);
  }
}

void WritePipeline::Stream::MaybeReleaseLocked(Chunk& c) {
  if (c.released_ || !c.stored_ || !c.hashed_ || !c.status_.ok()) return;
  c.released_ = true;
  c.writer_.reset();
  pipeline_->Release(std::move(c.data_), c.counted_);
}

// ---------------- the pipeline ----------------

WritePipeline::WritePipeline(Options options) : opt_(options) {
  // Named for top -H and perf (at most 15 characters).
  for (unsigned i = 0; i < std::max(1u, opt_.store_threads); ++i) {
    threads_.emplace_back([this] { StoreWorker(); });
    pthread_setname_np(threads_.back().native_handle(), "s3xfs-store");
  }
  threads_.emplace_back([this] { Md5Worker(); });
  pthread_setname_np(threads_.back().native_handle(), "s3xfs-md5");
  threads_.emplace_back([this] { SyncWorker(); });
  pthread_setname_np(threads_.back().native_handle(), "s3xfs-sync");
}

WritePipeline::~WritePipeline() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  room_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

std::shared_ptr<WritePipeline::Stream> WritePipeline::NewStream(
    std::function<std::unique_ptr<ObjectStore::BlockWriter>()> factory) {
  return std::shared_ptr<Stream>(new Stream(this, std::move(factory)));
}

void WritePipeline::Enqueue(std::shared_ptr<Stream> s, std::shared_ptr<Chunk> c) {
  {
    std::lock_guard<std::mutex> l(mu_);
    held_ += c->data_.size();
    if (c->md5_) md5_q_.push_back(Job{s, c, nullptr});
    store_q_.push_back(Job{std::move(s), std::move(c), nullptr});
  }
  work_cv_.notify_all();
}

void WritePipeline::EnqueueMark(std::shared_ptr<Stream> s, std::shared_ptr<Stream::Md5Mark> m) {
  {
    std::lock_guard<std::mutex> l(mu_);
    md5_q_.push_back(Job{std::move(s), nullptr, std::move(m)});
  }
  work_cv_.notify_all();
}

void WritePipeline::Reserve(size_t bytes) {
  std::unique_lock<std::mutex> l(mu_);
  room_cv_.wait(l, [&] { return stop_ || held_ == 0 || held_ + bytes <= opt_.max_queued_bytes; });
}

Bytes WritePipeline::TakeBuffer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!free_.empty()) {
      Bytes b = std::move(free_.back());
      free_.pop_back();
      return b;
    }
  }
  Bytes b;
  b.reserve(opt_.chunk_size);
  return b;
}

size_t WritePipeline::held_bytes() {
  std::lock_guard<std::mutex> l(mu_);
  return held_;
}

void WritePipeline::Release(Bytes data, bool counted) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (counted) held_ -= std::min(held_, data.size());
    // Keep enough buffers for a full queue; a fresh 256 KiB buffer costs page faults.
    if (data.capacity() == opt_.chunk_size && free_.size() < kFreeBuffers) {
      data.clear();
      free_.push_back(std::move(data));
    }
  }
  room_cv_.notify_all();
}

void WritePipeline::Uncount(size_t bytes) {
  {
    std::lock_guard<std::mutex> l(mu_);
    held_ -= std::min(held_, bytes);
  }
  room_cv_.notify_all();
}

void WritePipeline::QueueSync(std::shared_ptr<Stream> s) {
  {
    std::lock_guard<std::mutex> l(s->mu_);
    if (s->sync_queued_) return;
    s->sync_queued_ = true;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    sync_q_.push_back(std::move(s));
  }
  work_cv_.notify_all();
}

void WritePipeline::StoreWorker() {
  for (;;) {
    Job j;
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stop_ || !store_q_.empty(); });
      if (store_q_.empty()) return;  // stopping, and nothing left
      j = std::move(store_q_.front());
      store_q_.pop_front();
    }
    Chunk& c = *j.chunk;
    // Raw leaves: the CID is sha2-256 of the bytes (CIDv1, codec raw), as the DAG builder makes.
    Cid cid = Cid::Compute(1, Codec::kRaw, c.data_);
    Status st = c.writer_->PutUnsynced(cid, c.data_);
    const bool sync = st.ok() && c.writer_->unsynced() >= opt_.sync_batch;
    j.stream->StoreDone(j.chunk, std::move(cid), std::move(st));
    if (sync) QueueSync(j.stream);
  }
}

void WritePipeline::Md5Worker() {
  for (;;) {
    Job j;
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stop_ || !md5_q_.empty(); });
      if (md5_q_.empty()) return;
      j = std::move(md5_q_.front());
      md5_q_.pop_front();
    }
    if (j.mark) {
      // Every md5 chunk before the mark is in the stream's MD5, none after it.
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      EVP_MD_CTX_copy_ex(ctx, Md5(j.stream->md5_));
      j.mark->ctx = ctx;
      {
        std::lock_guard<std::mutex> l(j.stream->mu_);
        j.mark->done = true;
        --j.stream->pending_;
      }
      j.stream->cv_.notify_all();
      continue;
    }
    // The bytes stay until this stage is done (MaybeReleaseLocked waits for hashed_).
    EVP_DigestUpdate(Md5(j.stream->md5_), j.chunk->data_.data(), j.chunk->data_.size());
    j.stream->HashDone(j.chunk);
  }
}

void WritePipeline::SyncWorker() {
  for (;;) {
    std::shared_ptr<Stream> s;
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stop_ || !sync_q_.empty(); });
      if (sync_q_.empty()) return;
      s = std::move(sync_q_.front());
      sync_q_.pop_front();
    }
    std::shared_ptr<ObjectStore::BlockWriter> w;
    uint64_t ticket;
    {
      std::lock_guard<std::mutex> l(s->mu_);
      w = s->writer_;
      ticket = ++s->sync_tickets_;
    }
    s->SyncDone(ticket, w ? w->Sync() : Status::OK());
  }
}

}  // namespace s3xfs
