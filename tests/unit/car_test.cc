#include <gtest/gtest.h>

#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dag_reader.h"
#include "testutil.h"

namespace s3xfs {
namespace {

CarReader::Input FromBytes(const Bytes& b, size_t step = 7) {
  auto pos = std::make_shared<size_t>(0);
  return [&b, pos, step](uint8_t* buf, size_t n) -> Result<size_t> {
    size_t k = std::min({n, step, b.size() - *pos});
    std::copy(b.begin() + *pos, b.begin() + *pos + k, buf);
    *pos += k;
    return k;
  };
}

TEST(Car, HeaderBytesForOneV1Root) {
  Cid root = *Cid::Parse("bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
  Bytes h = EncodeCarHeader(std::span<const Cid>(&root, 1));
  ASSERT_EQ(h.size(), 59u);  // varint(58) + 58-byte header
  EXPECT_EQ(HexEncode(h).substr(0, 28), "3aa265726f6f747381d82a582500");
}

struct Dag {
  MemoryBlockStore store;
  Cid root;
  Bytes data;
};

void Build(Dag* d, size_t size, const DagOptions& opt = DagOptions::KuboV1()) {
  d->data = testing::ChaCha("car", size);
  auto r = ComputeFileRoot(d->data, opt, [&](const Cid& c, ByteView b, bool) { return d->store.Put(c, b); });
  d->root = r->cid;
}

Bytes Export(Dag& d) {
  Bytes car;
  Status s = ExportCar(&d.store, std::span<const Cid>(&d.root, 1), [&](ByteView b) {
    car.insert(car.end(), b.begin(), b.end());
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return car;
}

TEST(Car, ExportThenReadBackEveryBlockOnce) {
  for (const DagOptions& opt : {DagOptions::KuboV1(), DagOptions::KuboV0()}) {
    Dag d;
    Build(&d, 5 * 262144 + 3, opt);
    Bytes car = Export(d);
    CarReader reader(FromBytes(car));
    auto roots = reader.ReadHeader();
    ASSERT_TRUE(roots.ok()) << roots.status().ToString();
    ASSERT_EQ(roots->size(), 1u);
    EXPECT_EQ((*roots)[0], d.root);
    MemoryBlockStore copy;
    size_t n = 0;
    for (;;) {
      auto b = reader.Next();
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      if (!b->has_value()) break;
      if (n == 0) {
        EXPECT_EQ((*b)->cid, d.root);  // pre-order: root first
      }
      ASSERT_TRUE(copy.Put((*b)->cid, (*b)->data).ok());
      ++n;
    }
    EXPECT_EQ(n, d.store.block_count());
    EXPECT_EQ(reader.bytes_read(), car.size());
    DagReader dr(&copy);
    Bytes out;
    ASSERT_TRUE(dr.Read(d.root, 0, UINT64_MAX, [&](ByteView b) {
      out.insert(out.end(), b.begin(), b.end());
      return Status::OK();
    }).ok());
    EXPECT_EQ(out, d.data);
  }
}

TEST(Car, DuplicateBlocksAreWrittenOnce) {
  MemoryBlockStore store;
  Bytes zeros(4 * 262144, 0);  // four identical leaves
  auto r = ComputeFileRoot(zeros, DagOptions::KuboV1(), [&](const Cid& c, ByteView b, bool) { return store.Put(c, b); });
  Bytes car;
  ASSERT_TRUE(ExportCar(&store, std::span<const Cid>(&r->cid, 1), [&](ByteView b) {
    car.insert(car.end(), b.begin(), b.end());
    return Status::OK();
  }).ok());
  CarReader reader(FromBytes(car, 1 << 20));
  ASSERT_TRUE(reader.ReadHeader().ok());
  int n = 0;
  while (true) {
    auto b = reader.Next();
    ASSERT_TRUE(b.ok());
    if (!b->has_value()) break;
    ++n;
  }
  EXPECT_EQ(n, 2);  // root + one distinct leaf
}

TEST(Car, TruncatedAndCorruptedCarsAreRejected) {
  Dag d;
  Build(&d, 2 * 262144);
  Bytes car = Export(d);
  auto drain = [](const Bytes& b) -> Status {
    CarReader r(FromBytes(b, 4096));
    auto h = r.ReadHeader();
    if (!h.ok()) return h.status();
    for (;;) {
      auto n = r.Next();
      if (!n.ok()) return n.status();
      if (!n->has_value()) return Status::OK();
    }
  };
  EXPECT_TRUE(drain(car).ok());
  for (size_t cut : {size_t(1), size_t(30), car.size() / 2, car.size() - 1}) {
    Bytes t(car.begin(), car.begin() + cut);
    EXPECT_TRUE(drain(t).IsCorruption()) << "cut at " << cut;
  }
  Bytes flipped = car;
  flipped[car.size() - 1000] ^= 0x40;
  Status s = drain(flipped);
  EXPECT_TRUE(s.IsCorruption());
  Bytes garbage = ToBytes("this is not a CAR file at all");
  EXPECT_TRUE(drain(garbage).IsCorruption());
  // A huge section length must not allocate: rejected before reading.
  Bytes huge = EncodeCarHeader(std::span<const Cid>(&d.root, 1));
  for (uint8_t b : {0xff, 0xff, 0xff, 0xff, 0x0f}) huge.push_back(b);
  EXPECT_TRUE(drain(huge).IsCorruption());
}

}  // namespace
}  // namespace s3xfs
