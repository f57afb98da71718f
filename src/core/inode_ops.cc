// Inode-level access for the mount: lookups by (parent, name), attributes, in-place content.
#include <sys/stat.h>

#include <algorithm>

#include "object_store_impl.h"

namespace s3xfs {

namespace {

Status NoInode(InodeId ino) {
  return Status::NotFound("no inode " + std::to_string(ino)).With(Status::Reason::kNoSuchKey);
}

class BlockWriterImpl final : public ObjectStore::BlockWriter {
 public:
  BlockWriterImpl(BlockStore* blocks, InflightBlocks* inflight)
      : blocks_(blocks), inflight_(inflight) {}
  ~BlockWriterImpl() override { inflight_->Unhold(held_); }

  Status PutUnsynced(const Cid& cid, ByteView data) override {
    Hold(cid);
    BlockRef ref{cid, data};
    S3XFS_RETURN_IF_ERROR(blocks_->PutManyUnsynced(std::span<const BlockRef>(&ref, 1)));
    std::lock_guard<std::mutex> l(mu_);
    unsynced_.push_back(cid);
    return Status::OK();
  }

  Status Sync() override {
    // sync_mu_ orders syncs: a block a concurrent Sync took is durable before this one returns.
    std::lock_guard<std::mutex> s(sync_mu_);
    std::vector<Cid> batch;
    {
      std::lock_guard<std::mutex> l(mu_);
      batch.swap(unsynced_);
    }
    if (batch.empty()) return Status::OK();
    Status st = blocks_->SyncBlocks(batch);
    if (!st.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      unsynced_.insert(unsynced_.end(), batch.begin(), batch.end());  // the next Sync retries
    }
    return st;
  }

  size_t unsynced() const override {
    std::lock_guard<std::mutex> l(mu_);
    return unsynced_.size();
  }

 private:
  // Protects the block from GC (a put may find it already stored) until the writer dies.
  void Hold(const Cid& cid) {
    Bytes mh(cid.multihash().begin(), cid.multihash().end());
    inflight_->Hold(mh);
    std::lock_guard<std::mutex> l(mu_);
    held_.push_back(std::move(mh));
  }

  BlockStore* blocks_;
  InflightBlocks* inflight_;
  std::mutex sync_mu_;            // held across one SyncBlocks call (see Sync)
  mutable std::mutex mu_;         // leaf lock
  std::vector<Bytes> held_;       // GUARDED_BY(mu_)
  std::vector<Cid> unsynced_;     // GUARDED_BY(mu_)
};

}  // namespace

Result<ObjectInfo> ObjectStoreImpl::StatInode(InodeId ino) {
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    if (ino == kRootInode) {
      S3XFS_ASSIGN_OR_RETURN(out, t.GetInode(kRootInode));
      return Status::OK();
    }
    auto i = t.GetInode(ino);
    if (!i.ok()) return i.status().IsNotFound() ? NoInode(ino) : i.status();
    out = std::move(i).value();
    S3XFS_ASSIGN_OR_RETURN(auto b, t.BucketByRoot(ino));
    if (b) {
      out.bucket = b->name;
      return Status::OK();
    }
    S3XFS_ASSIGN_OR_RETURN(auto d, t.DentryOf(ino));
    if (d) {
      out.bucket = d->bucket;
      out.key = d->key;
    }
    return Status::OK();
  }));
  return out;
}

Result<ObjectInfo> ObjectStoreImpl::InodeAttrs(InodeId ino) {
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    auto i = t.GetInodeStat(ino);
    if (!i.ok()) return i.status().IsNotFound() ? NoInode(ino) : i.status();
    out = std::move(i).value();
    return Status::OK();
  }));
  return out;
}

Result<std::optional<ObjectInfo>> ObjectStoreImpl::LookupChild(InodeId parent,
                                                               const std::string& name) {
  std::optional<ObjectInfo> out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    if (parent == kRootInode) {
      S3XFS_ASSIGN_OR_RETURN(auto b, t.GetBucket(name));
      if (!b) return Status::OK();
      S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(b->root_ino));
      i.bucket = b->name;
      out = std::move(i);
      return Status::OK();
    }
    S3XFS_ASSIGN_OR_RETURN(auto d, t.LookupChild(parent, name));
    if (!d) return Status::OK();
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInode(d->ino));
    i.bucket = d->bucket;
    i.key = d->key;
    out = std::move(i);
    return Status::OK();
  }));
  return out;
}

