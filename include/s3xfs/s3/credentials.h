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
// Thread-safety: a KeyStore is immutable after loading; safe to share. A running S3Service
// swaps in a new one on reload (S3Service::SetKeys). The file functions below may run while a
// daemon uses the file: they replace it atomically.
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
  // Loads an existing keys file: NotFound when it does not exist, InvalidArgument (naming the
  // file and line) when it is malformed.
  static Result<KeyStore> Load(const std::string& path);
  // A store with exactly one pair (tests, --s3-access-key/--s3-secret-key).
  static KeyStore Single(std::string access_key, std::string secret_key);

  // The access keys, in file order (the first is default_key()).
  std::vector<std::string> access_keys() const;

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

// A new random pair as LoadOrCreate makes one: 20 upper-case letters and digits, and a secret of
// 40 base64 characters.
std::pair<std::string, std::string> GenerateKeyPair();
// Checks a pair against the file's rules (InvalidArgument saying which rule).
Status ValidateKeyPair(std::string_view access_key, std::string_view secret_key);

// Edits of a keys file. Each reads the file, changes only the line of the pair concerned
// (comments, grants and the other pairs stay as they are), checks that the result parses, and
// replaces the file atomically: a temporary file with mode 0600, fsync, rename, fsync of the
// directory. Edits by several processes are serialised by a lock on the directory.
//
// Appends a pair; the file is created (mode 0600) when missing. AlreadyExists when the access
// key is listed already.
Status AddKeyToFile(const std::string& path, std::string_view access_key,
                    std::string_view secret_key);
// Removes the pair of `access_key` (NotFound when it is not listed). The last pair cannot be
// removed (InvalidArgument). The first pair owns the buckets recorded without an owner, so
// removing it hands them to the next pair: InvalidArgument unless allow_default. Grants naming
// the key stay (they grant nothing without its pair).
Status RemoveKeyFromFile(const std::string& path, std::string_view access_key,
                         bool allow_default);

}  // namespace s3xfs::s3
