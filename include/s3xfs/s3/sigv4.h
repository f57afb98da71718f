// AWS Signature Version 4 for S3: parsing the two request forms (Authorization header and
// presigned query), canonicalisation, signing and verification. Pure code (OpenSSL HMAC), no
// I/O, no clock: callers pass the time. Reference: AWS "Signature Version 4 signing process"
// and ../shared/S3_CLIENTS.md.
//
// Canonical request (what both sides hash):
//   METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
// - CanonicalURI: the raw path percent-decoded once, then UriEncode(path, encode_slash=false).
//   No '.'/'..' normalisation and no merging of '//' (S3 keys may contain them).
// - CanonicalQuery: every parameter (for presigned requests all but X-Amz-Signature),
//   name and value UriEncode(.., true), sorted by name then value, "name=value" joined by '&';
//   a parameter without '=' gets an empty value.
// - CanonicalHeaders: for each signed header name (lower case, sorted): "name:value\n" where
//   value is every received value of that header joined with ',', each trimmed, runs of spaces
//   folded to one. A signed header that is absent is an error (SignatureDoesNotMatch).
// - PayloadHash: x-amz-content-sha256 as sent (header form), "UNSIGNED-PAYLOAD" for presigned
//   requests unless the query or a signed header gives x-amz-content-sha256.
//
// Errors (Status reasons the S3 layer turns into codes): AuthorizationHeaderMalformed,
// AuthorizationQueryParametersError, SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied
// (expired presigned URL), InvalidRequest (SigV2 or another algorithm), InvalidArgument.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/s3/http.h"

namespace s3xfs::s3 {

// Credential=AKID/20260101/us-east-1/s3/aws4_request
struct SigV4Credential {
  std::string access_key;
  std::string date;     // YYYYMMDD
  std::string region;
  std::string service;  // "s3"
  // "date/region/service/aws4_request"
  std::string Scope() const;
};

// What x-amz-content-sha256 says about the body.
enum class PayloadMode {
  kSignedDigest,           // a 64-hex sha256 of the body: the body must match it
  kUnsigned,               // UNSIGNED-PAYLOAD (or presigned without a digest)
  kStreamingSigned,        // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
  kStreamingSignedTrailer, // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
  kStreamingUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER
};

struct SigV4Request {
  bool presigned = false;
  SigV4Credential credential;
  std::vector<std::string> signed_headers;  // lower case, as listed
  std::string signature;                    // 64 lower-case hex digits
  std::string amz_date;                     // YYYYMMDDTHHMMSSZ (x-amz-date, or Date for header form)
  int64_t expires_s = 0;                    // presigned: X-Amz-Expires (1..604800)
  PayloadMode payload = PayloadMode::kUnsigned;
  std::string payload_hash;                 // the literal value used in the canonical request
};

// Finds and parses the authentication of a request. nullopt: anonymous (no Authorization header
// and no X-Amz-Algorithm/X-Amz-Signature parameter). Errors: a malformed header or query
// (AuthorizationHeaderMalformed / AuthorizationQueryParametersError), SigV2 or an unknown
// algorithm (InvalidRequest), a missing or unparsable x-amz-date, an x-amz-content-sha256 that is
// neither 64 hex digits nor a known keyword (InvalidArgument), `host` not signed
// (AuthorizationHeaderMalformed), presigned expiry outside 1..604800.
Result<std::optional<SigV4Request>> ParseSigV4(const RequestHead& head,
                                               const std::vector<QueryParam>& query);

std::string CanonicalRequest(const RequestHead& head, const std::vector<QueryParam>& query,
                             const SigV4Request& auth);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
Bytes SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                 std::string_view service);
// Lower-case hex HMAC-SHA256(key, string_to_sign).
std::string SignHex(ByteView signing_key, std::string_view string_to_sign);
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// YYYYMMDDTHHMMSSZ -> seconds since the epoch; nullopt when malformed.
std::optional<int64_t> ParseAmzDate(std::string_view amz_date);
// RFC 1123 "Sun, 06 Nov 1994 08:49:37 GMT" -> seconds; nullopt when malformed.
std::optional<int64_t> ParseHttpDate(std::string_view http_date);
std::string FormatHttpDate(int64_t seconds);
std::string FormatAmzDate(int64_t seconds);          // YYYYMMDDTHHMMSSZ
std::string FormatIso8601(int64_t nanoseconds);      // 2026-01-02T03:04:05.000Z (listings)

struct VerifyOptions {
  int64_t now_s = 0;
  int64_t max_skew_s = 15 * 60;
  std::string region = "us-east-1";  // the credential scope's region must match
};

// The result of a good signature: what the streaming decoder needs to check chunk signatures.
struct VerifiedRequest {
  std::string access_key;
  Bytes signing_key;
  std::string seed_signature;  // the request's own signature
  std::string amz_date;
  std::string scope;
  PayloadMode payload = PayloadMode::kUnsigned;
  std::string payload_hash;
};

// Checks the signature of a parsed request with the secret of its access key, the clock (skew
// for the header form; X-Amz-Date + X-Amz-Expires for presigned, and presigned dates in the
// future beyond the skew), the scope (service "s3", the configured region, date equal to the
// first 8 characters of amz_date). The comparison is constant time.
Result<VerifiedRequest> VerifySigV4(const RequestHead& head, const std::vector<QueryParam>& query,
                                    const SigV4Request& auth, std::string_view secret,
                                    const VerifyOptions& options);

}  // namespace s3xfs::s3
