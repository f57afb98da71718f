#include "s3xfs/cas/dagpb.h"

#include "pbwire.h"

namespace s3xfs {

using pbwire::Field;
using pbwire::Reader;

Bytes EncodePbNode(const PbNode& node) {
  Bytes out;
  Bytes link;
  for (const PbLink& l : node.links) {
    link.clear();
    pbwire::LenField(&link, 1, l.hash.binary());
    if (l.name) pbwire::LenField(&link, 2, AsBytes(*l.name));
    if (l.tsize) pbwire::VarintField(&link, 3, *l.tsize);
    pbwire::LenField(&out, 2, link);
  }
  if (node.data) pbwire::LenField(&out, 1, *node.data);
  return out;
}

static Result<PbLink> DecodeLink(ByteView bytes) {
  PbLink link;
  Reader r(bytes);
  Field f;
  bool have_hash = false;
  while (r.Next(&f)) {
    if (f.number == 1 && f.type == pbwire::kLen) {
      auto cid = Cid::FromBinary(f.bytes);
      if (!cid.ok()) return Status::Corruption("dag-pb link hash: " + cid.status().message());
      link.hash = std::move(cid).value();
      have_hash = true;
    } else if (f.number == 2 && f.type == pbwire::kLen) {
      link.name = std::string(AsChars(f.bytes));
    } else if (f.number == 3 && f.type == pbwire::kVarint) {
      link.tsize = f.varint;
    } else {
      return Status::Corruption("dag-pb link: unexpected field " + std::to_string(f.number));
    }
  }
  if (r.error()) return Status::Corruption("dag-pb link: malformed protobuf");
  if (!have_hash) return Status::Corruption("dag-pb link without a hash");
  return link;
}

Result<PbNode> DecodePbNode(ByteView block) {
  PbNode node;
  Reader r(block);
  Field f;
  while (r.Next(&f)) {
    if (f.number == 2 && f.type == pbwire::kLen) {
      S3XFS_ASSIGN_OR_RETURN(PbLink link, DecodeLink(f.bytes));
      node.links.push_back(std::move(link));
    } else if (f.number == 1 && f.type == pbwire::kLen) {
      if (node.data) return Status::Corruption("dag-pb node with two Data fields");
      node.data = Bytes(f.bytes.begin(), f.bytes.end());
    } else {
      return Status::Corruption("dag-pb node: unexpected field " + std::to_string(f.number));
    }
  }
  if (r.error()) return Status::Corruption("dag-pb node: malformed protobuf");
  return node;
}

Bytes EncodeUnixfs(const UnixfsData& d) {
  Bytes out;
  pbwire::VarintField(&out, 1, static_cast<uint64_t>(d.type));
  if (d.data) pbwire::LenField(&out, 2, *d.data);
  if (d.filesize) pbwire::VarintField(&out, 3, *d.filesize);
  for (uint64_t bs : d.blocksizes) pbwire::VarintField(&out, 4, bs);
  if (d.hash_type) pbwire::VarintField(&out, 5, *d.hash_type);
  if (d.fanout) pbwire::VarintField(&out, 6, *d.fanout);
  if (d.mode) pbwire::VarintField(&out, 7, *d.mode);
  if (d.mtime) {
    Bytes t;
    pbwire::VarintField(&t, 1, static_cast<uint64_t>(d.mtime->seconds));
    if (d.mtime->nanos) {
      pbwire::Tag(&t, 2, pbwire::kFixed32);
      for (int i = 0; i < 4; ++i) t.push_back(static_cast<uint8_t>(*d.mtime->nanos >> (8 * i)));
    }
    pbwire::LenField(&out, 8, t);
  }
  return out;
}

Result<UnixfsData> DecodeUnixfs(ByteView bytes) {
  UnixfsData d;
  bool have_type = false;
  Reader r(bytes);
  Field f;
  auto bad = [](const char* what) { return Status::Corruption(std::string("UnixFS data: ") + what); };
  while (r.Next(&f)) {
    switch (f.number) {
      case 1:
        if (f.type != pbwire::kVarint || f.varint > 5) return bad("bad Type");
        d.type = static_cast<UnixfsType>(f.varint);
        have_type = true;
        break;
      case 2:
        if (f.type != pbwire::kLen) return bad("bad Data");
        d.data = Bytes(f.bytes.begin(), f.bytes.end());
        break;
      case 3:
        if (f.type != pbwire::kVarint) return bad("bad filesize");
        d.filesize = f.varint;
        break;
      case 4:
        if (f.type == pbwire::kVarint) {
          d.blocksizes.push_back(f.varint);
        } else if (f.type == pbwire::kLen) {  // packed
          ByteView p = f.bytes;
          while (!p.empty()) {
            uint64_t v;
            if (!ReadVarint(&p, &v, false)) return bad("bad packed blocksizes");
            d.blocksizes.push_back(v);
          }
        } else {
          return bad("bad blocksizes");
        }
        break;
      case 5:
        if (f.type != pbwire::kVarint) return bad("bad hashType");
        d.hash_type = f.varint;
        break;
      case 6:
        if (f.type != pbwire::kVarint) return bad("bad fanout");
        d.fanout = f.varint;
        break;
      case 7:
        if (f.type != pbwire::kVarint) return bad("bad mode");
        d.mode = static_cast<uint32_t>(f.varint);
        break;
      case 8: {
        if (f.type != pbwire::kLen) return bad("bad mtime");
        UnixfsTime t;
        Reader tr(f.bytes);
        Field tf;
        while (tr.Next(&tf)) {
          if (tf.number == 1 && tf.type == pbwire::kVarint) t.seconds = static_cast<int64_t>(tf.varint);
          else if (tf.number == 2 && tf.type == pbwire::kFixed32) t.nanos = static_cast<uint32_t>(tf.varint);
        }
        if (tr.error()) return bad("bad mtime");
        d.mtime = t;
        break;
      }
      default:
        break;  // unknown fields are ignored, as protobuf does
    }
  }
  if (r.error()) return bad("malformed protobuf");
  if (!have_type) return bad("missing Type");
  return d;
}

}  // namespace s3xfs
