// Reading UnixFS nodes, directories and paths (contract in include/s3xfs/cas/unixfs.h).
#include "s3xfs/cas/unixfs.h"

#include <algorithm>
#include <bit>
#include <span>

namespace s3xfs {

namespace {

constexpr uint64_t kMurmurHashType = 0x22;
constexpr uint64_t kMaxFanout = 1024;

Status NotDirectory(const Cid& cid, std::string_view what) {
  return Status::InvalidArgument(cid.ToString() + " is " + std::string(what) +
                                 ", not a directory")
      .With(Status::Reason::kNotDirectory);
}

Status Corrupt(const Cid& cid, const std::string& why) {
  return Status::Corruption(cid.ToString() + ": " + why);
}

bool ValidEntryName(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos;
}

// A block decoded as far as UnixFS goes: the public node plus, for dag-pb UnixFS, the raw fields
// (the HAMT walkers need the bitfield and parameters).
struct Decoded {
  UnixfsNode node;
  std::optional<UnixfsData> fs;
};

Result<Decoded> Decode(const Cid& cid, ByteView block) {
  Decoded d;
  d.node.cid = cid;
  d.node.block_size = block.size();
  if (cid.codec() == Codec::kRaw) {
    d.node.kind = UnixfsKind::kRawLeaf;
    d.node.size = block.size();
    return d;
  }
  if (cid.codec() != Codec::kDagPb) return d;  // kOther: dag-cbor and friends
  auto pb = DecodePbNode(block);
  if (!pb.ok()) return Corrupt(cid, pb.status().message());
  d.node.links = std::move(pb->links);
  if (!pb->data) return d;  // dag-pb, but not UnixFS
  auto fs = DecodeUnixfs(*pb->data);
  if (!fs.ok()) return Corrupt(cid, fs.status().message());
  d.node.mode = fs->mode;
  d.node.mtime = fs->mtime;
  switch (fs->type) {
    case UnixfsType::kRaw:
    case UnixfsType::kFile: {
      d.node.kind = UnixfsKind::kFile;
      if (fs->blocksizes.size() != d.node.links.size())
        return Corrupt(cid, std::to_string(d.node.links.size()) + " links but " +
                                std::to_string(fs->blocksizes.size()) + " blocksizes");
      uint64_t size = fs->data ? fs->data->size() : 0;
      for (uint64_t s : fs->blocksizes) {
        if (s > UINT64_MAX - size) return Corrupt(cid, "blocksizes overflow");
        size += s;
      }
      if (fs->filesize && *fs->filesize != size)
        return Corrupt(cid, "filesize " + std::to_string(*fs->filesize) +
                                " disagrees with its data and blocksizes (" +
                                std::to_string(size) + ")");
      d.node.size = size;
      break;
    }
    case UnixfsType::kDirectory:
      d.node.kind = UnixfsKind::kDirectory;
      break;
    case UnixfsType::kHamtShard:
      d.node.kind = UnixfsKind::kHamtShard;
      break;
    case UnixfsType::kSymlink:
      d.node.kind = UnixfsKind::kSymlink;
      if (!d.node.links.empty()) return Corrupt(cid, "symlink with links");
      if (fs->data) d.node.symlink_target.assign(AsChars(*fs->data));
      d.node.size = d.node.symlink_target.size();
      break;
    case UnixfsType::kMetadata:
      break;  // kOther
  }
  d.fs = std::move(fs).value();
  return d;
}

Result<Decoded> Fetch(BlockSource* source, const Cid& cid) {
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetOneBlock(source, cid));
  return Decode(cid, block);
}

Status RequireDirectory(const Decoded& d) {
  if (d.node.is_directory()) return Status::OK();
  std::string what = "a " + std::string(UnixfsKindName(d.node.kind));
  if (d.node.kind == UnixfsKind::kOther) what = "not UnixFS";
  return NotDirectory(d.node.cid, what);
}

// ---- HAMT -----------------------------------------------------------------------------------

struct Hamt {
  int bits = 8;         // hash bits per level: log2(fanout)
  size_t width = 2;     // hex digits of a link label
  uint64_t fanout = 256;
  std::vector<int> occupied;  // bucket indices whose bit is set, ascending

