// Pull-based CAR export (contract in include/s3xfs/cas/car_stream.h).
#include "s3xfs/cas/car_stream.h"

#include <algorithm>
#include <cstring>

#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/unixfs.h"
#include "s3xfs/cas/varint.h"

namespace s3xfs {

namespace {

constexpr size_t kMaxDepth = 64;  // deeper DAGs are refused, as ExportCar does

bool IsIdentity(const Cid& c) { return c.hash_code() == HashCode::kIdentity; }

Result<Bytes> IdentityBytes(const Cid& c) {
  ByteView mh = c.multihash();
  uint64_t code = 0, len = 0;
  if (!ReadVarint(&mh, &code) || !ReadVarint(&mh, &len) || len != mh.size())
    return Status::Corruption("malformed identity multihash in " + c.ToString());
  return Bytes(mh.begin(), mh.end());
}

}  // namespace

std::vector<Result<Bytes>> IdentityInliningSource::GetMany(std::span<const Cid> cids) {
  if (std::none_of(cids.begin(), cids.end(), IsIdentity)) return base_->GetMany(cids);
  std::vector<Result<Bytes>> out;
  out.reserve(cids.size());
  for (const Cid& c : cids) out.push_back(IsIdentity(c) ? IdentityBytes(c) : GetOneBlock(base_, c));
  return out;
}

Result<std::unique_ptr<CarStream>> CarStream::Open(BlockSource* source, const Cid& root,
                                                   Bytes root_block, DagScope scope,
                                                   std::vector<Cid> prefix, size_t batch) {
  Follow follow = Follow::kNone;
  if (scope == DagScope::kAll) {
    if (root.codec() != Codec::kRaw && root.codec() != Codec::kDagPb)
      return Status::NotSupported("cannot walk the links of " + root.ToString() +
                                  " (only dag-pb and raw DAGs)");
    follow = Follow::kAll;
  } else if (scope == DagScope::kEntity) {
    S3XFS_ASSIGN_OR_RETURN(UnixfsNode node, DecodeUnixfsNode(root, root_block));
    if (node.kind == UnixfsKind::kFile) follow = Follow::kAll;
    else if (node.kind == UnixfsKind::kHamtShard) follow = Follow::kShards;
  }
  return std::unique_ptr<CarStream>(new CarStream(source, root, std::move(root_block), follow,
                                                  std::move(prefix), std::max<size_t>(batch, 1)));
}

CarStream::CarStream(BlockSource* source, Cid root, Bytes root_block, Follow follow,
                     std::vector<Cid> prefix, size_t batch)
    : src_(source),
      root_(std::move(root)),
      root_block_(std::move(root_block)),
      root_follow_(follow),
      prefix_(std::move(prefix)),
      batch_(batch),
      writer_([this](ByteView b) {
        out_.insert(out_.end(), b.begin(), b.end());
        return Status::OK();
      }) {}

Result<size_t> CarStream::Read(std::span<uint8_t> buf) {
  // Bytes are handed out from out_pos_; the consumed front is dropped only before more is
  // appended, when fewer than buf.size() bytes remain to move (a big block is not moved again
  // for every buffer it fills).
  while (out_.size() - out_pos_ < buf.size() && !done_) {
    if (out_pos_ > 0) {
      out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_pos_));
      out_pos_ = 0;
    }
    Status st = Step();
    if (!st.ok()) {
      done_ = true;
      out_.clear();
      out_pos_ = 0;
      return st;
    }
  }
  const size_t n = std::min(buf.size(), out_.size() - out_pos_);
  std::memcpy(buf.data(), out_.data() + out_pos_, n);
  out_pos_ += n;
  return n;
}

// The links the walk follows from a block: all of them, only a HAMT's sub-shards, or none.
Result<std::vector<Cid>> CarStream::Children(const Cid& cid, ByteView block, Follow follow) {
  if (follow == Follow::kNone) return std::vector<Cid>();
  if (follow == Follow::kAll) return BlockLinks(cid, block);
  S3XFS_ASSIGN_OR_RETURN(PbNode pb, DecodePbNode(block));
  if (!pb.data) return Status::Corruption(cid.ToString() + ": HAMT shard without UnixFS data");
  S3XFS_ASSIGN_OR_RETURN(UnixfsData fs, DecodeUnixfs(*pb.data));
  if (fs.type != UnixfsType::kHamtShard || !fs.fanout || *fs.fanout < 2)
    return Status::Corruption(cid.ToString() + ": not a HAMT shard");
  size_t width = 0;  // a sub-shard's link name is its bucket label alone
  for (uint64_t v = *fs.fanout - 1; v; v >>= 4) ++width;
  std::vector<Cid> out;
  for (PbLink& l : pb.links)
    if (l.name && l.name->size() == width) out.push_back(std::move(l.hash));
  return out;
}

Status CarStream::Emit(const Cid& cid, ByteView data) {
  if (IsIdentity(cid)) return Status::OK();
  return writer_.WriteBlock(cid, data);
}

Status CarStream::Visit(const Cid& cid, Bytes data, Follow follow) {
  S3XFS_RETURN_IF_ERROR(Emit(cid, data));
  S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> links, Children(cid, data, follow));
  if (links.empty()) return Status::OK();
  if (stack_.size() >= kMaxDepth) return Status::Corruption("DAG too deep at " + cid.ToString());
  stack_.push_back(Frame{std::move(links), follow, 0, {}});
  return Status::OK();
}

// Produces the next piece: the header, one prefix block, the root, or one DAG block (fetching
// the next batch of siblings first when none is ready).
Status CarStream::Step() {
  if (!header_done_) {
    header_done_ = true;
    return writer_.WriteHeader(std::span<const Cid>(&root_, 1));
  }
  if (prefix_next_ < prefix_.size()) {
    const Cid& c = prefix_[prefix_next_++];
    if (!seen_.insert(c).second) return Status::OK();
    S3XFS_ASSIGN_OR_RETURN(Bytes b, GetOneBlock(&src_, c));
    return Emit(c, b);
  }
  if (!root_done_) {
    root_done_ = true;
    if (!seen_.insert(root_).second) return Status::OK();
    return Visit(root_, std::move(root_block_), root_follow_);
  }
  if (stack_.empty()) {
    done_ = true;
    return Status::OK();
  }
  Frame& f = stack_.back();
  if (f.ready.empty()) {
    if (f.next >= f.links.size()) {
      stack_.pop_back();
      return Status::OK();
    }
    std::vector<Cid> ids;
    while (ids.size() < batch_ && f.next < f.links.size()) {
      const Cid& c = f.links[f.next++];
      if (seen_.insert(c).second) ids.push_back(c);
    }
    if (ids.empty()) return Status::OK();
    auto blocks = src_.GetMany(ids);
    if (blocks.size() != ids.size())
      return Status::Internal("block source returned a wrong number of results");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!blocks[i].ok()) return blocks[i].status();
      f.ready.emplace_back(std::move(ids[i]), std::move(blocks[i]).value());
    }
  }
  auto [cid, data] = std::move(f.ready.front());
  f.ready.pop_front();
  Follow follow = f.follow;  // `f` may move once Visit pushes a frame
  return Visit(cid, std::move(data), follow);
}

}  // namespace s3xfs
