#include <gtest/gtest.h>

#include "s3xfs/cas/multibase.h"
#include "s3xfs/cas/varint.h"

namespace s3xfs {
namespace {

TEST(Varint, RoundTripsBoundaries) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 16383ull, 16384ull, 0xffffffffull,
                     0x7fffffffffffffffull, 0xffffffffffffffffull}) {
    Bytes b;
    AppendVarint(&b, v);
    EXPECT_EQ(b.size(), VarintLength(v));
    ByteView in(b);
    uint64_t got = 0;
    ASSERT_TRUE(ReadVarint(&in, &got)) << v;
    EXPECT_EQ(got, v);
    EXPECT_TRUE(in.empty());
  }
}

TEST(Varint, KnownEncodings) {
  Bytes b;
  AppendVarint(&b, 262144);
  EXPECT_EQ(HexEncode(b), "808010");  // as in the 2-chunk root block example
  b.clear();
  AppendVarint(&b, 300);
  EXPECT_EQ(HexEncode(b), "ac02");
}

TEST(Varint, RejectsTruncatedOverlongAndNonMinimal) {
  uint64_t v;
  Bytes trunc{0x80, 0x80};
  ByteView t(trunc);
  EXPECT_FALSE(ReadVarint(&t, &v));
  Bytes nonmin{0x81, 0x00};
  ByteView n(nonmin);
  EXPECT_FALSE(ReadVarint(&n, &v));
  ByteView n2(nonmin);
  EXPECT_TRUE(ReadVarint(&n2, &v, /*minimal=*/false));
  EXPECT_EQ(v, 1u);
  Bytes overflow(10, 0xff);
  overflow.push_back(0x01);
  ByteView o(overflow);
  EXPECT_FALSE(ReadVarint(&o, &v));
}

TEST(Multibase, Base32Rfc4648Vectors) {
  // RFC 4648 section 10, lower case, no padding.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "my"}, {"fo", "mzxq"}, {"foo", "mzxw6"}, {"foob", "mzxw6yq"},
      {"fooba", "mzxw6ytb"}, {"foobar", "mzxw6ytboi"}};
  for (auto [in, out] : vectors) {
    EXPECT_EQ(Base32Encode(AsBytes(in)), out);
    Bytes back;
    ASSERT_TRUE(Base32Decode(out, &back));
    EXPECT_EQ(AsChars(back), in);
  }
  Bytes x;
  EXPECT_FALSE(Base32Decode("m", &x));        // impossible length
  EXPECT_FALSE(Base32Decode("mzxw6!", &x));   // bad character
  EXPECT_FALSE(Base32Decode("mz", &x));  // non-zero pad bits: not canonical
  EXPECT_TRUE(Base32Decode("my", &x));
}

TEST(Multibase, Base58btcVectors) {
  EXPECT_EQ(Base58btcEncode(AsBytes("hello world")), "StV1DL6CwTryKyV");
  Bytes lead{0, 0, 1};
  EXPECT_EQ(Base58btcEncode(lead), "112");
  Bytes back;
  ASSERT_TRUE(Base58btcDecode("112", &back));
  EXPECT_EQ(back, lead);
  EXPECT_FALSE(Base58btcDecode("0OIl", &back));
}

}  // namespace
}  // namespace s3xfs
