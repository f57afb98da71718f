#include <gtest/gtest.h>

#include <random>

#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/directory.h"
#include "testutil.h"

namespace s3xfs {
namespace {

constexpr size_t kChunk = 262144;

std::string RootOf(ByteView data, const DagOptions& opt) {
  auto r = ComputeFileRoot(data, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->cid.ToString() : "";
}

// Published vectors from IPFS_FORMATS.md (Kubo fixtures).
TEST(DagBuilder, SmallFixedVectors) {
  EXPECT_EQ(RootOf({}, DagOptions::KuboV1()),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  EXPECT_EQ(RootOf({}, DagOptions::KuboV0()), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  EXPECT_EQ(RootOf(AsBytes("hello world"), DagOptions::KuboV1()),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  EXPECT_EQ(RootOf(AsBytes("hello world"), DagOptions::KuboV0()),
            "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD");
}

TEST(DagBuilder, ChaChaV0Vectors) {
  Bytes one = testing::ChaCha("chunk-v0-seed", kChunk + 1);
  EXPECT_EQ(RootOf(ByteView(one).first(kChunk), DagOptions::KuboV0()),
            "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE");
  EXPECT_EQ(RootOf(one, DagOptions::KuboV0()), "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ");
  Bytes big = testing::ChaCha("v0-seed", 174 * kChunk + 1);
  EXPECT_EQ(RootOf(ByteView(big).first(174 * kChunk), DagOptions::KuboV0()),
            "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2");
  EXPECT_EQ(RootOf(big, DagOptions::KuboV0()), "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW");
}

TEST(DagBuilder, DirectoryVectors) {
  auto empty = BuildBasicDirectory({}, 1);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->cid.ToString(), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
  EXPECT_EQ(BuildBasicDirectory({}, 0)->cid.ToString(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  auto hello = ComputeFileRoot(AsBytes("hello world"));
  auto dir = BuildBasicDirectory({{"hello.txt", hello->cid, hello->dag_size}}, 1);
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->cid.ToString(), "bafybeic6svhkwl3y2wvkj33weshyjjs5cbvgijh7yo3kjasyglrdwe2l74");
}

TEST(DagBuilder, DirectoryRejectsBadNamesAndSortsBytewise) {
  Cid c = Cid::Compute(1, Codec::kRaw, {});
  EXPECT_FALSE(BuildBasicDirectory({{"a/b", c, 0}}).ok());
  EXPECT_FALSE(BuildBasicDirectory({{"..", c, 0}}).ok());
  EXPECT_FALSE(BuildBasicDirectory({{"", c, 0}}).ok());
  EXPECT_FALSE(BuildBasicDirectory({{"x", c, 0}, {"x", c, 0}}).ok());
  auto d = BuildBasicDirectory({{"b", c, 0}, {"B", c, 0}, {"\xc3\xa9", c, 0}, {"a", c, 0}});
  ASSERT_TRUE(d.ok());
  auto node = DecodePbNode(d->data);
  ASSERT_TRUE(node.ok());
  std::vector<std::string> names;
  for (auto& l : node->links) names.push_back(*l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"B", "a", "b", "\xc3\xa9"}));
}

// Splitting the input into arbitrary pieces must not change anything.
TEST(DagBuilder, StreamingInRandomPiecesGivesTheSameRoot) {
  Bytes data = testing::ChaCha("pieces", 3 * kChunk + 12345);
  for (const DagOptions& opt : {DagOptions::KuboV1(), DagOptions::KuboV0()}) {
    std::string whole = RootOf(data, opt);
    std::mt19937 rng(7);
    for (int round = 0; round < 3; ++round) {
      DagBuilder b(opt, nullptr);
      size_t pos = 0;
      while (pos < data.size()) {
        size_t n = std::min<size_t>(data.size() - pos, rng() % (kChunk + 7) + 1);
        ASSERT_TRUE(b.Write(ByteView(data).subspan(pos, n)).ok());
        pos += n;
      }
      auto r = b.Finish();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->cid.ToString(), whole);
      EXPECT_EQ(r->file_size, data.size());
    }
  }
}

// Tree shape with a small fan-out: 2 links per node makes the balanced rules visible.
TEST(DagBuilder, BalancedLayoutShape) {
  DagOptions opt;
  opt.chunk_size = 4;
  opt.max_links = 3;
  // 10 chunks with fan-out 3: depth 3 (27 >= 10 > 9), root has ceil(10/9) = 2 children.
  Bytes data = testing::ChaCha("shape", 40);
  std::vector<std::pair<Cid, Bytes>> interior;
  int leaves = 0;
  auto r = ComputeFileRoot(data, opt, [&](const Cid& c, ByteView b, bool leaf) {
    if (leaf) ++leaves;
    else interior.emplace_back(c, Bytes(b.begin(), b.end()));
    return Status::OK();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(leaves, 10);
  // Interior nodes: level1 = 4 (3,3,3,1), level2 = 2 (3,1), root = 1.
  ASSERT_EQ(interior.size(), 7u);
  EXPECT_EQ(interior.back().first, r->cid);  // parents after children: root last
  auto root = DecodePbNode(interior.back().second);
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(root->links.size(), 2u);
  auto fs = DecodeUnixfs(*root->data);
  EXPECT_EQ(fs->filesize, 40u);
  EXPECT_EQ(fs->blocksizes, (std::vector<uint64_t>{36, 4}));
  // The last subtree is a chain of single-child nodes down to the 10th leaf.
  auto second = std::find_if(interior.begin(), interior.end(),
                             [&](auto& p) { return p.first == root->links[1].hash; });
  ASSERT_NE(second, interior.end());
  EXPECT_EQ(DecodePbNode(second->second)->links.size(), 1u);
}

// Leaves added by reference build the same DAG as the bytes they came from.
TEST(DagBuilder, AddLeafMatchesWrite) {
  Bytes data = testing::ChaCha("addleaf", 5 * kChunk + 77);
  std::vector<LeafInfo> leaves;
  auto whole = ComputeFileRoot(data, DagOptions::KuboV1(), [&](const Cid& c, ByteView b, bool leaf) {
    if (leaf) leaves.push_back(LeafInfo{c, b.size(), b.size()});
    return Status::OK();
  });
  ASSERT_TRUE(whole.ok());
  DagBuilder b(DagOptions::KuboV1(), nullptr);
  // Mixed: first two leaves by reference, the rest as bytes.
  ASSERT_TRUE(b.AddLeaf(leaves[0]).ok());
  ASSERT_TRUE(b.AddLeaf(leaves[1]).ok());
  ASSERT_TRUE(b.Write(ByteView(data).subspan(2 * kChunk)).ok());
  auto r = b.Finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cid, whole->cid);
  EXPECT_EQ(r->dag_size, whole->dag_size);

  DagBuilder partial(DagOptions::KuboV1(), nullptr);
  ASSERT_TRUE(partial.Write(AsBytes("x")).ok());
  EXPECT_FALSE(partial.AddLeaf(leaves[0]).ok());  // a partial chunk is pending
}

TEST(DagBuilder, SinkErrorAbortsTheBuild) {
  Bytes data = testing::ChaCha("sinkerr", 3 * kChunk);
  int calls = 0;
  DagBuilder b(DagOptions::KuboV1(), [&](const Cid&, ByteView, bool) {
    return ++calls == 2 ? Status::IOError("disk full") : Status::OK();
  });
  Status s = b.Write(data);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(calls, 2);
}

TEST(DagBuilder, DagPbLeavesV1) {
  // ipfs add --cid-version=1 --raw-leaves=false of "hello world": a dag-pb leaf, CIDv1.
  auto r = ComputeFileRoot(AsBytes("hello world"), DagOptions::V1DagPbLeaves());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cid.codec(), Codec::kDagPb);
  EXPECT_EQ(r->cid.version(), 1);
  // Same block as the CIDv0 form, so same multihash.
  auto v0 = ComputeFileRoot(AsBytes("hello world"), DagOptions::KuboV0());
  EXPECT_EQ(r->cid.WithCodecV1(Codec::kDagPb), v0->cid.WithCodecV1(Codec::kDagPb));
}

}  // namespace
}  // namespace s3xfs
