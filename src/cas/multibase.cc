#include "s3xfs/cas/multibase.h"

#include <algorithm>
#include <array>

namespace s3xfs {

namespace {
constexpr char kB32Lower[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr char kB32Upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kB58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int B32Value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

const std::array<int8_t, 256>& B58Table() {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t;
    t.fill(-1);
    for (int i = 0; i < 58; ++i) t[static_cast<uint8_t>(kB58[i])] = static_cast<int8_t>(i);
    return t;
  }();
  return table;
}
}  // namespace

std::string Base32Encode(ByteView in, bool upper) {
  const char* alpha = upper ? kB32Upper : kB32Lower;
  std::string out;
  out.reserve((in.size() * 8 + 4) / 5);
  uint32_t buf = 0;
  int bits = 0;
  for (uint8_t b : in) {
    buf = (buf << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(alpha[(buf >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(alpha[(buf << (5 - bits)) & 31]);
  return out;
}

bool Base32Decode(std::string_view in, Bytes* out) {
  // Valid unpadded lengths mod 8: 0, 2, 4, 5, 7.
  size_t rem = in.size() % 8;
  if (rem == 1 || rem == 3 || rem == 6) return false;
  out->clear();
  out->reserve(in.size() * 5 / 8);
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v = B32Value(c);
    if (v < 0) return false;
    buf = (buf << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out->push_back(static_cast<uint8_t>(buf >> (bits - 8)));
      bits -= 8;
    }
  }
  // Leftover bits must be zero (canonical encoding).
  return (buf & ((1u << bits) - 1)) == 0;
}

std::string Base58btcEncode(ByteView in) {
  size_t zeros = 0;
  while (zeros < in.size() && in[zeros] == 0) ++zeros;
  // Big-number base conversion, base 256 -> base 58 (little-endian digits).
  std::vector<uint8_t> digits;
  digits.reserve(in.size() * 138 / 100 + 1);
  for (size_t i = zeros; i < in.size(); ++i) {
    uint32_t carry = in[i];
    for (auto& d : digits) {
      carry += static_cast<uint32_t>(d) << 8;
      d = static_cast<uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry) {
      digits.push_back(static_cast<uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string out(zeros, '1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kB58[*it]);
  return out;
}

bool Base58btcDecode(std::string_view in, Bytes* out) {
  const auto& table = B58Table();
  size_t ones = 0;
  while (ones < in.size() && in[ones] == '1') ++ones;
  std::vector<uint8_t> bytes;  // little-endian base 256
  bytes.reserve(in.size() * 733 / 1000 + 1);
  for (size_t i = ones; i < in.size(); ++i) {
    int v = table[static_cast<uint8_t>(in[i])];
    if (v < 0) return false;
    uint32_t carry = static_cast<uint32_t>(v);
    for (auto& b : bytes) {
      carry += static_cast<uint32_t>(b) * 58;
      b = static_cast<uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry) {
      bytes.push_back(static_cast<uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  out->assign(ones, 0);
  out->insert(out->end(), bytes.rbegin(), bytes.rend());
  return true;
}

}  // namespace s3xfs
