// Checksums S3 clients send and expect: CRC32, CRC32C, CRC64/NVME, SHA-1, SHA-256, MD5, and
// the base64 they are carried in (x-amz-checksum-*, Content-MD5). Pure code, no I/O.
//
// Thread-safety: each Checksummer is used by one thread at a time; the free functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "s3xfs/base/bytes.h"

namespace s3xfs::s3 {

// Streaming CRCs (reflected, init ~0, xorout ~0). Start from 0 and feed pieces:
//   Crc32Update(Crc32Update(0, a), b) == Crc32Update(0, a+b).
// Check values of "123456789": CRC32 0xcbf43926, CRC32C 0xe3069283, CRC64/NVME 0xae8b14860a799888.
uint32_t Crc32Update(uint32_t crc, ByteView data);
uint32_t Crc32cUpdate(uint32_t crc, ByteView data);
uint64_t Crc64NvmeUpdate(uint64_t crc, ByteView data);

// RFC 4648 base64 with padding.
std::string Base64Encode(ByteView data);
// Strict: standard alphabet, padding required, no whitespace. False on anything else.
bool Base64Decode(std::string_view text, Bytes* out);

enum class ChecksumAlgorithm { kCrc32, kCrc32c, kCrc64Nvme, kSha1, kSha256 };

// "crc32", "crc32c", "crc64nvme", "sha1", "sha256" (case-insensitive) as used in
// x-amz-checksum-<name> and x-amz-sdk-checksum-algorithm; nullopt when unknown.
std::optional<ChecksumAlgorithm> ParseChecksumAlgorithm(std::string_view name);
// Lower-case name as in the header x-amz-checksum-<name>.
std::string_view ChecksumName(ChecksumAlgorithm algorithm);

// Incremental checksum of one algorithm; Digest() is the raw big-endian bytes (4, 4, 8, 20 or 32)
// and Base64() what the x-amz-checksum-* header carries. Digest may be called once.
class Checksummer {
 public:
  static std::unique_ptr<Checksummer> New(ChecksumAlgorithm algorithm);
  virtual ~Checksummer() = default;
  virtual void Update(ByteView data) = 0;
  virtual Bytes Digest() = 0;
  std::string Base64() { return Base64Encode(Digest()); }
};

// Incremental MD5 and SHA-256 (OpenSSL), the two hashes every PUT needs.
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void Update(ByteView data);
  Bytes Digest();  // 16 bytes; once
 private:
  void* ctx_;
};
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(ByteView data);
  Bytes Digest();  // 32 bytes; once
 private:
  void* ctx_;
};

Bytes Sha256Of(ByteView data);
Bytes HmacSha256(ByteView key, ByteView data);

}  // namespace s3xfs::s3