  // Bucket of `hash` at `depth`, or -1 when the 64-bit hash has no bits left for that level.
  int Index(uint64_t hash, int depth) const {
    int shift = 64 - bits * (depth + 1);
    if (shift < 0) return -1;
    return static_cast<int>((hash >> shift) & (fanout - 1));
  }
};

// Reads the shard parameters and its bitfield, and checks that the links match the bitfield
// one for one (labels ascending, one per set bit).
Result<Hamt> ReadShard(const Decoded& d) {
  const Cid& cid = d.node.cid;
  const UnixfsData& fs = *d.fs;
  if (!fs.hash_type) return Corrupt(cid, "HAMT shard without hashType");
  if (*fs.hash_type != kMurmurHashType)
    return Status::NotSupported(cid.ToString() + ": HAMT hash type " +
                                std::to_string(*fs.hash_type) + " (only murmur3-x64-64, 0x22)");
  if (!fs.fanout || *fs.fanout < 2 || *fs.fanout > kMaxFanout || !std::has_single_bit(*fs.fanout))
    return Corrupt(cid, "HAMT fanout must be a power of two from 2 to 1024");
  Hamt h;
  h.fanout = *fs.fanout;
  h.bits = std::countr_zero(h.fanout);
  h.width = 0;
  for (uint64_t v = h.fanout - 1; v; v >>= 4) ++h.width;
  ByteView bitmap = fs.data ? ByteView(*fs.data) : ByteView();
  const size_t n = bitmap.size();
  for (size_t byte = 0; byte < n; ++byte) {
    uint8_t b = bitmap[n - 1 - byte];  // big-endian: the last byte holds buckets 0..7
    for (int bit = 0; bit < 8; ++bit) {
      if (!(b & (1u << bit))) continue;
      uint64_t idx = byte * 8 + static_cast<uint64_t>(bit);
      if (idx >= h.fanout) return Corrupt(cid, "HAMT bitfield has bits beyond the fanout");
      h.occupied.push_back(static_cast<int>(idx));
    }
  }
  if (h.occupied.size() != d.node.links.size())
    return Corrupt(cid, "HAMT bitfield has " + std::to_string(h.occupied.size()) +
                            " buckets but the shard has " + std::to_string(d.node.links.size()) +
                            " links");
  return h;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Splits a shard link's name into its bucket label (checked against `want`) and the entry name
// (empty for a sub-shard).
Result<std::string_view> SplitLabel(const Cid& shard, const Hamt& h, const PbLink& link, int want) {
  if (!link.name || link.name->size() < h.width)
    return Corrupt(shard, "HAMT link without a bucket label");
  int idx = 0;
  for (size_t i = 0; i < h.width; ++i) {
    int v = HexDigit((*link.name)[i]);
    if (v < 0) return Corrupt(shard, "HAMT link label \"" + link.name->substr(0, h.width) +
                                         "\" is not hexadecimal");
    idx = idx * 16 + v;
  }
  if (idx != want)
    return Corrupt(shard, "HAMT link \"" + *link.name + "\" is not in bucket " +
                              std::to_string(want) + " as its bitfield says");
  return std::string_view(*link.name).substr(h.width);
}

// The sub-shard at `cid` must be a HAMT shard with its parent's parameters.
Result<Hamt> ReadSubShard(const Decoded& d, const Hamt& parent) {
  if (d.node.kind != UnixfsKind::kHamtShard)
    return Corrupt(d.node.cid, "HAMT sub-shard is a " +
                                   std::string(UnixfsKindName(d.node.kind)));
  S3XFS_ASSIGN_OR_RETURN(Hamt h, ReadShard(d));
  if (h.fanout != parent.fanout) return Corrupt(d.node.cid, "HAMT sub-shard fanout differs");
  return h;
}

struct ShardWalker {
  BlockSource* source;
  const std::function<Status(const DirEntry&)>& fn;
  size_t batch;
  const BlockVisitor& on_block;
  std::vector<int> path;  // bucket index taken at each level above the current shard

  Status Walk(const Decoded& d, const Hamt& h) {
    const Cid& cid = d.node.cid;
    const int depth = static_cast<int>(path.size());
    const std::vector<PbLink>& links = d.node.links;
    for (size_t k = 0; k < links.size(); k += batch) {
      const size_t end = std::min(links.size(), k + batch);
      // Labels first, then the sub-shards of this batch in one fetch.
      std::vector<std::string_view> names(end - k);
      std::vector<Cid> subs;
      for (size_t i = k; i < end; ++i) {
        S3XFS_ASSIGN_OR_RETURN(names[i - k], SplitLabel(cid, h, links[i], h.occupied[i]));
        if (names[i - k].empty()) subs.push_back(links[i].hash);
      }
      std::vector<Result<Bytes>> blocks;
      if (!subs.empty()) {
        if (h.Index(0, depth + 1) < 0) return Corrupt(cid, "HAMT deeper than its 64-bit hash");
        blocks = source->GetMany(subs);
        if (blocks.size() != subs.size())
          return Status::Internal("block source returned a wrong number of results");
      }
      size_t next_sub = 0;
      for (size_t i = k; i < end; ++i) {
        std::string_view name = names[i - k];
        if (name.empty()) {
          Result<Bytes>& b = blocks[next_sub];
          const Cid& sub_cid = subs[next_sub];
          ++next_sub;
          if (!b.ok()) return b.status();
          S3XFS_ASSIGN_OR_RETURN(Decoded sub, Decode(sub_cid, *b));
          if (on_block) on_block(sub_cid, b->size());
          b = Bytes();
          S3XFS_ASSIGN_OR_RETURN(Hamt sh, ReadSubShard(sub, h));
          path.push_back(h.occupied[i]);
          S3XFS_RETURN_IF_ERROR(Walk(sub, sh));
          path.pop_back();
          continue;
        }
        if (!ValidEntryName(name))
          return Corrupt(cid, "invalid directory entry name \"" + std::string(name) + "\"");
        // The entry must sit where its hash puts it, or a lookup could never find it.
        uint64_t hash = Murmur3X64_64(AsBytes(name));
        for (int j = 0; j <= depth; ++j) {
          int want = j < depth ? path[static_cast<size_t>(j)] : h.occupied[i];
          if (h.Index(hash, j) != want)
            return Corrupt(cid, "HAMT entry \"" + std::string(name) +
                                    "\" is not in the bucket its hash selects");
        }
        S3XFS_RETURN_IF_ERROR(fn(DirEntry{std::string(name), links[i].hash, links[i].tsize.value_or(0)}));
      }
    }
    return Status::OK();
  }
};

Result<std::optional<DirEntry>> LookupInShard(BlockSource* source, Decoded d,
                                              std::string_view name, std::vector<Cid>* visited) {
  S3XFS_ASSIGN_OR_RETURN(Hamt h, ReadShard(d));
  const uint64_t hash = Murmur3X64_64(AsBytes(name));
  for (int depth = 0;; ++depth) {
    const int idx = h.Index(hash, depth);
    if (idx < 0) return Corrupt(d.node.cid, "HAMT deeper than its 64-bit hash");
    auto it = std::lower_bound(h.occupied.begin(), h.occupied.end(), idx);
    if (it == h.occupied.end() || *it != idx) return std::optional<DirEntry>();
    const PbLink& link = d.node.links[static_cast<size_t>(it - h.occupied.begin())];
    S3XFS_ASSIGN_OR_RETURN(std::string_view rest, SplitLabel(d.node.cid, h, link, idx));
    if (!rest.empty()) {
      if (rest != name) return std::optional<DirEntry>();  // another name holds the bucket
      return std::optional<DirEntry>(DirEntry{std::string(name), link.hash, link.tsize.value_or(0)});
    }
    Cid sub = link.hash;
    S3XFS_ASSIGN_OR_RETURN(Decoded next, Fetch(source, sub));
    if (visited) visited->push_back(sub);
    S3XFS_ASSIGN_OR_RETURN(Hamt nh, ReadSubShard(next, h));
    d = std::move(next);
    h = std::move(nh);
  }
}

// ---- basic directories ----------------------------------------------------------------------

Result<std::vector<DirEntry>> BasicEntries(const Decoded& d) {
  std::vector<DirEntry> out;
  out.reserve(d.node.links.size());
  for (const PbLink& l : d.node.links) {
    if (!l.name) return Corrupt(d.node.cid, "directory link without a name");
    if (!ValidEntryName(*l.name))
      return Corrupt(d.node.cid, "invalid directory entry name \"" + *l.name + "\"");
    out.push_back(DirEntry{*l.name, l.hash, l.tsize.value_or(0)});
  }
  auto less = [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; };
  // Writers sort links by name; tolerate ones that did not, but never yield a name twice.
  if (!std::is_sorted(out.begin(), out.end(), less)) std::stable_sort(out.begin(), out.end(), less);
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i].name == out[i - 1].name)
      return Corrupt(d.node.cid, "duplicate directory entry \"" + out[i].name + "\"");
  return out;
}

