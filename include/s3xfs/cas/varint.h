// Unsigned LEB128 varints as multiformats uses them (and protobuf).
#pragma once

#include <cstdint>

#include "s3xfs/base/bytes.h"

namespace s3xfs {

void AppendVarint(Bytes* out, uint64_t v);
// Number of bytes AppendVarint writes for v.
size_t VarintLength(uint64_t v);
// Reads a varint from the front of `in`. On success stores the value, advances `in` past it and
// returns true. Fails on truncation, on more than 10 bytes / overflow of 64 bits, and (when
// `minimal` is set, as multiformats requires) on a non-minimal encoding such as 0x80 0x00.
bool ReadVarint(ByteView* in, uint64_t* value, bool minimal = true);

}  // namespace s3xfs
