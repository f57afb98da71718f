// libFuzzer target for SigV4 parsing, canonicalisation and verification (tests/fuzz/run.sh).
// fuzz-sources: src/s3/http.cc src/s3/checksum.cc src/s3/sigv4.cc src/base/status.cc src/base/bytes.cc
//
// Input: a request head as text.
//   line 1: "METHOD TARGET"          (split at the first space)
//   then:   "Name: value" lines     (up to an empty line or the end)
//   then:   one byte after the empty line, if any, chooses the clock offset.
// Every input must parse or fail cleanly. When it parses, the harness also signs it itself
// (CanonicalRequest -> StringToSign -> SignHex with the fixed secret) and checks that a request
// carrying that signature verifies, whenever its scope and clock allow: a sign/verify mismatch
// on any request shape is a bug. The date helpers are checked for round trips.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "s3xfs/s3/sigv4.h"

namespace {

using namespace s3xfs;
using namespace s3xfs::s3;

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

void Check(bool ok) {
  if (!ok) abort();
}

std::string_view NextLine(std::string_view* text) {
  size_t nl = text->find('\n');
  std::string_view line = text->substr(0, nl);
  *text = nl == std::string_view::npos ? std::string_view() : text->substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

void CheckDates(const RequestHead& head) {
  for (const auto& [name, value] : head.headers.fields) {
    if (auto t = ParseAmzDate(value)) Check(FormatAmzDate(*t) == value);
    if (auto t = ParseHttpDate(value)) Check(ParseHttpDate(FormatHttpDate(*t)) == t);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  RequestHead head;
  std::string_view first = NextLine(&text);
  size_t sp = first.find(' ');
  head.method = std::string(first.substr(0, sp));
  head.target = sp == std::string_view::npos ? "/" : std::string(first.substr(sp + 1));
  int clock_offset = 0;
  while (!text.empty()) {
    std::string_view line = NextLine(&text);
    if (line.empty()) {
      if (!text.empty()) clock_offset = int(uint8_t(text[0])) - 128;
      break;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    head.headers.Add(line.substr(0, colon), line.substr(colon + 1));
  }
  CheckDates(head);

  auto query = ParseQuery(SplitRequestTarget(head.target).raw_query);
  if (!query.ok()) return 0;
  auto parsed = ParseSigV4(head, *query);
  if (!parsed.ok()) {
    Check(parsed.status().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  if (!parsed->has_value()) return 0;
  SigV4Request auth = **parsed;
  auto when = ParseAmzDate(auth.amz_date);
  Check(when.has_value());
  Check(auth.signature.size() == 64);

  // As sent.
  VerifyOptions options;
  options.now_s = *when + clock_offset * 10;
  options.region = auth.credential.region;
  (void)VerifySigV4(head, *query, auth, kSecret, options);

  // Signed by the harness: must verify whenever scope, clock and headers allow.
  Bytes key = SigningKey(kSecret, auth.credential.date, auth.credential.region,
                         auth.credential.service);
  std::string canonical = CanonicalRequest(head, *query, auth);
  auth.signature = SignHex(key, StringToSign(auth.amz_date, auth.credential.Scope(), canonical));
  bool headers_present = true;
  for (const std::string& name : auth.signed_headers) headers_present &= head.headers.Has(name);
  bool in_time = auth.presigned
                     ? (options.now_s - *when <= auth.expires_s && *when - options.now_s <= options.max_skew_s)
                     : (std::abs(options.now_s - *when) <= options.max_skew_s);
  bool scope_ok = auth.credential.service == "s3" &&
                  auth.credential.date == std::string_view(auth.amz_date).substr(0, 8);
  auto verified = VerifySigV4(head, *query, auth, kSecret, options);
  if (headers_present && in_time && scope_ok) {
    Check(verified.ok());
    Check(verified->seed_signature == auth.signature);
    Check(verified->signing_key == key);
  } else {
    Check(!verified.ok());
  }
  // One flipped signature digit never verifies.
  auth.signature[size % 64] = auth.signature[size % 64] == '0' ? '1' : '0';
  Check(!VerifySigV4(head, *query, auth, kSecret, options).ok());
  return 0;
}
