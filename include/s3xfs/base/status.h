// Status and Result<T>: errors as values.
//
// A Status is either OK or carries a Code and a human-readable message that already names the
// thing that failed (a CID, a path). Every module translates foreign errors (errno, OpenSSL,
// SQLite, gRPC, HTTP) into a Status at its boundary, once.
//
// Thread-safety: immutable values; safe to copy between threads.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace s3xfs {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,         // a block, key or file does not exist
    kCorruption,       // bytes do not match their CID, or a format is malformed on disk
    kInvalidArgument,  // caller passed something unusable (bad CID text, bad range)
    kIOError,          // the local OS failed (errno)
    kUnavailable,      // a remote node cannot be reached now; retrying may help
    kAlreadyExists,
    kNotSupported,
    kTimeout,
    kInternal,
  };

  // Why, precisely, beside the code: front ends map reasons to S3 error codes and errno values.
  // Not persisted.
  enum class Reason : uint16_t {
    kNone = 0,
    kNoSuchBucket,
    kNoSuchKey,
    kNoSuchUpload,
    kBucketNotEmpty,
    kBucketAlreadyOwnedByYou,
    kBucketAlreadyExists,
    kInvalidBucketName,
    kInvalidKey,
    kEntityTooSmall,
    kInvalidPart,
    kInvalidPartOrder,
    kBadDigest,
    kPreconditionFailed,
    kNotModified,
    kInvalidRange,
    kDirectoryNotEmpty,  // ENOTEMPTY
    kIsDirectory,        // EISDIR
    kNotDirectory,       // ENOTDIR
    kExists,             // EEXIST
    kCrossBucket,        // EXDEV
    kNotPath,            // a key that cannot be shown as a path
    kNoSuchAttr,         // ENODATA
    kNotPermitted,       // EPERM
    // S3 protocol errors (the s3 front end's request checks).
    kAccessDenied,
    kSignatureDoesNotMatch,
    kInvalidAccessKeyId,
    kRequestTimeTooSkewed,
    kAuthorizationHeaderMalformed,
    kAuthorizationQueryParametersError,
    kContentSha256Mismatch,  // XAmzContentSHA256Mismatch
    kInvalidDigest,
    kMalformedXml,
    kEntityTooLarge,
    kKeyTooLong,
    kMethodNotAllowed,
    kNotImplemented,
    kMissingContentLength,
    kInvalidRequest,
    kIncompleteBody,
    kSlowDown,
  };

  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  // errno-based I/O error: "<context>: <strerror(err)>".
  static Status FromErrno(std::string_view context, int err);
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status NotSupported(std::string msg) { return Status(Code::kNotSupported, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  // The same status with a reason attached.
  Status With(Reason r) const {
    Status s = *this;
    s.reason_ = r;
    return s;
  }
  Reason reason() const { return reason_; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  const std::string& message() const { return msg_; }
  // "OK" or "<code name>: <message>".
  std::string ToString() const;
  static std::string_view CodeName(Code c);

 private:
  Status(Code c, std::string msg) : code_(c), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  Reason reason_ = Reason::kNone;
  std::string msg_;
};

// Result<T> holds a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : v_(std::move(s)) {      // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace s3xfs

// Propagation helpers. S3XFS_RETURN_IF_ERROR(expr) returns a non-OK Status from the caller.
#define S3XFS_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::s3xfs::Status _s3xfs_st = (expr);          \
    if (!_s3xfs_st.ok()) return _s3xfs_st;       \
  } while (0)

#define S3XFS_CONCAT_INNER(a, b) a##b
#define S3XFS_CONCAT(a, b) S3XFS_CONCAT_INNER(a, b)
// S3XFS_ASSIGN_OR_RETURN(auto x, ResultExpr) declares x from the value or returns the Status.
#define S3XFS_ASSIGN_OR_RETURN(lhs, expr) \
  S3XFS_ASSIGN_OR_RETURN_IMPL(S3XFS_CONCAT(_s3xfs_r_, __LINE__), lhs, expr)
#define S3XFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
