// Checksums S3 clients send: CRC32/CRC32C/CRC64-NVME against published check values and a
// bit-at-a-time reference, base64 (RFC 4648 vectors and strict rejects), the Checksummer for each
// algorithm, MD5/SHA-256 streaming and HMAC-SHA256 (RFC 4231).
#include "s3xfs/s3/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace s3xfs::s3 {
namespace {

// Bit-at-a-time reflected CRCs, straight from the definition.
uint32_t RefCrc32(uint32_t poly, ByteView data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
  }
  return ~crc;
}
uint64_t RefCrc64(uint64_t poly, ByteView data) {
  uint64_t crc = ~0ull;
  for (uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
  }
  return ~crc;
}

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::string Hex(const Bytes& b) { return HexEncode(b); }

Bytes DigestOf(ChecksumAlgorithm a, std::string_view data) {
  auto c = Checksummer::New(a);
  c->Update(AsBytes(data));
  return c->Digest();
}

const std::string kCheck = "123456789";

TEST(Crc, CheckValues) {
  EXPECT_EQ(Crc32Update(0, AsBytes(kCheck)), 0xCBF43926u);
  EXPECT_EQ(Crc32cUpdate(0, AsBytes(kCheck)), 0xE3069283u);
  EXPECT_EQ(Crc64NvmeUpdate(0, AsBytes(kCheck)), 0xAE8B14860A799888ull);
}

TEST(Crc, EmptyInputLeavesTheValue) {
  EXPECT_EQ(Crc32Update(0, {}), 0u);
  EXPECT_EQ(Crc32cUpdate(0, {}), 0u);
  EXPECT_EQ(Crc64NvmeUpdate(0, {}), 0u);
  EXPECT_EQ(Crc32Update(0x12345678, {}), 0x12345678u);
  EXPECT_EQ(Crc32cUpdate(0x12345678, {}), 0x12345678u);
  EXPECT_EQ(Crc64NvmeUpdate(0x1234567890ull, {}), 0x1234567890ull);
}

// RFC 3720 (iSCSI) appendix B.4 CRC32C vectors.
TEST(Crc, Crc32cIscsiVectors) {
  Bytes zeros(32, 0), ones(32, 0xFF), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<uint8_t>(i);
    dec[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(Crc32cUpdate(0, zeros), 0x8A9136AAu);
  EXPECT_EQ(Crc32cUpdate(0, ones), 0x62A8AB43u);
  EXPECT_EQ(Crc32cUpdate(0, inc), 0x46DD794Eu);
  EXPECT_EQ(Crc32cUpdate(0, dec), 0x113FDB5Cu);
}

TEST(Crc, OtherKnownValues) {
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(Crc32Update(0, AsBytes(fox)), 0x414FA339u);
  EXPECT_EQ(Crc32cUpdate(0, AsBytes(fox)), 0x22620404u);
  EXPECT_EQ(Crc32Update(0, AsBytes("a")), 0xE8B7BE43u);
  EXPECT_EQ(Crc32cUpdate(0, AsBytes("a")), 0xC1D04330u);
}

// Every length 0..300 and every start alignment 0..7 against the bit-wise definition (covers
// the unaligned head, the 8-byte body and the tail of the sliced and SSE4.2 loops).
TEST(Crc, MatchesReferenceAtAllLengthsAndAlignments) {
  std::mt19937_64 rng(1);
  Bytes buf = RandomBytes(rng, 320);
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len = 0; len + off <= 308; ++len) {
      ByteView v(buf.data() + off, len);
      ASSERT_EQ(Crc32Update(0, v), RefCrc32(0xEDB88320u, v)) << off << " " << len;
      ASSERT_EQ(Crc32cUpdate(0, v), RefCrc32(0x82F63B78u, v)) << off << " " << len;
      ASSERT_EQ(Crc64NvmeUpdate(0, v), RefCrc64(0x9A6C9329AC4BC9B5ull, v)) << off << " " << len;
    }
  }
}

TEST(Crc, IncrementalEqualsOneShotOverRandomSplits) {
  std::mt19937_64 rng(2);
  for (int round = 0; round < 200; ++round) {
    size_t n = rng() % 5000;
    Bytes data = RandomBytes(rng, n);
    uint32_t c32 = 0, c32c = 0;
    uint64_t c64 = 0;
    size_t pos = 0;
    while (pos < n) {
      size_t piece = std::min<size_t>(n - pos, rng() % 97);
      ByteView v(data.data() + pos, piece);
      c32 = Crc32Update(c32, v);
      c32c = Crc32cUpdate(c32c, v);
      c64 = Crc64NvmeUpdate(c64, v);
      pos += piece;
    }
    ASSERT_EQ(c32, Crc32Update(0, data));
    ASSERT_EQ(c32c, Crc32cUpdate(0, data));
    ASSERT_EQ(c64, Crc64NvmeUpdate(0, data));
  }
}

