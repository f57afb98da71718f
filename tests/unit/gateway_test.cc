// The IPFS gateway on the S3 service (gateway.h): routing, who may use it, and the shape of its
// raw, CAR and deserialized replies, over an in-memory core without a socket.
#include "s3xfs/s3/gateway.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "s3xfs/blockstore/faulty.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/cas/directory.h"
#include "s3xfs/cas/unixfs.h"
#include "s3xfs/s3/router.h"
#include "s3_fixture.h"
#include "testutil.h"

namespace s3xfs::s3 {
namespace {

using ::testing::HasSubstr;

const std::string kHelloCid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";

Result<Route> RouteOf(std::string method, std::string target, bool gateway,
                      std::string host = "127.0.0.1:9000", std::string domain = "") {
  RequestHead h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.headers.Add("host", host);
  auto q = ParseQuery(SplitRequestTarget(h.target).raw_query).value();
  RouterOptions ro;
  ro.domain = std::move(domain);
  ro.gateway = gateway;
  return RouteRequest(h, q, ro);
}

TEST(GatewayRouting, OnlyIpfsSlashCidIsTheGateway) {
  for (const char* t : {"/ipfs/bafkqaaa", "/ipfs/bafkqaaa/", "/ipfs/bafkqaaa/a/b?format=car",
                        "/ipfs/QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn/x"}) {
    for (const char* m : {"GET", "HEAD"}) {
      auto r = RouteOf(m, t, true);
      ASSERT_TRUE(r.ok()) << t;
      EXPECT_EQ(r->op, S3Op::kIpfsGateway) << t;
      EXPECT_TRUE(r->bucket.empty());
    }
    // Other methods on a gateway path are refused, not sent to the bucket "ipfs".
    auto put = RouteOf("PUT", t, true);
    EXPECT_EQ(put.status().reason(), Status::Reason::kMethodNotAllowed) << t;
  }
  // Not a CID: the bucket "ipfs" as always.
  auto plain = RouteOf("GET", "/ipfs/notacid", true);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->op, S3Op::kGetObject);
  EXPECT_EQ(plain->bucket, "ipfs");
  auto list = RouteOf("GET", "/ipfs", true);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->op, S3Op::kListObjectsV1);
  // Gateway off: /ipfs/CID is the object CID of the bucket ipfs.
  auto off = RouteOf("GET", "/ipfs/bafkqaaa", false);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->op, S3Op::kGetObject);
  EXPECT_EQ(off->key, "bafkqaaa");
  // Virtual-host style is not affected: bucket "ipfs", key "ipfs/CID".
  auto vhost = RouteOf("GET", "/ipfs/bafkqaaa", true, "ipfs.s3.test", "s3.test");
  ASSERT_TRUE(vhost.ok());
  EXPECT_EQ(vhost->op, S3Op::kGetObject);
  EXPECT_EQ(vhost->bucket, "ipfs");
  EXPECT_EQ(OpName(S3Op::kIpfsGateway), "IpfsGateway");
  EXPECT_TRUE(IsGatewayPath("/ipfs/" + kHelloCid + "/x"));
  EXPECT_FALSE(IsGatewayPath("/ipfs/"));
  EXPECT_FALSE(IsGatewayPath("/ipfsx/" + kHelloCid));
}

TEST(GatewayMode, ParseAndName) {
  for (auto m : {GatewayMode::kOff, GatewayMode::kSigned, GatewayMode::kPublic})
    EXPECT_EQ(*ParseGatewayMode(GatewayModeName(m)), m);
  EXPECT_FALSE(ParseGatewayMode("yes").ok());
}

// ---- over the service ----

struct CarContents {
  std::vector<Cid> roots;
  std::vector<Block> blocks;
};

CarContents ReadCar(const std::string& car) {
  CarContents out;
  size_t pos = 0;
  CarReader reader([&](uint8_t* buf, size_t n) -> Result<size_t> {
    size_t k = std::min(n, car.size() - pos);
    std::memcpy(buf, car.data() + pos, k);
    pos += k;
    return k;
  });
  auto roots = reader.ReadHeader();
  EXPECT_TRUE(roots.ok()) << roots.status().ToString();
  if (!roots.ok()) return out;
  out.roots = *roots;
  for (;;) {
    auto b = reader.Next();  // verifies every block against its CID
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok() || !b->has_value()) break;
    out.blocks.push_back(std::move(**b));
  }
  return out;
}

