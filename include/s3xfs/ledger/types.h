// Value types of the ledger, shared with the object core: what an object, a bucket, a listing and
// a multipart upload look like to callers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "s3xfs/cas/cid.h"

namespace s3xfs {

// Kind of an inode. Written to disk: never renumber.
enum class InodeKind : uint8_t {
  kFile = 1,
  kDirectory = 2,
  kSymlink = 3,
  kFifo = 4,
  kCharDevice = 5,
  kBlockDevice = 6,
  kSocket = 7,
};

using InodeId = uint64_t;
// The mount root (lists buckets). Buckets' root directories get ordinary inode numbers.
constexpr InodeId kRootInode = 1;

// S3 system metadata and user metadata, stored with the inode.
struct ObjectMeta {
  std::string content_type;
  std::string content_encoding;
  std::string content_disposition;
  std::string content_language;
  std::string cache_control;
  std::string expires;
  // x-amz-meta-NAME (NAME lower case, without the prefix) == xattr user.NAME.
  std::map<std::string, std::string> user;
  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

// POSIX attributes. Times in nanoseconds since the epoch.
struct PosixAttrs {
  uint32_t mode = 0;  // permission bits (and setuid/setgid/sticky); the type comes from the kind
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int64_t btime_ns = 0;
};

struct ObjectInfo {
  std::string bucket;
  std::string key;
  InodeId ino = 0;
  InodeKind kind = InodeKind::kFile;
  uint64_t size = 0;
  uint32_t nlink = 1;
  std::string etag;    // without quotes: md5 hex, or md5-of-md5s "-N" for multipart
  Cid cid;             // root of the content DAG (files); empty for other kinds
  std::string symlink; // target, for symlinks
  ObjectMeta meta;
  PosixAttrs attrs;
  uint64_t generation = 0;
};

struct BucketInfo {
  std::string name;
  int64_t created_ns = 0;
  std::string owner;
  InodeId root_ino = 0;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;    // empty: no grouping
  std::string start_after;  // exclusive (V1 marker, V2 start-after or decoded continuation token)
  uint32_t max_keys = 1000; // capped at 1000
  bool etags = true;        // false: keys only, a pending ETag stays empty (no content read)
};

struct ListResult {
  std::vector<ObjectInfo> objects;        // bytewise key order
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  // When truncated: the last key or common prefix returned; listing again with start_after set
  // to it continues exactly where this page stopped.
  std::string next_marker;
};

struct UploadInfo {
  std::string upload_id;
  std::string bucket;
  std::string key;
  int64_t created_ns = 0;
};

struct PartInfo {
  uint32_t part_number = 0;
  uint64_t size = 0;
  std::string etag;  // md5 hex
  int64_t modified_ns = 0;
};

}  // namespace s3xfs
