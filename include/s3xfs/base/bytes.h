// Byte containers and small encoding helpers shared by every module.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace s3xfs {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsChars(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Lower-case hexadecimal of the bytes.
std::string HexEncode(ByteView b);
// Parses hexadecimal (either case). Returns false on odd length or a non-hex digit.
bool HexDecode(std::string_view hex, Bytes* out);

}  // namespace s3xfs
