// HAMT-sharded UnixFS directories (contract in include/s3xfs/cas/directory.h).
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <variant>

#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/directory.h"

namespace s3xfs {

namespace {

constexpr uint64_t kMurmurHashCode = 0x22;
constexpr int kFanout = 256;
constexpr int kMaxDepth = 8;  // one byte of the 64-bit hash per level

uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t Fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

uint64_t Le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Status CheckName(const std::string& n) {
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos)
    return Status::InvalidArgument("invalid directory entry name \"" + n + "\"");
  return Status::OK();
}

// One shard: 256 slots, each empty, an entry (index into the entries) or a sub-shard.
struct Shard {
  struct Slot {
    int entry = -1;
    std::unique_ptr<Shard> child;
  };
  std::array<Slot, kFanout> slots;
};

struct Builder {
  const std::vector<DirEntry>& entries;
  const std::vector<uint64_t>& hashes;
  int cid_version;
  const std::function<Status(const Block&)>& sink;

  static int Index(uint64_t hash, int depth) {
    return static_cast<int>((hash >> (56 - 8 * depth)) & 0xff);
  }

  Status Insert(Shard& shard, int e, int depth) {
    if (depth >= kMaxDepth)
      return Status::InvalidArgument("directory entries \"" + entries[static_cast<size_t>(e)].name +
                                     "\" collide in all 64 bits of their HAMT hash");
    Shard::Slot& slot = shard.slots[static_cast<size_t>(Index(hashes[static_cast<size_t>(e)], depth))];
    if (slot.child) return Insert(*slot.child, e, depth + 1);
    if (slot.entry < 0) {
      slot.entry = e;
      return Status::OK();
    }
    // Two names in one bucket: the bucket becomes a sub-shard holding both.
    slot.child = std::make_unique<Shard>();
    int old = slot.entry;
    slot.entry = -1;
    S3XFS_RETURN_IF_ERROR(Insert(*slot.child, old, depth + 1));
    return Insert(*slot.child, e, depth + 1);
  }

  Result<DirRoot> Emit(const Shard& shard) {
    PbNode node;
    uint64_t children = 0;
    std::array<uint8_t, kFanout / 8> bitmap{};  // big-endian: bucket i is bit i of the integer
    static const char kHex[] = "0123456789ABCDEF";
    for (int i = 0; i < kFanout; ++i) {
      const Shard::Slot& slot = shard.slots[static_cast<size_t>(i)];
      if (!slot.child && slot.entry < 0) continue;
      bitmap[static_cast<size_t>(kFanout / 8 - 1 - i / 8)] |= static_cast<uint8_t>(1u << (i % 8));
      std::string label{kHex[i >> 4], kHex[i & 15]};
      if (slot.child) {
        S3XFS_ASSIGN_OR_RETURN(DirRoot sub, Emit(*slot.child));
        node.links.push_back(PbLink{sub.cid, label, sub.tsize});
        children += sub.tsize;
      } else {
        const DirEntry& d = entries[static_cast<size_t>(slot.entry)];
        node.links.push_back(PbLink{d.cid, label + d.name, d.tsize});
        children += d.tsize;
      }
    }
    size_t first = 0;
    while (first < bitmap.size() && bitmap[first] == 0) ++first;
    UnixfsData fs;
    fs.type = UnixfsType::kHamtShard;
    fs.data = Bytes(bitmap.begin() + static_cast<std::ptrdiff_t>(first), bitmap.end());
    fs.hash_type = kMurmurHashCode;
    fs.fanout = kFanout;
    node.data = EncodeUnixfs(fs);
    Block b;
    b.data = EncodePbNode(node);
    b.cid = Cid::Compute(cid_version, Codec::kDagPb, b.data);
    DirRoot r{b.cid, b.data.size() + children, true};
    S3XFS_RETURN_IF_ERROR(sink(b));
    return r;
  }
};

}  // namespace

uint64_t Murmur3X64_64(ByteView data) {
  const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
  uint64_t h1 = 0, h2 = 0;
  const size_t n = data.size(), blocks = n / 16;
  const uint8_t* p = data.data();
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k1 = Le64(p + 16 * i), k2 = Le64(p + 16 * i + 8);
    k1 *= c1; k1 = Rotl(k1, 31); k1 *= c2; h1 ^= k1;
    h1 = Rotl(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
    k2 *= c2; k2 = Rotl(k2, 33); k2 *= c1; h2 ^= k2;
    h2 = Rotl(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
  }
  const uint8_t* tail = p + 16 * blocks;
  const size_t rest = n & 15;
  uint64_t k1 = 0, k2 = 0;
  for (size_t i = rest; i > 8; --i) k2 ^= static_cast<uint64_t>(tail[i - 1]) << (8 * (i - 9));
  if (rest > 8) { k2 *= c2; k2 = Rotl(k2, 33); k2 *= c1; h2 ^= k2; }
  for (size_t i = std::min<size_t>(rest, 8); i > 0; --i) k1 ^= static_cast<uint64_t>(tail[i - 1]) << (8 * (i - 1));
  if (rest > 0) { k1 *= c1; k1 = Rotl(k1, 31); k1 *= c2; h1 ^= k1; }
  h1 ^= n;
  h2 ^= n;
  h1 += h2;
  h2 += h1;
  h1 = Fmix(h1);
  h2 = Fmix(h2);
  h1 += h2;
  return h1;
}

Result<DirRoot> BuildDirectory(std::vector<DirEntry> entries, int cid_version,
                               const std::function<Status(const Block&)>& sink) {
  uint64_t estimate = 0;
  for (const DirEntry& e : entries) {
    S3XFS_RETURN_IF_ERROR(CheckName(e.name));
    estimate += e.name.size() + e.cid.binary().size();
  }
  if (estimate <= kHamtShardThreshold) {
    uint64_t children = 0;
    for (const DirEntry& e : entries) children += e.tsize;
    S3XFS_ASSIGN_OR_RETURN(Block b, BuildBasicDirectory(std::move(entries), cid_version));
    DirRoot r{b.cid, b.data.size() + children, false};
    S3XFS_RETURN_IF_ERROR(sink(b));
    return r;
  }
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& x, const DirEntry& y) { return x.name < y.name; });
  std::vector<uint64_t> hashes;
  hashes.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0 && entries[i - 1].name == entries[i].name)
      return Status::InvalidArgument("duplicate directory entry \"" + entries[i].name + "\"");
    hashes.push_back(Murmur3X64_64(AsBytes(entries[i].name)));
  }
  Builder b{entries, hashes, cid_version, sink};
  Shard root;
  for (size_t i = 0; i < entries.size(); ++i)
    S3XFS_RETURN_IF_ERROR(b.Insert(root, static_cast<int>(i), 0));
  return b.Emit(root);
}

}  // namespace s3xfs