Result<std::vector<ObjectStore::Child>> ObjectStoreImpl::ListChildren(InodeId dir,
                                                                      const std::string& after,
                                                                      size_t limit) {
  std::vector<Child> out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    if (dir == kRootInode) {
      S3XFS_ASSIGN_OR_RETURN(auto buckets, t.ListBuckets());
      for (const BucketInfo& b : buckets)
        if (b.name > after && out.size() < limit)
          out.push_back(Child{b.name, b.root_ino, InodeKind::kDirectory});
      return Status::OK();
    }
    S3XFS_ASSIGN_OR_RETURN(auto kids, t.Children(dir, after, limit));
    for (auto& [d, kind] : kids) out.push_back(Child{std::move(d.name), d.ino, kind});
    return Status::OK();
  }));
  return out;
}

Result<uint64_t> ObjectStoreImpl::CountSubdirs(InodeId dir) {
  uint64_t n = 0;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    if (dir == kRootInode) {
      S3XFS_ASSIGN_OR_RETURN(auto b, t.ListBuckets());
      n = b.size();
      return Status::OK();
    }
    S3XFS_ASSIGN_OR_RETURN(n, t.CountSubdirs(dir));
    return Status::OK();
  }));
  return n;
}

const ObjectStoreImpl::EmptyFile& ObjectStoreImpl::Empty() {
  std::call_once(empty_once_, [&] {
    auto root = ComputeFileRoot({}, opt_.dag, [&](const Cid& cid, ByteView d, bool leaf) {
      empty_.blocks.push_back(Block{cid, Bytes(d.begin(), d.end())});
      (leaf ? empty_.leaves : empty_.nodes).push_back(BlockUse{cid, d.size()});
      return Status::OK();
    });
    empty_.root = *root;  // an empty input cannot fail
  });
  return empty_;
}

Result<ObjectInfo> ObjectStoreImpl::CreateFile(InodeId parent, const std::string& name,
                                               const PosixAttrs& attrs, Durability durability) {
  if (parent == kRootInode)
    return Status::InvalidArgument("the mount root holds only buckets").With(Status::Reason::kNotPermitted);
  const EmptyFile& e = Empty();
  // The empty file's blocks are durable and protected from GC before the commit refers to them
  // (after the first time the store knows them: no I/O).
  HeldBlocks held(blocks_, &inflight_);
  for (const Block& b : e.blocks) {
    const bool leaf = std::any_of(e.leaves.begin(), e.leaves.end(),
                                  [&](const BlockUse& u) { return u.cid == b.cid; });
    S3XFS_RETURN_IF_ERROR(held.Add(b.cid, b.data, leaf));
  }
  S3XFS_RETURN_IF_ERROR(held.Flush());
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    auto p = t.GetInodeStat(parent);
    if (!p.ok()) return p.status().IsNotFound() ? NoInode(parent) : p.status();
    if (p->kind != InodeKind::kDirectory)
      return Status::InvalidArgument("not a directory").With(Status::Reason::kNotDirectory);
    std::string bucket, prefix;
    S3XFS_ASSIGN_OR_RETURN(auto b, t.BucketByRoot(parent));
    if (b) {
      bucket = b->name;
    } else {
      S3XFS_ASSIGN_OR_RETURN(auto d, t.DentryOf(parent));
      if (!d) return NoInode(parent);
      bucket = d->bucket;
      prefix = d->key;
    }
    const std::string key = prefix + name;
    S3XFS_RETURN_IF_ERROR(CheckKey(key));
    S3XFS_ASSIGN_OR_RETURN(auto clash, t.LookupChild(parent, name));
    S3XFS_ASSIGN_OR_RETURN(auto existing, t.Lookup(bucket, key));
    if (clash || (existing && !existing->implicit))
      return Status::AlreadyExists(name + " exists").With(Status::Reason::kExists);
    S3XFS_ASSIGN_OR_RETURN(auto bi, t.GetBucket(bucket));
    if (!bi) return Status::NotFound("no bucket " + bucket).With(Status::Reason::kNoSuchBucket);
    PosixAttrs a = attrs;
    if (p->attrs.mode & S_ISGID) a.gid = p->attrs.gid;  // as FileSystem::Inherit
    ObjectInfo i = NewInode(InodeKind::kFile, a, 0644);
    i.size = 0;
    i.cid = e.root.cid;
    i.etag = "d41d8cd98f00b204e9800998ecf8427e";  // md5 of no bytes
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(i));
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, e.leaves, e.nodes));
    S3XFS_RETURN_IF_ERROR(BindKey(t, *bi, key, ino));
    out = i;
    out.ino = ino;
    out.bucket = bucket;
    out.key = key;
    return Status::OK();
  }, durability));
  return out;
}