// Prints the throughput; the bound is loose so a loaded CI machine does not fail it, but a
// byte-at-a-time regression (~300 MB/s at -O2) would.
TEST(Crc, Throughput) {
  Bytes data(16 << 20, 0x5A);
  auto measure = [&](auto fn) {
    auto start = std::chrono::steady_clock::now();
    int rounds = 0;
    double secs = 0;
    do {
      fn();
      ++rounds;
      secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (secs < 0.2);
    return rounds * double(data.size()) / secs / 1e9;
  };
  volatile uint64_t sink = 0;
  double g32 = measure([&] { sink = sink + Crc32Update(0, data); });
  double g32c = measure([&] { sink = sink + Crc32cUpdate(0, data); });
  double g64 = measure([&] { sink = sink + Crc64NvmeUpdate(0, data); });
  std::printf("crc32 %.2f GB/s, crc32c %.2f GB/s, crc64nvme %.2f GB/s\n", g32, g32c, g64);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_GT(g32, 0.4);
  EXPECT_GT(g32c, 0.4);
#endif
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> kVectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},     {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    Bytes out = {1, 2, 3};
    ASSERT_TRUE(Base64Decode(encoded, &out)) << encoded;
    EXPECT_EQ(AsChars(out), plain);
  }
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  std::string enc = Base64Encode(all);
  EXPECT_EQ(enc.substr(0, 8), "AAECAwQF");
  EXPECT_EQ(enc.substr(enc.size() - 8), "/P3+/w==");
}

TEST(Base64, RoundTripsEveryLength) {
  std::mt19937_64 rng(3);
  for (size_t n = 0; n < 200; ++n) {
    Bytes data = RandomBytes(rng, n);
    std::string enc = Base64Encode(data);
    EXPECT_EQ(enc.size(), (n + 2) / 3 * 4);
    Bytes back;
    ASSERT_TRUE(Base64Decode(enc, &back)) << enc;
    EXPECT_EQ(back, data);
  }
}

TEST(Base64, StrictDecodeRejects) {
  const char* kBad[] = {
      "Zg",          // no padding
      "Zg=",         // short padding
      "Z===",        // three pad characters
      "====",        // only padding
      "=Zg=",        // padding first
      "Zg==Zg==",    // padding in the middle
      "Zm9v====",    // an extra block of padding
      "Zm=v",        // '=' not at the end
      "Zh==",        // non-zero bits under the padding
      "Zm9=",        // same, one pad character
      "Zm9v\n",      // white space
      " Zm9v",       //
      "Zm9 v",       //
      "Zm-v",        // URL-safe alphabet
      "Zm_v",        //
      "Zm9vY",       // not a multiple of four
      "Zm9v\x80\x80\x80\x80",
  };
  for (const char* bad : kBad) {
    std::string text = bad;
    Bytes out;
    EXPECT_FALSE(Base64Decode(text, &out)) << text;
  }
  std::string with_nul("Zm9v\0\0\0\0", 8);
  Bytes out;
  EXPECT_FALSE(Base64Decode(with_nul, &out));
}

TEST(ChecksumAlgorithmNames, ParseAndName) {
  EXPECT_EQ(ParseChecksumAlgorithm("crc32"), ChecksumAlgorithm::kCrc32);
  EXPECT_EQ(ParseChecksumAlgorithm("CRC32C"), ChecksumAlgorithm::kCrc32c);
  EXPECT_EQ(ParseChecksumAlgorithm("Crc64Nvme"), ChecksumAlgorithm::kCrc64Nvme);
  EXPECT_EQ(ParseChecksumAlgorithm("SHA1"), ChecksumAlgorithm::kSha1);
  EXPECT_EQ(ParseChecksumAlgorithm("sha256"), ChecksumAlgorithm::kSha256);
  EXPECT_EQ(ParseChecksumAlgorithm("md5"), std::nullopt);
  EXPECT_EQ(ParseChecksumAlgorithm(""), std::nullopt);
  EXPECT_EQ(ParseChecksumAlgorithm("crc64"), std::nullopt);
  EXPECT_EQ(ParseChecksumAlgorithm("sha256 "), std::nullopt);
  for (auto a : {ChecksumAlgorithm::kCrc32, ChecksumAlgorithm::kCrc32c,
                 ChecksumAlgorithm::kCrc64Nvme, ChecksumAlgorithm::kSha1,
                 ChecksumAlgorithm::kSha256}) {
    EXPECT_EQ(ParseChecksumAlgorithm(ChecksumName(a)), a);
  }
  EXPECT_EQ(ChecksumName(ChecksumAlgorithm::kCrc64Nvme), "crc64nvme");
}

