// Text encodings used by CIDs: RFC 4648 base32 (no padding) and base58btc.
#pragma once

#include <string>
#include <string_view>

#include "s3xfs/base/bytes.h"

namespace s3xfs {

// RFC 4648 base32 without padding; lower or upper case alphabet.
std::string Base32Encode(ByteView in, bool upper = false);
// Accepts either case (not mixed within one digit set rule: each char is case-folded). Returns
// false on a character outside the alphabet or an impossible length.
bool Base32Decode(std::string_view in, Bytes* out);

std::string Base58btcEncode(ByteView in);
bool Base58btcDecode(std::string_view in, Bytes* out);

}  // namespace s3xfs
