#include "s3xfs/s3/credentials.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace s3xfs::s3 {
namespace {

bool ValidAccessKey(std::string_view k) {
  if (k.size() < 3 || k.size() > 128) return false;
  for (char c : k) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool ValidSecret(std::string_view s) {
  if (s.size() < 8 || s.size() > 128) return false;
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::string RandomString(size_t n, std::string_view alphabet) {
  std::string out;
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof buf) != 1) continue;
    for (unsigned char b : buf) {
      // Rejection sampling keeps the distribution uniform.
      if (b >= 256 - 256 % alphabet.size()) continue;
      out.push_back(alphabet[b % alphabet.size()]);
      if (out.size() == n) break;
    }
  }
  return out;
}

}  // namespace

Result<KeyStore> KeyStore::Parse(std::string_view text) {
  KeyStore store;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    if (words.empty()) continue;
    auto bad = [&](std::string_view why) {
      return Status::InvalidArgument("keys file line " + std::to_string(lineno) + ": " +
                                     std::string(why));
    };
    if (words[0] == "grant") {
      if (words.size() != 4) return bad("expected: grant ACCESS_KEY|* BUCKET read|write");
      if (words[3] != "read" && words[3] != "write") return bad("access must be read or write");
      if (words[1] != "*" && !ValidAccessKey(words[1])) return bad("bad access key in grant");
      store.grants_[{words[1], words[2]}] = words[3] == "write";
      continue;
    }
    if (words.size() != 2) return bad("expected: ACCESS_KEY SECRET_KEY");
    if (!ValidAccessKey(words[0])) return bad("access key must be 3-128 of A-Z a-z 0-9 _ - .");
    if (!ValidSecret(words[1])) return bad("secret key must be 8-128 printable characters");
    if (store.SecretOf(words[0])) return bad("access key listed twice");
    store.pairs_.emplace_back(words[0], words[1]);
  }
  if (store.pairs_.empty()) return Status::InvalidArgument("keys file has no key pair");
  return store;
}

Result<KeyStore> KeyStore::LoadOrCreate(const std::string& path, std::string* generated) {
  std::ifstream in(path);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    auto store = Parse(text.str());
    if (!store.ok()) return Status::InvalidArgument(path + ": " + store.status().message());
    return store;
  }
  if (errno != ENOENT) return Status::FromErrno("open " + path, errno);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::string access = RandomString(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
  std::string secret = RandomString(
      40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  std::string content = "# s3xfs S3 credentials: ACCESS_KEY SECRET_KEY, one pair a line.\n" +
                        access + " " + secret + "\n";
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + tmp, errno);
  ssize_t n = ::write(fd, content.data(), content.size());
  int err = errno;
  if (n != ssize_t(content.size()) || ::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::FromErrno("write " + tmp, n < 0 ? err : EIO);
  }
  ::close(fd);
  // link() instead of rename(): a concurrent first start must not replace the other's keys.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return LoadOrCreate(path, generated);
    return Status::FromErrno("create " + path, err);
  }
  ::unlink(tmp.c_str());
  if (generated) {
    *generated = "generated S3 credentials in " + path + ": access key " + access +
                 " secret key " + secret;
  }
  return Parse(content);
}

KeyStore KeyStore::Single(std::string access_key, std::string secret_key) {
  KeyStore store;
  store.pairs_.emplace_back(std::move(access_key), std::move(secret_key));
  return store;
}

const std::string* KeyStore::SecretOf(std::string_view access_key) const {
  for (const auto& [k, s] : pairs_) {
    if (k == access_key) return &s;
  }
  return nullptr;
}

bool KeyStore::Allowed(std::string_view access_key, std::string_view bucket,
                       std::string_view owner, Access access) const {
  std::string_view effective_owner = owner.empty() ? std::string_view(default_key()) : owner;
  if (!access_key.empty() && access_key == effective_owner) return true;
  for (std::string grantee : {std::string(access_key.empty() ? "*" : access_key), std::string("*")}) {
    auto it = grants_.find({grantee, std::string(bucket)});
    if (it != grants_.end() && (access == Access::kRead || it->second)) return true;
  }
  return false;
}

}  // namespace s3xfs::s3
