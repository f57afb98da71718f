#include "s3xfs/s3/router.h"

#include <algorithm>
#include <array>

#include "s3xfs/s3/gateway.h"

namespace s3xfs::s3 {
namespace {

// Sub-resources of buckets and objects that select an operation s3xfs does not implement.
constexpr std::array<std::string_view, 27> kUnsupported = {
    "acl", "policy", "cors", "lifecycle", "tagging", "website", "logging", "notification",
    "replication", "encryption", "object-lock", "ownershipControls", "publicAccessBlock",
    "requestPayment", "accelerate", "analytics", "inventory", "metrics", "intelligent-tiering",
    "retention", "legal-hold", "torrent", "restore", "select", "attributes", "policyStatus",
    "session"};

Status NotImplemented(std::string_view what) {
  return Status::NotSupported(std::string(what) + " is not implemented by s3xfs")
      .With(Status::Reason::kNotImplemented);
}
Status MethodNotAllowed(std::string_view method) {
  return Status::InvalidArgument("the method " + std::string(method) +
                                 " is not allowed against this resource")
      .With(Status::Reason::kMethodNotAllowed);
}

std::string HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // IPv6 literal
    size_t close = host.find(']');
    return std::string(host.substr(0, close == std::string_view::npos ? host.size() : close + 1));
  }
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
  return out;
}

Result<Route> BucketOp(const RequestHead& head, const std::vector<QueryParam>& q, Route r) {
  const std::string& m = head.method;
  if (m == "GET") {
    if (HasParam(q, "location")) r.op = S3Op::kGetBucketLocation;
    else if (HasParam(q, "versioning")) r.op = S3Op::kGetBucketVersioning;
    else if (HasParam(q, "versions")) r.op = S3Op::kListObjectVersions;
    else if (HasParam(q, "uploads")) r.op = S3Op::kListMultipartUploads;
    else {
      const std::string* type = FindParam(q, "list-type");
      if (type && *type == "2") r.op = S3Op::kListObjectsV2;
      else if (type && *type != "1" && !type->empty()) {
        return Status::InvalidArgument("list-type must be 1 or 2");
      } else r.op = S3Op::kListObjectsV1;
    }
    return r;
  }
  if (m == "PUT") {
    if (HasParam(q, "versioning")) return NotImplemented("PutBucketVersioning");
    r.op = S3Op::kCreateBucket;
    return r;
  }
  if (m == "DELETE") { r.op = S3Op::kDeleteBucket; return r; }
  if (m == "HEAD") { r.op = S3Op::kHeadBucket; return r; }
  if (m == "POST") {
    if (HasParam(q, "delete")) { r.op = S3Op::kDeleteObjects; return r; }
    return NotImplemented("this POST on a bucket");
  }
  return MethodNotAllowed(m);
}

Result<Route> ObjectOp(const RequestHead& head, const std::vector<QueryParam>& q, Route r) {
  const std::string& m = head.method;
  bool upload = HasParam(q, "uploadId");
  if (m == "GET") {
    if (HasParam(q, "tagging")) r.op = S3Op::kGetObjectTagging;
    else r.op = upload ? S3Op::kListParts : S3Op::kGetObject;
    return r;
  }
  if (m == "HEAD") { r.op = S3Op::kHeadObject; return r; }
  if (m == "PUT") {
    bool copy = head.headers.Has("x-amz-copy-source");
    if (upload || HasParam(q, "partNumber")) {
      if (!upload || !HasParam(q, "partNumber")) {
        return Status::InvalidArgument("UploadPart needs both partNumber and uploadId");
      }
      r.op = copy ? S3Op::kUploadPartCopy : S3Op::kUploadPart;
    } else {
      r.op = copy ? S3Op::kCopyObject : S3Op::kPutObject;
    }
    return r;
  }
  if (m == "DELETE") {
    r.op = upload ? S3Op::kAbortMultipartUpload : S3Op::kDeleteObject;
    return r;
  }
  if (m == "POST") {
    if (HasParam(q, "uploads")) { r.op = S3Op::kCreateMultipartUpload; return r; }
    if (upload) { r.op = S3Op::kCompleteMultipartUpload; return r; }
    return NotImplemented("this POST on an object");
  }
  return MethodNotAllowed(m);
}

}  // namespace

