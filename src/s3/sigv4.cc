#include "s3xfs/s3/sigv4.h"

#include <time.h>

#include <algorithm>
#include <cstdio>

#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/http.h"

namespace s3xfs::s3 {
namespace {

using R = Status::Reason;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr int64_t kMaxPresignedExpiry = 7 * 24 * 3600;  // 604800 s

Status HeaderMalformed(std::string msg) {
  return Status::InvalidArgument("The authorization header is malformed; " + std::move(msg))
      .With(R::kAuthorizationHeaderMalformed);
}
Status QueryError(std::string msg) {
  return Status::InvalidArgument(std::move(msg)).With(R::kAuthorizationQueryParametersError);
}
Status InvalidRequest(std::string msg) {
  return Status::InvalidArgument(std::move(msg)).With(R::kInvalidRequest);
}
Status SignatureMismatch() {
  return Status::InvalidArgument(
             "The request signature we calculated does not match the signature you provided. "
             "Check your key and signing method.")
      .With(R::kSignatureDoesNotMatch);
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}


// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

int Number(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::optional<int64_t> FromFields(int64_t year, int month, int day, int hour, int minute,
                                  int second) {
  if (month < 1 || month > 12 || day < 1 || day > int(DaysInMonth(year, unsigned(month))) ||
      hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  return DaysFromCivil(year, unsigned(month), unsigned(day)) * 86400 + hour * 3600 + minute * 60 +
         second;
}

constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int MonthIndex(std::string_view name) {
  for (int i = 0; i < 12; ++i) {
    if (name == kMonths[i]) return i + 1;
  }
  return 0;
}

// "HH:MM:SS" -> fields; false when malformed.
bool ParseClock(std::string_view s, int* h, int* m, int* sec) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':' || !IsDigits(s.substr(0, 2)) ||
      !IsDigits(s.substr(3, 2)) || !IsDigits(s.substr(6, 2))) {
    return false;
  }
  *h = Number(s.substr(0, 2));
  *m = Number(s.substr(3, 2));
  *sec = Number(s.substr(6, 2));
  return true;
}

std::vector<std::string_view> SplitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool GmTime(int64_t seconds, struct tm* out) {
  time_t t = static_cast<time_t>(seconds);
  return gmtime_r(&t, out) != nullptr;
}

// Credential=AK/DATE/REGION/SERVICE/aws4_request
bool ParseCredential(std::string_view text, SigV4Credential* out) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    size_t slash = text.find('/', pos);
    if (slash == std::string_view::npos) {
      parts.push_back(text.substr(pos));
      break;
    }
    parts.push_back(text.substr(pos, slash - pos));
    pos = slash + 1;
  }
  if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8 || !IsDigits(parts[1]) ||
      parts[2].empty() || parts[3].empty() || parts[4] != "aws4_request") {
    return false;
  }
  out->access_key = std::string(parts[0]);
  out->date = std::string(parts[1]);
  out->region = std::string(parts[2]);
  out->service = std::string(parts[3]);
  return true;
}

