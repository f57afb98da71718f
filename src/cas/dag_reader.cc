#include "s3xfs/cas/dag_reader.h"

#include <algorithm>

#include "s3xfs/cas/dagpb.h"

namespace s3xfs {

namespace {
constexpr int kMaxDepth = 64;  // far deeper than any real file DAG; guards against cycles

struct FileNode {
  ByteView inline_data;  // data held by the node itself (precedes its children)
  std::vector<uint64_t> child_sizes;
  std::vector<Cid> children;
  uint64_t size = 0;
};

// Interprets a block as (part of) a file. `holder` keeps decoded inline data alive.
Result<FileNode> ParseFileNode(const Cid& cid, ByteView block, Bytes* holder) {
  FileNode n;
  if (cid.codec() == Codec::kRaw) {
    n.inline_data = block;
    n.size = block.size();
    return n;
  }
  if (cid.codec() != Codec::kDagPb)
    return Status::InvalidArgument(cid.ToString() + " is not a UnixFS file (codec " +
                                   std::to_string(static_cast<uint64_t>(cid.codec())) + ")");
  auto pb = DecodePbNode(block);
  if (!pb.ok()) return Status::Corruption(cid.ToString() + ": " + pb.status().message());
  if (!pb->data) return Status::Corruption(cid.ToString() + ": dag-pb node without UnixFS data");
  auto fs = DecodeUnixfs(*pb->data);
  if (!fs.ok()) return Status::Corruption(cid.ToString() + ": " + fs.status().message());
  if (fs->type == UnixfsType::kDirectory || fs->type == UnixfsType::kHamtShard)
    return Status::InvalidArgument(cid.ToString() + " is a directory, not a file");
  if (fs->type == UnixfsType::kSymlink)
    return Status::InvalidArgument(cid.ToString() + " is a symlink, not a file");
  if (fs->type != UnixfsType::kFile && fs->type != UnixfsType::kRaw)
    return Status::InvalidArgument(cid.ToString() + " is not a UnixFS file");
  if (fs->blocksizes.size() != pb->links.size())
    return Status::Corruption(cid.ToString() + ": " + std::to_string(pb->links.size()) +
                              " links but " + std::to_string(fs->blocksizes.size()) +
                              " blocksizes");
  if (fs->data) {
    *holder = std::move(*fs->data);
    n.inline_data = *holder;
  }
  n.size = n.inline_data.size();
  for (uint64_t s : fs->blocksizes) n.size += s;
  n.child_sizes = std::move(fs->blocksizes);
  n.children.reserve(pb->links.size());
  for (PbLink& l : pb->links) n.children.push_back(std::move(l.hash));
  return n;
}
}  // namespace

Result<Bytes> DagReader::GetOne(const Cid& cid) { return GetOneBlock(src_, cid); }

Result<uint64_t> DagReader::FileSize(const Cid& root) {
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetOne(root));
  Bytes holder;
  S3XFS_ASSIGN_OR_RETURN(FileNode n, ParseFileNode(root, block, &holder));
  return n.size;
}

Status DagReader::Read(const Cid& root, uint64_t offset, uint64_t length, const ByteSink& sink) {
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetOne(root));
  uint64_t end = length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
  return ReadNode(root, block, 0, offset, end, sink, 0);
}

// Emits the part of the node starting at absolute file offset `start` that lies in [a, b).
Status DagReader::ReadNode(const Cid& cid, ByteView block, uint64_t start, uint64_t a, uint64_t b,
                           const ByteSink& sink, int depth) {
  if (depth > kMaxDepth) return Status::Corruption(cid.ToString() + ": DAG too deep");
  Bytes holder;
  S3XFS_ASSIGN_OR_RETURN(FileNode n, ParseFileNode(cid, block, &holder));
  uint64_t pos = start;
  // Inline bytes.
  uint64_t d = n.inline_data.size();
  if (d && pos < b && pos + d > a) {
    uint64_t from = std::max(a, pos) - pos, to = std::min(b, pos + d) - pos;
    S3XFS_RETURN_IF_ERROR(sink(n.inline_data.subspan(from, to - from)));
  }
  pos += d;
  // Children overlapping [a, b), fetched `batch_` at a time.
  std::vector<size_t> want;
  std::vector<uint64_t> starts;
  for (size_t i = 0; i < n.children.size() && pos < b; ++i) {
    if (pos + n.child_sizes[i] > a && n.child_sizes[i] > 0) {
      want.push_back(i);
      starts.push_back(pos);
    }
    pos += n.child_sizes[i];
  }
  for (size_t k = 0; k < want.size(); k += batch_) {
    size_t m = std::min(batch_, want.size() - k);
    std::vector<Cid> ids;
    ids.reserve(m);
    for (size_t j = 0; j < m; ++j) ids.push_back(n.children[want[k + j]]);
    auto blocks = src_->GetMany(ids);
    if (blocks.size() != m) return Status::Internal("block source returned a wrong number of results");
    for (size_t j = 0; j < m; ++j) {
      if (!blocks[j].ok()) return blocks[j].status();
      size_t i = want[k + j];
      // A child must hold exactly what its parent says (raw leaves checked here cheaply).
      if (ids[j].codec() == Codec::kRaw && blocks[j]->size() != n.child_sizes[i])
        return Status::Corruption(cid.ToString() + ": child " + ids[j].ToString() + " has " +
                                  std::to_string(blocks[j]->size()) + " bytes, parent says " +
                                  std::to_string(n.child_sizes[i]));
      S3XFS_RETURN_IF_ERROR(ReadNode(ids[j], *blocks[j], starts[k + j], a, b, sink, depth + 1));
      blocks[j] = Bytes();  // release early
    }
  }
  return Status::OK();
}

Result<std::vector<Cid>> BlockLinks(const Cid& cid, ByteView block) {
  std::vector<Cid> out;
  switch (cid.codec()) {
    case Codec::kRaw:
      return out;
    case Codec::kDagPb: {
      auto pb = DecodePbNode(block);
      if (!pb.ok()) return Status::Corruption(cid.ToString() + ": " + pb.status().message());
      out.reserve(pb->links.size());
      for (PbLink& l : pb->links) out.push_back(std::move(l.hash));
      return out;
    }
    default:
      return Status::NotSupported("cannot walk links of " + cid.ToString() + " (codec " +
                                  std::to_string(static_cast<uint64_t>(cid.codec())) + ")");
  }
}

}  // namespace s3xfs
