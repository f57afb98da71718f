// Reading UnixFS nodes, directories (basic and HAMT) and paths back from trees the builders made.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/directory.h"
#include "s3xfs/cas/unixfs.h"
#include "testutil.h"

namespace s3xfs {
namespace {

using Reason = Status::Reason;

DirEntry AddFile(MemoryBlockStore* store, const std::string& name, ByteView data,
                 const DagOptions& opt = DagOptions::KuboV1()) {
  auto r = ComputeFileRoot(data, opt, [&](const Cid& c, ByteView b, bool) { return store->Put(c, b); });
  EXPECT_TRUE(r.ok());
  return DirEntry{name, r->cid, r->dag_size};
}

DirRoot AddDir(MemoryBlockStore* store, std::vector<DirEntry> entries, int version = 1) {
  auto r = BuildDirectory(std::move(entries), version,
                          [&](const Block& b) { return store->Put(b.cid, b.data); });
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

Cid PutBlock(MemoryBlockStore* store, Codec codec, const Bytes& data, int version = 1) {
  Cid c = Cid::Compute(version, codec, data);
  EXPECT_TRUE(store->Put(c, data).ok());
  return c;
}

Cid PutPb(MemoryBlockStore* store, const PbNode& node) {
  return PutBlock(store, Codec::kDagPb, EncodePbNode(node));
}

std::string BigName(int i) {
  char buf[64];
  snprintf(buf, sizeof buf, "an-entry-with-a-long-enough-name-%05d", i);
  return buf;
}

// A directory of `n` entries named BigName(i), each a distinct small file; sharded when big.
struct BigDir {
  MemoryBlockStore store;
  std::map<std::string, Cid> files;
  DirRoot root;
  explicit BigDir(int n, int version = 1) {
    std::vector<DirEntry> entries;
    DagOptions opt = version == 1 ? DagOptions::KuboV1() : DagOptions::KuboV0();
    for (int i = 0; i < n; ++i) {
      std::string name = BigName(i);
      entries.push_back(AddFile(&store, name, AsBytes("content of " + name), opt));
      files[name] = entries.back().cid;
    }
    root = AddDir(&store, std::move(entries), version);
  }
};

std::map<std::string, DirEntry> ListAll(BlockSource* src, const Cid& dir, Status* st = nullptr) {
  std::map<std::string, DirEntry> out;
  Status s = ForEachDirectoryEntry(src, dir, [&](const DirEntry& e) {
    EXPECT_TRUE(out.emplace(e.name, e).second) << "entry twice: " << e.name;
    return Status::OK();
  });
  if (st) *st = s;
  else EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(Unixfs, StatKinds) {
  MemoryBlockStore store;
  DirEntry small = AddFile(&store, "small", AsBytes("hello world"));
  Bytes big_data = testing::ChaCha("unixfs-big", 3 * 262144 + 5);
  DirEntry big = AddFile(&store, "big", big_data);
  DirEntry v0 = AddFile(&store, "v0", big_data, DagOptions::KuboV0());

  PbNode link;
  UnixfsData fs;
  fs.type = UnixfsType::kSymlink;
  fs.data = ToBytes("../target/file");
  link.data = EncodeUnixfs(fs);
  Cid sym = PutPb(&store, link);
  Cid cbor = PutBlock(&store, Codec::kDagCbor, Bytes{0xa0});  // {}
  PbNode bare;  // dag-pb without UnixFS data
  bare.links.push_back(PbLink{small.cid, std::string("x"), 11});
  Cid nonfs = PutPb(&store, bare);
  DirRoot dir = AddDir(&store, {small, big, DirEntry{"link", sym, 0}});

  auto s = StatNode(&store, small.cid);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->kind, UnixfsKind::kRawLeaf);
  EXPECT_EQ(s->size, 11u);
  EXPECT_TRUE(s->is_file());
  EXPECT_TRUE(s->links.empty());

  auto b = StatNode(&store, big.cid);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->kind, UnixfsKind::kFile);
  EXPECT_EQ(b->size, big_data.size());
  EXPECT_EQ(b->links.size(), 4u);
  EXPECT_EQ(b->block_size, *store.Size(big.cid));

  auto o = StatNode(&store, v0.cid);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->kind, UnixfsKind::kFile);
  EXPECT_EQ(o->size, big_data.size());

  auto l = StatNode(&store, sym);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->kind, UnixfsKind::kSymlink);
  EXPECT_EQ(l->symlink_target, "../target/file");