// "a;b;c" -> sorted lower-case names; false on an empty name or a duplicate.
bool ParseSignedHeaders(std::string_view text, std::vector<std::string>* out) {
  out->clear();
  size_t pos = 0;
  while (true) {
    size_t semi = text.find(';', pos);
    std::string_view name =
        text.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
    if (name.empty()) return false;
    for (char c : name) {
      if (c <= ' ' || c == ':' || c == 0x7f) return false;
    }
    out->push_back(AsciiLower(name));
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  std::sort(out->begin(), out->end());
  return std::adjacent_find(out->begin(), out->end()) == out->end();
}

// Fills payload/payload_hash from an x-amz-content-sha256 value.
Status SetPayload(std::string_view value, SigV4Request* req) {
  struct Keyword {
    std::string_view text;
    PayloadMode mode;
  };
  static constexpr Keyword kKeywords[] = {
      {"UNSIGNED-PAYLOAD", PayloadMode::kUnsigned},
      {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PayloadMode::kStreamingSigned},
      {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", PayloadMode::kStreamingSignedTrailer},
      {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", PayloadMode::kStreamingUnsignedTrailer},
  };
  req->payload_hash = std::string(value);
  for (const Keyword& k : kKeywords) {
    if (value == k.text) {
      req->payload = k.mode;
      return Status::OK();
    }
  }
  if (IsHex64(value)) {
    req->payload = PayloadMode::kSignedDigest;
    return Status::OK();
  }
  return Status::InvalidArgument(
      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a "
      "valid sha256 value");
}

const QueryParam* FindParam(const std::vector<QueryParam>& query, std::string_view name,
                            int* count = nullptr) {
  const QueryParam* found = nullptr;
  int n = 0;
  for (const QueryParam& p : query) {
    if (p.name == name) {
      if (!found) found = &p;
      ++n;
    }
  }
  if (count) *count = n;
  return found;
}

Result<std::optional<SigV4Request>> ParseHeaderForm(const RequestHead& head,
                                                    std::string_view authorization) {
  std::string_view value = TrimOws(authorization);
  size_t space = value.find(' ');
  std::string_view algorithm = value.substr(0, space);
  if (algorithm == "AWS") {
    return InvalidRequest(
        "AWS Signature Version 2 is not supported; sign requests with AWS Signature Version 4 "
        "(AWS4-HMAC-SHA256)");
  }
  if (algorithm != kAlgorithm) {
    return InvalidRequest("Unsupported Authorization Type: only AWS4-HMAC-SHA256 is supported");
  }
  if (space == std::string_view::npos) return HeaderMalformed("it has no components");
  std::string_view rest = value.substr(space + 1);

  SigV4Request req;
  bool have_credential = false, have_headers = false, have_signature = false;
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t comma = rest.find(',', pos);
    if (comma == std::string_view::npos) comma = rest.size();
    std::string_view part = TrimOws(rest.substr(pos, comma - pos));
    pos = comma + 1;
    if (part.empty()) {
      if (comma == rest.size()) break;
      continue;
    }
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return HeaderMalformed("the component '" + std::string(part) + "' has no '='");
    }
    std::string_view key = TrimOws(part.substr(0, eq));
    std::string_view val = TrimOws(part.substr(eq + 1));
    if (key == "Credential") {
      if (have_credential) return HeaderMalformed("Credential is given twice");
      if (!ParseCredential(val, &req.credential)) {
        return HeaderMalformed("a non-empty Access Key (AKID) must be provided in the credential "
                               "AKID/YYYYMMDD/region/service/aws4_request");
      }
      have_credential = true;
    } else if (key == "SignedHeaders") {
      if (have_headers) return HeaderMalformed("SignedHeaders is given twice");
      if (!ParseSignedHeaders(val, &req.signed_headers)) {
        return HeaderMalformed("SignedHeaders is not a list of distinct header names");
      }
      have_headers = true;
    } else if (key == "Signature") {
      if (have_signature) return HeaderMalformed("Signature is given twice");
      if (!IsHex64(val)) return HeaderMalformed("Signature is not 64 hexadecimal digits");
      req.signature = AsciiLower(val);
      have_signature = true;
    } else {
      return HeaderMalformed("unknown component '" + std::string(key) + "'");
    }
    if (comma == rest.size()) break;
  }
  if (!have_credential) return HeaderMalformed("missing Credential");
  if (!have_headers) return HeaderMalformed("missing SignedHeaders");
  if (!have_signature) return HeaderMalformed("missing Signature");
  if (!std::binary_search(req.signed_headers.begin(), req.signed_headers.end(), "host")) {
    return HeaderMalformed("'host' must be a signed header");
  }

  // The request time: x-amz-date, else Date (ISO 8601 basic or RFC 1123).
  if (const std::string* amz = head.headers.Find("x-amz-date")) {
    std::string_view t = TrimOws(*amz);
    if (!ParseAmzDate(t)) {
      return Status::InvalidArgument(
                 "AWS authentication requires a valid Date or x-amz-date header (x-amz-date must "
                 "be YYYYMMDDTHHMMSSZ)")
          .With(R::kAccessDenied);
    }
    req.amz_date = std::string(t);
  } else if (const std::string* date = head.headers.Find("date")) {
    std::string_view t = TrimOws(*date);
    if (ParseAmzDate(t)) {
      req.amz_date = std::string(t);
    } else if (auto s = ParseHttpDate(t)) {
      req.amz_date = FormatAmzDate(*s);
    } else {
      return Status::InvalidArgument("AWS authentication requires a valid Date or x-amz-date header")
          .With(R::kAccessDenied);
    }
  } else {
    return Status::InvalidArgument("AWS authentication requires a valid Date or x-amz-date header")
        .With(R::kAccessDenied);
  }

  if (const std::string* sha = head.headers.Find("x-amz-content-sha256")) {
    S3XFS_RETURN_IF_ERROR(SetPayload(TrimOws(*sha), &req));
  } else {
    // Without the header the body is taken to be empty (as generic SigV4 signers do for GET).
    req.payload = PayloadMode::kSignedDigest;
    req.payload_hash = HexEncode(Sha256Of({}));
  }
  return std::optional<SigV4Request>(std::move(req));
}

Result<std::optional<SigV4Request>> ParseQueryForm(const RequestHead& head,
                                                   const std::vector<QueryParam>& query) {
  static constexpr std::string_view kRequired[] = {
      "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
      "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
  const QueryParam* found[6];
  for (int i = 0; i < 6; ++i) {
    int count = 0;
    found[i] = FindParam(query, kRequired[i], &count);
    if (count > 1) return QueryError(std::string(kRequired[i]) + " is given more than once");
  }
  if (found[0] && found[0]->value != kAlgorithm) {
    return InvalidRequest("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  for (const QueryParam* p : found) {
    if (!p) {
      return QueryError(
          "Query-string authentication version 4 requires the X-Amz-Algorithm, "
          "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
          "X-Amz-Expires parameters.");
    }
  }
  SigV4Request req;
  req.presigned = true;
  if (!ParseCredential(found[1]->value, &req.credential)) {
    return QueryError("Error parsing the X-Amz-Credential parameter; it must be "
                      "AKID/YYYYMMDD/region/service/aws4_request");
  }
  if (!ParseAmzDate(found[2]->value)) {
    return QueryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  req.amz_date = found[2]->value;
  const std::string& expires = found[3]->value;
  if (!IsDigits(expires) || expires.size() > 7) {
    return QueryError("X-Amz-Expires must be a number of seconds from 1 to 604800");
  }
  req.expires_s = std::stoll(expires);
  if (req.expires_s < 1 || req.expires_s > kMaxPresignedExpiry) {
    return QueryError(
        "X-Amz-Expires must be less than a week (in seconds) that is 604800, and positive");
  }
  if (!ParseSignedHeaders(found[4]->value, &req.signed_headers)) {
    return QueryError("X-Amz-SignedHeaders is not a list of distinct header names");
  }
  if (!std::binary_search(req.signed_headers.begin(), req.signed_headers.end(), "host")) {
    return QueryError("'host' must be a signed header");
  }
  if (!IsHex64(found[5]->value)) {
    return QueryError("X-Amz-Signature is not 64 hexadecimal digits");
  }
  req.signature = AsciiLower(found[5]->value);

  // Payload: the query's X-Amz-Content-Sha256, else a signed x-amz-content-sha256 header, else
  // UNSIGNED-PAYLOAD.
  if (const QueryParam* sha = FindParam(query, "X-Amz-Content-Sha256")) {
    S3XFS_RETURN_IF_ERROR(SetPayload(sha->value, &req));
  } else if (const std::string* h = head.headers.Find("x-amz-content-sha256");
             h && std::binary_search(req.signed_headers.begin(), req.signed_headers.end(),
                                     "x-amz-content-sha256")) {
    S3XFS_RETURN_IF_ERROR(SetPayload(TrimOws(*h), &req));
  } else {
    req.payload = PayloadMode::kUnsigned;
    req.payload_hash = "UNSIGNED-PAYLOAD";
  }
  return std::optional<SigV4Request>(std::move(req));
}

// A header value as SigV4 canonicalises it: trimmed, runs of spaces folded to one.
void AppendFolded(std::string_view value, std::string* out) {
  value = TrimOws(value);
  bool in_space = false;
  for (char c : value) {
    if (c == ' ') {
      if (!in_space) out->push_back(' ');
      in_space = true;
    } else {
      out->push_back(c);
      in_space = false;
    }
  }
}

}  // namespace

std::string SigV4Credential::Scope() const {
  return date + "/" + region + "/" + service + "/aws4_request";
}

Result<std::optional<SigV4Request>> ParseSigV4(const RequestHead& head,
                                               const std::vector<QueryParam>& query) {
  const std::string* authorization = head.headers.Find("authorization");
  bool query_auth = FindParam(query, "X-Amz-Algorithm") || FindParam(query, "X-Amz-Signature");
  if (authorization && query_auth) {
    return Status::InvalidArgument(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the "
        "Authorization header should be specified");
  }
  if (authorization) return ParseHeaderForm(head, *authorization);
  if (query_auth) return ParseQueryForm(head, query);
  if (FindParam(query, "AWSAccessKeyId") && FindParam(query, "Signature")) {
    return InvalidRequest(
        "AWS Signature Version 2 presigned URLs are not supported; presign with AWS Signature "
        "Version 4 (X-Amz-Algorithm=AWS4-HMAC-SHA256)");
  }
  return std::optional<SigV4Request>();
}

std::string CanonicalRequest(const RequestHead& head, const std::vector<QueryParam>& query,
                             const SigV4Request& auth) {
  std::string out = head.method;
  out += '\n';

  // URI: decoded once, encoded once, '/' kept; no normalisation.
  SplitTarget target = SplitRequestTarget(head.target);
  std::string path;
  if (!PercentDecode(target.raw_path, &path, /*plus_is_space=*/false)) path = target.raw_path;
  out += path.empty() ? "/" : UriEncode(path, /*encode_slash=*/false);
  out += '\n';

  // Query: encoded, sorted by name then value.
  std::vector<std::pair<std::string, std::string>> params;
  params.reserve(query.size());
  for (const QueryParam& p : query) {
    if (auth.presigned && p.name == "X-Amz-Signature") continue;
    params.emplace_back(UriEncode(p.name, true), UriEncode(p.value, true));
  }
  std::sort(params.begin(), params.end());
  for (size_t i = 0; i < params.size(); ++i) {
    if (i) out += '&';
    out += params[i].first;
    out += '=';
    out += params[i].second;
  }
  out += '\n';

  // Headers: every value of each signed header, folded, joined with ','.
  std::vector<std::string> names = auth.signed_headers;
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& [field, value] : head.headers.fields) {
      if (field != name) continue;
      if (!first) out += ',';
      AppendFolded(value, &out);
      first = false;
    }
    out += '\n';
  }
  out += '\n';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ';';
    out += names[i];
  }
  out += '\n';
  out += auth.payload_hash;
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += HexEncode(Sha256Of(AsBytes(canonical_request)));
  return out;
}