class GatewayTest : public S3ServiceTest {
 protected:
  void SetUp() override {
    S3ServiceTest::SetUp();
    Gateway(GatewayMode::kSigned);
  }
  void Gateway(GatewayMode mode) {
    S3ServiceOptions so;
    so.gateway = mode;
    Restart(so);
  }
  Reply Anon(std::string method, std::string target,
             std::vector<std::pair<std::string, std::string>> extra = {}) {
    RequestHead h;
    h.method = std::move(method);
    h.target = std::move(target);
    h.headers.Add("host", "127.0.0.1:9000");
    for (auto& [k, v] : extra) h.headers.Add(k, v);
    return Run(h);
  }
  // A file stored in the core's block store (as `s3xfs add` would); returns its root.
  DirEntry AddFile(const std::string& name, ByteView data) {
    auto r = ComputeFileRoot(data, DagOptions::KuboV1(),
                             [&](const Cid& c, ByteView b, bool) { return blocks_.Put(c, b); });
    EXPECT_TRUE(r.ok());
    return DirEntry{name, r->cid, r->dag_size};
  }
  DirRoot AddDir(std::vector<DirEntry> entries) {
    auto r = BuildDirectory(std::move(entries), 1,
                            [&](const Block& b) { return blocks_.Put(b.cid, b.data); });
    EXPECT_TRUE(r.ok());
    return *r;
  }
};

TEST_F(GatewayTest, SignedModeRefusesAnonymousAndPublicAllowsIt) {
  DirEntry f = AddFile("hello.txt", AsBytes("hello world"));
  ASSERT_EQ(f.cid.ToString(), kHelloCid);
  Reply anon = Anon("GET", "/ipfs/" + kHelloCid);
  EXPECT_EQ(anon.status, 403);
  EXPECT_THAT(anon.body, HasSubstr("AccessDenied"));
  Reply signed_get = Do("GET", "/ipfs/" + kHelloCid);
  EXPECT_EQ(signed_get.status, 200);
  EXPECT_EQ(signed_get.body, "hello world");
  // Any known key, not only a bucket owner.
  Reply other = Run(Signed("GET", "/ipfs/" + kHelloCid, "", {}, "OTHERKEY", "other-secret-000"));
  EXPECT_EQ(other.status, 200);
  // A wrong signature is refused in every mode.
  Reply forged = Run(Signed("GET", "/ipfs/" + kHelloCid, "", {}, kAk, "wrong-secret-00000"));
  EXPECT_EQ(forged.status, 403);

  Gateway(GatewayMode::kPublic);
  Reply pub = Anon("GET", "/ipfs/" + kHelloCid);
  EXPECT_EQ(pub.status, 200);
  EXPECT_EQ(pub.body, "hello world");
  EXPECT_EQ(Anon("HEAD", "/ipfs/" + kHelloCid).status, 200);
  forged = Run(Signed("GET", "/ipfs/" + kHelloCid, "", {}, kAk, "wrong-secret-00000"));
  EXPECT_EQ(forged.status, 403);

  // Off: /ipfs/... is the S3 bucket "ipfs" (here: missing).
  Gateway(GatewayMode::kOff);
  Reply off = Do("GET", "/ipfs/" + kHelloCid);
  EXPECT_EQ(off.status, 404);
  EXPECT_THAT(off.body, HasSubstr("NoSuchBucket"));
}