  auto d = StatNode(&store, dir.cid);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, UnixfsKind::kDirectory);
  EXPECT_TRUE(d->is_directory());
  ASSERT_EQ(d->links.size(), 3u);
  EXPECT_EQ(*d->links[0].name, "big");

  EXPECT_EQ(StatNode(&store, cbor)->kind, UnixfsKind::kOther);
  EXPECT_EQ(StatNode(&store, nonfs)->kind, UnixfsKind::kOther);
  EXPECT_EQ(StatNode(&store, nonfs)->links.size(), 1u);

  // Missing blocks are the source's NotFound, not Corruption.
  Cid absent = Cid::Compute(1, Codec::kRaw, AsBytes("absent"));
  EXPECT_TRUE(StatNode(&store, absent).status().IsNotFound());
}

TEST(Unixfs, FileWhoseFilesizeLiesIsCorrupt) {
  MemoryBlockStore store;
  PbNode n;
  UnixfsData fs;
  fs.type = UnixfsType::kFile;
  fs.data = ToBytes("abc");
  fs.filesize = 4;
  n.data = EncodeUnixfs(fs);
  EXPECT_TRUE(StatNode(&store, PutPb(&store, n)).status().IsCorruption());
  fs.filesize = 3;
  n.data = EncodeUnixfs(fs);
  EXPECT_EQ(StatNode(&store, PutPb(&store, n))->size, 3u);
  // Links without blocksizes.
  DirEntry f = AddFile(&store, "f", AsBytes("x"));
  n.links.push_back(PbLink{f.cid, std::string(), 1});
  EXPECT_TRUE(StatNode(&store, PutPb(&store, n)).status().IsCorruption());
}

TEST(Unixfs, BasicDirectoryEntriesInNameOrder) {
  MemoryBlockStore store;
  std::vector<DirEntry> in = {AddFile(&store, "b", AsBytes("1")), AddFile(&store, "a", AsBytes("2")),
                              AddFile(&store, "B", AsBytes("3")), AddFile(&store, "\xc3\xa9", AsBytes("4"))};
  DirRoot dir = AddDir(&store, in);
  ASSERT_FALSE(dir.sharded);
  std::vector<std::string> names;
  ASSERT_TRUE(ForEachDirectoryEntry(&store, dir.cid, [&](const DirEntry& e) {
    names.push_back(e.name);
    for (const DirEntry& x : in)
      if (x.name == e.name) {
        EXPECT_EQ(x.cid, e.cid);
        EXPECT_EQ(x.tsize, e.tsize);
      }
    return Status::OK();
  }).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"B", "a", "b", "\xc3\xa9"}));

  auto hit = LookupEntry(&store, dir.cid, "a");
  ASSERT_TRUE(hit.ok());
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ((*hit)->cid, in[1].cid);
  auto miss = LookupEntry(&store, dir.cid, "c");
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());

  // The empty directory, and a callback error stops the walk.
  DirRoot empty = AddDir(&store, {});
  EXPECT_TRUE(ListAll(&store, empty.cid).empty());
  int calls = 0;
  Status st = ForEachDirectoryEntry(&store, dir.cid, [&](const DirEntry&) {
    ++calls;
    return Status::Internal("stop");
  });
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  EXPECT_EQ(calls, 1);
}

TEST(Unixfs, NotADirectory) {
  MemoryBlockStore store;
  DirEntry f = AddFile(&store, "f", AsBytes("data"));
  Status st = ForEachDirectoryEntry(&store, f.cid, [](const DirEntry&) { return Status::OK(); });
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.reason(), Reason::kNotDirectory);
  auto r = LookupEntry(&store, f.cid, "x");
  EXPECT_EQ(r.status().reason(), Reason::kNotDirectory);
}

class HamtTest : public ::testing::TestWithParam<int> {};

