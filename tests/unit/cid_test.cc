#include <gtest/gtest.h>

#include "s3xfs/cas/cid.h"

namespace s3xfs {
namespace {

TEST(Cid, ComputesKnownRawCids) {
  EXPECT_EQ(Cid::Compute(1, Codec::kRaw, {}).ToString(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  EXPECT_EQ(Cid::Compute(1, Codec::kRaw, AsBytes("hello world")).ToString(),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
}

TEST(Cid, ParsesAndFormatsBothVersions) {
  for (const char* text : {"bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
                           "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",
                           "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"}) {
    auto c = Cid::Parse(text);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->ToString(), text);
    auto b = Cid::FromBinary(c->binary());
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(*b, *c);
  }
  auto v0 = Cid::Parse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  EXPECT_EQ(v0->version(), 0);
  EXPECT_EQ(v0->codec(), Codec::kDagPb);
  EXPECT_EQ(v0->binary().size(), 34u);
  auto raw = Cid::Parse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  EXPECT_EQ(raw->version(), 1);
  EXPECT_EQ(raw->codec(), Codec::kRaw);
  EXPECT_EQ(raw->binary().size(), 36u);
}

TEST(Cid, AcceptsOtherMultibasesAndUpperCase) {
  auto c = Cid::Parse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  std::string upper = "BAFKREIFZJUT3TE2NHYEKKLSS27NH3K72YSCO7Y32KOAO5EEI66WOF36N5E";
  EXPECT_EQ(*Cid::Parse(upper), *c);
  EXPECT_EQ(*Cid::Parse("f" + HexEncode(c->binary())), *c);
  // Same multihash as dag-pb v1 and v0 conversion keeps the multihash.
  auto v0 = Cid::Parse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  Cid v1 = v0->WithCodecV1(Codec::kDagPb);
  EXPECT_EQ(v1.ToString(), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
}

TEST(Cid, RejectsBadText) {
  for (const char* bad : {"", "x", "notacid", "bafy", "Qm123", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5", "zzzz"}) {
    auto c = Cid::Parse(bad);
    EXPECT_FALSE(c.ok()) << bad;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
    }
  }
}

TEST(Cid, VerifyDetectsMismatchAndNamesTheCid) {
  Cid c = Cid::Compute(1, Codec::kRaw, AsBytes("hello world"));
  EXPECT_TRUE(c.Verify(AsBytes("hello world")).ok());
  Status s = c.Verify(AsBytes("hello worle"));
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find(c.ToString()), std::string::npos);
}

TEST(Cid, OrderingAndHashUseBinaryForm) {
  Cid a = Cid::Compute(1, Codec::kRaw, AsBytes("a"));
  Cid b = Cid::Compute(1, Codec::kRaw, AsBytes("b"));
  EXPECT_NE(a, b);
  EXPECT_EQ(a, Cid::Compute(1, Codec::kRaw, AsBytes("a")));
  EXPECT_EQ(CidHash()(a), CidHash()(Cid::Compute(1, Codec::kRaw, AsBytes("a"))));
  EXPECT_TRUE((a < b) != (b < a));
}

}  // namespace
}  // namespace s3xfs
