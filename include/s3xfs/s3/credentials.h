// S3 credentials and bucket access: the keys file.
//
// Format (one entry a line, '#' starts a comment, blank lines ignored):
//   ACCESS_KEY SECRET_KEY            a key pair (access keys 3..128 chars of A-Z a-z 0-9 _ - .,
//                                    secrets 8..128 printable non-space ASCII)
//   grant ACCESS_KEY|* BUCKET read|write
//                                    lets another key (or '*': anonymous requests) read, or read
//                                    and write, a bucket it does not own
// A bucket belongs to the key that created it. Buckets created without a key (the mount's mkdir
// at its root, older ledgers) belong to the first key of the file. Nobody but the owner and
// grantees gets in; anonymous requests only reach buckets granted to '*'.
//
// Thread-safety: immutable after loading; safe to share.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/status.h"

namespace s3xfs::s3 {

enum class Access { kRead, kWrite };

class KeyStore {
 public:
  // Parses a keys file's text. InvalidArgument naming the line for anything malformed, and
  // when there is no key pair at all.
  static Result<KeyStore> Parse(std::string_view text);
  // Loads `path`; when it does not exist, generates one pair, writes it with mode 0600 (the
  // directory is created) and sets *generated to a line showing it.
  static Result<KeyStore> LoadOrCreate(const std::string& path, std::string* generated);
  // A store with exactly one pair (tests, --s3-access-key/--s3-secret-key).
  static KeyStore Single(std::string access_key, std::string secret_key);

  // The secret of an access key, or nullptr when the key is unknown.
  const std::string* SecretOf(std::string_view access_key) const;
  // The first key in the file: owner of buckets created without a key.
  const std::string& default_key() const { return pairs_.front().first; }
  // May `access_key` ("" = anonymous) perform `access` on `bucket` owned by `owner` ("" = the
  // default key)?
  bool Allowed(std::string_view access_key, std::string_view bucket, std::string_view owner,
               Access access) const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
  // (grantee, bucket) -> write allowed
  std::map<std::pair<std::string, std::string>, bool> grants_;
};

}  // namespace s3xfs::s3