TEST_P(HamtTest, FiveThousandEntriesAllFoundByWalkAndLookup) {
  BigDir d(5000, GetParam());
  ASSERT_TRUE(d.root.sharded);
  EXPECT_EQ(StatNode(&d.store, d.root.cid)->kind, UnixfsKind::kHamtShard);

  auto all = ListAll(&d.store, d.root.cid);
  ASSERT_EQ(all.size(), 5000u);
  for (const auto& [name, cid] : d.files) {
    ASSERT_TRUE(all.count(name)) << name;
    EXPECT_EQ(all[name].cid, cid);
    EXPECT_GT(all[name].tsize, 0u);
  }

  // Every lookup finds its entry and reads only the shards on its hash path.
  const uint64_t total_blocks = d.store.block_count();
  size_t max_visited = 0;
  for (int i = 0; i < 5000; i += 7) {
    std::string name = BigName(i);
    std::vector<Cid> visited;
    uint64_t gets = d.store.counters().gets;
    auto r = LookupEntry(&d.store, d.root.cid, name, &visited);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->has_value()) << name;
    EXPECT_EQ((*r)->cid, d.files[name]);
    EXPECT_EQ((*r)->name, name);
    ASSERT_GE(visited.size(), 2u);  // 5000 entries over 256 buckets: always a sub-shard
    EXPECT_EQ(visited[0], d.root.cid);
    EXPECT_EQ(d.store.counters().gets - gets, visited.size());
    max_visited = std::max(max_visited, visited.size());
  }
  EXPECT_LE(max_visited, 4u);
  EXPECT_LT(max_visited, total_blocks);

  // Missing names: absent bucket, or a bucket held by another name.
  for (const char* miss : {"nope", "an-entry-with-a-long-enough-name-05000", "", "x/y"}) {
    auto r = LookupEntry(&d.store, d.root.cid, miss);
    ASSERT_TRUE(r.ok()) << miss << ": " << r.status().ToString();
    EXPECT_FALSE(r->has_value()) << miss;
  }
}

INSTANTIATE_TEST_SUITE_P(CidVersions, HamtTest, ::testing::Values(1, 0));

// Rewrites the root shard of `d` with `edit` applied to its decoded node; returns the new CID.
Cid EditRoot(BigDir& d, const std::function<void(PbNode&, UnixfsData&)>& edit) {
  auto block = d.store.Get(d.root.cid);
  PbNode n = *DecodePbNode(*block);
  UnixfsData fs = *DecodeUnixfs(*n.data);
  edit(n, fs);
  n.data = EncodeUnixfs(fs);
  return PutPb(&d.store, n);
}

Status Walk(BlockSource* src, const Cid& dir) {
  return ForEachDirectoryEntry(src, dir, [](const DirEntry&) { return Status::OK(); });
}

TEST(Unixfs, MalformedHamtIsCorruption) {
  BigDir d(5000);
  ASSERT_TRUE(d.root.sharded);
  const std::string probe = BigName(42);

  // A link dropped but its bit kept.
  Cid dropped = EditRoot(d, [](PbNode& n, UnixfsData&) { n.links.pop_back(); });
  EXPECT_TRUE(Walk(&d.store, dropped).IsCorruption());
  EXPECT_TRUE(LookupEntry(&d.store, dropped, probe).status().IsCorruption());

  // Two links swapped: labels no longer ascend with the bitfield.
  Cid swapped = EditRoot(d, [](PbNode& n, UnixfsData&) { std::swap(n.links[0], n.links[1]); });
  EXPECT_TRUE(Walk(&d.store, swapped).IsCorruption());

  // A wrong hash type is not supported; a fanout that is not a power of two is corrupt.
  Cid hashtype = EditRoot(d, [](PbNode&, UnixfsData& fs) { fs.hash_type = 0x23; });
  EXPECT_EQ(Walk(&d.store, hashtype).code(), Status::Code::kNotSupported);
  Cid fanout = EditRoot(d, [](PbNode&, UnixfsData& fs) { fs.fanout = 100; });
  EXPECT_TRUE(Walk(&d.store, fanout).IsCorruption());

  // An entry placed in a bucket its hash does not select (a 2-entry shard with labels swapped).
  MemoryBlockStore& s = d.store;
  DirEntry a = AddFile(&s, "a", AsBytes("a"));
  uint64_t ha = Murmur3X64_64(AsBytes("a"));
  int right = static_cast<int>(ha >> 56), wrong = (right + 1) % 256;
  PbNode shard;
  char label[3];
  snprintf(label, sizeof label, "%02X", wrong);
  shard.links.push_back(PbLink{a.cid, std::string(label) + "a", 1});
  UnixfsData fs;
  fs.type = UnixfsType::kHamtShard;
  fs.hash_type = 0x22;
  fs.fanout = 256;
  Bytes bitmap(32, 0);
  bitmap[31 - wrong / 8] |= static_cast<uint8_t>(1u << (wrong % 8));
  fs.data = bitmap;
  shard.data = EncodeUnixfs(fs);
  Cid misplaced = PutPb(&s, shard);
  EXPECT_TRUE(Walk(&s, misplaced).IsCorruption());
  // A lookup goes to the right bucket and does not find it there.
  EXPECT_FALSE(LookupEntry(&s, misplaced, "a")->has_value());

  // A sub-shard link that points at a file.
  Cid to_file = EditRoot(d, [&](PbNode& n, UnixfsData&) {
    for (PbLink& l : n.links)
      if (l.name->size() == 2) {
        l.hash = a.cid;
        break;
      }
  });
  EXPECT_TRUE(Walk(&d.store, to_file).IsCorruption());

  // A basic directory link without a name, and one named "..".
  PbNode dir;
  UnixfsData dfs;
  dfs.type = UnixfsType::kDirectory;
  dir.data = EncodeUnixfs(dfs);
  dir.links.push_back(PbLink{a.cid, std::nullopt, 1});
  EXPECT_TRUE(Walk(&s, PutPb(&s, dir)).IsCorruption());
  dir.links[0].name = "..";
  EXPECT_TRUE(Walk(&s, PutPb(&s, dir)).IsCorruption());
  dir.links[0].name = "a";
  dir.links.push_back(PbLink{a.cid, std::string("a"), 1});
  EXPECT_TRUE(Walk(&s, PutPb(&s, dir)).IsCorruption());  // duplicate
}

