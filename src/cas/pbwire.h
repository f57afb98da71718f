// Minimal protobuf wire-format helpers for dag-pb and UnixFS (internal to cas).
#pragma once

#include <cstdint>

#include "s3xfs/base/bytes.h"
#include "s3xfs/cas/varint.h"

namespace s3xfs::pbwire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline void Tag(Bytes* out, uint32_t field, WireType wt) { AppendVarint(out, field << 3 | wt); }
inline void VarintField(Bytes* out, uint32_t field, uint64_t v) {
  Tag(out, field, kVarint);
  AppendVarint(out, v);
}
inline void LenField(Bytes* out, uint32_t field, ByteView v) {
  Tag(out, field, kLen);
  AppendVarint(out, v.size());
  out->insert(out->end(), v.begin(), v.end());
}

struct Field {
  uint32_t number = 0;
  WireType type = kVarint;
  uint64_t varint = 0;  // kVarint, kFixed64, kFixed32
  ByteView bytes;       // kLen
};

// Iterates the fields of one message. Next() returns false at the end or on malformed input;
// error() tells which.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  bool Next(Field* f) {
    if (in_.empty()) return false;
    uint64_t key = 0;
    if (!ReadVarint(&in_, &key, false) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
      return Fail();
    f->number = static_cast<uint32_t>(key >> 3);
    f->type = static_cast<WireType>(key & 7);
    switch (f->type) {
      case kVarint:
        if (!ReadVarint(&in_, &f->varint, false)) return Fail();
        return true;
      case kFixed64:
      case kFixed32: {
        size_t n = f->type == kFixed64 ? 8 : 4;
        if (in_.size() < n) return Fail();
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(in_[i]) << (8 * i);
        f->varint = v;
        in_ = in_.subspan(n);
        return true;
      }
      case kLen: {
        uint64_t len = 0;
        if (!ReadVarint(&in_, &len, false) || len > in_.size()) return Fail();
        f->bytes = in_.subspan(0, len);
        in_ = in_.subspan(len);
        return true;
      }
      default:
        return Fail();
    }
  }
  bool error() const { return error_; }

 private:
  bool Fail() {
    error_ = true;
    return false;
  }
  ByteView in_;
  bool error_ = false;
};

}  // namespace s3xfs::pbwire
