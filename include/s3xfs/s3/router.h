// Which S3 operation a request is: method + path (or virtual host) + sub-resource parameters.
// Pure code; the first thing the service does with a request head.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/s3/http.h"

namespace s3xfs::s3 {

enum class S3Op {
  kListBuckets,
  kCreateBucket,
  kDeleteBucket,
  kHeadBucket,
  kGetBucketLocation,
  kGetBucketVersioning,
  kListObjectsV1,
  kListObjectsV2,
  kListObjectVersions,
  kListMultipartUploads,
  kDeleteObjects,
  kPutObject,
  kCopyObject,
  kGetObject,
  kHeadObject,
  kDeleteObject,
  kCreateMultipartUpload,
  kUploadPart,
  kUploadPartCopy,
  kCompleteMultipartUpload,
  kAbortMultipartUpload,
  kListParts,
  // GET /b/k?tagging: s3xfs keeps no tags, so always an empty TagSet (aws cli asks for the
  // source's tags before every multipart copy: `aws s3 cp s3://... s3://...` above 8 MiB).
  kGetObjectTagging,
  // GET|HEAD /ipfs/{cid}[/path] with the gateway enabled (RouterOptions::gateway): the IPFS
  // gateway (gateway.h), not an S3 operation. bucket and key are empty.
  kIpfsGateway,
};
std::string_view OpName(S3Op op);

struct Route {
  S3Op op = S3Op::kListBuckets;
  std::string bucket;  // empty for ListBuckets
  std::string key;     // decoded; empty for bucket operations
};

struct RouterOptions {
  // Virtual-host style: "Host: BUCKET.domain[:port]" names the bucket. Empty: path style only.
  std::string domain;
  // The IPFS gateway is enabled: a path-style request whose path is /ipfs/{cid}[/...] (the first
  // segment parses as a CID, see IsGatewayPath) is kIpfsGateway for GET and HEAD and
  // MethodNotAllowed for other methods, instead of an operation on the bucket "ipfs".
  bool gateway = false;
};

// Errors: NotImplemented for sub-resources s3xfs does not serve (?acl, ?policy, ?tagging other
// than GET on an object ...),
// MethodNotAllowed for a method that no operation on that resource has, KeyTooLong (> 1024
// bytes), InvalidArgument for a malformed path escape or a key with a NUL byte,
// InvalidBucketName for a bucket segment that cannot be a bucket.
Result<Route> RouteRequest(const RequestHead& head, const std::vector<QueryParam>& query,
                           const RouterOptions& options);

// The value of query parameter `name`, or nullptr.
const std::string* FindParam(const std::vector<QueryParam>& query, std::string_view name);
bool HasParam(const std::vector<QueryParam>& query, std::string_view name);

}  // namespace s3xfs::s3