TEST(Unixfs, CorruptOrMissingShardBlocks) {
  BigDir d(5000);
  std::vector<Cid> visited;
  const std::string name = BigName(1234);
  ASSERT_TRUE(LookupEntry(&d.store, d.root.cid, name, &visited)->has_value());
  const Cid sub = visited[1];
  ASSERT_TRUE(d.store.CorruptForTest(sub, 3));
  EXPECT_TRUE(Walk(&d.store, d.root.cid).IsCorruption());
  EXPECT_TRUE(LookupEntry(&d.store, d.root.cid, name).status().IsCorruption());
  ASSERT_TRUE(d.store.Delete(sub).ok());
  EXPECT_TRUE(Walk(&d.store, d.root.cid).IsNotFound());
  EXPECT_TRUE(LookupEntry(&d.store, d.root.cid, name).status().IsNotFound());
  // Names on other paths are still found.
  int found = 0;
  for (int i = 0; i < 50; ++i) {
    auto r = LookupEntry(&d.store, d.root.cid, BigName(i));
    if (r.ok() && r->has_value()) ++found;
  }
  EXPECT_GT(found, 40);
}

TEST(Unixfs, ResolvePathThroughBasicAndHamtDirectories) {
  BigDir d(5000);
  MemoryBlockStore& s = d.store;
  DirEntry hello = AddFile(&s, "hello.txt", AsBytes("hello world"));
  DirRoot docs = AddDir(&s, {hello});
  DirRoot top = AddDir(&s, {DirEntry{"docs", docs.cid, docs.tsize},
                            DirEntry{"big", d.root.cid, d.root.tsize}, hello});

  auto r = ResolvePath(&s, top.cid, "docs/hello.txt");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->cid, hello.cid);
  EXPECT_EQ(r->path_blocks, (std::vector<Cid>{top.cid, docs.cid}));
  EXPECT_EQ(r->segments, (std::vector<Cid>{top.cid, docs.cid, hello.cid}));

  for (std::string_view p : {"", "/", "//"}) {
    auto e = ResolvePath(&s, top.cid, p);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->cid, top.cid);
    EXPECT_TRUE(e->path_blocks.empty());
    EXPECT_EQ(e->segments, std::vector<Cid>{top.cid});
  }
  auto slashes = ResolvePath(&s, top.cid, "/docs//hello.txt/");
  ASSERT_TRUE(slashes.ok());
  EXPECT_EQ(slashes->cid, hello.cid);

  const std::string name = BigName(4321);
  auto h = ResolvePath(&s, top.cid, "big/" + name);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->cid, d.files[name]);
  ASSERT_GE(h->path_blocks.size(), 3u);  // top, the HAMT root, at least one sub-shard
  EXPECT_EQ(h->path_blocks[0], top.cid);
  EXPECT_EQ(h->path_blocks[1], d.root.cid);
  EXPECT_EQ(h->segments, (std::vector<Cid>{top.cid, d.root.cid, d.files[name]}));
  for (size_t i = 2; i < h->path_blocks.size(); ++i)
    EXPECT_EQ(StatNode(&s, h->path_blocks[i])->kind, UnixfsKind::kHamtShard);

  auto missing = ResolvePath(&s, top.cid, "docs/nope.txt");
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_EQ(missing.status().reason(), Reason::kNoSuchKey);
  EXPECT_NE(missing.status().message().find("docs/nope.txt"), std::string::npos);
  EXPECT_TRUE(ResolvePath(&s, top.cid, "big/nope").status().IsNotFound());

  auto through_file = ResolvePath(&s, top.cid, "hello.txt/x");
  EXPECT_EQ(through_file.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(through_file.status().reason(), Reason::kNotDirectory);

  EXPECT_EQ(ResolvePath(&s, top.cid, "docs/../big").status().code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace s3xfs
