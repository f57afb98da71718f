#include "keys.h"

namespace s3xfs::keys {

bool SplitPath(std::string_view key, std::vector<std::string_view>* parts) {
  parts->clear();
  if (key.empty() || key[0] == '/' || key.find('\0') != std::string_view::npos) return false;
  if (key.back() == '/') key.remove_suffix(1);
  size_t start = 0;
  for (;;) {
    size_t end = key.find('/', start);
    std::string_view c = key.substr(start, end == std::string_view::npos ? end : end - start);
    if (c.empty() || c == "." || c == ".." || c.size() > 255) return false;
    parts->push_back(c);
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

std::string ParentKey(std::string_view key) {
  if (!key.empty() && key.back() == '/') key.remove_suffix(1);
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(key.substr(0, slash + 1));
}

std::string PrefixUpper(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (s.empty()) return s;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

}  // namespace s3xfs::keys
