#include "s3xfs/cas/varint.h"

namespace s3xfs {

void AppendVarint(Bytes* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

bool ReadVarint(ByteView* in, uint64_t* value, bool minimal) {
  uint64_t v = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    uint8_t b = (*in)[i];
    if (i == 9 && b > 1) return false;  // overflows 64 bits
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      if (minimal && i > 0 && b == 0) return false;  // trailing zero group: not minimal
      *value = v;
      *in = in->subspan(i + 1);
      return true;
    }
  }
  return false;
}

}  // namespace s3xfs