TEST_F(GatewayTest, BucketIpfsIsReservedWhileTheGatewayIsOn) {
  Reply refused = Do("PUT", "/ipfs");
  EXPECT_EQ(refused.status, 400);
  EXPECT_THAT(refused.body, HasSubstr("InvalidBucketName"));
  // A non-CID under /ipfs/ without such a bucket: the gateway's "invalid CID".
  Reply bad = Do("GET", "/ipfs/not-a-cid");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("invalid CID"));
  Gateway(GatewayMode::kOff);
  ASSERT_EQ(Do("PUT", "/ipfs").status, 200);
  ASSERT_EQ(Do("PUT", "/ipfs/" + kHelloCid, "an object named like a CID").status, 200);
  EXPECT_EQ(Do("GET", "/ipfs/" + kHelloCid).body, "an object named like a CID");
  // Turned on with the bucket there: GET /ipfs/CID is the gateway, other keys stay S3.
  Gateway(GatewayMode::kSigned);
  AddFile("h", AsBytes("hello world"));
  EXPECT_EQ(Do("GET", "/ipfs/" + kHelloCid).body, "hello world");
  ASSERT_EQ(Do("PUT", "/ipfs/plain-key", "s3 data").status, 200);
  EXPECT_EQ(Do("GET", "/ipfs/plain-key").body, "s3 data");
  EXPECT_EQ(Do("PUT", "/ipfs/" + kHelloCid, "x").status, 405);
}

TEST_F(GatewayTest, RawBlockHashesToItsCid) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Bytes data = testing::ChaCha("gateway-raw", 3 * 262144 + 100);
  Reply put = Do("PUT", "/bkt/big.bin", std::string(AsChars(data)));
  ASSERT_EQ(put.status, 200);
  Cid root = *Cid::Parse(put.Header("x-amz-meta-ipfs-cid"));
  ASSERT_EQ(root.codec(), Codec::kDagPb);

  Reply raw = Do("GET", "/ipfs/" + root.ToString() + "?format=raw");
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_TRUE(root.Verify(AsBytes(raw.body)).ok());
  EXPECT_EQ(raw.Header("content-type"), "application/vnd.ipld.raw");
  EXPECT_EQ(raw.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(raw.Header("etag"), "\"" + root.ToString() + ".raw\"");
  EXPECT_EQ(raw.Header("cache-control"), "public, max-age=29030400, immutable");
  EXPECT_EQ(raw.Header("content-disposition"), "attachment; filename=\"" + root.ToString() + ".bin\"");
  EXPECT_EQ(raw.Header("x-ipfs-path"), "/ipfs/" + root.ToString());
  EXPECT_EQ(raw.Header("x-ipfs-roots"), root.ToString());
  EXPECT_TRUE(raw.Header("content-location").empty());
  EXPECT_FALSE(raw.Header("x-amz-request-id").empty());
  // The root block links the leaves: each leaf also comes back verified.
  auto links = BlockLinks(root, AsBytes(raw.body));
  ASSERT_TRUE(links.ok());
  ASSERT_EQ(links->size(), 4u);
  Reply leaf = Do("GET", "/ipfs/" + (*links)[1].ToString(), "",
                  {{"accept", "text/html;q=0.9, application/vnd.ipld.raw"}});
  ASSERT_EQ(leaf.status, 200);
  EXPECT_EQ(leaf.body.size(), 262144u);
  EXPECT_TRUE((*links)[1].Verify(AsBytes(leaf.body)).ok());
  EXPECT_EQ(leaf.Header("content-location"), "/ipfs/" + (*links)[1].ToString() + "?format=raw");
  // HEAD: headers and the length, no body; If-None-Match: 304.
  Reply head = Do("HEAD", "/ipfs/" + root.ToString() + "?format=raw");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.head_only);
  EXPECT_EQ(head.content_length, raw.body.size());
  Reply cached = Do("GET", "/ipfs/" + root.ToString() + "?format=raw", "",
                    {{"if-none-match", raw.Header("etag")}});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
}

TEST_F(GatewayTest, IdentityProbe) {
  Reply raw = Do("GET", "/ipfs/bafkqaaa?format=raw");
  EXPECT_EQ(raw.status, 200);
  EXPECT_TRUE(raw.body.empty());
  Reply car = Do("GET", "/ipfs/bafkqaaa?format=car");
  ASSERT_EQ(car.status, 200);
  CarContents c = ReadCar(car.body);
  ASSERT_EQ(c.roots.size(), 1u);
  EXPECT_EQ(c.roots[0].ToString(), "bafkqaaa");
  EXPECT_TRUE(c.blocks.empty());  // identity blocks are never written
}