Result<std::optional<DirEntry>> LookupIn(BlockSource* source, Decoded d, std::string_view name,
                                         std::vector<Cid>* visited) {
  S3XFS_RETURN_IF_ERROR(RequireDirectory(d));
  if (d.node.kind == UnixfsKind::kHamtShard)
    return LookupInShard(source, std::move(d), name, visited);
  for (const PbLink& l : d.node.links) {
    if (!l.name) return Corrupt(d.node.cid, "directory link without a name");
    if (*l.name == name)
      return std::optional<DirEntry>(DirEntry{*l.name, l.hash, l.tsize.value_or(0)});
  }
  return std::optional<DirEntry>();
}

}  // namespace

std::string_view UnixfsKindName(UnixfsKind kind) {
  switch (kind) {
    case UnixfsKind::kRawLeaf: return "raw";
    case UnixfsKind::kFile: return "file";
    case UnixfsKind::kDirectory: return "directory";
    case UnixfsKind::kHamtShard: return "hamt-shard";
    case UnixfsKind::kSymlink: return "symlink";
    case UnixfsKind::kOther: return "other";
  }
  return "other";
}

Result<UnixfsNode> DecodeUnixfsNode(const Cid& cid, ByteView block) {
  S3XFS_ASSIGN_OR_RETURN(Decoded d, Decode(cid, block));
  return std::move(d.node);
}

