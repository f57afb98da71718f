#include "s3xfs/s3/service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>

#include "s3xfs/base/log.h"
#include "s3xfs/base/metrics.h"
#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/chunked.h"
#include "s3xfs/s3/gateway.h"
#include "s3xfs/s3/router.h"
#include "s3xfs/s3/sigv4.h"
#include "s3xfs/s3/xml.h"

namespace s3xfs::s3 {

using R = Status::Reason;

S3ErrorCode S3ErrorOf(const Status& s) {
  switch (s.reason()) {
    case R::kNoSuchBucket: return {"NoSuchBucket", 404};
    case R::kNoSuchKey: return {"NoSuchKey", 404};
    case R::kNoSuchUpload: return {"NoSuchUpload", 404};
    case R::kBucketNotEmpty: return {"BucketNotEmpty", 409};
    case R::kBucketAlreadyOwnedByYou: return {"BucketAlreadyOwnedByYou", 409};
    case R::kBucketAlreadyExists: return {"BucketAlreadyExists", 409};
    case R::kInvalidBucketName: return {"InvalidBucketName", 400};
    case R::kInvalidKey: return {"InvalidArgument", 400};
    case R::kEntityTooSmall: return {"EntityTooSmall", 400};
    case R::kInvalidPart: return {"InvalidPart", 400};
    case R::kInvalidPartOrder: return {"InvalidPartOrder", 400};
    case R::kBadDigest: return {"BadDigest", 400};
    case R::kPreconditionFailed: return {"PreconditionFailed", 412};
    case R::kNotModified: return {"NotModified", 304};
    case R::kInvalidRange: return {"InvalidRange", 416};
    case R::kAccessDenied: return {"AccessDenied", 403};
    case R::kSignatureDoesNotMatch: return {"SignatureDoesNotMatch", 403};
    case R::kInvalidAccessKeyId: return {"InvalidAccessKeyId", 403};
    case R::kRequestTimeTooSkewed: return {"RequestTimeTooSkewed", 403};
    case R::kAuthorizationHeaderMalformed: return {"AuthorizationHeaderMalformed", 400};
    case R::kAuthorizationQueryParametersError: return {"AuthorizationQueryParametersError", 400};
    case R::kContentSha256Mismatch: return {"XAmzContentSHA256Mismatch", 400};
    case R::kInvalidDigest: return {"InvalidDigest", 400};
    case R::kMalformedXml: return {"MalformedXML", 400};
    case R::kEntityTooLarge: return {"EntityTooLarge", 400};
    case R::kKeyTooLong: return {"KeyTooLongError", 400};
    case R::kMethodNotAllowed: return {"MethodNotAllowed", 405};
    case R::kNotImplemented: return {"NotImplemented", 501};
    case R::kMissingContentLength: return {"MissingContentLength", 411};
    case R::kInvalidRequest: return {"InvalidRequest", 400};
    case R::kIncompleteBody: return {"IncompleteBody", 400};
    case R::kSlowDown: return {"SlowDown", 503};
    // Namespace conflicts the mount cares about; over S3 they are requests that cannot be done.
    case R::kDirectoryNotEmpty:
    case R::kIsDirectory:
    case R::kNotDirectory:
    case R::kExists:
    case R::kCrossBucket:
    case R::kNotPath:
    case R::kNotPermitted:
      return {"InvalidRequest", 409};
    case R::kNoSuchAttr:
    case R::kNone:
      break;
  }
  switch (s.code()) {
    case Status::Code::kNotFound: return {"NoSuchKey", 404};
    case Status::Code::kInvalidArgument: return {"InvalidArgument", 400};
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout: return {"ServiceUnavailable", 503};
    case Status::Code::kNotSupported: return {"NotImplemented", 501};
    case Status::Code::kAlreadyExists: return {"InvalidRequest", 409};
    default: return {"InternalError", 500};
  }
}

namespace {

Status Err(R reason, std::string message) {
  return Status::InvalidArgument(std::move(message)).With(reason);
}

std::string Quoted(std::string_view etag) { return "\"" + std::string(etag) + "\""; }

int64_t Seconds(int64_t ns) { return ns / 1000000000; }

// Conditional request headers (RFC 9110 §13.2.2 order, as S3 applies them).
// `prefix` is "" or "x-amz-copy-source-". Returns PreconditionFailed or NotModified.
Status CheckConditions(const HeaderList& h, std::string_view prefix, const ObjectInfo& info,
                       bool read_request) {
  auto find = [&](std::string_view name) { return h.Find(std::string(prefix) + std::string(name)); };
  int64_t mtime = Seconds(info.attrs.mtime_ns);
  const std::string* if_match = find("if-match");
  const std::string* if_none_match = find("if-none-match");
  if (if_match && !EtagListMatches(*if_match, info.etag)) {
    return Status::InvalidArgument("At least one of the pre-conditions you specified did not hold")
        .With(R::kPreconditionFailed);
  }
  if (!if_match) {
    if (const std::string* ius = find("if-unmodified-since")) {
      auto t = ParseHttpDate(*ius);
      if (t && mtime > *t) {
        return Status::InvalidArgument("At least one of the pre-conditions you specified did not hold")
            .With(R::kPreconditionFailed);
      }
    }
  }
  bool copy = !prefix.empty();
  if (if_none_match && EtagListMatches(*if_none_match, info.etag)) {
    if (read_request && !copy) return Status::InvalidArgument("Not Modified").With(R::kNotModified);
    return Status::InvalidArgument("At least one of the pre-conditions you specified did not hold")
        .With(R::kPreconditionFailed);
  }
  if (!if_none_match) {
    if (const std::string* ims = find("if-modified-since")) {
      auto t = ParseHttpDate(*ims);
      if (t && mtime <= *t) {
        if (read_request && !copy) return Status::InvalidArgument("Not Modified").With(R::kNotModified);
        return Status::InvalidArgument("At least one of the pre-conditions you specified did not hold")
            .With(R::kPreconditionFailed);
      }
    }
  }
  return Status::OK();
}

// System and user metadata from request headers. x-amz-meta-ipfs-cid is computed, never stored.
ObjectMeta MetaFromHeaders(const HeaderList& h) {
  ObjectMeta meta;
  for (const auto& [name, value] : h.fields) {
    if (name == "content-type") meta.content_type = value;
    else if (name == "content-encoding") {
      // aws-chunked is transfer framing, not a property of the object.
      std::string kept;
      size_t pos = 0;
      while (pos <= value.size()) {
        size_t comma = value.find(',', pos);
        if (comma == std::string::npos) comma = value.size();
        std::string item = value.substr(pos, comma - pos);
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty() && item != "aws-chunked") kept += (kept.empty() ? "" : ",") + item;
        pos = comma + 1;
      }
      meta.content_encoding = kept;
    } else if (name == "content-disposition") meta.content_disposition = value;
    else if (name == "content-language") meta.content_language = value;
    else if (name == "cache-control") meta.cache_control = value;
    else if (name == "expires") meta.expires = value;
    else if (name.rfind("x-amz-meta-", 0) == 0 && name.size() > 11) {
      std::string key = name.substr(11);
      if (key == "ipfs-cid") continue;
      auto [it, fresh] = meta.user.emplace(key, value);
      if (!fresh) it->second += "," + value;
    }
  }
  return meta;
}

size_t MetaSize(const ObjectMeta& meta) {
  size_t n = 0;
  for (const auto& [k, v] : meta.user) n += k.size() + v.size();
  return n;
}

void AddObjectHeaders(const ObjectInfo& info, HeaderList* h) {
  h->Add("ETag", Quoted(info.etag));
  h->Add("Last-Modified", FormatHttpDate(Seconds(info.attrs.mtime_ns)));
  h->Add("Accept-Ranges", "bytes");
  h->Add("Content-Type", info.meta.content_type.empty() ? "binary/octet-stream"
                                                        : info.meta.content_type);
  if (!info.meta.content_encoding.empty()) h->Add("Content-Encoding", info.meta.content_encoding);
  if (!info.meta.content_disposition.empty()) {
    h->Add("Content-Disposition", info.meta.content_disposition);
  }
  if (!info.meta.content_language.empty()) h->Add("Content-Language", info.meta.content_language);
  if (!info.meta.cache_control.empty()) h->Add("Cache-Control", info.meta.cache_control);
  if (!info.meta.expires.empty()) h->Add("Expires", info.meta.expires);
  for (const auto& [k, v] : info.meta.user) h->Add("x-amz-meta-" + k, v);
  if (!info.cid.empty()) {
    std::string cid = info.cid.ToString();
    h->Add("x-amz-meta-ipfs-cid", cid);
    h->Add("x-ipfs-path", "/ipfs/" + cid);
  }
  h->Add("x-amz-storage-class", "STANDARD");
}

class ReaderSource : public BodySource {
 public:
  ReaderSource(std::unique_ptr<ObjectReader> reader, uint64_t offset, uint64_t length)
      : reader_(std::move(reader)), pos_(offset), end_(offset + length) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    if (pos_ >= end_) return size_t{0};
    uint64_t want = std::min<uint64_t>(buf.size(), end_ - pos_);
    size_t got = 0;
    S3XFS_RETURN_IF_ERROR(reader_->Read(pos_, want, [&](ByteView piece) {
      if (got + piece.size() > buf.size()) return Status::Internal("reader returned too much");
      std::memcpy(buf.data() + got, piece.data(), piece.size());
      got += piece.size();
      return Status::OK();
    }));
    if (got == 0) return Status::IOError("object shorter than its recorded size");
    pos_ += got;
    return got;
  }

