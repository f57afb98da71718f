// Streaming writes: bytes -> DAG blocks (sha2-256) and MD5 in one pass, blocks to the store in
// batches with no lock held, then one ledger commit.
#include <openssl/evp.h>

#include <cstring>

#include "object_store_impl.h"

namespace s3xfs {

namespace {
EVP_MD_CTX* Md5(void* p) { return static_cast<EVP_MD_CTX*>(p); }
}  // namespace

Status HeldBlocks::Add(const Cid& cid, ByteView data, bool leaf) {
  Bytes mh(cid.multihash().begin(), cid.multihash().end());
  inflight_->Hold(mh);
  held_.push_back(std::move(mh));
  (leaf ? leaves : nodes).push_back(BlockUse{cid, data.size()});
  return batch_.Add(cid, data);
}

void InflightBlocks::Hold(const Bytes& mh) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return deleting_.count(mh) == 0; });
  held_[mh]++;
}

void InflightBlocks::Unhold(const std::vector<Bytes>& mhs) {
  std::lock_guard<std::mutex> l(mu_);
  for (const Bytes& mh : mhs) {
    auto it = held_.find(mh);
    if (it != held_.end() && --it->second == 0) held_.erase(it);
  }
}

std::vector<Bytes> InflightBlocks::ClaimForDeletion(const std::vector<Bytes>& candidates) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Bytes> out;
  for (const Bytes& mh : candidates) {
    // Held by a writer, or already being deleted by another claimer (GC, the remote deleter).
    if (held_.count(mh) || deleting_.count(mh)) continue;
    deleting_.insert(mh);
    out.push_back(mh);
  }
  return out;
}

void InflightBlocks::DoneDeleting(const std::vector<Bytes>& mhs) {
  std::lock_guard<std::mutex> l(mu_);
  for (const Bytes& mh : mhs) deleting_.erase(mh);
  cv_.notify_all();
}

bool InflightBlocks::IsHeld(const Bytes& mh) {
  std::lock_guard<std::mutex> l(mu_);
  return held_.count(mh) > 0;
}

ContentWriter::ContentWriter(ObjectStoreImpl* store, CommitTarget target)
    : store_(store),
      target_(std::move(target)),
      blocks_(store->blocks(), &store->inflight()),
      builder_(store->options().dag,
               [this](const Cid& c, ByteView d, bool leaf) { return blocks_.Add(c, d, leaf); }) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  md5_ = ctx;
}

ContentWriter::~ContentWriter() {
  if (!done_) {
    // Never committed: whatever reached the store is garbage after the grace period. (The
    // blocks stay held until blocks_ is destroyed, after this.)
    blocks_.Flush();
    store_->Abandon(blocks_.leaves, blocks_.nodes);
  }
  EVP_MD_CTX_free(Md5(md5_));
}

Status ContentWriter::Write(ByteView data) {
  if (done_) return Status::Internal("write after commit");
  if (!failed_.ok()) return failed_;
  constexpr size_t kParallelHashMin = 256 << 10;
  if (data.size() < kParallelHashMin) {
    EVP_DigestUpdate(Md5(md5_), data.data(), data.size());
    failed_ = builder_.Write(data);
    return failed_;
  }
  if (!hash_pool_) hash_pool_ = std::make_unique<ParallelFor>(2);
  Status built;
  hash_pool_->Run(2, [&](size_t i) {
    if (i == 0) {
      EVP_DigestUpdate(Md5(md5_), data.data(), data.size());
    } else {
      built = builder_.Write(data);
    }
  });
  failed_ = built;
  return failed_;
}

Result<ObjectInfo> ContentWriter::Commit() {
  if (done_) return Status::Internal("commit twice");
  if (!failed_.ok()) return failed_;
  BuiltContent c;
  S3XFS_ASSIGN_OR_RETURN(c.root, builder_.Finish());
  S3XFS_RETURN_IF_ERROR(blocks_.Flush());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(Md5(md5_), md, &n);
  c.md5_raw.assign(md, md + n);
  c.md5_hex = HexEncode(c.md5_raw);
  if (target_.options.content_md5 &&
      (target_.options.content_md5->size() != c.md5_raw.size() ||
       std::memcmp(target_.options.content_md5->data(), c.md5_raw.data(), c.md5_raw.size()) != 0))
    return Status::InvalidArgument("Content-MD5 does not match the data")
        .With(Status::Reason::kBadDigest);
  c.leaves = blocks_.leaves;  // copies: the destructor abandons them if the commit fails
  c.nodes = blocks_.nodes;
  auto r = store_->CommitContent(target_, std::move(c));
  if (r.ok()) done_ = true;  // otherwise the destructor abandons the blocks
  return r;
}

}  // namespace s3xfs
