#include "s3xfs/cas/car.h"

#include <unordered_set>

#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/cas/varint.h"

namespace s3xfs {

namespace {
// --- the small part of DAG-CBOR a CAR header needs ---

void CborHead(Bytes* out, uint8_t major, uint64_t v) {
  uint8_t m = static_cast<uint8_t>(major << 5);
  if (v < 24) {
    out->push_back(m | static_cast<uint8_t>(v));
  } else {
    int n = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    out->push_back(m | static_cast<uint8_t>(n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
    for (int i = n - 1; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
}
void CborText(Bytes* out, std::string_view s) {
  CborHead(out, 3, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

struct CborParser {
  ByteView in;
  bool Head(uint8_t* major, uint64_t* v) {
    if (in.empty()) return false;
    uint8_t b = in[0];
    in = in.subspan(1);
    *major = b >> 5;
    uint8_t ai = b & 31;
    if (ai < 24) {
      *v = ai;
      return true;
    }
    size_t n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;
    if (n == 0 || in.size() < n) return false;  // indefinite lengths are not DAG-CBOR
    *v = 0;
    for (size_t i = 0; i < n; ++i) *v = *v << 8 | in[i];
    in = in.subspan(n);
    return true;
  }
  bool Skip(int depth) {
    if (depth > 16) return false;
    uint8_t major;
    uint64_t v;
    if (!Head(&major, &v)) return false;
    switch (major) {
      case 0: case 1: case 7: return true;
      case 2: case 3:
        if (v > in.size()) return false;
        in = in.subspan(v);
        return true;
      case 4:
        for (uint64_t i = 0; i < v; ++i) if (!Skip(depth + 1)) return false;
        return true;
      case 5:
        for (uint64_t i = 0; i < 2 * v; ++i) if (!Skip(depth + 1)) return false;
        return true;
      case 6: return Skip(depth + 1);
    }
    return false;
  }
};
}  // namespace

Bytes EncodeCarHeader(std::span<const Cid> roots) {
  Bytes h;
  CborHead(&h, 5, 2);
  CborText(&h, "roots");
  CborHead(&h, 4, roots.size());
  for (const Cid& c : roots) {
    CborHead(&h, 6, 42);
    CborHead(&h, 2, c.binary().size() + 1);
    h.push_back(0x00);  // multibase identity prefix, as DAG-CBOR links require
    h.insert(h.end(), c.binary().begin(), c.binary().end());
  }
  CborText(&h, "version");
  CborHead(&h, 0, 1);
  Bytes out;
  AppendVarint(&out, h.size());
  out.insert(out.end(), h.begin(), h.end());
  return out;
}

Status CarWriter::WriteHeader(std::span<const Cid> roots) {
  Bytes h = EncodeCarHeader(roots);
  written_ += h.size();
  return out_(h);
}

Status CarWriter::WriteBlock(const Cid& cid, ByteView data) {
  Bytes head;
  AppendVarint(&head, cid.binary().size() + data.size());
  head.insert(head.end(), cid.binary().begin(), cid.binary().end());
  S3XFS_RETURN_IF_ERROR(out_(head));
  S3XFS_RETURN_IF_ERROR(out_(data));
  written_ += head.size() + data.size();
  return Status::OK();
}

Status CarReader::ReadExact(uint8_t* buf, size_t n, bool* eof) {
  size_t got = 0;
  *eof = false;
  while (got < n) {
    S3XFS_ASSIGN_OR_RETURN(size_t r, in_(buf + got, n - got));
    if (r == 0) {
      if (got == 0) {
        *eof = true;
        return Status::OK();
      }
      return Status::Corruption("CAR truncated at byte " + std::to_string(read_ + got));
    }
    got += r;
  }
  read_ += n;
  return Status::OK();
}

Result<std::optional<uint64_t>> CarReader::ReadSectionLength() {
  Bytes buf;
  for (int i = 0; i < 10; ++i) {
    uint8_t b;
    bool eof;
    S3XFS_RETURN_IF_ERROR(ReadExact(&b, 1, &eof));
    if (eof) {
      if (i == 0) return std::optional<uint64_t>();
      return Status::Corruption("CAR truncated inside a length varint");
    }
    buf.push_back(b);
    if (!(b & 0x80)) break;
  }
  ByteView v(buf);
  uint64_t len = 0;
  if (!ReadVarint(&v, &len)) return Status::Corruption("CAR: malformed length varint");
  return std::optional<uint64_t>(len);
}

Result<std::vector<Cid>> CarReader::ReadHeader() {
  S3XFS_ASSIGN_OR_RETURN(auto len, ReadSectionLength());
  if (!len || *len == 0) return Status::Corruption("not a CAR file: empty input");
  if (*len > 1u << 20) return Status::Corruption("not a CAR file: header too large");
  Bytes h(*len);
  bool eof;
  S3XFS_RETURN_IF_ERROR(ReadExact(h.data(), h.size(), &eof));
  if (eof) return Status::Corruption("CAR truncated in its header");
  CborParser p{h};
  uint8_t major;
  uint64_t n;
  auto bad = [](const char* why) { return Status::Corruption(std::string("CAR header: ") + why); };
  if (!p.Head(&major, &n) || major != 5) return bad("not a map");
  std::vector<Cid> roots;
  std::optional<uint64_t> version;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t klen;
    if (!p.Head(&major, &klen) || major != 3 || klen > p.in.size()) return bad("bad key");
    std::string_view key = AsChars(p.in.subspan(0, klen));
    p.in = p.in.subspan(klen);
    if (key == "version") {
      uint64_t v;
      if (!p.Head(&major, &v) || major != 0) return bad("bad version");
      version = v;
    } else if (key == "roots") {
      uint64_t count;
      if (!p.Head(&major, &count) || major != 4 || count > 4096) return bad("bad roots");
      for (uint64_t j = 0; j < count; ++j) {
        uint64_t tag, blen;
        if (!p.Head(&major, &tag) || major != 6 || tag != 42) return bad("root is not a CID");
        if (!p.Head(&major, &blen) || major != 2 || blen > p.in.size() || blen < 2 || p.in[0] != 0)
          return bad("bad root CID bytes");
        auto cid = Cid::FromBinary(p.in.subspan(1, blen - 1));
        if (!cid.ok()) return bad("bad root CID");
        roots.push_back(std::move(cid).value());
        p.in = p.in.subspan(blen);
      }
    } else if (!p.Skip(0)) {
      return bad("malformed value");
    }
  }
  if (!p.in.empty()) return bad("trailing bytes");
  if (version != 1u) return bad("version is not 1 (only CARv1 is supported)");
  return roots;
}

Result<std::optional<Block>> CarReader::Next() {
  uint64_t start = read_;
  S3XFS_ASSIGN_OR_RETURN(auto len, ReadSectionLength());
  if (!len) return std::optional<Block>();
  if (*len == 0 || *len > kMaxCarSection)
    return Status::Corruption("CAR section at byte " + std::to_string(start) + " has bad length " +
                              std::to_string(*len));
  Bytes section(*len);
  bool eof;
  S3XFS_RETURN_IF_ERROR(ReadExact(section.data(), section.size(), &eof));
  if (eof) return Status::Corruption("CAR truncated at byte " + std::to_string(read_));
  ByteView p(section);
  auto cid = Cid::ReadBinary(&p);
  if (!cid.ok())
    return Status::Corruption("CAR section at byte " + std::to_string(start) + ": " +
                              cid.status().message());
  S3XFS_RETURN_IF_ERROR(cid->Verify(p));
  Block b;
  b.cid = std::move(cid).value();
  b.data.assign(p.begin(), p.end());
  return std::optional<Block>(std::move(b));
}

namespace {
struct Exporter {
  BlockSource* src;
  CarWriter* w;
  size_t batch;
  std::unordered_set<Cid, CidHash> seen;

  // Writes `cid` (whose bytes are `data`) and then, depth-first, its unseen descendants.
  Status Visit(const Cid& cid, const Bytes& data, int depth) {
    if (depth > 64) return Status::Corruption("DAG too deep at " + cid.ToString());
    S3XFS_RETURN_IF_ERROR(w->WriteBlock(cid, data));
    S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> links, BlockLinks(cid, data));
    for (size_t k = 0; k < links.size(); k += batch) {
      std::vector<Cid> ids;
      for (size_t j = k; j < links.size() && j < k + batch; ++j)
        if (seen.insert(links[j]).second) ids.push_back(links[j]);
      if (ids.empty()) continue;
      auto blocks = src->GetMany(ids);
      for (size_t j = 0; j < ids.size(); ++j) {
        if (!blocks[j].ok()) return blocks[j].status();
        S3XFS_RETURN_IF_ERROR(Visit(ids[j], *blocks[j], depth + 1));
        blocks[j] = Bytes();
      }
    }
    return Status::OK();
  }
};
}  // namespace

Status ExportCar(BlockSource* source, std::span<const Cid> roots, const CarWriter::Output& out,
                 size_t batch) {
  // Fetch the roots first so a missing root fails before anything is written.
  auto root_blocks = source->GetMany(roots);
  for (auto& b : root_blocks)
    if (!b.ok()) return b.status();
  CarWriter w(out);
  S3XFS_RETURN_IF_ERROR(w.WriteHeader(roots));
  Exporter e{source, &w, batch, {}};
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!e.seen.insert(roots[i]).second) continue;
    S3XFS_RETURN_IF_ERROR(e.Visit(roots[i], *root_blocks[i], 0));
    root_blocks[i] = Bytes();
  }
  return Status::OK();
}

}  // namespace s3xfs
