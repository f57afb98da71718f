// Checksums for S3: table-driven CRCs (slicing-by-8), SSE4.2 CRC32C when the CPU has it, base64,
// and OpenSSL EVP for MD5, SHA-1, SHA-256 and HMAC-SHA256.
#include "s3xfs/s3/checksum.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <bit>
#include <cstring>
#include <cstdlib>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define S3XFS_HAVE_SSE42_CRC 1
#endif

namespace s3xfs::s3 {
namespace {

// ---- Slicing-by-8 tables for reflected CRCs ------------------------------------------------
// kTable[0] is the classic byte-at-a-time table; kTable[k][b] is the CRC of byte b followed by k
// zero bytes, so eight bytes are folded with eight independent look-ups.

template <typename T>
struct CrcTables {
  std::array<std::array<T, 256>, 8> t{};
};

template <typename T>
constexpr CrcTables<T> MakeTables(T poly) {
  CrcTables<T> tables;
  for (unsigned i = 0; i < 256; ++i) {
    T crc = static_cast<T>(i);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
    tables.t[0][i] = crc;
  }
  for (unsigned i = 0; i < 256; ++i) {
    for (int k = 1; k < 8; ++k) {
      T prev = tables.t[k - 1][i];
      tables.t[k][i] = (prev >> 8) ^ tables.t[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr CrcTables<uint32_t> kCrc32Tables = MakeTables<uint32_t>(0xEDB88320u);
constexpr CrcTables<uint32_t> kCrc32cTables = MakeTables<uint32_t>(0x82F63B78u);
constexpr CrcTables<uint64_t> kCrc64NvmeTables = MakeTables<uint64_t>(0x9A6C9329AC4BC9B5ull);

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) {
    v = __builtin_bswap64(v);
  }
  return v;
}

// Raw (non-inverted) reflected CRC update, slicing-by-8. T is uint32_t or uint64_t.
template <typename T>
T SliceBy8(const CrcTables<T>& tab, T crc, const uint8_t* p, size_t n) {
  const auto& t = tab.t;
  // Byte-wise until 8-byte aligned so the main loop loads aligned words.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    --n;
  }
  while (n >= 8) {
    uint64_t v = LoadLe64(p) ^ static_cast<uint64_t>(crc);
    crc = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^
          t[4][(v >> 24) & 0xff] ^ t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^
          t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    --n;
  }
  return crc;
}

#ifdef S3XFS_HAVE_SSE42_CRC
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(c);
  while (n > 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
  return crc;
}

bool HaveSse42() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return have;
}
#endif

}  // namespace

uint32_t Crc32Update(uint32_t crc, ByteView data) {
  return ~SliceBy8<uint32_t>(kCrc32Tables, ~crc, data.data(), data.size());
}

uint32_t Crc32cUpdate(uint32_t crc, ByteView data) {
#ifdef S3XFS_HAVE_SSE42_CRC
  if (HaveSse42()) return ~Crc32cSse42(~crc, data.data(), data.size());
#endif
  return ~SliceBy8<uint32_t>(kCrc32cTables, ~crc, data.data(), data.size());
}

uint64_t Crc64NvmeUpdate(uint64_t crc, ByteView data) {
  return ~SliceBy8<uint64_t>(kCrc64NvmeTables, ~crc, data.data(), data.size());
}

// ---- Base64 ---------------------------------------------------------------------------------

namespace {
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> MakeBase64Decode() {
  std::array<int8_t, 256> d{};
  for (auto& v : d) v = -1;
  for (int i = 0; i < 64; ++i) d[static_cast<uint8_t>(kBase64Alphabet[i])] = static_cast<int8_t>(i);
  return d;
}
constexpr std::array<int8_t, 256> kBase64Decode = MakeBase64Decode();
}  // namespace

std::string Base64Encode(ByteView data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = uint32_t{data[i]} << 16 | uint32_t{data[i + 1]} << 8 | data[i + 2];
    out.push_back(kBase64Alphabet[v >> 18]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(kBase64Alphabet[(v >> 6) & 63]);
    out.push_back(kBase64Alphabet[v & 63]);
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out.push_back(kBase64Alphabet[v >> 18]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    uint32_t v = uint32_t{data[i]} << 16 | uint32_t{data[i + 1]} << 8;
    out.push_back(kBase64Alphabet[v >> 18]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(kBase64Alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

// Strict RFC 4648 section 4: length a multiple of four, '=' only as the last one or two
// characters, and the unused bits before the padding zero (so each value has one encoding).
bool Base64Decode(std::string_view text, Bytes* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    if (last) {
      if (text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    }
    int8_t v[4];
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = kBase64Decode[static_cast<uint8_t>(text[i + k])];
      if (v[k] < 0) {
        out->clear();
        return false;
      }
    }
    uint32_t word = 0;
    for (int k = 0; k < 4 - pad; ++k) word |= uint32_t(v[k]) << (18 - 6 * k);
    if ((pad == 1 && (word & 0xff) != 0) || (pad == 2 && (word & 0xffff) != 0)) {
      out->clear();
      return false;
    }
    out->push_back(static_cast<uint8_t>(word >> 16));
    if (pad < 2) out->push_back(static_cast<uint8_t>(word >> 8));
    if (pad < 1) out->push_back(static_cast<uint8_t>(word));
  }
  return true;
}

// ---- Algorithm names ------------------------------------------------------------------------

std::optional<ChecksumAlgorithm> ParseChecksumAlgorithm(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (lower == "crc32") return ChecksumAlgorithm::kCrc32;
  if (lower == "crc32c") return ChecksumAlgorithm::kCrc32c;
  if (lower == "crc64nvme") return ChecksumAlgorithm::kCrc64Nvme;
  if (lower == "sha1") return ChecksumAlgorithm::kSha1;
  if (lower == "sha256") return ChecksumAlgorithm::kSha256;
  return std::nullopt;
}

std::string_view ChecksumName(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kCrc32: return "crc32";
    case ChecksumAlgorithm::kCrc32c: return "crc32c";
    case ChecksumAlgorithm::kCrc64Nvme: return "crc64nvme";
    case ChecksumAlgorithm::kSha1: return "sha1";
    case ChecksumAlgorithm::kSha256: return "sha256";
  }
  return "";
}

// ---- Checksummer ----------------------------------------------------------------------------

namespace {

template <typename T>
Bytes BigEndian(T v) {
  Bytes out(sizeof(T));
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
  }
  return out;
}

template <typename T, T (*UpdateFn)(T, ByteView)>
class CrcChecksummer final : public Checksummer {
 public:
  void Update(ByteView data) override { crc_ = UpdateFn(crc_, data); }
  Bytes Digest() override { return BigEndian(crc_); }

 private:
  T crc_ = 0;
};

EVP_MD_CTX* NewCtx(const EVP_MD* md) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, md, nullptr) != 1) std::abort();
  return ctx;
}

// An EVP digest context that is reset after each Final, so a second Digest() is the digest of
// whatever was fed since (never a use of a finalized context).
class EvpDigest {
 public:
  explicit EvpDigest(const EVP_MD* md) : ctx_(NewCtx(md)) {}
  ~EvpDigest() { EVP_MD_CTX_free(ctx_); }
  EvpDigest(const EvpDigest&) = delete;
  EvpDigest& operator=(const EvpDigest&) = delete;