TEST_F(GatewayTest, CarOfAFileHasEveryBlockOnce) {
  Bytes data = testing::ChaCha("gateway-car", 5 * 262144 + 7);
  DirEntry f = AddFile("f", data);
  Reply car = Do("GET", "/ipfs/" + f.cid.ToString() + "?format=car");
  ASSERT_EQ(car.status, 200) << car.body;
  EXPECT_TRUE(car.chunked);
  EXPECT_EQ(car.Header("content-type"), "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  EXPECT_EQ(car.Header("content-disposition"), "attachment; filename=\"" + f.cid.ToString() + ".car\"");
  EXPECT_EQ(car.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(car.Header("etag"), "\"" + f.cid.ToString() + ".car.dfs.n.all\"");
  CarContents c = ReadCar(car.body);
  ASSERT_EQ(c.roots, std::vector<Cid>{f.cid});
  ASSERT_EQ(c.blocks.size(), 7u);  // root + 6 leaves
  EXPECT_EQ(c.blocks[0].cid, f.cid);
  MemoryBlockStore copy;
  std::set<Cid> seen;
  for (const Block& b : c.blocks) {
    EXPECT_TRUE(seen.insert(b.cid).second) << "block twice";
    ASSERT_TRUE(copy.Put(b.cid, b.data).ok());
  }
  Bytes back;
  ASSERT_TRUE(DagReader(&copy).Read(f.cid, 0, UINT64_MAX, [&](ByteView b) {
    back.insert(back.end(), b.begin(), b.end());
    return Status::OK();
  }).ok());
  EXPECT_EQ(back, data);
  // By Accept, with its parameters; the same bytes.
  Reply by_accept = Do("GET", "/ipfs/" + f.cid.ToString(), "",
                       {{"accept", "application/vnd.ipld.car; version=1; order=dfs; dups=n"}});
  ASSERT_EQ(by_accept.status, 200);
  EXPECT_EQ(by_accept.body, car.body);
  EXPECT_EQ(by_accept.Header("content-location"), "/ipfs/" + f.cid.ToString() + "?format=car");
  // dag-scope=block: the root only; entity of a file: the whole file.
  Reply block = Do("GET", "/ipfs/" + f.cid.ToString() + "?format=car&dag-scope=block");
  ASSERT_EQ(ReadCar(block.body).blocks.size(), 1u);
  EXPECT_EQ(block.Header("etag"), "\"" + f.cid.ToString() + ".car.dfs.n.block\"");
  EXPECT_EQ(ReadCar(Do("GET", "/ipfs/" + f.cid.ToString() + "?format=car&dag-scope=entity").body).blocks.size(), 7u);
  // HEAD: no body, no length.
  Reply head = Do("HEAD", "/ipfs/" + f.cid.ToString() + "?format=car");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.head_only);
  EXPECT_TRUE(head.chunked);
}

TEST_F(GatewayTest, CarOfAPathStartsWithThePathBlocks) {
  Bytes big = testing::ChaCha("gateway-path", 2 * 262144);
  DirEntry file = AddFile("data.bin", big);
  DirEntry hello = AddFile("hello.txt", AsBytes("hello world"));
  DirRoot sub = AddDir({file, hello});
  DirRoot top = AddDir({DirEntry{"sub", sub.cid, sub.tsize}, hello});
  Reply car = Do("GET", "/ipfs/" + top.cid.ToString() + "/sub/data.bin?format=car");
  ASSERT_EQ(car.status, 200) << car.body;
  CarContents c = ReadCar(car.body);
  ASSERT_EQ(c.roots, std::vector<Cid>{file.cid});  // the terminal of the path
  ASSERT_EQ(c.blocks.size(), 2u + 3u);              // top, sub; the file root and 2 leaves
  EXPECT_EQ(c.blocks[0].cid, top.cid);
  EXPECT_EQ(c.blocks[1].cid, sub.cid);
  EXPECT_EQ(c.blocks[2].cid, file.cid);
  EXPECT_EQ(car.Header("x-ipfs-roots"),
            top.cid.ToString() + "," + sub.cid.ToString() + "," + file.cid.ToString());
  // A directory's CAR (all): every block under it; entity: the directory block alone.
  EXPECT_EQ(ReadCar(Do("GET", "/ipfs/" + top.cid.ToString() + "?format=car").body).blocks.size(), 6u);
  CarContents entity = ReadCar(Do("GET", "/ipfs/" + top.cid.ToString() + "/sub?format=car&dag-scope=entity").body);
  ASSERT_EQ(entity.blocks.size(), 2u);
  EXPECT_EQ(entity.blocks[1].cid, sub.cid);
}