TEST(Checksummer, KnownDigests) {
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kCrc32, kCheck)), "cbf43926");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kCrc32c, kCheck)), "e3069283");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kCrc64Nvme, kCheck)), "ae8b14860a799888");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kSha1, kCheck)),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kSha256, kCheck)),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kSha256, "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kSha256, "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kSha1, "abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Hex(DigestOf(ChecksumAlgorithm::kCrc32c, std::string(32, '\0'))), "8a9136aa");
}

// What the x-amz-checksum-* headers carry.
TEST(Checksummer, Base64HeaderValues) {
  auto b64 = [](ChecksumAlgorithm a, std::string_view data) {
    auto c = Checksummer::New(a);
    c->Update(AsBytes(data));
    return c->Base64();
  };
  EXPECT_EQ(b64(ChecksumAlgorithm::kCrc32, ""), "AAAAAA==");
  EXPECT_EQ(b64(ChecksumAlgorithm::kCrc32c, ""), "AAAAAA==");
  EXPECT_EQ(b64(ChecksumAlgorithm::kCrc64Nvme, ""), "AAAAAAAAAAA=");
  EXPECT_EQ(b64(ChecksumAlgorithm::kSha256, ""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  EXPECT_EQ(b64(ChecksumAlgorithm::kSha1, ""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  EXPECT_EQ(b64(ChecksumAlgorithm::kCrc32, kCheck), "y/Q5Jg==");
  EXPECT_EQ(b64(ChecksumAlgorithm::kCrc32c, kCheck), "4waSgw==");
}

TEST(Checksummer, DigestSizes) {
  EXPECT_EQ(DigestOf(ChecksumAlgorithm::kCrc32, "x").size(), 4u);
  EXPECT_EQ(DigestOf(ChecksumAlgorithm::kCrc32c, "x").size(), 4u);
  EXPECT_EQ(DigestOf(ChecksumAlgorithm::kCrc64Nvme, "x").size(), 8u);
  EXPECT_EQ(DigestOf(ChecksumAlgorithm::kSha1, "x").size(), 20u);
  EXPECT_EQ(DigestOf(ChecksumAlgorithm::kSha256, "x").size(), 32u);
}

TEST(Checksummer, IncrementalEqualsOneShot) {
  std::mt19937_64 rng(4);
  for (auto a : {ChecksumAlgorithm::kCrc32, ChecksumAlgorithm::kCrc32c,
                 ChecksumAlgorithm::kCrc64Nvme, ChecksumAlgorithm::kSha1,
                 ChecksumAlgorithm::kSha256}) {
    for (int round = 0; round < 20; ++round) {
      Bytes data = RandomBytes(rng, rng() % 3000);
      auto whole = Checksummer::New(a);
      whole->Update(data);
      auto pieces = Checksummer::New(a);
      size_t pos = 0;
      while (pos < data.size()) {
        size_t n = std::min<size_t>(data.size() - pos, rng() % 200);
        pieces->Update(ByteView(data.data() + pos, n));
        pos += n;
      }
      ASSERT_EQ(whole->Digest(), pieces->Digest()) << ChecksumName(a);
    }
  }
}

TEST(Md5, KnownValuesAndStreaming) {
  {
    Md5 m;
    EXPECT_EQ(Hex(m.Digest()), "d41d8cd98f00b204e9800998ecf8427e");
  }
  {
    Md5 m;
    m.Update(AsBytes("a"));
    m.Update(AsBytes(""));
    m.Update(AsBytes("bc"));
    EXPECT_EQ(Hex(m.Digest()), "900150983cd24fb0d6963f7d28e17f72");
  }
  {
    Md5 m;
    m.Update(AsBytes("The quick brown fox jumps over the lazy dog"));
    Bytes d = m.Digest();
    EXPECT_EQ(Hex(d), "9e107d9d372bb6826bd81d3542a419d6");
    EXPECT_EQ(Base64Encode(d), "nhB9nTcrtoJr2B01QqQZ1g==");  // a Content-MD5 value
  }
}

TEST(Sha256, StreamingMatchesSha256Of) {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 20; ++round) {
    Bytes data = RandomBytes(rng, rng() % 10000);
    Sha256 s;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = std::min<size_t>(data.size() - pos, rng() % 1000);
      s.Update(ByteView(data.data() + pos, n));
      pos += n;
    }
    EXPECT_EQ(s.Digest(), Sha256Of(data));
  }
  EXPECT_EQ(Hex(Sha256Of(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256Of({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// RFC 4231 test cases 1, 2, 6 and 7, plus empty key and message.
TEST(HmacSha256, Rfc4231) {
  EXPECT_EQ(Hex(HmacSha256(Bytes(20, 0x0b), AsBytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Hex(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(HmacSha256(Bytes(131, 0xaa),
                           AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(Hex(HmacSha256(Bytes(131, 0xaa),
                           AsBytes("This is a test using a larger than block-size key and a "
                                   "larger than block-size data. The key needs to be hashed "
                                   "before being used by the HMAC algorithm."))),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  EXPECT_EQ(Hex(HmacSha256({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace s3xfs::s3
