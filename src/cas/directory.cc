#include "s3xfs/cas/directory.h"

#include <algorithm>

#include "s3xfs/cas/dagpb.h"

namespace s3xfs {

Result<Block> BuildBasicDirectory(std::vector<DirEntry> entries, int cid_version) {
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& x, const DirEntry& y) { return x.name < y.name; });  // bytewise
  PbNode node;
  node.links.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& n = entries[i].name;
    if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos)
      return Status::InvalidArgument("invalid directory entry name \"" + n + "\"");
    if (i > 0 && entries[i - 1].name == n)
      return Status::InvalidArgument("duplicate directory entry \"" + n + "\"");
    node.links.push_back(PbLink{entries[i].cid, n, entries[i].tsize});
  }
  UnixfsData fs;
  fs.type = UnixfsType::kDirectory;
  node.data = EncodeUnixfs(fs);
  Block b;
  b.data = EncodePbNode(node);
  b.cid = Cid::Compute(cid_version, Codec::kDagPb, b.data);
  return b;
}

Block BuildSymlink(std::string_view target, int cid_version) {
  UnixfsData fs;
  fs.type = UnixfsType::kSymlink;
  fs.data = Bytes(target.begin(), target.end());
  PbNode node;
  node.data = EncodeUnixfs(fs);
  Block b;
  b.data = EncodePbNode(node);
  b.cid = Cid::Compute(cid_version, Codec::kDagPb, b.data);
  return b;
}

}  // namespace s3xfs