std::string_view OpName(S3Op op) {
  switch (op) {
    case S3Op::kListBuckets: return "ListBuckets";
    case S3Op::kCreateBucket: return "CreateBucket";
    case S3Op::kDeleteBucket: return "DeleteBucket";
    case S3Op::kHeadBucket: return "HeadBucket";
    case S3Op::kGetBucketLocation: return "GetBucketLocation";
    case S3Op::kGetBucketVersioning: return "GetBucketVersioning";
    case S3Op::kListObjectsV1: return "ListObjects";
    case S3Op::kListObjectsV2: return "ListObjectsV2";
    case S3Op::kListObjectVersions: return "ListObjectVersions";
    case S3Op::kListMultipartUploads: return "ListMultipartUploads";
    case S3Op::kDeleteObjects: return "DeleteObjects";
    case S3Op::kPutObject: return "PutObject";
    case S3Op::kCopyObject: return "CopyObject";
    case S3Op::kGetObject: return "GetObject";
    case S3Op::kHeadObject: return "HeadObject";
    case S3Op::kDeleteObject: return "DeleteObject";
    case S3Op::kCreateMultipartUpload: return "CreateMultipartUpload";
    case S3Op::kUploadPart: return "UploadPart";
    case S3Op::kUploadPartCopy: return "UploadPartCopy";
    case S3Op::kCompleteMultipartUpload: return "CompleteMultipartUpload";
    case S3Op::kAbortMultipartUpload: return "AbortMultipartUpload";
    case S3Op::kListParts: return "ListParts";
    case S3Op::kGetObjectTagging: return "GetObjectTagging";
    case S3Op::kIpfsGateway: return "IpfsGateway";
  }
  return "Unknown";
}

const std::string* FindParam(const std::vector<QueryParam>& query, std::string_view name) {
  for (const auto& p : query) {
    if (p.name == name) return &p.value;
  }
  return nullptr;
}

bool HasParam(const std::vector<QueryParam>& query, std::string_view name) {
  return FindParam(query, name) != nullptr;
}

Result<Route> RouteRequest(const RequestHead& head, const std::vector<QueryParam>& query,
                           const RouterOptions& options) {
  bool get_tagging = false;
  for (const auto& p : query) {
    if (p.name == "tagging" && head.method == "GET" && !get_tagging) {
      get_tagging = true;  // GetObjectTagging (objects only: checked once the key is known)
      continue;
    }
    if (std::find(kUnsupported.begin(), kUnsupported.end(), p.name) != kUnsupported.end()) {
      return NotImplemented("the ?" + p.name + " sub-resource");
    }
  }
  SplitTarget split = SplitRequestTarget(head.target);
  if (split.raw_path.empty() || split.raw_path.front() != '/') {
    return Status::InvalidArgument("request target must be an absolute path");
  }
  std::string path;
  if (!PercentDecode(split.raw_path, &path, /*plus_is_space=*/false)) {
    return Status::InvalidArgument("malformed percent escape in the path");
  }
  if (path.find('\0') != std::string::npos) {
    return Status::InvalidArgument("the path contains a NUL byte");
  }

  Route r;
  std::string_view rest(path);
  rest.remove_prefix(1);  // the leading '/'
  std::string vhost_bucket;
  if (!options.domain.empty()) {
    if (const std::string* host = head.headers.Find("host")) {
      std::string h = HostWithoutPort(*host);
      std::string suffix = "." + options.domain;
      if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0) {
        vhost_bucket = h.substr(0, h.size() - suffix.size());
      }
    }
  }
  if (!vhost_bucket.empty()) {
    r.bucket = vhost_bucket;
    r.key = std::string(rest);
  } else if (options.gateway && IsGatewayPath(path)) {
    if (head.method != "GET" && head.method != "HEAD") return MethodNotAllowed(head.method);
    r.op = S3Op::kIpfsGateway;
    return r;
  } else {
    size_t slash = rest.find('/');
    r.bucket = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) r.key = std::string(rest.substr(slash + 1));
  }
  if (r.key.size() > 1024) {
    return Status::InvalidArgument("key is longer than 1024 bytes").With(Status::Reason::kKeyTooLong);
  }
  if (r.bucket.empty()) {
    if (head.method == "GET") { r.op = S3Op::kListBuckets; return r; }
    return MethodNotAllowed(head.method);
  }
  if (r.key.empty()) {
    if (get_tagging) return NotImplemented("the ?tagging sub-resource");
    return BucketOp(head, query, std::move(r));
  }
  return ObjectOp(head, query, std::move(r));
}

}  // namespace s3xfs::s3