  static void Update(EVP_MD_CTX* ctx, ByteView data) {
    if (!data.empty() && EVP_DigestUpdate(ctx, data.data(), data.size()) != 1) std::abort();
  }
  static Bytes Final(EVP_MD_CTX* ctx) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, md, &len) != 1) std::abort();
    // Restart with the same algorithm so the context stays usable.
    if (EVP_DigestInit_ex(ctx, nullptr, nullptr) != 1) std::abort();
    return Bytes(md, md + len);
  }
  EVP_MD_CTX* ctx() { return ctx_; }

 private:
  EVP_MD_CTX* ctx_;
};

class EvpChecksummer final : public Checksummer {
 public:
  explicit EvpChecksummer(const EVP_MD* md) : digest_(md) {}
  void Update(ByteView data) override { EvpDigest::Update(digest_.ctx(), data); }
  Bytes Digest() override { return EvpDigest::Final(digest_.ctx()); }

 private:
  EvpDigest digest_;
};

}  // namespace

std::unique_ptr<Checksummer> Checksummer::New(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kCrc32:
      return std::make_unique<CrcChecksummer<uint32_t, Crc32Update>>();
    case ChecksumAlgorithm::kCrc32c:
      return std::make_unique<CrcChecksummer<uint32_t, Crc32cUpdate>>();
    case ChecksumAlgorithm::kCrc64Nvme:
      return std::make_unique<CrcChecksummer<uint64_t, Crc64NvmeUpdate>>();
    case ChecksumAlgorithm::kSha1:
      return std::make_unique<EvpChecksummer>(EVP_sha1());
    case ChecksumAlgorithm::kSha256:
      return std::make_unique<EvpChecksummer>(EVP_sha256());
  }
  return nullptr;
}

// ---- Md5 / Sha256 ---------------------------------------------------------------------------

Md5::Md5() : ctx_(NewCtx(EVP_md5())) {}
Md5::~Md5() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Md5::Update(ByteView data) { EvpDigest::Update(static_cast<EVP_MD_CTX*>(ctx_), data); }
Bytes Md5::Digest() { return EvpDigest::Final(static_cast<EVP_MD_CTX*>(ctx_)); }

Sha256::Sha256() : ctx_(NewCtx(EVP_sha256())) {}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::Update(ByteView data) { EvpDigest::Update(static_cast<EVP_MD_CTX*>(ctx_), data); }
Bytes Sha256::Digest() { return EvpDigest::Final(static_cast<EVP_MD_CTX*>(ctx_)); }

Bytes Sha256Of(ByteView data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) std::abort();
  return Bytes(md, md + len);
}

Bytes HmacSha256(ByteView key, ByteView data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // HMAC() with a null key pointer and zero length is fine; give it a valid pointer anyway.
  static const unsigned char kEmpty = 0;
  const unsigned char* k = key.empty() ? &kEmpty : key.data();
  const unsigned char* d = data.empty() ? &kEmpty : data.data();
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), md, &len) == nullptr) {
    std::abort();
  }
  return Bytes(md, md + len);
}

}  // namespace s3xfs::s3
