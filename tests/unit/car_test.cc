#include <gtest/gtest.h>

#include "s3xfs/blockstore/memory.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/car_stream.h"
#include "s3xfs/cas/directory.h"
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

// ---- CarStream: the pull-based export ----

Bytes Drain(CarStream* s, size_t step, Status* end = nullptr) {
  Bytes out;
  std::vector<uint8_t> buf(step);
  for (;;) {
    auto n = s->Read(buf);
    if (!n.ok()) {
      if (end) *end = n.status();
      return out;
    }
    if (*n == 0) return out;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
}

TEST(CarStream, SameBytesAsExportCarForAnyReadSize) {
  MemoryBlockStore store;
  auto put = [&](const Block& b) { return store.Put(b.cid, b.data); };
  Bytes data = testing::ChaCha("stream", 3 * 262144 + 9);
  auto file = ComputeFileRoot(data, DagOptions::KuboV1(),
                              [&](const Cid& c, ByteView b, bool) { return store.Put(c, b); });
  // The same file twice and a second directory holding it again: shared blocks, written once.
  auto sub = BuildDirectory({{"again", file->cid, file->dag_size}}, 1, put);
  auto dir = BuildDirectory({{"a", file->cid, file->dag_size}, {"b", file->cid, file->dag_size},
                             {"sub", sub->cid, sub->tsize}}, 1, put);
  Bytes want;
  ASSERT_TRUE(ExportCar(&store, std::span<const Cid>(&dir->cid, 1), [&](ByteView b) {
    want.insert(want.end(), b.begin(), b.end());
    return Status::OK();
  }).ok());
  for (size_t step : {1, 7, 4096, 1 << 20}) {
    for (size_t batch : {1, 16}) {
      auto s = CarStream::Open(&store, dir->cid, *store.Get(dir->cid), DagScope::kAll, {}, batch);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      EXPECT_EQ(Drain(s->get(), step), want) << "step " << step << " batch " << batch;
    }
  }
}

TEST(CarStream, PrefixScopesAndIdentityBlocks) {
  MemoryBlockStore store;
  auto put = [&](const Block& b) { return store.Put(b.cid, b.data); };
  Bytes data = testing::ChaCha("scopes", 2 * 262144);
  auto file = ComputeFileRoot(data, DagOptions::KuboV1(),
                              [&](const Cid& c, ByteView b, bool) { return store.Put(c, b); });
  // An identity CID ("inline" bytes) as a directory entry: walked, never written.
  Bytes mh = {0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
  Cid inline_cid = Cid::V1(Codec::kRaw, mh);
  auto dir = BuildDirectory({{"f", file->cid, file->dag_size}, {"inline", inline_cid, 5}}, 1, put);
  auto top = BuildDirectory({{"dir", dir->cid, dir->tsize}}, 1, put);

  auto blocks_of = [](const Bytes& car) {
    std::vector<Cid> out;
    size_t pos = 0;
    CarReader r([&](uint8_t* buf, size_t n) -> Result<size_t> {
      size_t k = std::min(n, car.size() - pos);
      std::copy(car.begin() + static_cast<std::ptrdiff_t>(pos),
                car.begin() + static_cast<std::ptrdiff_t>(pos + k), buf);
      pos += k;
      return k;
    });
    EXPECT_TRUE(r.ReadHeader().ok());
    for (;;) {
      auto b = r.Next();
      EXPECT_TRUE(b.ok());
      if (!b.ok() || !b->has_value()) return out;
      out.push_back((*b)->cid);
    }
  };
  auto stream = [&](DagScope scope, std::vector<Cid> prefix) {
    auto s = CarStream::Open(&store, dir->cid, *store.Get(dir->cid), scope, std::move(prefix));
    EXPECT_TRUE(s.ok());
    return blocks_of(Drain(s->get(), 1000));
  };
  std::vector<Cid> all = stream(DagScope::kAll, {top->cid});
  ASSERT_EQ(all.size(), 1u + 1u + 3u);  // top (prefix), dir, the file root and its 2 leaves
  EXPECT_EQ(all[0], top->cid);
  EXPECT_EQ(all[1], dir->cid);
  EXPECT_EQ(all[2], file->cid);
  EXPECT_EQ(std::count(all.begin(), all.end(), inline_cid), 0);
  EXPECT_EQ(stream(DagScope::kEntity, {}), std::vector<Cid>{dir->cid});  // a basic directory
  EXPECT_EQ(stream(DagScope::kBlock, {top->cid}), (std::vector<Cid>{top->cid, dir->cid}));
  // An identity root: a header naming it, no blocks.
  auto id = CarStream::Open(&store, inline_cid, ToBytes("hello"), DagScope::kAll, {});
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(blocks_of(Drain(id->get(), 64)).empty());
  // dag-cbor cannot be walked: NotSupported up front.
  Cid cbor = Cid::Compute(1, Codec::kDagCbor, Bytes{0xa0});
  EXPECT_EQ(CarStream::Open(&store, cbor, Bytes{0xa0}, DagScope::kAll, {}).status().code(),
            Status::Code::kNotSupported);
  EXPECT_TRUE(CarStream::Open(&store, cbor, Bytes{0xa0}, DagScope::kBlock, {}).ok());
  // A block missing mid-way: the stream fails, it does not end as if complete.
  auto links = BlockLinks(file->cid, *store.Get(file->cid));
  ASSERT_TRUE(store.Delete((*links)[1]).ok());
  auto broken = CarStream::Open(&store, dir->cid, *store.Get(dir->cid), DagScope::kAll, {});
  Status end;
  Drain(broken->get(), 100, &end);
  EXPECT_TRUE(end.IsNotFound()) << end.ToString();
}

}  // namespace
}  // namespace s3xfs
