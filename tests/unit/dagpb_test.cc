#include <gtest/gtest.h>

#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dagpb.h"
#include "testutil.h"

namespace s3xfs {
namespace {

TEST(Unixfs, DirectoryDataIsExactly0801) {
  UnixfsData d;
  d.type = UnixfsType::kDirectory;
  EXPECT_EQ(HexEncode(EncodeUnixfs(d)), "0801");
}

TEST(Unixfs, RoundTripsEveryField) {
  UnixfsData d;
  d.type = UnixfsType::kFile;
  d.data = ToBytes("abc");
  d.filesize = 307200;
  d.blocksizes = {262144, 45056};
  d.hash_type = 0x22;
  d.fanout = 256;
  d.mode = 0644;
  d.mtime = UnixfsTime{1700000000, 5};
  auto back = DecodeUnixfs(EncodeUnixfs(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->type, d.type);
  EXPECT_EQ(back->data, d.data);
  EXPECT_EQ(back->filesize, d.filesize);
  EXPECT_EQ(back->blocksizes, d.blocksizes);
  EXPECT_EQ(back->hash_type, d.hash_type);
  EXPECT_EQ(back->fanout, d.fanout);
  EXPECT_EQ(back->mode, d.mode);
  ASSERT_TRUE(back->mtime.has_value());
  EXPECT_EQ(back->mtime->seconds, 1700000000);
  EXPECT_EQ(back->mtime->nanos, 5u);
}

TEST(Unixfs, AcceptsPackedBlocksizesAndRejectsGarbage) {
  // Type=File, blocksizes packed [1, 2]
  Bytes packed{0x08, 0x02, 0x22, 0x02, 0x01, 0x02};
  auto d = DecodeUnixfs(packed);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->blocksizes, (std::vector<uint64_t>{1, 2}));
  EXPECT_FALSE(DecodeUnixfs(Bytes{0x08}).ok());           // truncated
  EXPECT_FALSE(DecodeUnixfs(Bytes{0x18, 0x01}).ok());     // no Type
  EXPECT_FALSE(DecodeUnixfs(Bytes{0x08, 0x09}).ok());     // unknown Type
}

// The annotated 2-chunk example of IPFS_FORMATS.md: a 307200-byte file, root block 108 bytes.
TEST(DagPb, TwoChunkRootMatchesTheAnnotatedBytes) {
  Bytes data = testing::ChaCha("two-chunks", 307200);
  Bytes root_block;
  auto root = ComputeFileRoot(data, DagOptions::KuboV1(), [&](const Cid&, ByteView b, bool leaf) {
    if (!leaf) root_block.assign(b.begin(), b.end());
    return Status::OK();
  });
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(root_block.size(), 108u);
  std::string hex = HexEncode(root_block);
  // link 0: 12 2c 0a 24 01 55 12 20 <32> 12 00 18 80 80 10
  EXPECT_EQ(hex.substr(0, 16), "122c0a2401551220");
  EXPECT_EQ(hex.substr(80, 12), "120018808010");
  // link 1 ends with Tsize 45056 = 80 e0 02
  EXPECT_EQ(hex.substr(92, 16), "122c0a2401551220");
  EXPECT_EQ(hex.substr(172, 12), "12001880e002");
  EXPECT_EQ(hex.substr(184), "0a0e08021880e012208080102080e002");
  auto node = DecodePbNode(root_block);
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->links.size(), 2u);
  EXPECT_EQ(node->links[0].name, std::string());
  EXPECT_EQ(node->links[1].tsize, 45056u);
  EXPECT_EQ(EncodePbNode(*node), root_block);  // decode/encode is lossless
  EXPECT_EQ(root->file_size, 307200u);
  EXPECT_EQ(root->dag_size, 108u + 307200u);
}

TEST(DagPb, RejectsMalformedBlocks) {
  EXPECT_FALSE(DecodePbNode(Bytes{0x12, 0x05, 0x0a}).ok());        // truncated link
  EXPECT_FALSE(DecodePbNode(Bytes{0x12, 0x02, 0x18, 0x01}).ok());  // link without hash
  EXPECT_FALSE(DecodePbNode(Bytes{0x1a, 0x00}).ok());              // unknown field 3
  EXPECT_TRUE(DecodePbNode(Bytes{}).ok());                         // the empty node is valid
}

}  // namespace
}  // namespace s3xfs