 private:
  std::unique_ptr<ObjectReader> reader_;
  uint64_t pos_, end_;
};

// ---- request metrics and the failure log line ----

// Operations are counted by S3Op; requests that never got routed as "unknown".
constexpr size_t kUnknownOp = static_cast<size_t>(S3Op::kIpfsGateway) + 1;
constexpr size_t kOpSlots = kUnknownOp + 1;

class RequestMetrics {
 public:
  static RequestMetrics& Get() {
    static RequestMetrics* m = new RequestMetrics(metrics::Global());  // lives with the registry
    return *m;
  }

  void Record(size_t op, const RequestOutcome& o) {
    Slot& s = slots_[op];
    metrics::Histogram* h = s.duration.load(std::memory_order_acquire);
    if (!h) {
      // Series appear on first use; With() returns the same series to racing threads.
      h = &duration_.With({s.name});
      s.in = &in_.With({s.name});
      s.out = &out_.With({s.name});
      s.duration.store(h, std::memory_order_release);
    }
    Requests(s, o.status).Inc();
    h->Observe(o.seconds);
    if (o.bytes_in) s.in.load(std::memory_order_relaxed)->Inc(o.bytes_in);
    if (o.bytes_out) s.out.load(std::memory_order_relaxed)->Inc(o.bytes_out);
  }

 private:
  // The success codes, whose counters each slot caches (other codes take a lookup).
  static constexpr int kCached[] = {200, 204, 206};

  struct Slot {
    std::string name;
    std::atomic<metrics::Histogram*> duration{nullptr};
    std::atomic<metrics::Counter*> in{nullptr}, out{nullptr};
    std::atomic<metrics::Counter*> cached[std::size(kCached)] = {};
  };

  metrics::Counter& Requests(Slot& s, int status) {
    size_t i = 0;
    while (i < std::size(kCached) && kCached[i] != status) ++i;
    if (i < std::size(kCached)) {
      if (metrics::Counter* c = s.cached[i].load(std::memory_order_acquire)) return *c;
    }
    char code[12];
    snprintf(code, sizeof code, "%d", status);
    metrics::Counter& c = requests_.With({std::string_view(s.name), std::string_view(code)});
    if (i < std::size(kCached)) s.cached[i].store(&c, std::memory_order_release);
    return c;
  }
  explicit RequestMetrics(metrics::Registry& r)
      : requests_(r.Counters("s3xfs_s3_requests_total",
                             "S3 requests answered, by operation and HTTP status code.",
                             {"operation", "code"})),
        duration_(r.Histograms("s3xfs_s3_request_duration_seconds",
                               "Time from a request's head to the end of its response, by "
                               "operation.",
                               {"operation"})),
        in_(r.Counters("s3xfs_s3_received_bytes_total",
                       "Request body bytes received (HTTP framing removed), by operation.",
                       {"operation"})),
        out_(r.Counters("s3xfs_s3_sent_bytes_total",
                        "Response body bytes sent, by operation.", {"operation"})) {
    for (size_t i = 0; i < kOpSlots; ++i) {
      slots_[i].name = i == kUnknownOp ? "unknown" : std::string(OpName(static_cast<S3Op>(i)));
    }
  }
  metrics::CounterFamily& requests_;
  metrics::HistogramFamily& duration_;
  metrics::CounterFamily& in_;
  metrics::CounterFamily& out_;
  std::array<Slot, kOpSlots> slots_;
};