Status ObjectStoreImpl::UnlinkChild(InodeId parent, const std::string& name,
                                    Durability durability) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(auto d, t.LookupChild(parent, name));
    if (!d) return Status::NotFound("no entry \"" + name + "\"").With(Status::Reason::kNoSuchKey);
    S3XFS_ASSIGN_OR_RETURN(ObjectInfo i, t.GetInodeStat(d->ino));
    if (i.kind == InodeKind::kDirectory)
      return Status::InvalidArgument(name + " is a directory").With(Status::Reason::kIsDirectory);
    return DeleteFileEntry(t, *d);
  }, durability);
}

Status ObjectStoreImpl::SetAttrs(InodeId ino, const PosixAttrs& attrs, Durability durability) {
  return UpdateAttrs(ino, [&](PosixAttrs& a) { a = attrs; }, durability).status();
}

Result<ObjectInfo> ObjectStoreImpl::UpdateAttrs(InodeId ino,
                                                const std::function<void(PosixAttrs&)>& change,
                                                Durability durability) {
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    auto i = t.GetInodeStat(ino);
    if (!i.ok()) return i.status().IsNotFound() ? NoInode(ino) : i.status();
    change(i->attrs);
    S3XFS_RETURN_IF_ERROR(t.SetInodeAttrs(ino, i->attrs));
    out = std::move(i).value();
    return Status::OK();
  }, durability));
  return out;
}

Status ObjectStoreImpl::SetUserMeta(InodeId ino, const std::map<std::string, std::string>& meta, Durability durability) {
  return ledger_->Write([&](LedgerTxn& t) -> Status {
    auto i = t.GetInode(ino);
    if (!i.ok()) return i.status().IsNotFound() ? NoInode(ino) : i.status();
    i->meta.user = meta;
    i->attrs.ctime_ns = Now();
    return t.UpdateInode(ino, *i);
  }, durability);
}

Result<std::vector<BlockUse>> ObjectStoreImpl::FileLeaves(InodeId ino) {
  std::vector<BlockUse> out;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(out, t.Leaves(ino));
    return Status::OK();
  }));
  return out;
}

Result<ObjectInfo> ObjectStoreImpl::UpdateContent(InodeId ino, const ContentUpdate& u, Durability durability) {
  ObjectInfo out;
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    auto i = t.GetInode(ino);
    if (!i.ok()) return i.status().IsNotFound() ? NoInode(ino) : i.status();
    if (i->kind != InodeKind::kFile)
      return Status::InvalidArgument("inode " + std::to_string(ino) + " is not a regular file")
          .With(Status::Reason::kIsDirectory);
    if (u.if_generation && i->generation != *u.if_generation)
      return Status::InvalidArgument("inode " + std::to_string(ino) + " changed since")
          .With(Status::Reason::kPreconditionFailed);
    // Old references go, new ones come, in one transaction: a block shared by both versions
    // passes through zero only inside it, where GC cannot see it.
    S3XFS_RETURN_IF_ERROR(ReleaseContent(t, ino));
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, u.leaves, u.nodes));
    i->size = u.root.file_size;
    i->cid = u.root.cid;
    i->etag = u.etag;
    // The data changed at the time of the last write: mtime and ctime both take it (ctime never
    // moves backwards past a later chmod/chown).
    i->attrs.mtime_ns = u.mtime_ns ? u.mtime_ns : Now();
    i->attrs.ctime_ns = std::max(i->attrs.ctime_ns, i->attrs.mtime_ns);
    i->generation++;
    S3XFS_RETURN_IF_ERROR(t.UpdateInode(ino, *i));
    out = *i;
    out.ino = ino;
    return Status::OK();
  }, durability));
  return out;
}

std::unique_ptr<ObjectStore::BlockWriter> ObjectStoreImpl::NewBlockWriter() {
  return std::make_unique<BlockWriterImpl>(blocks_, &inflight_);
}

}  // namespace s3xfs
