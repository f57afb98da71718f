#include "s3xfs/cas/cid.h"

#include <openssl/sha.h>

#include <cstring>

#include "s3xfs/cas/multibase.h"
#include "s3xfs/cas/varint.h"

namespace s3xfs {

Sha256Digest Sha256(ByteView data) {
  Sha256Digest d;
  SHA256(data.data(), data.size(), d.data());
  return d;
}

Bytes Sha256Multihash(const Sha256Digest& digest) {
  Bytes mh(2 + digest.size());
  mh[0] = 0x12;
  mh[1] = 0x20;
  std::memcpy(mh.data() + 2, digest.data(), digest.size());
  return mh;
}

namespace {
// Validates a multihash occupying exactly `mh`; returns its code.
Result<HashCode> CheckMultihash(ByteView mh) {
  uint64_t code = 0, len = 0;
  if (!ReadVarint(&mh, &code) || !ReadVarint(&mh, &len) || len != mh.size())
    return Status::InvalidArgument("malformed multihash");
  return static_cast<HashCode>(code);
}

// Reads a multihash at the front of *in (advancing); returns its byte length.
Result<size_t> MultihashPrefixLength(ByteView in) {
  ByteView p = in;
  uint64_t code = 0, len = 0;
  if (!ReadVarint(&p, &code) || !ReadVarint(&p, &len) || len > p.size() || len > 1024)
    return Status::InvalidArgument("malformed multihash");
  return static_cast<size_t>((in.size() - p.size()) + len);
}
}  // namespace

Cid Cid::V0(const Sha256Digest& digest) {
  Cid c;
  c.bin_ = Sha256Multihash(digest);
  c.version_ = 0;
  c.codec_ = Codec::kDagPb;
  c.hash_code_ = HashCode::kSha2_256;
  c.mh_offset_ = 0;
  return c;
}

Cid Cid::V1(Codec codec, ByteView multihash) {
  Cid c;
  AppendVarint(&c.bin_, 1);
  AppendVarint(&c.bin_, static_cast<uint64_t>(codec));
  c.mh_offset_ = static_cast<uint8_t>(c.bin_.size());
  c.bin_.insert(c.bin_.end(), multihash.begin(), multihash.end());
  c.version_ = 1;
  c.codec_ = codec;
  auto code = CheckMultihash(multihash);
  c.hash_code_ = code.ok() ? *code : HashCode::kSha2_256;
  return c;
}

Cid Cid::Compute(int version, Codec codec, ByteView data) {
  Sha256Digest d = Sha256(data);
  if (version == 0) return V0(d);
  Bytes mh = Sha256Multihash(d);
  return V1(codec, mh);
}

Result<Cid> Cid::FromBinaryPrefix(ByteView* in) {
  ByteView p = *in;
  // CIDv0: a bare sha2-256 multihash 12 20 <32>.
  if (p.size() >= 34 && p[0] == 0x12 && p[1] == 0x20) {
    Sha256Digest d;
    std::memcpy(d.data(), p.data() + 2, 32);
    *in = in->subspan(34);
    return V0(d);
  }
  uint64_t version = 0, codec = 0;
  if (!ReadVarint(&p, &version) || version != 1)
    return Status::InvalidArgument("unsupported CID version");
  if (!ReadVarint(&p, &codec)) return Status::InvalidArgument("malformed CID codec");
  S3XFS_ASSIGN_OR_RETURN(size_t mh_len, MultihashPrefixLength(p));
  Cid c = V1(static_cast<Codec>(codec), p.subspan(0, mh_len));
  *in = p.subspan(mh_len);
  return c;
}

Result<Cid> Cid::ReadBinary(ByteView* in) { return FromBinaryPrefix(in); }

Result<Cid> Cid::FromBinary(ByteView in) {
  ByteView p = in;
  S3XFS_ASSIGN_OR_RETURN(Cid c, FromBinaryPrefix(&p));
  if (!p.empty()) return Status::InvalidArgument("trailing bytes after CID");
  return c;
}

Result<Cid> Cid::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    std::string t(text.substr(0, 120));
    return Status::InvalidArgument("invalid CID \"" + t + "\": " + std::string(why));
  };
  if (text.empty()) return bad("empty");
  Bytes bin;
  if (text.size() == 46 && text[0] == 'Q' && text[1] == 'm') {
    if (!Base58btcDecode(text, &bin)) return bad("not base58btc");
    if (bin.size() != 34 || bin[0] != 0x12 || bin[1] != 0x20) return bad("not a sha2-256 CIDv0");
  } else {
    std::string_view body = text.substr(1);
    bool ok = false;
    switch (text[0]) {
      case 'b':
      case 'B': ok = Base32Decode(body, &bin); break;
      case 'z': ok = Base58btcDecode(body, &bin); break;
      case 'f':
      case 'F': ok = HexDecode(body, &bin); break;
      default: return bad("unknown multibase prefix");
    }
    if (!ok) return bad("bad multibase encoding");
    if (!bin.empty() && bin[0] == 0x12) return bad("CIDv0 bytes in a multibase string");
  }
  auto r = FromBinary(bin);
  if (!r.ok()) return bad(r.status().message());
  return r;
}

std::string Cid::ToString() const {
  if (empty()) return "<empty cid>";
  if (version_ == 0) return Base58btcEncode(bin_);
  return "b" + Base32Encode(bin_);
}

Status Cid::Verify(ByteView data) const {
  ByteView mh = multihash();
  uint64_t code = 0, len = 0;
  if (!ReadVarint(&mh, &code) || !ReadVarint(&mh, &len))
    return Status::Corruption("malformed multihash in " + ToString());
  if (code == static_cast<uint64_t>(HashCode::kSha2_256)) {
    Sha256Digest d = Sha256(data);
    if (len == 32 && std::memcmp(mh.data(), d.data(), 32) == 0) return Status::OK();
    return Status::Corruption("block " + ToString() + " is corrupt: its bytes hash to sha2-256 " +
                              HexEncode(d));
  }
  if (code == static_cast<uint64_t>(HashCode::kIdentity)) {
    if (mh.size() == data.size() && std::equal(mh.begin(), mh.end(), data.begin()))
      return Status::OK();
    return Status::Corruption("identity block " + ToString() + " does not match its bytes");
  }
  return Status::NotSupported("cannot verify " + ToString() + ": multihash code " +
                              std::to_string(code) + " is not supported");
}

size_t CidHash::operator()(const Cid& c) const noexcept {
  // The tail of a CID is a cryptographic digest: its last 8 bytes are already uniform.
  const Bytes& b = c.binary();
  uint64_t h = 0;
  size_t n = b.size() < 8 ? b.size() : 8;
  std::memcpy(&h, b.data() + b.size() - n, n);
  return static_cast<size_t>(h ^ b.size());
}

}  // namespace s3xfs