// A logfmt value: bare when it is plain, else quoted with \ " and control bytes escaped;
// cut after 512 bytes (keys and messages can be long) with "..." and the full length.
std::string LogValue(std::string_view v) {
  constexpr size_t kMax = 512;
  if (v.size() > kMax) {
    std::string cut = LogValue(v.substr(0, kMax));
    if (cut.back() == '"') cut.pop_back();
    else cut.insert(0, "\"");
    return cut + "...(" + std::to_string(v.size()) + " bytes)\"";
  }
  bool plain = !v.empty();
  for (unsigned char c : v) plain = plain && c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
  if (plain) return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Failed requests: 5xx are errors (but SlowDown, an overload, and NotImplemented, a feature
// s3xfs lacks, are warnings); a missing key or bucket, a conflict, a failed precondition and an
// unsatisfiable range are ordinary answers (debug); everything else — signatures, access,
// malformed requests, connections cut short — is a warning. 304 is not a failure.
std::optional<log::Level> FailureLevel(int status, std::string_view code, bool completed) {
  if (status == 501 || code == "SlowDown") return log::Level::kWarning;
  if (status >= 500) return log::Level::kError;
  if (status == 404 || status == 409 || status == 412 || status == 416) return log::Level::kDebug;
  if (status >= 400 || !completed) return log::Level::kWarning;
  return std::nullopt;
}

struct FailureInfo {
  std::string_view request_id, method, op, bucket, key, path, code, message, access_key;
};

void LogFailure(const FailureInfo& f, const RequestOutcome& o) {
  auto level = FailureLevel(o.status, f.code, o.completed);
  if (!level || !log::Enabled(*level)) return;
  std::string line = "S3 request failed: id=" + LogValue(f.request_id);
  if (!f.method.empty()) line += " method=" + LogValue(f.method);
  line += " op=" + LogValue(f.op);
  if (!f.bucket.empty()) line += " bucket=" + LogValue(f.bucket);
  if (!f.key.empty()) line += " key=" + LogValue(f.key);
  if (f.bucket.empty() && !f.path.empty()) line += " path=" + LogValue(f.path);
  line += " status=" + std::to_string(o.status);
  line += " code=" + LogValue(f.code.empty() ? std::string_view("-") : f.code);
  if (!f.access_key.empty()) line += " access_key=" + LogValue(f.access_key);
  if (!o.completed) line += " completed=false";
  line += " seconds=" + metrics::FormatValue(o.seconds);
  if (!f.message.empty()) line += " message=" + LogValue(f.message);
  log::Write(*level, line);
}

// The value of `name` in a response's headers, or "".
std::string_view HeaderOf(const Response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers.fields) {
    if (n == name) return v;
  }
  return {};
}

std::string ContinuationToken(std::string_view marker) {
  return Base64Encode(AsBytes(marker));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct S3Service::Impl {
  static std::string RequestId(S3Service* s) {
    char buf[40];
    snprintf(buf, sizeof buf, "%08llX%08llX", static_cast<unsigned long long>(s->instance_),
             static_cast<unsigned long long>(s->next_request_.fetch_add(1)));
    return buf;
  }
  // The error reply of request `id`: the header and the XML body name the same id.
  static Response ErrorResponse(S3Service* s, const Status& status, const std::string& resource,
                                const std::string& id);
};

namespace {

// What happens to the decoded body.
enum class BodyUse { kNone, kObject, kPart, kXml };

class Exchange final : public S3Exchange {
 public:
  Exchange(S3Service* service, ObjectStore* store, std::shared_ptr<const KeyStore> keys,
           const S3ServiceOptions& options, const ChangeHook& hook, const RequestHead& head,
           std::string request_id)
      : service_(service), store_(store), keys_(std::move(keys)), options_(options), hook_(hook),
        head_(head), request_id_(std::move(request_id)) {
    SplitTarget t = SplitRequestTarget(head.target);
    resource_ = t.raw_path;
    early_ = Start();
  }

  bool WantsBody() const override { return !early_.has_value(); }

  Status OnBody(ByteView data) override {
    if (early_) return Status::InvalidArgument("body not wanted");
    if (!body_error_.ok()) return body_error_;
    received_ += data.size();
    Status st = decoder_ ? decoder_->Feed(data, [&](ByteView d) { return Consume(d); })
                         : Consume(data);
    if (!st.ok()) body_error_ = st;
    return st;
  }

  Response Finish(bool body_complete) override {
    if (early_) {
      Response r = std::move(*early_);
      early_.reset();
      return r;
    }
    Status st = body_error_;
    if (st.ok() && !body_complete) {
      st = Err(R::kIncompleteBody, "the request body ended early");
    }
    if (st.ok()) st = FinishBody();
    if (!st.ok()) {
      writer_.reset();
      Response r = Error(st);
      r.close = !body_complete || !body_error_.ok();
      return r;
    }
    Response r = Dispatch();
    return r;
  }

  void Done(const RequestOutcome& o) override {
    if (!routed_ && (o.status >= 400 || !o.completed)) {
      // Rejected before routing (authentication runs first): route now, for the labels only.
      auto query = ParseQuery(SplitRequestTarget(head_.target).raw_query);
      if (query.ok()) {
        auto route = RouteRequest(head_, *query, RouterOpts());
        if (route.ok()) {
          route_ = std::move(*route);
          routed_ = true;
        }
      }
    }
    RequestMetrics::Get().Record(routed_ ? static_cast<size_t>(route_.op) : kUnknownOp, o);
    if (o.status < 400 && o.completed) return;
    LogFailure(FailureInfo{request_id_, head_.method,
                           routed_ ? OpName(route_.op) : std::string_view("unknown"),
                           route_.bucket, route_.key, resource_, error_code_, error_message_,
                           access_key_},
               o);
  }

 private:
  // ---- request start: auth, route, access; returns an early response or nullopt ----
  std::optional<Response> Start() {
    auto query = ParseQuery(SplitRequestTarget(head_.target).raw_query);
    if (!query.ok()) return Error(query.status());
    query_ = std::move(*query);
    // Authentication.
    auto auth = ParseSigV4(head_, query_);
    if (!auth.ok()) return Error(auth.status());
    if (auth->has_value()) {
      const SigV4Request& a = **auth;
      const std::string* secret = keys_->SecretOf(a.credential.access_key);
      if (!secret) {
        return Error(Status::InvalidArgument(
                         "The AWS Access Key Id you provided does not exist in our records.")
                         .With(R::kInvalidAccessKeyId));
      }
      VerifyOptions vo;
      vo.now_s = Now();
      vo.region = options_.region;
      auto verified = VerifySigV4(head_, query_, a, *secret, vo);
      if (!verified.ok()) return Error(verified.status());
      verified_ = std::move(*verified);
      access_key_ = verified_->access_key;
    }
    // Routing.
    auto route = RouteRequest(head_, query_, RouterOpts());
    if (!route.ok()) return Error(route.status());
    route_ = std::move(*route);
    routed_ = true;
    if (!route_.bucket.empty()) {
      resource_ = "/" + route_.bucket + (route_.key.empty() ? "" : "/" + route_.key);
    }
    // Authorisation.
    if (auto denied = Authorise(); !denied.ok()) return Error(denied);
    // Body.
    switch (route_.op) {
      case S3Op::kPutObject:
        use_ = BodyUse::kObject;
        break;
      case S3Op::kUploadPart:
        use_ = BodyUse::kPart;
        break;
      case S3Op::kCompleteMultipartUpload:
      case S3Op::kDeleteObjects:
      case S3Op::kCreateBucket:
        use_ = BodyUse::kXml;
        break;
      default:
        use_ = BodyUse::kNone;
    }
    if (auto st = PrepareBody(); !st.ok()) return Error(st);
    if (use_ == BodyUse::kNone && !HasBody()) return Dispatch();
    return std::nullopt;
  }

  RouterOptions RouterOpts() const {
    RouterOptions ro;
    ro.domain = options_.domain;
    ro.gateway = options_.gateway != GatewayMode::kOff;
    return ro;
  }

  int64_t Now() const {
    if (options_.now_s) return options_.now_s();
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  bool HasBody() const {
    if (head_.headers.Has("transfer-encoding")) return true;
    const std::string* cl = head_.headers.Find("content-length");
    return cl && *cl != "0";
  }

  Status Authorise() {
    if (route_.op == S3Op::kIpfsGateway) {
      // Any known key (the signature is verified already); anonymous only when public. Blocks
      // are served by CID whatever bucket holds them: a CID is the capability (SEMANTICS.md).
      if (access_key_.empty() && options_.gateway != GatewayMode::kPublic)
        return Status::InvalidArgument("Access Denied: the IPFS gateway needs a signed request")
            .With(R::kAccessDenied);
      return Status::OK();
    }
    if (route_.op == S3Op::kListBuckets) {
      if (access_key_.empty()) return Status::InvalidArgument("Access Denied").With(R::kAccessDenied);
      return Status::OK();
    }
    auto bucket = store_->HeadBucket(route_.bucket);
    if (route_.op == S3Op::kCreateBucket) {
      if (access_key_.empty()) return Status::InvalidArgument("Access Denied").With(R::kAccessDenied);
      if (options_.gateway != GatewayMode::kOff && route_.bucket == kGatewayBucket) {
        return Status::InvalidArgument("The bucket name ipfs is reserved for the IPFS gateway "
                                       "(/ipfs/CID) while it is enabled (--gateway)")
            .With(R::kInvalidBucketName);
      }
      if (bucket.ok()) {
        std::string owner = bucket->owner.empty() ? keys_->default_key() : bucket->owner;
        if (owner == access_key_) {
          return Status::AlreadyExists("Your previous request to create the named bucket succeeded and you already own it.")
              .With(R::kBucketAlreadyOwnedByYou);
        }
        return Status::AlreadyExists("The requested bucket name is not available.")
            .With(R::kBucketAlreadyExists);
      }
      return Status::OK();
    }
    if (!bucket.ok()) {
      if (bucket.status().reason() == R::kNoSuchBucket || bucket.status().IsNotFound()) {
        // /ipfs/X where X is not a CID, and no bucket "ipfs": a gateway request with a bad CID.
        if (options_.gateway != GatewayMode::kOff && route_.bucket == kGatewayBucket &&
            !route_.key.empty() && (head_.method == "GET" || head_.method == "HEAD")) {
          std::string seg = route_.key.substr(0, route_.key.find('/'));
          return Status::InvalidArgument("invalid CID \"" + seg + "\" in an /ipfs/ path: " +
                                         Cid::Parse(seg).status().message());
        }
        return Status::NotFound("The specified bucket does not exist").With(R::kNoSuchBucket);
      }
      return bucket.status();
    }
    bool write = false;
    switch (route_.op) {
      case S3Op::kDeleteBucket: case S3Op::kDeleteObjects: case S3Op::kPutObject:
      case S3Op::kCopyObject: case S3Op::kDeleteObject: case S3Op::kCreateMultipartUpload:
      case S3Op::kUploadPart: case S3Op::kUploadPartCopy: case S3Op::kCompleteMultipartUpload:
      case S3Op::kAbortMultipartUpload:
        write = true;
        break;
      default:
        break;
    }
    owner_ = bucket->owner.empty() ? keys_->default_key() : bucket->owner;
    if (!keys_->Allowed(access_key_, route_.bucket, bucket->owner,
                        write ? Access::kWrite : Access::kRead)) {
      return Status::InvalidArgument("Access Denied").With(R::kAccessDenied);
    }
    return Status::OK();
  }

  Status PrepareBody() {
    PayloadMode mode = verified_ ? verified_->payload : PayloadMode::kUnsigned;
    if (mode == PayloadMode::kSignedDigest) {
      sha256_.emplace();
      expected_sha256_ = verified_->payload_hash;
    }
    bool streaming = mode == PayloadMode::kStreamingSigned ||
                     mode == PayloadMode::kStreamingSignedTrailer ||
                     mode == PayloadMode::kStreamingUnsignedTrailer;
    if (streaming) {
      AwsChunkedOptions o;
      o.signed_chunks = mode != PayloadMode::kStreamingUnsignedTrailer;
      o.trailer = mode != PayloadMode::kStreamingSigned;
      o.signed_trailer = mode == PayloadMode::kStreamingSignedTrailer;
      o.signing_key = verified_->signing_key;
      o.amz_date = verified_->amz_date;
      o.scope = verified_->scope;
      o.seed_signature = verified_->seed_signature;
      if (const std::string* t = head_.headers.Find("x-amz-trailer")) {
        std::string name = *t;
        if (name.rfind("x-amz-checksum-", 0) == 0) {
          auto alg = ParseChecksumAlgorithm(name.substr(15));
          if (!alg) return Err(R::kInvalidRequest, "unsupported x-amz-trailer " + name);
          o.trailer_checksum = alg;
        }
      }
      if (const std::string* dl = head_.headers.Find("x-amz-decoded-content-length")) {
        char* end = nullptr;
        unsigned long long v = strtoull(dl->c_str(), &end, 10);
        if (dl->empty() || *end != '\0') {
          return Err(R::kNone, "x-amz-decoded-content-length is not a number");
        }
        o.decoded_length = v;
        if (v > options_.max_put_size) {
          return Err(R::kEntityTooLarge, "Your proposed upload exceeds the maximum allowed size");
        }
      } else if (mode == PayloadMode::kStreamingSigned) {
        return Err(R::kMissingContentLength, "x-amz-decoded-content-length is required");
      }
      decoder_ = std::make_unique<AwsChunkedDecoder>(std::move(o));
    } else if (use_ == BodyUse::kObject || use_ == BodyUse::kPart) {
      const std::string* cl = head_.headers.Find("content-length");
      if (!cl && !head_.headers.Has("transfer-encoding")) {
        return Err(R::kMissingContentLength, "You must provide the Content-Length HTTP header.");
      }
      if (cl) {
        char* end = nullptr;
        unsigned long long v = strtoull(cl->c_str(), &end, 10);
        if (!cl->empty() && *end == '\0' && v > options_.max_put_size) {
          return Err(R::kEntityTooLarge, "Your proposed upload exceeds the maximum allowed size");
        }
      }
    }
    // Content-MD5 (the core checks it for whole objects; parts and XML bodies are checked here).
    if (const std::string* md5 = head_.headers.Find("content-md5")) {
      Bytes raw;
      if (!Base64Decode(*md5, &raw) || raw.size() != 16) {
        return Err(R::kInvalidDigest, "The Content-MD5 you specified was invalid.");
      }
      content_md5_ = std::string(raw.begin(), raw.end());
      // The core checks it while hashing objects and parts (one MD5 pass); XML bodies here.
      if (use_ == BodyUse::kXml) md5_.emplace();
    }
    // x-amz-checksum-* as a header (the trailer forms are checked by the decoder).
    for (const auto& [name, value] : head_.headers.fields) {
      if (name.rfind("x-amz-checksum-", 0) != 0 || name == "x-amz-checksum-type" ||
          name == "x-amz-checksum-algorithm") {
        continue;
      }
      auto alg = ParseChecksumAlgorithm(name.substr(15));
      if (!alg) continue;
      checksum_ = Checksummer::New(*alg);
      checksum_name_ = name;
      checksum_value_ = value;
      break;
    }
    // Open the destination.
    if (use_ == BodyUse::kObject) {
      PutOptions po;
      po.meta = MetaFromHeaders(head_.headers);
      if (MetaSize(po.meta) > 2048) {
        return Err(R::kNone, "Your metadata headers exceed the maximum allowed metadata size.");
      }
      po.content_md5 = content_md5_;
      if (const std::string* inm = head_.headers.Find("if-none-match")) {
        if (*inm != "*") return Err(R::kNotImplemented, "If-None-Match on PUT supports only *").With(R::kNotImplemented);
        po.if_none_match_star = true;
      }
      if (const std::string* im = head_.headers.Find("if-match")) po.if_match = Unquoted(*im);
      auto w = store_->NewWriter(route_.bucket, route_.key, std::move(po));
      if (!w.ok()) return w.status();
      writer_ = std::move(*w);
    } else if (use_ == BodyUse::kPart) {
      S3XFS_ASSIGN_OR_RETURN(part_number_, PartNumber());
      S3XFS_RETURN_IF_ERROR(CheckUpload());
      auto w = store_->NewPartWriter(*FindParam(query_, "uploadId"), part_number_, content_md5_);
      if (!w.ok()) return w.status();
      writer_ = std::move(*w);
    }
    return Status::OK();
  }

  Status Consume(ByteView data) {
    decoded_ += data.size();
    if (sha256_ && !decoder_) sha256_->Update(data);
    if (md5_) md5_->Update(data);
    if (checksum_) checksum_->Update(data);
    switch (use_) {
      case BodyUse::kObject:
      case BodyUse::kPart:
        if (decoded_ > options_.max_put_size) {
          return Err(R::kEntityTooLarge, "Your proposed upload exceeds the maximum allowed size");
        }
        return writer_->Write(data);
      case BodyUse::kXml:
        if (xml_.size() + data.size() > options_.max_xml_bytes) {
          return Err(R::kMalformedXml, "The XML you provided was larger than the limit").With(R::kMalformedXml);
        }
        xml_.append(AsChars(data));
        return Status::OK();
      case BodyUse::kNone:
        return Status::OK();  // ignored body
    }
    return Status::OK();
  }

  Status FinishBody() {
    if (decoder_) S3XFS_RETURN_IF_ERROR(decoder_->Finish());
    if (sha256_) {
      std::string got = HexEncode(sha256_->Digest());
      std::string want = expected_sha256_;
      std::transform(want.begin(), want.end(), want.begin(),
                     [](char c) { return (c >= 'A' && c <= 'F') ? char(c - 'A' + 'a') : c; });
      if (got != want) {
        return Err(R::kContentSha256Mismatch,
                   "The provided 'x-amz-content-sha256' header does not match what was computed.");
      }
    }
    if (md5_) {
      Bytes got = md5_->Digest();
      if (std::string(got.begin(), got.end()) != *content_md5_) {
        return Err(R::kBadDigest, "The Content-MD5 you specified did not match what we received.");
      }
    }
    if (checksum_) {
      if (checksum_->Base64() != checksum_value_) {
        return Err(R::kBadDigest, "The " + checksum_name_ + " you specified did not match the calculated checksum.");
      }
    }
    return Status::OK();
  }

  // ---- operations ----
  Response Dispatch() {
    switch (route_.op) {
      case S3Op::kListBuckets: return ListBuckets();
      case S3Op::kCreateBucket: return CreateBucket();
      case S3Op::kDeleteBucket: return DeleteBucket();
      case S3Op::kHeadBucket: {
        Response r = Ok(200);
        r.headers.Add("x-amz-bucket-region", options_.region);
        r.head_only = true;
        return r;
      }
      case S3Op::kGetBucketLocation: {
        XmlWriter w("LocationConstraint", kS3Namespace);
        std::string doc = w.Finish();
        if (options_.region != "us-east-1") {
          XmlWriter w2("LocationConstraint", kS3Namespace);
          doc = w2.Finish();
          size_t close = doc.rfind("</LocationConstraint>");
          doc.insert(close, XmlEscape(options_.region));
        }
        return XmlResponse(std::move(doc));
      }
      case S3Op::kGetBucketVersioning: {
        XmlWriter w("VersioningConfiguration", kS3Namespace);
        return XmlResponse(w.Finish());
      }
      case S3Op::kListObjectsV1:
      case S3Op::kListObjectsV2: return ListObjects(route_.op == S3Op::kListObjectsV2);
      case S3Op::kListObjectVersions: return ListVersions();
      case S3Op::kListMultipartUploads: return ListUploads();
      case S3Op::kDeleteObjects: return DeleteObjects();
      case S3Op::kPutObject: return PutObject();
      case S3Op::kCopyObject: return CopyObject();
      case S3Op::kGetObject: return GetObject(false);
      case S3Op::kHeadObject: return GetObject(true);
      case S3Op::kDeleteObject: {
        Status st = store_->Delete(route_.bucket, route_.key);
        if (!st.ok()) return Error(st);
        Changed(route_.key);
        return Ok(204);
      }
      case S3Op::kCreateMultipartUpload: return CreateMultipart();
      case S3Op::kUploadPart: return UploadPart();
      case S3Op::kUploadPartCopy: return UploadPartCopy();
      case S3Op::kCompleteMultipartUpload: return CompleteMultipart();
      case S3Op::kAbortMultipartUpload: {
        if (Status st = CheckUpload(); !st.ok()) return Error(st);
        Status st = store_->AbortMultipart(*FindParam(query_, "uploadId"));
        if (!st.ok()) return Error(st);
        return Ok(204);
      }
      case S3Op::kListParts: return ListParts();
      case S3Op::kIpfsGateway: return Gateway();
      case S3Op::kGetObjectTagging: {
        // s3xfs stores no tags: an existing object has an empty TagSet (as on S3).
        auto info = store_->Head(route_.bucket, route_.key);
        if (!info.ok()) return Error(info.status());
        XmlWriter w("Tagging", kS3Namespace);
        w.Open("TagSet");
        w.Close();
        return XmlResponse(w.Finish());
      }
    }
    return Error(Err(R::kNotImplemented, "operation not implemented"));
  }

  Response Gateway() {
    SplitTarget t = SplitRequestTarget(head_.target);
    GatewayRequest gr;
    gr.method = head_.method;
    gr.raw_path = t.raw_path;
    gr.raw_query = t.raw_query;
    gr.query = query_;
    gr.headers = &head_.headers;
    Response r = ServeGateway(store_->blocks(), gr);
    r.headers.Add("x-amz-request-id", request_id_);
    if (r.status >= 400) {
      error_code_ = GatewayCode(r.status);
      error_message_ = r.body.substr(0, r.body.find('\n'));
    }
    return r;
  }

  static std::string_view GatewayCode(int status) {
    switch (status) {
      case 400: return "BadRequest";
      case 404: return "NotFound";
      case 416: return "InvalidRange";
      case 501: return "NotImplemented";
      case 502: return "BadGateway";
      case 504: return "GatewayTimeout";
      default: return "InternalError";
    }
  }

  Response ListBuckets() {
    auto buckets = store_->ListBuckets();
    if (!buckets.ok()) return Error(buckets.status());
    XmlWriter w("ListAllMyBucketsResult", kS3Namespace);
    w.Open("Owner");
    w.Element("ID", access_key_);
    w.Element("DisplayName", access_key_);
    w.Close();
    w.Open("Buckets");
    for (const BucketInfo& b : *buckets) {
      if (!keys_->Allowed(access_key_, b.name, b.owner, Access::kRead)) continue;
      w.Open("Bucket");
      w.Element("Name", b.name);
      w.Element("CreationDate", FormatIso8601(b.created_ns));
      w.Close();
    }
    w.Close();
    return XmlResponse(w.Finish());
  }

  Response CreateBucket() {
    if (!xml_.empty()) {
      auto doc = ParseXml(xml_, XmlLimits{options_.max_xml_bytes});
      if (!doc.ok()) return Error(Err(R::kMalformedXml, "The XML you provided was not well-formed or did not validate against our published schema"));
    }
    Status st = store_->CreateBucket(route_.bucket, access_key_);
    if (!st.ok()) return Error(st);
    Changed("");
    Response r = Ok(200);
    r.headers.Add("Location", "/" + route_.bucket);
    return r;
  }

  Response DeleteBucket() {
    Status st = store_->DeleteBucket(route_.bucket);
    if (!st.ok()) return Error(st);
    Changed("");
    return Ok(204);
  }

  Result<uint32_t> MaxKeys(std::string_view param, uint32_t dflt) {
    const std::string* v = FindParam(query_, param);
    if (!v) return dflt;
    char* end = nullptr;
    long long n = strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 0) {
      return Err(R::kNone, std::string(param) + " must be a non-negative integer");
    }
    return uint32_t(std::min<long long>(n, 1000));
  }

  Response ListObjects(bool v2) {
    ListOptions lo;
    lo.prefix = Param("prefix");
    lo.delimiter = Param("delimiter");
    bool url = false;
    if (const std::string* et = FindParam(query_, "encoding-type")) {
      if (*et != "url") return Error(Err(R::kNone, "Invalid Encoding Method specified in Request"));
      url = true;
    }
    auto max = MaxKeys("max-keys", 1000);
    if (!max.ok()) return Error(max.status());
    std::string token;
    if (v2) {
      if (const std::string* t = FindParam(query_, "continuation-token")) {
        Bytes raw;
        if (!Base64Decode(*t, &raw)) {
          return Error(Err(R::kNone, "The continuation token provided is incorrect"));
        }
        token = *t;
        lo.start_after.assign(raw.begin(), raw.end());
      } else {
        lo.start_after = Param("start-after");
      }
    } else {
      lo.start_after = Param("marker");
    }
    auto page = ListPage(&lo, *max);
    if (!page.ok()) return Error(page.status());
    const ListResult& res = *page;
    auto enc = [&](const std::string& s) { return url ? UriEncode(s, false) : s; };
    XmlWriter w("ListBucketResult", kS3Namespace);
    w.Element("Name", route_.bucket);
    w.Element("Prefix", enc(lo.prefix));
    if (v2) {
      if (!token.empty()) w.Element("ContinuationToken", token);
      if (const std::string* sa = FindParam(query_, "start-after")) w.Element("StartAfter", enc(*sa));
      w.Element("KeyCount", std::to_string(res.objects.size() + res.common_prefixes.size()));
      if (res.truncated) w.Element("NextContinuationToken", ContinuationToken(res.next_marker));
    } else {
      w.Element("Marker", enc(Param("marker")));
      if (res.truncated && !lo.delimiter.empty()) w.Element("NextMarker", enc(res.next_marker));
    }
    w.Element("MaxKeys", std::to_string(*max));
    if (!lo.delimiter.empty()) w.Element("Delimiter", enc(lo.delimiter));
    if (url) w.Element("EncodingType", "url");
    w.Element("IsTruncated", res.truncated ? "true" : "false");
    bool owner = !v2 || Param("fetch-owner") == "true";
    for (const ObjectInfo& o : res.objects) {
      w.Open("Contents");
      w.Element("Key", enc(o.key));
      w.Element("LastModified", FormatIso8601(o.attrs.mtime_ns));
      w.Element("ETag", Quoted(o.etag));
      w.Element("Size", std::to_string(o.size));
      if (owner) Owner(&w);
      w.Element("StorageClass", "STANDARD");
      w.Close();
    }
    CommonPrefixes(&w, res, enc);
    return XmlResponse(w.Finish());
  }

  // The value of a query parameter, "" when absent.
  std::string Param(std::string_view name) const {
    const std::string* v = FindParam(query_, name);
    return v ? *v : std::string();
  }

  // One page of a listing (empty for max-keys=0).
  Result<ListResult> ListPage(ListOptions* lo, uint32_t max) {
    if (max == 0) return ListResult{};
    lo->max_keys = max;
    return store_->List(route_.bucket, *lo);
  }

  template <typename Encode>
  static void CommonPrefixes(XmlWriter* w, const ListResult& res, const Encode& enc) {
    for (const std::string& p : res.common_prefixes) {
      w->Open("CommonPrefixes");
      w->Element("Prefix", enc(p));
      w->Close();
    }
  }

  void Owner(XmlWriter* w) {
    w->Open("Owner");
    w->Element("ID", owner_);
    w->Element("DisplayName", owner_);
    w->Close();
  }

  Response ListVersions() {
    ListOptions lo;
    lo.prefix = Param("prefix");
    lo.delimiter = Param("delimiter");
    lo.start_after = Param("key-marker");
    bool url = Param("encoding-type") == "url";
    auto max = MaxKeys("max-keys", 1000);
    if (!max.ok()) return Error(max.status());
    auto page = ListPage(&lo, *max);
    if (!page.ok()) return Error(page.status());
    const ListResult& res = *page;
    auto enc = [&](const std::string& s) { return url ? UriEncode(s, false) : s; };
    XmlWriter w("ListVersionsResult", kS3Namespace);
    w.Element("Name", route_.bucket);
    w.Element("Prefix", enc(lo.prefix));
    w.Element("KeyMarker", enc(lo.start_after));
    w.Element("VersionIdMarker", Param("version-id-marker"));
    if (res.truncated) {
      w.Element("NextKeyMarker", enc(res.next_marker));
      w.Element("NextVersionIdMarker", "null");
    }
    w.Element("MaxKeys", std::to_string(*max));
    if (!lo.delimiter.empty()) w.Element("Delimiter", enc(lo.delimiter));
    if (url) w.Element("EncodingType", "url");
    w.Element("IsTruncated", res.truncated ? "true" : "false");
    for (const ObjectInfo& o : res.objects) {
      w.Open("Version");
      w.Element("Key", enc(o.key));
      w.Element("VersionId", "null");
      w.Element("IsLatest", "true");
      w.Element("LastModified", FormatIso8601(o.attrs.mtime_ns));
      w.Element("ETag", Quoted(o.etag));
      w.Element("Size", std::to_string(o.size));
      Owner(&w);
      w.Element("StorageClass", "STANDARD");
      w.Close();
    }
    CommonPrefixes(&w, res, enc);
    return XmlResponse(w.Finish());
  }

  Response ListUploads() {
    const std::string* prefix = FindParam(query_, "prefix");
    auto uploads = store_->ListUploads(route_.bucket, prefix ? *prefix : "");
    if (!uploads.ok()) return Error(uploads.status());
    std::sort(uploads->begin(), uploads->end(), [](const UploadInfo& a, const UploadInfo& b) {
      return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
    });
    auto max = MaxKeys("max-uploads", 1000);
    if (!max.ok()) return Error(max.status());
    std::string key_marker, id_marker;
    if (const std::string* km = FindParam(query_, "key-marker")) key_marker = *km;
    if (const std::string* im = FindParam(query_, "upload-id-marker")) id_marker = *im;
    XmlWriter w("ListMultipartUploadsResult", kS3Namespace);
    w.Element("Bucket", route_.bucket);
    w.Element("KeyMarker", key_marker);
    w.Element("UploadIdMarker", id_marker);
    w.Element("Prefix", prefix ? *prefix : "");
    w.Element("MaxUploads", std::to_string(*max));
    std::vector<const UploadInfo*> page;
    bool truncated = false;
    for (const UploadInfo& u : *uploads) {
      if (!key_marker.empty() &&
          (u.key < key_marker || (u.key == key_marker && (id_marker.empty() || u.upload_id <= id_marker)))) {
        continue;
      }
      if (page.size() == *max) { truncated = true; break; }
      page.push_back(&u);
    }
    if (truncated && !page.empty()) {
      w.Element("NextKeyMarker", page.back()->key);
      w.Element("NextUploadIdMarker", page.back()->upload_id);
    }
    w.Element("IsTruncated", truncated ? "true" : "false");
    for (const UploadInfo* u : page) {
      w.Open("Upload");
      w.Element("Key", u->key);
      w.Element("UploadId", u->upload_id);
      w.Open("Initiator"); w.Element("ID", owner_); w.Element("DisplayName", owner_); w.Close();
      Owner(&w);
      w.Element("StorageClass", "STANDARD");
      w.Element("Initiated", FormatIso8601(u->created_ns));
      w.Close();
    }
    return XmlResponse(w.Finish());
  }

  Response DeleteObjects() {
    auto doc = ParseXml(xml_, XmlLimits{options_.max_xml_bytes});
    if (!doc.ok() || doc->name != "Delete") {
      return Error(Err(R::kMalformedXml, "The XML you provided was not well-formed or did not validate against our published schema"));
    }
    auto objects = doc->Children("Object");
    if (objects.size() > 1000) {
      return Error(Err(R::kMalformedXml, "a Delete request may name at most 1000 keys"));
    }
    bool quiet = doc->ChildText("Quiet") == "true";
    XmlWriter w("DeleteResult", kS3Namespace);
    for (const XmlElement* o : objects) {
      const XmlElement* k = o->Child("Key");
      if (!k) return Error(Err(R::kMalformedXml, "an Object without a Key"));
      Status st = k->text.empty() || k->text.size() > 1024
                      ? Err(R::kNone, "invalid key")
                      : store_->Delete(route_.bucket, k->text);
      if (st.ok()) {
        Changed(k->text);
        if (quiet) continue;
        w.Open("Deleted");
        w.Element("Key", k->text);
        w.Close();
      } else {
        S3ErrorCode code = S3ErrorOf(st);
        w.Open("Error");
        w.Element("Key", k->text);
        w.Element("Code", code.code);
        w.Element("Message", st.message());
        w.Close();
      }
    }
    return XmlResponse(w.Finish());
  }

  Response PutObject() {
    auto info = writer_->Commit();
    writer_.reset();
    if (!info.ok()) return Error(info.status());
    Changed(route_.key);
    Response r = Ok(200);
    r.headers.Add("ETag", Quoted(info->etag));
    AddCidHeaders(*info, &r.headers);
    if (checksum_) r.headers.Add(checksum_name_, checksum_value_);
    return r;
  }

  void AddCidHeaders(const ObjectInfo& info, HeaderList* h) {
    if (info.cid.empty()) return;
    std::string cid = info.cid.ToString();
    h->Add("x-amz-meta-ipfs-cid", cid);
    h->Add("x-ipfs-path", "/ipfs/" + cid);
  }

  struct Source {
    std::string bucket, key;
  };
  Result<Source> CopySource() {
    const std::string* raw = head_.headers.Find("x-amz-copy-source");
    std::string_view v(*raw);
    if (size_t q = v.find('?'); q != std::string_view::npos) {
      std::string_view rest = v.substr(q + 1);
      if (rest != "versionId=null" && !rest.empty()) {
        return Err(R::kNone, "copy source versions are not supported");
      }
      v = v.substr(0, q);
    }
    std::string decoded;
    if (!PercentDecode(v, &decoded, false)) {
      return Err(R::kNone, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
    }
    std::string_view d(decoded);
    if (!d.empty() && d.front() == '/') d.remove_prefix(1);
    size_t slash = d.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == d.size() ||
        decoded.find('\0') != std::string::npos || d.size() - slash - 1 > 1024) {
      return Err(R::kNone, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
    }
    Source s{std::string(d.substr(0, slash)), std::string(d.substr(slash + 1))};
    auto bucket = store_->HeadBucket(s.bucket);
    if (!bucket.ok()) return Status::NotFound("The specified bucket does not exist").With(R::kNoSuchBucket);
    if (!keys_->Allowed(access_key_, s.bucket, bucket->owner, Access::kRead)) {
      return Status::InvalidArgument("Access Denied").With(R::kAccessDenied);
    }
    return s;
  }

  Response CopyObject() {
    auto src = CopySource();
    if (!src.ok()) return Error(src.status());
    auto sinfo = store_->Head(src->bucket, src->key);
    if (!sinfo.ok()) return Error(sinfo.status());
    if (Status st = CheckConditions(head_.headers, "x-amz-copy-source-", *sinfo, false); !st.ok()) {
      return Error(st);
    }
    CopyOptions co;
    const std::string* directive = head_.headers.Find("x-amz-metadata-directive");
    if (directive && *directive != "COPY" && *directive != "REPLACE") {
      return Error(Err(R::kNone, "Unknown metadata directive."));
    }
    co.replace_metadata = directive && *directive == "REPLACE";
    if (co.replace_metadata) {
      co.meta = MetaFromHeaders(head_.headers);
      if (MetaSize(co.meta) > 2048) {
        return Error(Err(R::kNone, "Your metadata headers exceed the maximum allowed metadata size."));
      }
    } else if (src->bucket == route_.bucket && src->key == route_.key) {
      return Error(Err(R::kInvalidRequest,
                       "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."));
    }
    co.if_match = sinfo->etag;  // what the conditions were checked against
    auto info = store_->Copy(src->bucket, src->key, route_.bucket, route_.key, co);
    if (!info.ok()) return Error(info.status());
    Changed(route_.key);
    XmlWriter w("CopyObjectResult", kS3Namespace);
    w.Element("LastModified", FormatIso8601(info->attrs.mtime_ns));
    w.Element("ETag", Quoted(info->etag));
    Response r = XmlResponse(w.Finish());
    AddCidHeaders(*info, &r.headers);
    return r;
  }

  Response GetObject(bool head) {
    auto reader = store_->OpenReader(route_.bucket, route_.key);
    if (!reader.ok()) return Error(reader.status());
    const ObjectInfo& info = (*reader)->info();
    if (Status st = CheckConditions(head_.headers, "", info, true); !st.ok()) {
      if (st.reason() == R::kNotModified) {
        Response r = Ok(304);
        r.headers.Add("ETag", Quoted(info.etag));
        r.headers.Add("Last-Modified", FormatHttpDate(Seconds(info.attrs.mtime_ns)));
        r.head_only = true;
        return r;
      }
      return Error(st);
    }
    uint64_t offset = 0, length = info.size;
    int status = 200;
    Response r;
    AddObjectHeaders(info, &r.headers);
    if (const std::string* range = head_.headers.Find("range")) {
      auto parsed = ParseByteRange(*range, info.size);
      if (!parsed.ok()) {
        Response e = Error(parsed.status());
        e.headers.Add("Content-Range", "bytes */" + std::to_string(info.size));
        return e;
      }
      if (parsed->has_value()) {
        offset = (*parsed)->first;
        length = (*parsed)->length;
        status = 206;
        r.headers.Add("Content-Range", ContentRange(offset, length, info.size));
      }
    }
    // response-* overrides (presigned downloads).
    static constexpr std::pair<std::string_view, std::string_view> kOverrides[] = {
        {"response-content-type", "content-type"},
        {"response-content-language", "content-language"},
        {"response-expires", "expires"},
        {"response-cache-control", "cache-control"},
        {"response-content-disposition", "content-disposition"},
        {"response-content-encoding", "content-encoding"}};
    for (const auto& override_pair : kOverrides) {
      std::string_view param = override_pair.first, header = override_pair.second;
      if (const std::string* v = FindParam(query_, param)) {
        auto& f = r.headers.fields;
        f.erase(std::remove_if(f.begin(), f.end(), [&](const auto& kv) { return kv.first == header; }),
                f.end());
        r.headers.Add(header, *v);
      }
    }
    r.status = status;
    r.headers.Add("x-amz-request-id", request_id_);
    r.content_length = length;
    if (head) {
      r.head_only = true;
      return r;
    }
    r.stream = std::make_unique<ReaderSource>(std::move(*reader), offset, length);
    return r;
  }

  Result<uint32_t> PartNumber() {
    const std::string* v = FindParam(query_, "partNumber");
    char* end = nullptr;
    long n = v ? strtol(v->c_str(), &end, 10) : 0;
    if (!v || v->empty() || *end != '\0' || n < 1 || n > 10000) {
      return Err(R::kNone, "Part number must be an integer between 1 and 10000, inclusive");
    }
    return uint32_t(n);
  }

  // The upload named by ?uploadId must be for this bucket and key.
  Status CheckUpload() {
    const std::string* id = FindParam(query_, "uploadId");
    auto uploads = store_->ListUploads(route_.bucket, route_.key);
    if (!uploads.ok()) return uploads.status();
    for (const UploadInfo& u : *uploads) {
      if (u.upload_id == *id && u.key == route_.key) return Status::OK();
    }
    return Status::NotFound("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
        .With(R::kNoSuchUpload);
  }

  Response CreateMultipart() {
    PutOptions po;
    po.meta = MetaFromHeaders(head_.headers);
    if (MetaSize(po.meta) > 2048) {
      return Error(Err(R::kNone, "Your metadata headers exceed the maximum allowed metadata size."));
    }
    auto id = store_->CreateMultipart(route_.bucket, route_.key, std::move(po));
    if (!id.ok()) return Error(id.status());
    XmlWriter w("InitiateMultipartUploadResult", kS3Namespace);
    w.Element("Bucket", route_.bucket);
    w.Element("Key", route_.key);
    w.Element("UploadId", *id);
    return XmlResponse(w.Finish());
  }

  Response UploadPart() {
    auto part = writer_->Commit();
    writer_.reset();
    if (!part.ok()) return Error(part.status());
    Response r = Ok(200);
    r.headers.Add("ETag", Quoted(part->etag));
    if (checksum_) r.headers.Add(checksum_name_, checksum_value_);
    return r;
  }

  Response UploadPartCopy() {
    auto number = PartNumber();
    if (!number.ok()) return Error(number.status());
    if (Status st = CheckUpload(); !st.ok()) return Error(st);
    auto src = CopySource();
    if (!src.ok()) return Error(src.status());
    auto sinfo = store_->Head(src->bucket, src->key);
    if (!sinfo.ok()) return Error(sinfo.status());
    if (Status st = CheckConditions(head_.headers, "x-amz-copy-source-", *sinfo, false); !st.ok()) {
      return Error(st);
    }
    uint64_t offset = 0, length = sinfo->size;
    if (const std::string* range = head_.headers.Find("x-amz-copy-source-range")) {
      unsigned long long a = 0, b = 0;
      char tail = 0;
      if (sscanf(range->c_str(), "bytes=%llu-%llu%c", &a, &b, &tail) != 2 || b < a ||
          b >= sinfo->size) {
        return Error(Err(R::kNone,
                         "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"));
      }
      offset = a;
      length = b - a + 1;
    }
    auto part = store_->UploadPartCopy(*FindParam(query_, "uploadId"), *number, src->bucket,
                                       src->key, offset, length);
    if (!part.ok()) return Error(part.status());
    XmlWriter w("CopyPartResult", kS3Namespace);
    w.Element("LastModified", FormatIso8601(part->modified_ns));
    w.Element("ETag", Quoted(part->etag));
    return XmlResponse(w.Finish());
  }

  Response CompleteMultipart() {
    if (Status st = CheckUpload(); !st.ok()) return Error(st);
    auto doc = ParseXml(xml_, XmlLimits{options_.max_xml_bytes});
    if (!doc.ok() || doc->name != "CompleteMultipartUpload") {
      return Error(Err(R::kMalformedXml, "The XML you provided was not well-formed or did not validate against our published schema"));
    }
    std::vector<std::pair<uint32_t, std::string>> parts;
    for (const XmlElement* p : doc->Children("Part")) {
      std::string num = p->ChildText("PartNumber");
      char* end = nullptr;
      long n = strtol(num.c_str(), &end, 10);
      if (num.empty() || *end != '\0' || n < 1 || n > 10000) {
        return Error(Err(R::kInvalidPart, "One or more of the specified parts could not be found.").With(R::kInvalidPart));
      }
      parts.emplace_back(uint32_t(n), Unquoted(p->ChildText("ETag")));
    }
    if (parts.empty()) {
      return Error(Err(R::kMalformedXml, "You must specify at least one part"));
    }
    auto info = store_->CompleteMultipart(*FindParam(query_, "uploadId"), parts);
    if (!info.ok()) return Error(info.status());
    Changed(route_.key);
    XmlWriter w("CompleteMultipartUploadResult", kS3Namespace);
    w.Element("Location", "/" + route_.bucket + "/" + route_.key);
    w.Element("Bucket", route_.bucket);
    w.Element("Key", route_.key);
    w.Element("ETag", Quoted(info->etag));
    Response r = XmlResponse(w.Finish());
    AddCidHeaders(*info, &r.headers);
    return r;
  }

  Response ListParts() {
    if (Status st = CheckUpload(); !st.ok()) return Error(st);
    auto parts = store_->ListParts(*FindParam(query_, "uploadId"));
    if (!parts.ok()) return Error(parts.status());
    auto max = MaxKeys("max-parts", 1000);
    if (!max.ok()) return Error(max.status());
    uint32_t marker = 0;
    if (const std::string* m = FindParam(query_, "part-number-marker")) marker = uint32_t(atol(m->c_str()));
    XmlWriter w("ListPartsResult", kS3Namespace);
    w.Element("Bucket", route_.bucket);
    w.Element("Key", route_.key);
    w.Element("UploadId", *FindParam(query_, "uploadId"));
    w.Open("Initiator"); w.Element("ID", owner_); w.Element("DisplayName", owner_); w.Close();
    Owner(&w);
    w.Element("StorageClass", "STANDARD");
    w.Element("PartNumberMarker", std::to_string(marker));
    std::vector<const PartInfo*> page;
    bool truncated = false;
    for (const PartInfo& p : *parts) {
      if (p.part_number <= marker) continue;
      if (page.size() == *max) { truncated = true; break; }
      page.push_back(&p);
    }
    if (!page.empty()) w.Element("NextPartNumberMarker", std::to_string(page.back()->part_number));
    w.Element("MaxParts", std::to_string(*max));
    w.Element("IsTruncated", truncated ? "true" : "false");
    for (const PartInfo* p : page) {
      w.Open("Part");
      w.Element("PartNumber", std::to_string(p->part_number));
      w.Element("LastModified", FormatIso8601(p->modified_ns));
      w.Element("ETag", Quoted(p->etag));
      w.Element("Size", std::to_string(p->size));
      w.Close();
    }
    return XmlResponse(w.Finish());
  }

  // ---- replies ----
  void Changed(const std::string& key) {
    if (hook_) hook_(route_.bucket, key);
  }

  Response Ok(int status) {
    Response r;
    r.status = status;
    r.headers.Add("x-amz-request-id", request_id_);
    return r;
  }

  Response XmlResponse(std::string doc) {
    Response r = Ok(200);
    r.headers.Add("Content-Type", "application/xml");
    r.body = std::move(doc);
    return r;
  }

  Response Error(const Status& st) {
    error_code_ = S3ErrorOf(st).code;
    error_message_ = st.message();
    Response r = S3Service::Impl::ErrorResponse(service_, st, resource_, request_id_);
    if (head_.method == "HEAD") {
      r.body.clear();
      r.head_only = true;
    }
    return r;
  }

  S3Service* service_;
  ObjectStore* store_;
  std::shared_ptr<const KeyStore> keys_;  // as they were when the request began
  const S3ServiceOptions& options_;
  const ChangeHook& hook_;
  RequestHead head_;
  std::string request_id_;
  std::string resource_;
  std::vector<QueryParam> query_;
  std::optional<VerifiedRequest> verified_;
  std::string access_key_;
  std::string owner_;
  Route route_;
  bool routed_ = false;
  std::string_view error_code_;  // of the last error reply (a static string)
  std::string error_message_;
  std::optional<Response> early_;
  BodyUse use_ = BodyUse::kNone;
  std::unique_ptr<AwsChunkedDecoder> decoder_;
  std::optional<Sha256> sha256_;
  std::string expected_sha256_;
  std::optional<Md5> md5_;
  std::optional<std::string> content_md5_;
  std::unique_ptr<Checksummer> checksum_;
  std::string checksum_name_, checksum_value_;
  std::unique_ptr<ObjectWriter> writer_;
  uint32_t part_number_ = 0;
  std::string xml_;
  uint64_t received_ = 0;
  uint64_t decoded_ = 0;
  Status body_error_;
};

}  // namespace

S3Service::S3Service(ObjectStore* store, const KeyStore* keys, S3ServiceOptions options)
    : store_(store),
      keys_(std::shared_ptr<const KeyStore>(std::shared_ptr<const KeyStore>(), keys)),  // not owned
      options_(std::move(options)) {
  RAND_bytes(reinterpret_cast<unsigned char*>(&instance_), sizeof instance_);
  instance_ &= 0xffffffffu;
  RequestMetrics::Get();  // the families are listed (HELP, TYPE) before the first request
}

S3Service::~S3Service() = default;

std::unique_ptr<S3Exchange> S3Service::Begin(const RequestHead& head) {
  return std::make_unique<Exchange>(this, store_, keys(), options_, change_hook_, head,
                                    Impl::RequestId(this));
}

void S3Service::SetKeys(std::shared_ptr<const KeyStore> keys) {
  std::lock_guard<std::mutex> l(keys_mu_);
  keys_ = std::move(keys);
}

std::shared_ptr<const KeyStore> S3Service::keys() const {
  std::lock_guard<std::mutex> l(keys_mu_);
  return keys_;
}

void S3Service::Rejected(const Status& status, const Response& response,
                         const RequestOutcome& outcome, std::string_view method,
                         std::string_view target) {
  RequestMetrics::Get().Record(kUnknownOp, outcome);
  LogFailure(FailureInfo{HeaderOf(response, "x-amz-request-id"), method, "unknown", {}, {},
                         SplitRequestTarget(target).raw_path, S3ErrorOf(status).code,
                         status.message(), {}},
             outcome);
}

Response S3Service::ErrorResponse(const Status& status, const std::string& resource) {
  return Impl::ErrorResponse(this, status, resource, Impl::RequestId(this));
}

Response S3Service::Impl::ErrorResponse(S3Service* s, const Status& status,
                                        const std::string& resource, const std::string& id) {
  S3ErrorCode code = S3ErrorOf(status);
  Response r;
  r.status = code.http_status;
  r.headers.Add("x-amz-request-id", id);
  if (code.http_status == 304) {
    r.head_only = true;
    return r;
  }
  r.headers.Add("Content-Type", "application/xml");
  XmlWriter w("Error");
  w.Element("Code", code.code);
  w.Element("Message", status.message());
  // A request signed for another region: name ours, as S3 does (s3cmd, whose default region
  // is "US", re-signs with the <Region> of this error; HEAD callers read the header).
  if ((status.reason() == R::kAuthorizationHeaderMalformed ||
       status.reason() == R::kAuthorizationQueryParametersError) &&
      status.message().find("' is wrong; expecting '") != std::string::npos) {
    w.Element("Region", s->options_.region);
    r.headers.Add("x-amz-bucket-region", s->options_.region);
  }
  w.Element("Resource", resource);
  w.Element("RequestId", id);
  r.body = w.Finish();
  return r;
}

}  // namespace s3xfs::s3
