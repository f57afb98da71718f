// dag-pb (PBNode/PBLink) and UnixFS Data codecs, byte-exact with Kubo.
//
// Encoding follows the dag-pb spec: all Links first, then Data; inside a link Hash, Name, Tsize.
// Absent optional fields are not written; Kubo's file-chunk links carry Name = "" (bytes 12 00),
// so builders set name to "" explicitly. UnixFS fields are written in field-number order;
// blocksizes unpacked. Decoding accepts fields in any order and packed or unpacked blocksizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

struct PbLink {
  Cid hash;
  std::optional<std::string> name;
  std::optional<uint64_t> tsize;
};

struct PbNode {
  std::vector<PbLink> links;
  std::optional<Bytes> data;
};

Bytes EncodePbNode(const PbNode& node);
// Corruption on malformed protobuf or an unparsable link hash.
Result<PbNode> DecodePbNode(ByteView block);

// UnixFS Data.Type. Written to disk: never change.
enum class UnixfsType : uint32_t {
  kRaw = 0,
  kDirectory = 1,
  kFile = 2,
  kMetadata = 3,
  kSymlink = 4,
  kHamtShard = 5,
};

struct UnixfsTime {
  int64_t seconds = 0;
  std::optional<uint32_t> nanos;
};

struct UnixfsData {
  UnixfsType type = UnixfsType::kFile;
  std::optional<Bytes> data;
  std::optional<uint64_t> filesize;
  std::vector<uint64_t> blocksizes;
  std::optional<uint64_t> hash_type;
  std::optional<uint64_t> fanout;
  std::optional<uint32_t> mode;
  std::optional<UnixfsTime> mtime;
};

Bytes EncodeUnixfs(const UnixfsData& d);
Result<UnixfsData> DecodeUnixfs(ByteView bytes);

}  // namespace s3xfs
