#include "s3xfs/cas/dag_builder.h"

#include <cassert>

#include "s3xfs/cas/dagpb.h"

namespace s3xfs {

DagBuilder::DagBuilder(const DagOptions& options, BlockSink sink)
    : opt_(options), sink_(std::move(sink)) {
  assert(opt_.cid_version == 1 || !opt_.raw_leaves);
  assert(opt_.chunk_size > 0 && opt_.max_links >= 2);
}

Status DagBuilder::Write(ByteView data) {
  if (finished_) return Status::Internal("DagBuilder::Write after Finish");
  total_ += data.size();
  // Top up a pending partial chunk first.
  if (!pending_.empty()) {
    size_t take = std::min(data.size(), opt_.chunk_size - pending_.size());
    pending_.insert(pending_.end(), data.begin(), data.begin() + take);
    data = data.subspan(take);
    if (pending_.size() < opt_.chunk_size) return Status::OK();
    S3XFS_RETURN_IF_ERROR(EmitLeaf(pending_));
    pending_.clear();
  }
  // Whole chunks straight from the caller's buffer: no copy. Raw leaves can be hashed on
  // several threads; they are still emitted in order.
  size_t whole = data.size() / opt_.chunk_size;
  if (whole >= 2 && opt_.raw_leaves && opt_.hash_threads > 1) {
    if (!pool_) pool_ = std::make_unique<ParallelFor>(opt_.hash_threads);
    std::vector<Cid> cids(whole);
    pool_->Run(whole, [&](size_t i) {
      cids[i] = Cid::Compute(opt_.cid_version, Codec::kRaw,
                             data.subspan(i * opt_.chunk_size, opt_.chunk_size));
    });
    for (size_t i = 0; i < whole; ++i)
      S3XFS_RETURN_IF_ERROR(
          EmitRawLeaf(data.subspan(i * opt_.chunk_size, opt_.chunk_size), std::move(cids[i])));
    data = data.subspan(whole * opt_.chunk_size);
  }
  while (data.size() >= opt_.chunk_size) {
    S3XFS_RETURN_IF_ERROR(EmitLeaf(data.subspan(0, opt_.chunk_size)));
    data = data.subspan(opt_.chunk_size);
  }
  if (!data.empty()) {
    if (pending_.capacity() < opt_.chunk_size) pending_.reserve(opt_.chunk_size);
    pending_.assign(data.begin(), data.end());
  }
  return Status::OK();
}

Status DagBuilder::EmitRawLeaf(ByteView chunk, Cid cid) {
  Link link{std::move(cid), chunk.size(), chunk.size()};
  if (sink_) S3XFS_RETURN_IF_ERROR(sink_(link.cid, chunk, true));
  return Push(0, std::move(link));
}

Status DagBuilder::EmitLeaf(ByteView chunk) {
  if (opt_.raw_leaves) return EmitRawLeaf(chunk, Cid::Compute(opt_.cid_version, Codec::kRaw, chunk));
  Link link;
  link.file_bytes = chunk.size();
  {
    UnixfsData fs;
    fs.type = UnixfsType::kFile;
    if (!chunk.empty()) fs.data = Bytes(chunk.begin(), chunk.end());
    fs.filesize = chunk.size();
    PbNode node;
    node.data = EncodeUnixfs(fs);
    Bytes block = EncodePbNode(node);
    link.cid = Cid::Compute(opt_.cid_version, Codec::kDagPb, block);
    link.tsize = block.size();
    if (sink_) S3XFS_RETURN_IF_ERROR(sink_(link.cid, block, true));
  }
  return Push(0, std::move(link));
}

Status DagBuilder::AddLeaf(const LeafInfo& leaf) {
  if (finished_) return Status::Internal("DagBuilder::AddLeaf after Finish");
  if (!pending_.empty())
    return Status::InvalidArgument("AddLeaf with a partial chunk pending");
  if (leaf.file_bytes > opt_.chunk_size)
    return Status::InvalidArgument("AddLeaf: leaf larger than the chunk size");
  total_ += leaf.file_bytes;
  return Push(0, Link{leaf.cid, leaf.file_bytes, leaf.block_bytes});
}

Status DagBuilder::Push(size_t level, Link link) {
  if (levels_.size() <= level) levels_.resize(level + 1);
  if (levels_[level].size() == opt_.max_links) {
    S3XFS_ASSIGN_OR_RETURN(Link node, Collapse(level));
    S3XFS_RETURN_IF_ERROR(Push(level + 1, std::move(node)));
  }
  levels_[level].push_back(std::move(link));
  return Status::OK();
}

Result<DagBuilder::Link> DagBuilder::Collapse(size_t level) {
  std::vector<Link>& links = levels_[level];
  UnixfsData fs;
  fs.type = UnixfsType::kFile;
  uint64_t file_bytes = 0, tsize_sum = 0;
  PbNode node;
  node.links.reserve(links.size());
  fs.blocksizes.reserve(links.size());
  for (Link& l : links) {
    file_bytes += l.file_bytes;
    tsize_sum += l.tsize;
    fs.blocksizes.push_back(l.file_bytes);
    node.links.push_back(PbLink{std::move(l.cid), std::string(), l.tsize});
  }
  fs.filesize = file_bytes;
  node.data = EncodeUnixfs(fs);
  links.clear();
  Bytes block = EncodePbNode(node);
  Link out;
  out.cid = Cid::Compute(opt_.cid_version, Codec::kDagPb, block);
  out.file_bytes = file_bytes;
  out.tsize = block.size() + tsize_sum;
  if (sink_) S3XFS_RETURN_IF_ERROR(sink_(out.cid, block, false));
  return out;
}

Result<DagRoot> DagBuilder::Finish() {
  if (finished_) return Status::Internal("DagBuilder::Finish called twice");
  finished_ = true;
  // The last partial chunk; an empty file is one empty leaf.
  if (!pending_.empty() || levels_.empty()) {
    S3XFS_RETURN_IF_ERROR(EmitLeaf(pending_));
    pending_.clear();
  }
  for (size_t level = 0;; ++level) {
    bool top = level + 1 == levels_.size();
    if (top && levels_[level].size() == 1) {
      // A single leaf is the file itself (levels above 0 always hold >= 2 links here).
      const Link& l = levels_[level][0];
      return DagRoot{l.cid, l.file_bytes, l.tsize};
    }
    S3XFS_ASSIGN_OR_RETURN(Link node, Collapse(level));
    if (top) return DagRoot{node.cid, node.file_bytes, node.tsize};
    S3XFS_RETURN_IF_ERROR(Push(level + 1, std::move(node)));
  }
}

Result<DagRoot> ComputeFileRoot(ByteView data, const DagOptions& options,
                                const DagBuilder::BlockSink& sink) {
  DagBuilder b(options, sink);
  S3XFS_RETURN_IF_ERROR(b.Write(data));
  return b.Finish();
}

}  // namespace s3xfs