Result<UnixfsNode> StatNode(BlockSource* source, const Cid& cid) {
  S3XFS_ASSIGN_OR_RETURN(Decoded d, Fetch(source, cid));
  return std::move(d.node);
}

Status ForEachDirectoryEntry(BlockSource* source, const Cid& dir,
                             const std::function<Status(const DirEntry&)>& fn, size_t batch,
                             const BlockVisitor& on_block) {
  S3XFS_ASSIGN_OR_RETURN(Decoded d, Fetch(source, dir));
  S3XFS_RETURN_IF_ERROR(RequireDirectory(d));
  if (on_block) on_block(dir, d.node.block_size);
  if (d.node.kind == UnixfsKind::kDirectory) {
    S3XFS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, BasicEntries(d));
    for (const DirEntry& e : entries) S3XFS_RETURN_IF_ERROR(fn(e));
    return Status::OK();
  }
  S3XFS_ASSIGN_OR_RETURN(Hamt h, ReadShard(d));
  ShardWalker w{source, fn, std::max<size_t>(batch, 1), on_block, {}};
  return w.Walk(d, h);
}

Result<std::optional<DirEntry>> LookupEntry(BlockSource* source, const Cid& dir,
                                            std::string_view name, std::vector<Cid>* visited) {
  S3XFS_ASSIGN_OR_RETURN(Decoded d, Fetch(source, dir));
  if (visited) visited->push_back(dir);
  return LookupIn(source, std::move(d), name, visited);
}

Result<ResolvedPath> ResolvePath(BlockSource* source, const Cid& root, std::string_view path) {
  ResolvedPath out;
  out.cid = root;
  out.segments.push_back(root);
  std::string walked;  // for messages: the part of the path resolved so far
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (name.empty()) continue;
    if (name == "." || name == "..")
      return Status::InvalidArgument("path component \"" + std::string(name) +
                                     "\" is not allowed in an IPFS path");
    S3XFS_ASSIGN_OR_RETURN(Decoded d, Fetch(source, out.cid));
    out.path_blocks.push_back(out.cid);
    if (!d.node.is_directory()) {
      std::string where = walked.empty() ? root.ToString() : root.ToString() + "/" + walked;
      return Status::InvalidArgument(where + " is a " +
                                     std::string(UnixfsKindName(d.node.kind)) +
                                     ", not a directory: cannot resolve \"" + std::string(name) + "\"")
          .With(Status::Reason::kNotDirectory);
    }
    S3XFS_ASSIGN_OR_RETURN(std::optional<DirEntry> e,
                           LookupIn(source, std::move(d), name, &out.path_blocks));
    if (!walked.empty()) walked += '/';
    walked += name;
    if (!e) return Status::NotFound("no link named \"" + walked + "\" under " + root.ToString())
                    .With(Status::Reason::kNoSuchKey);
    out.cid = e->cid;
    out.segments.push_back(e->cid);
  }
  return out;
}

}  // namespace s3xfs
