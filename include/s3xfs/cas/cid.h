// Content identifiers (CID v0 and v1) and multihashes.
//
// A Cid is an immutable value: version, codec and multihash. Only sha2-256 (0x12) and identity
// (0x00) multihashes can be computed or verified here; others parse but Verify() reports
// NotSupported. Cids compare and hash by their binary form.
//
// Thread-safety: values; safe to share read-only.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"

namespace s3xfs {

// Multicodec codes. Written to disk and the wire: never change.
enum class Codec : uint64_t {
  kRaw = 0x55,
  kDagPb = 0x70,
  kDagCbor = 0x71,
};
// Multihash function codes. Written to disk and the wire: never change.
enum class HashCode : uint64_t {
  kIdentity = 0x00,
  kSha2_256 = 0x12,
};

using Sha256Digest = std::array<uint8_t, 32>;
Sha256Digest Sha256(ByteView data);

// Multihash bytes varint(code) varint(len) digest for a sha2-256 digest: 12 20 <32 bytes>.
Bytes Sha256Multihash(const Sha256Digest& digest);

class Cid {
 public:
  Cid() = default;  // the empty (invalid) CID; empty() is true

  // CIDv0 from a sha2-256 multihash (always dag-pb).
  static Cid V0(const Sha256Digest& digest);
  // CIDv1 of the codec over the given multihash. REQUIRES: multihash is well formed.
  static Cid V1(Codec codec, ByteView multihash);
  // CID of `data` hashed with sha2-256. version 0 REQUIRES codec == kDagPb.
  static Cid Compute(int version, Codec codec, ByteView data);

  // Parses text: CIDv0 ("Qm…", base58btc), or CIDv1 with multibase prefix 'b'/'B' (base32),
  // 'z' (base58btc) or 'f'/'F' (base16). InvalidArgument names the offending text.
  static Result<Cid> Parse(std::string_view text);
  // Parses the binary form occupying all of `in`.
  static Result<Cid> FromBinary(ByteView in);
  // Parses a binary CID at the front of `in` and advances `in` past it (CAR sections).
  static Result<Cid> ReadBinary(ByteView* in);

  bool empty() const { return bin_.empty(); }
  int version() const { return version_; }
  Codec codec() const { return codec_; }
  // The multihash bytes (a view into this object; valid while it lives).
  ByteView multihash() const { return ByteView(bin_).subspan(mh_offset_); }
  HashCode hash_code() const { return hash_code_; }
  // Binary form: the multihash for v0, varint(1) varint(codec) multihash for v1.
  const Bytes& binary() const { return bin_; }
  // Canonical text: base58btc for v0, 'b' + base32 lower for v1.
  std::string ToString() const;
  // Same multihash as a CIDv1 with the given codec (v0 → v1 conversion, raw view of a block).
  Cid WithCodecV1(Codec codec) const { return V1(codec, multihash()); }

  // OK when `data` hashes to this CID; Corruption (naming both hashes) when it does not;
  // NotSupported for a hash function other than sha2-256 / identity.
  Status Verify(ByteView data) const;

  friend bool operator==(const Cid& a, const Cid& b) { return a.bin_ == b.bin_; }
  friend std::strong_ordering operator<=>(const Cid& a, const Cid& b) { return a.bin_ <=> b.bin_; }

 private:
  static Result<Cid> FromBinaryPrefix(ByteView* in);
  Bytes bin_;
  int version_ = 0;
  Codec codec_ = Codec::kDagPb;
  HashCode hash_code_ = HashCode::kSha2_256;
  uint8_t mh_offset_ = 0;
};

struct CidHash {
  size_t operator()(const Cid& c) const noexcept;
};

}  // namespace s3xfs
