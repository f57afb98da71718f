// The HTTP request and response shapes the S3 front end works on, independent of any HTTP
// library (only server.cc knows Boost.Beast). Pure value types and helpers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"

namespace s3xfs::s3 {

// Header fields in arrival order; names lower-cased, values exactly as received.
struct HeaderList {
  std::vector<std::pair<std::string, std::string>> fields;

  void Add(std::string_view name, std::string_view value);  // lower-cases name
  // The first value of `lower_name`, or nullptr.
  const std::string* Find(std::string_view lower_name) const;
  // Every value of `lower_name` joined with "," (RFC 9110 field combination); "" if absent.
  std::string Joined(std::string_view lower_name) const;
  bool Has(std::string_view lower_name) const { return Find(lower_name) != nullptr; }
};

struct RequestHead {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // the raw request-target: "/bucket/key?query", as received
  HeaderList headers;
};

// Target split at the first '?': raw (still percent-encoded) path and query.
struct SplitTarget {
  std::string raw_path;
  std::string raw_query;
};
SplitTarget SplitRequestTarget(std::string_view target);

// One query parameter, percent-decoded ('+' decodes to a space, as every S3 server does; clients
// send a literal plus as %2B). `has_value` is false for "?uploads" (no '=').
struct QueryParam {
  std::string name;
  std::string value;
  bool has_value = false;
};
// InvalidArgument on a malformed escape (%zz, truncated %).
Result<std::vector<QueryParam>> ParseQuery(std::string_view raw_query);

// Decodes %XX escapes; '+' becomes a space only when plus_is_space. False on a bad escape.
bool PercentDecode(std::string_view text, std::string* out, bool plus_is_space);
// AWS URI encoding: every byte except A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex); '/' is
// kept when !encode_slash. This is what SigV4 canonicalisation and encoding-type=url use.
std::string UriEncode(std::string_view text, bool encode_slash);

// A single "Range: bytes=..." header value against an entity of `size` bytes (RFC 9110 §14.1.2):
// first-last, first- and -suffix forms. nullopt when there is no usable range (another unit, a
// list of ranges, a malformed value): serve the whole entity. InvalidArgument with
// Reason::kInvalidRange (416) when the range is well formed but not satisfiable.
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
Result<std::optional<ByteRange>> ParseByteRange(std::string_view value, uint64_t size);
// The Content-Range value of a 206 answer: "bytes FIRST-LAST/SIZE".
std::string ContentRange(uint64_t first, uint64_t length, uint64_t size);

// Optional whitespace (spaces, tabs) removed from both ends.
std::string_view TrimOws(std::string_view s);
// ASCII letters lower-cased.
std::string AsciiLower(std::string_view s);
// An ETag from a request header: a W/ prefix and the quotes removed.
std::string Unquoted(std::string_view etag);
// Whether an If-Match / If-None-Match list (`"a", W/"b"` or `*`) names `etag` (unquoted;
// weak comparison).
bool EtagListMatches(std::string_view list, std::string_view etag);

// Streams a response body: the server pulls until Read returns 0.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Fills up to buf.size() bytes; 0 = end. An error after the headers were sent aborts the
  // connection (the client sees a short body, never wrong bytes).
  virtual Result<size_t> Read(std::span<uint8_t> buf) = 0;
};

struct Response {
  int status = 200;
  HeaderList headers;
  // Either a small body held in memory, or a stream of `content_length` bytes.
  std::string body;
  std::unique_ptr<BodySource> stream;
  uint64_t content_length = 0;  // for stream; for `body` it is body.size()
  // A stream whose length is not known up front (a CAR export): read until Read returns 0 and
  // sent with chunked transfer coding (HTTP/1.0: until the connection closes); content_length
  // is ignored and a HEAD reply carries no Content-Length. An error of Read cuts the
  // connection before the last chunk, so the client sees a truncated message.
  bool chunked = false;
  // HEAD and 304: send Content-Length (of the entity) without a body.
  bool head_only = false;
  // Close the connection after this response (the request body was not read to its end).
  bool close = false;
};

}  // namespace s3xfs::s3
