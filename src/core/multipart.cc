// Multipart uploads: parts are unlinked inodes holding their blocks; completing builds the
// object's DAG from the parts' leaves, reusing every leaf that stays chunk-aligned.
#include <openssl/evp.h>

#include "object_store_impl.h"

namespace s3xfs {

using Reason = Status::Reason;

namespace {
Status NoSuchUpload(const std::string& id) {
  return Status::NotFound("no multipart upload " + id).With(Reason::kNoSuchUpload);
}
}  // namespace

Result<std::string> ObjectStoreImpl::CreateMultipart(const std::string& bucket,
                                                     const std::string& key, PutOptions options) {
  S3XFS_RETURN_IF_ERROR(CheckKey(key));
  std::string id = NewUploadId();
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(NeedBucket(t, bucket).status());
    UploadRow u;
    u.info = UploadInfo{id, bucket, key, Now()};
    u.meta = options.meta;
    u.attrs = options.attrs ? *options.attrs : NewInode(InodeKind::kFile, std::nullopt, 0644).attrs;
    return t.InsertUpload(u);
  }));
  return id;
}

Result<std::unique_ptr<ObjectWriter>> ObjectStoreImpl::NewPartWriter(
    const std::string& upload_id, uint32_t part_number, std::optional<std::string> content_md5) {
  if (part_number < 1 || part_number > 10000)
    return Status::InvalidArgument("part numbers are 1 to 10000").With(Reason::kInvalidPart);
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto u, t.GetUpload(upload_id));
    return u ? Status::OK() : NoSuchUpload(upload_id);
  }));
  CommitTarget target;
  target.kind = CommitTarget::kPart;
  target.upload_id = upload_id;
  target.part_number = part_number;
  target.options.content_md5 = std::move(content_md5);  // checked by ContentWriter::Commit
  return std::unique_ptr<ObjectWriter>(new ContentWriter(this, std::move(target)));
}

Result<PartInfo> ObjectStoreImpl::UploadPart(const std::string& upload_id, uint32_t part_number,
                                             ByteView data) {
  S3XFS_ASSIGN_OR_RETURN(auto w, NewPartWriter(upload_id, part_number, std::nullopt));
  S3XFS_RETURN_IF_ERROR(w->Write(data));
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, w->Commit());
  return PartInfo{part_number, i.size, i.etag, i.attrs.mtime_ns};
}

Result<PartInfo> ObjectStoreImpl::UploadPartCopy(const std::string& upload_id, uint32_t part_number,
                                                 const std::string& src_bucket,
                                                 const std::string& src_key, uint64_t offset,
                                                 uint64_t length) {
  S3XFS_ASSIGN_OR_RETURN(auto reader, OpenReader(src_bucket, src_key));
  const ObjectInfo& src = reader->info();
  if (length != UINT64_MAX && (offset >= src.size || length > src.size - offset))
    return Status::InvalidArgument("copy range outside the source object").With(Reason::kInvalidRange);
  S3XFS_ASSIGN_OR_RETURN(auto w, NewPartWriter(upload_id, part_number, std::nullopt));
  S3XFS_RETURN_IF_ERROR(reader->Read(offset, length, [&](ByteView b) { return w->Write(b); }));
  S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, w->Commit());
  return PartInfo{part_number, i.size, i.etag, i.attrs.mtime_ns};
}

Result<std::vector<PartInfo>> ObjectStoreImpl::ListParts(const std::string& upload_id) {
  std::vector<PartInfo> out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto u, t.GetUpload(upload_id));
    if (!u) return NoSuchUpload(upload_id);
    S3XFS_ASSIGN_OR_RETURN(auto parts, t.Parts(upload_id));
    for (const PartRow& p : parts) out.push_back(PartInfo{p.part_number, p.size, p.etag, p.modified_ns});
    return Status::OK();
  }));
  return out;
}

Result<std::vector<UploadInfo>> ObjectStoreImpl::ListUploads(const std::string& bucket,
                                                             const std::string& prefix) {
  std::vector<UploadInfo> out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_RETURN_IF_ERROR(NeedBucket(t, bucket).status());
    S3XFS_ASSIGN_OR_RETURN(out, t.ListUploads(bucket, prefix));
    return Status::OK();
  }));
  return out;
}