TEST_F(GatewayTest, HamtDirectories) {
  std::vector<DirEntry> entries;
  std::map<std::string, std::string> content;
  for (int i = 0; i < 5000; ++i) {
    std::string name = "a-long-enough-entry-name-for-sharding-" + std::to_string(i) + ".txt";
    content[name] = "file " + std::to_string(i);
    entries.push_back(AddFile(name, AsBytes(content[name])));
  }
  DirRoot dir = AddDir(entries);
  ASSERT_TRUE(dir.sharded);
  const std::string base = "/ipfs/" + dir.cid.ToString() + "/";
  for (int i : {0, 17, 4321, 4999}) {
    std::string name = "a-long-enough-entry-name-for-sharding-" + std::to_string(i) + ".txt";
    Reply r = Do("GET", base + name);
    ASSERT_EQ(r.status, 200) << name << ": " << r.body;
    EXPECT_EQ(r.body, content[name]);
    EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
    // X-Ipfs-Roots names the logical roots only (no shard CIDs).
    EXPECT_EQ(r.Header("x-ipfs-roots"), dir.cid.ToString() + "," + entries[static_cast<size_t>(i)].cid.ToString());
  }
  EXPECT_EQ(Do("GET", base + "missing.txt").status, 404);
  // The listing names every entry.
  Reply list = Do("GET", base);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Header("content-type"), "text/html; charset=utf-8");
  size_t rows = 0;
  for (size_t p = 0; (p = list.body.find("<tr><td><a href=\"./", p)) != std::string::npos; ++p) ++rows;
  EXPECT_EQ(rows, 5000u);
  // The CAR of one entry carries the shards on its path, then the file.
  Reply car = Do("GET", base + "a-long-enough-entry-name-for-sharding-42.txt?format=car");
  CarContents c = ReadCar(car.body);
  ASSERT_GE(c.blocks.size(), 3u);
  EXPECT_EQ(c.blocks[0].cid, dir.cid);
  EXPECT_EQ(c.blocks.back().cid, entries[42].cid);
  MemoryBlockStore copy;
  for (const Block& b : c.blocks) ASSERT_TRUE(copy.Put(b.cid, b.data).ok());
  auto again = ResolvePath(&copy, dir.cid, "a-long-enough-entry-name-for-sharding-42.txt");
  ASSERT_TRUE(again.ok()) << again.status().ToString();  // verifiable from the CAR alone
  EXPECT_EQ(again->cid, entries[42].cid);
  // entity of the HAMT: all of its shards and none of the files.
  CarContents shards = ReadCar(Do("GET", base + "?format=car&dag-scope=entity").body);
  MemoryBlockStore only_shards;
  for (const Block& b : shards.blocks) {
    EXPECT_EQ(b.cid.codec(), Codec::kDagPb);
    ASSERT_TRUE(only_shards.Put(b.cid, b.data).ok());
  }
  size_t n = 0;
  EXPECT_TRUE(ForEachDirectoryEntry(&only_shards, dir.cid, [&](const DirEntry&) {
    ++n;
    return Status::OK();
  }).ok());
  EXPECT_EQ(n, 5000u);
}

