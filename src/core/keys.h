// Key helpers shared by the core's files (internal).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace s3xfs::keys {

// The path components of a key ("a/b/" -> {"a","b"}), or false when the key cannot be shown as
// a path in the mount: leading '/', an empty component ("a//b"), "." or "..", a component over
// 255 bytes, or a NUL byte. Such keys stay reachable over S3 only.
bool SplitPath(std::string_view key, std::vector<std::string_view>* parts);

// The directory key of a key's parent ("a/b/c" -> "a/b/", "a/b/" -> "a/", "a" -> "").
std::string ParentKey(std::string_view key);

// The smallest string greater than every string that starts with `prefix`, or "" if none.
std::string PrefixUpper(std::string_view prefix);

inline bool StartsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

}  // namespace s3xfs::keys