Result<ObjectInfo> ObjectStoreImpl::CompleteMultipart(
    const std::string& upload_id, const std::vector<std::pair<uint32_t, std::string>>& want) {
  if (want.empty()) return Status::InvalidArgument("no parts given").With(Reason::kInvalidPart);
  for (size_t i = 1; i < want.size(); ++i)
    if (want[i].first <= want[i - 1].first)
      return Status::InvalidArgument("parts must be in ascending order").With(Reason::kInvalidPartOrder);
  // 1. Read the upload and its parts' leaves (a snapshot; validated again at commit).
  UploadRow up;
  std::vector<PartRow> chosen;
  std::vector<std::vector<BlockUse>> part_leaves;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto u, t.GetUpload(upload_id));
    if (!u) return NoSuchUpload(upload_id);
    up = *u;
    S3XFS_ASSIGN_OR_RETURN(auto parts, t.Parts(upload_id));
    std::map<uint32_t, PartRow> by_no;
    for (auto& p : parts) by_no[p.part_number] = p;
    // Every part must exist with its ETag (InvalidPart) before sizes are judged.
    for (const auto& [no, given] : want) {
      auto it = by_no.find(no);
      std::string etag = given;
      if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
      if (it == by_no.end() || it->second.etag != etag)
        return Status::InvalidArgument("part " + std::to_string(no) +
                                       " was not uploaded or its ETag differs").With(Reason::kInvalidPart);
    }
    for (size_t i = 0; i < want.size(); ++i) {
      auto it = by_no.find(want[i].first);
      if (i + 1 < want.size() && it->second.size < opt_.min_part_size)
        return Status::InvalidArgument("part " + std::to_string(want[i].first) + " is smaller than " +
                                       std::to_string(opt_.min_part_size) + " bytes")
            .With(Reason::kEntityTooSmall);
      chosen.push_back(it->second);
      S3XFS_ASSIGN_OR_RETURN(auto leaves, t.Leaves(it->second.ino));
      part_leaves.push_back(std::move(leaves));
    }
    return Status::OK();
  }));
  // 2. Build the object's DAG. Chunk-aligned leaves are linked as they are; only bytes that
  // straddle a misaligned part boundary are read and re-hashed.
  HeldBlocks blocks(blocks_, &inflight_);
  std::vector<BlockUse> leaves;  // every leaf in order: reused ones and new ones
  DagBuilder builder(opt_.dag, [&](const Cid& cid, ByteView d, bool leaf) -> Status {
    if (leaf) leaves.push_back(BlockUse{cid, d.size()});
    return blocks.Add(cid, d, leaf);
  });
  EVP_MD_CTX* md5 = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md5, EVP_md5(), nullptr);
  Status st;
  uint64_t aligned_bytes = 0;  // bytes so far; leaves can be reused while this stays aligned
  for (size_t p = 0; p < chosen.size() && st.ok(); ++p) {
    Bytes raw;
    if (!HexDecode(chosen[p].etag, &raw)) st = Status::Corruption("bad part etag in ledger");
    EVP_DigestUpdate(md5, raw.data(), raw.size());
    for (const BlockUse& leaf : part_leaves[p]) {
      if (!st.ok()) break;
      bool reusable = leaf.cid.codec() == Codec::kRaw && opt_.dag.raw_leaves &&
                      aligned_bytes % opt_.dag.chunk_size == 0 &&
                      (leaf.size == opt_.dag.chunk_size);
      if (reusable) {
        st = builder.AddLeaf(LeafInfo{leaf.cid, leaf.size, leaf.size});
        if (st.ok()) leaves.push_back(leaf);
      } else {
        auto bytes = blocks_->Get(leaf.cid);
        if (!bytes.ok()) {
          st = bytes.status();
          break;
        }
        if (leaf.cid.codec() == Codec::kRaw) {
          st = builder.Write(*bytes);
        } else {
          st = Status::NotSupported("multipart completion with dag-pb leaves");
        }
      }
      aligned_bytes += leaf.size;
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dn = 0;
  EVP_DigestFinal_ex(md5, digest, &dn);
  EVP_MD_CTX_free(md5);
  BuiltContent c;
  if (st.ok()) {
    auto root = builder.Finish();
    if (root.ok()) c.root = *root; else st = root.status();
  }
  if (st.ok()) st = blocks.Flush();
  if (st.ok()) st = blocks_->Sync();
  c.leaves = std::move(leaves);
  c.nodes = blocks.nodes;
  c.md5_hex = HexEncode(ByteView(digest, dn)) + "-" + std::to_string(chosen.size());
  // 3. Commit: the object replaces its key; the parts and the upload go.
  ObjectInfo out;
  if (st.ok()) {
    CommitTarget target;
    target.bucket = up.info.bucket;
    target.key = up.info.key;
    target.options.meta = up.meta;
    target.options.attrs = up.attrs;
    auto r = CommitContent(target, BuiltContent(c));  // c is kept for Abandon
    if (r.ok()) {
      out = *r;
      st = ledger_->Write([&](LedgerTxn& t) -> Status {
        S3XFS_ASSIGN_OR_RETURN(auto parts, t.Parts(upload_id));
        for (const PartRow& p : parts) S3XFS_RETURN_IF_ERROR(FreeInode(t, p.ino));
        return t.DeleteUpload(upload_id);
      });
    } else {
      st = r.status();
    }
  }
  if (!st.ok()) Abandon(c.leaves, c.nodes);
  if (!st.ok()) return st;
  return out;
}

Status ObjectStoreImpl::AbortMultipart(const std::string& upload_id) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto u, t.GetUpload(upload_id));
    if (!u) return NoSuchUpload(upload_id);
    S3XFS_ASSIGN_OR_RETURN(auto parts, t.Parts(upload_id));
    for (const PartRow& p : parts) S3XFS_RETURN_IF_ERROR(FreeInode(t, p.ino));
    return t.DeleteUpload(upload_id);
  });
}

}  // namespace s3xfs