TEST_F(GatewayTest, FilesDirectoriesAndRanges) {
  Bytes big = testing::ChaCha("gateway-range", 2 * 262144 + 10);
  DirEntry file = AddFile("data.bin", big);
  DirEntry page = AddFile("index.html", AsBytes("<h1>hi</h1>"));
  DirEntry hello = AddFile("hello world.txt", AsBytes("hello world"));
  DirRoot site = AddDir({page, hello});
  DirRoot top = AddDir({file, hello, DirEntry{"site", site.cid, site.tsize}});
  const std::string t = "/ipfs/" + top.cid.ToString();

  Reply whole = Do("GET", t + "/data.bin");
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, std::string(AsChars(big)));
  EXPECT_EQ(whole.Header("content-type"), "application/octet-stream");
  EXPECT_EQ(whole.Header("etag"), "\"" + file.cid.ToString() + "\"");
  EXPECT_EQ(whole.Header("accept-ranges"), "bytes");
  EXPECT_EQ(whole.Header("x-ipfs-path"), t + "/data.bin");
  Reply range = Do("GET", t + "/data.bin", "", {{"range", "bytes=262140-262150"}});
  ASSERT_EQ(range.status, 206);
  EXPECT_EQ(range.body, std::string(AsChars(big)).substr(262140, 11));
  EXPECT_EQ(range.Header("content-range"), "bytes 262140-262150/" + std::to_string(big.size()));
  Reply suffix = Do("GET", t + "/data.bin", "", {{"range", "bytes=-5"}});
  EXPECT_EQ(suffix.body, std::string(AsChars(big)).substr(big.size() - 5));
  Reply bad_range = Do("GET", t + "/data.bin", "", {{"range", "bytes=999999999-"}});
  EXPECT_EQ(bad_range.status, 416);
  EXPECT_EQ(bad_range.Header("content-range"), "bytes */" + std::to_string(big.size()));
  Reply head = Do("HEAD", t + "/data.bin");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_length, big.size());
  EXPECT_TRUE(head.body.empty());
  Reply escaped = Do("GET", t + "/hello%20world.txt");
  EXPECT_EQ(escaped.body, "hello world");
  EXPECT_EQ(escaped.Header("content-type"), "text/plain; charset=utf-8");
  Reply named = Do("GET", "/ipfs/" + hello.cid.ToString() + "?filename=r%C3%A9sum%C3%A9.pdf&download=true");
  EXPECT_EQ(named.Header("content-type"), "application/pdf");
  EXPECT_EQ(named.Header("content-disposition"),
            "attachment; filename=\"r__sum__.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf");

  // Directories: redirected to the trailing slash, then index.html or a listing.
  Reply redirect = Do("GET", t + "/site?x=1");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.Header("location"), t + "/site/?x=1");
  Reply index = Do("GET", t + "/site/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<h1>hi</h1>");
  EXPECT_EQ(index.Header("content-type"), "text/html; charset=utf-8");
  Reply listing = Do("GET", t + "/");
  ASSERT_EQ(listing.status, 200);
  EXPECT_THAT(listing.body, HasSubstr("href=\"./hello%20world.txt\">hello world.txt</a>"));
  EXPECT_THAT(listing.body, HasSubstr("href=\"./site\">site</a>"));
  EXPECT_TRUE(listing.Header("etag").rfind("W/\"DirIndex-", 0) == 0);
  EXPECT_EQ(Do("GET", t + "/", "", {{"if-none-match", listing.Header("etag")}}).status, 304);

  // Errors.
  EXPECT_EQ(Do("GET", t + "/nope").status, 404);
  EXPECT_EQ(Do("GET", t + "/data.bin/inside").status, 404);  // through a file
  EXPECT_EQ(Do("GET", "/ipfs/bafybeigarbage").status, 400);
  EXPECT_EQ(Do("GET", t + "/data.bin?format=tar").status, 400);
  EXPECT_EQ(Do("GET", t + "?format=car&dag-scope=most").status, 400);
  EXPECT_EQ(Do("GET", t + "?format=car&entity-bytes=0:10").status, 501);
  EXPECT_EQ(Do("GET", t + "?format=car&car-dups=y").status, 400);
  EXPECT_EQ(Do("GET", t, "", {{"accept", "application/vnd.ipld.car; version=2"}}).status, 400);
  Reply missing = Do("GET", "/ipfs/" + Cid::Compute(1, Codec::kRaw, AsBytes("absent")).ToString());
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(Do("HEAD", t + "/nope").status, 404);
}