Bytes SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                 std::string_view service) {
  std::string k = "AWS4";
  k += secret;
  Bytes key = HmacSha256(AsBytes(k), AsBytes(date));
  key = HmacSha256(key, AsBytes(region));
  key = HmacSha256(key, AsBytes(service));
  return HmacSha256(key, AsBytes("aws4_request"));
}

std::string SignHex(ByteView signing_key, std::string_view string_to_sign) {
  return HexEncode(HmacSha256(signing_key, AsBytes(string_to_sign)));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // the length of a signature is no secret
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::optional<int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !IsDigits(s.substr(0, 8)) ||
      !IsDigits(s.substr(9, 6))) {
    return std::nullopt;
  }
  return FromFields(Number(s.substr(0, 4)), Number(s.substr(4, 2)), Number(s.substr(6, 2)),
                    Number(s.substr(9, 2)), Number(s.substr(11, 2)), Number(s.substr(13, 2)));
}

std::optional<int64_t> ParseHttpDate(std::string_view text) {
  std::vector<std::string_view> f = SplitSpaces(TrimOws(text));
  int h, m, s;
  // RFC 1123: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (f.size() == 6 && f[0].size() == 4 && f[0].back() == ',') {
    if (f[1].size() > 2 || !IsDigits(f[1]) || f[3].size() != 4 || !IsDigits(f[3])) {
      return std::nullopt;
    }
    int month = MonthIndex(f[2]);
    if (!month || !ParseClock(f[4], &h, &m, &s) || (f[5] != "GMT" && f[5] != "UTC")) {
      return std::nullopt;
    }
    return FromFields(Number(f[3]), month, Number(f[1]), h, m, s);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  if (f.size() == 4 && f[0].size() > 4 && f[0].back() == ',') {
    std::string_view d = f[1];
    if (d.size() != 9 || d[2] != '-' || d[6] != '-' || !IsDigits(d.substr(0, 2)) ||
        !IsDigits(d.substr(7, 2)) || f[3] != "GMT") {
      return std::nullopt;
    }
    int month = MonthIndex(d.substr(3, 3));
    if (!month || !ParseClock(f[2], &h, &m, &s)) return std::nullopt;
    int year = Number(d.substr(7, 2));
    year += year < 70 ? 2000 : 1900;
    return FromFields(year, month, Number(d.substr(0, 2)), h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (f.size() == 5 && f[0].size() == 3) {
    int month = MonthIndex(f[1]);
    if (!month || f[2].size() > 2 || !IsDigits(f[2]) || !ParseClock(f[3], &h, &m, &s) ||
        f[4].size() != 4 || !IsDigits(f[4])) {
      return std::nullopt;
    }
    return FromFields(Number(f[4]), month, Number(f[2]), h, m, s);
  }
  return std::nullopt;
}

std::string FormatHttpDate(int64_t seconds) {
  struct tm tm;
  if (!GmTime(seconds, &tm)) return "";
  char buf[64];
  snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kWeekdays[tm.tm_wday % 7],
           tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
  return buf;
}

std::string FormatAmzDate(int64_t seconds) {
  struct tm tm;
  if (!GmTime(seconds, &tm)) return "";
  char buf[64];
  snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatIso8601(int64_t nanoseconds) {
  int64_t seconds = nanoseconds / 1000000000;
  int64_t rem = nanoseconds % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --seconds;
  }
  struct tm tm;
  if (!GmTime(seconds, &tm)) return "";
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(rem / 1000000));
  return buf;
}

Result<VerifiedRequest> VerifySigV4(const RequestHead& head, const std::vector<QueryParam>& query,
                                    const SigV4Request& auth, std::string_view secret,
                                    const VerifyOptions& options) {
  auto malformed = [&](std::string msg) {
    return auth.presigned ? QueryError("Error parsing the X-Amz-Credential parameter; " + msg)
                          : HeaderMalformed(std::move(msg));
  };
  const SigV4Credential& cred = auth.credential;
  if (cred.service != "s3") {
    return malformed("incorrect service '" + cred.service + "'. This endpoint belongs to 's3'.");
  }
  if (!options.region.empty() && cred.region != options.region) {
    return malformed("the region '" + cred.region + "' is wrong; expecting '" + options.region +
                     "'");
  }
  auto when = ParseAmzDate(auth.amz_date);
  if (!when) {
    return Status::InvalidArgument("AWS authentication requires a valid Date or x-amz-date header")
        .With(R::kAccessDenied);
  }
  if (cred.date != std::string_view(auth.amz_date).substr(0, 8)) {
    return malformed("invalid credential date '" + cred.date + "': it is not the date of " +
                     (auth.presigned ? "X-Amz-Date" : "x-amz-date"));
  }

  // The clock.
  if (auth.presigned) {
    if (*when - options.now_s > options.max_skew_s) {
      return Status::InvalidArgument("Request is not valid yet").With(R::kAccessDenied);
    }
    if (options.now_s > *when + auth.expires_s) {
      return Status::InvalidArgument("Request has expired").With(R::kAccessDenied);
    }
  } else if (*when - options.now_s > options.max_skew_s ||
             options.now_s - *when > options.max_skew_s) {
    return Status::InvalidArgument(
               "The difference between the request time and the current time is too large.")
        .With(R::kRequestTimeTooSkewed);
  }

  for (const std::string& name : auth.signed_headers) {
    if (!head.headers.Has(name)) return SignatureMismatch();
  }

  VerifiedRequest out;
  out.scope = cred.Scope();
  out.signing_key = SigningKey(secret, cred.date, cred.region, cred.service);
  std::string expected =
      SignHex(out.signing_key, StringToSign(auth.amz_date, out.scope,
                                            CanonicalRequest(head, query, auth)));
  if (!ConstantTimeEquals(expected, auth.signature)) return SignatureMismatch();
  out.access_key = cred.access_key;
  out.seed_signature = auth.signature;
  out.amz_date = auth.amz_date;
  out.payload = auth.payload;
  out.payload_hash = auth.payload_hash;
  return out;
}

}  // namespace s3xfs::s3