TEST_F(GatewayTest, RequestsAreCountedAsIpfsGateway) {
  auto m = [](const std::string& s) { return std::max(0.0, testing::MetricValue(s)); };
  AddFile("h", AsBytes("hello world"));
  double ok = m("s3xfs_s3_requests_total{operation=\"IpfsGateway\",code=\"200\"}");
  double missing = m("s3xfs_s3_requests_total{operation=\"IpfsGateway\",code=\"404\"}");
  EXPECT_EQ(Do("GET", "/ipfs/" + kHelloCid).status, 200);
  EXPECT_EQ(Do("GET", "/ipfs/" + Cid::Compute(1, Codec::kRaw, AsBytes("no")).ToString()).status, 404);
  EXPECT_EQ(m("s3xfs_s3_requests_total{operation=\"IpfsGateway\",code=\"200\"}"), ok + 1);
  EXPECT_EQ(m("s3xfs_s3_requests_total{operation=\"IpfsGateway\",code=\"404\"}"), missing + 1);
}

// ServeGateway directly, over a store that fails.
TEST(GatewayFaults, UnavailableStoreIs502AndCorruptionIs500) {
  MemoryBlockStore mem;
  FaultyBlockStore faulty(&mem);
  Cid hello = Cid::Compute(1, Codec::kRaw, AsBytes("hello world"));
  ASSERT_TRUE(mem.Put(hello, AsBytes("hello world")).ok());
  HeaderList headers;
  GatewayRequest req;
  req.method = "GET";
  req.raw_path = "/ipfs/" + hello.ToString();
  req.headers = &headers;
  EXPECT_EQ(ServeGateway(&faulty, req).status, 200);
  faulty.SetUnavailableFor(std::chrono::seconds(30));
  Response down = ServeGateway(&faulty, req);
  EXPECT_EQ(down.status, 502);
  EXPECT_NE(down.headers.Find("retry-after"), nullptr);
  faulty.SetUnavailableFor(std::chrono::milliseconds(0));
  faulty.FailNth(FaultyBlockStore::Op::kGet, 1, Status::Timeout("slow node"));
  EXPECT_EQ(ServeGateway(&faulty, req).status, 504);
  ASSERT_TRUE(mem.CorruptForTest(hello));
  EXPECT_EQ(ServeGateway(&faulty, req).status, 500);
}

// A block that goes missing while a CAR streams: the stream fails (the server then cuts the
// connection), it never ends as if complete.
TEST(GatewayFaults, CarStreamFailsOnAMissingChildBlock) {
  MemoryBlockStore mem;
  Bytes data = testing::ChaCha("gateway-cut", 4 * 262144);
  auto root = ComputeFileRoot(data, DagOptions::KuboV1(),
                              [&](const Cid& c, ByteView b, bool) { return mem.Put(c, b); });
  ASSERT_TRUE(root.ok());
  auto links = BlockLinks(root->cid, *mem.Get(root->cid));
  ASSERT_TRUE(mem.Delete((*links)[2]).ok());
  HeaderList headers;
  GatewayRequest req;
  req.method = "GET";
  req.raw_path = "/ipfs/" + root->cid.ToString();
  req.query = ParseQuery("format=car").value();
  req.headers = &headers;
  Response r = ServeGateway(&mem, req);
  ASSERT_EQ(r.status, 200);  // the root is there: the stream starts
  ASSERT_TRUE(r.stream);
  std::vector<uint8_t> buf(4096);
  Status end;
  for (;;) {
    auto n = r.stream->Read(buf);
    if (!n.ok()) {
      end = n.status();
      break;
    }
    ASSERT_GT(*n, 0u) << "the stream ended as if complete";
  }
  EXPECT_TRUE(end.IsNotFound()) << end.ToString();
}

}  // namespace
}  // namespace s3xfs::s3
