#include "s3xfs/s3/credentials.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

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

constexpr char kHeader[] = "# s3xfs S3 credentials: ACCESS_KEY SECRET_KEY, one pair a line.\n";

// The file's text; nullopt when it does not exist.
Result<std::optional<std::string>> ReadText(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Status::FromErrno("open " + path, errno);
  }
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno("read " + path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

// An exclusive lock on the directory holding `path`, serialising edits of files in it.
class DirLock {
 public:
  static Result<DirLock> Take(const std::string& path) {
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    DirLock l;
    l.fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l.fd_ < 0) return Status::FromErrno("open directory " + dir.string(), errno);
    while (::flock(l.fd_, LOCK_EX) != 0) {
      if (errno != EINTR) return Status::FromErrno("lock directory " + dir.string(), errno);
    }
    return l;
  }
  DirLock(DirLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  int fd() const { return fd_; }

 private:
  DirLock() = default;
  int fd_ = -1;
};

// Replaces path with text: temporary file (0600), fsync, rename, fsync of the directory.
Status ReplaceFile(const std::string& path, const std::string& text, int dir_fd) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno("create " + tmp, errno);
  Status st;
  if (::fchmod(fd, 0600) != 0) st = Status::FromErrno("chmod " + tmp, errno);
  for (size_t done = 0; st.ok() && done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = Status::FromErrno("write " + tmp, errno);
    else done += static_cast<size_t>(n);
  }
  if (st.ok() && ::fsync(fd) != 0) st = Status::FromErrno("fsync " + tmp, errno);
  if (::close(fd) != 0 && st.ok()) st = Status::FromErrno("close " + tmp, errno);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Status::FromErrno("rename to " + path, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::fsync(dir_fd) != 0) return Status::FromErrno("fsync the directory of " + path, errno);
  return Status::OK();
}

// The access key of a pair line, or "" for comments, blank lines and grants.
std::string PairKeyOf(std::string line) {
  if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
  std::istringstream fields(line);
  std::vector<std::string> words;
  for (std::string w; fields >> w;) words.push_back(w);
  if (words.size() != 2 || words[0] == "grant") return "";
  return words[0];
}

}  // namespace

std::pair<std::string, std::string> GenerateKeyPair() {
  return {RandomString(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
          RandomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")};
}

Status ValidateKeyPair(std::string_view access_key, std::string_view secret_key) {
  if (!ValidAccessKey(access_key))
    return Status::InvalidArgument("access key must be 3-128 of A-Z a-z 0-9 _ - .");
  if (!ValidSecret(secret_key))
    return Status::InvalidArgument("secret key must be 8-128 printable characters without spaces");
  return Status::OK();
}

Status AddKeyToFile(const std::string& path, std::string_view access_key,
                    std::string_view secret_key) {
  S3XFS_RETURN_IF_ERROR(ValidateKeyPair(access_key, secret_key));
  S3XFS_ASSIGN_OR_RETURN(DirLock lock, DirLock::Take(path));
  S3XFS_ASSIGN_OR_RETURN(std::optional<std::string> text, ReadText(path));
  std::string out = text ? *text : std::string(kHeader);
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (PairKeyOf(line) == access_key)
      return Status::AlreadyExists("access key " + std::string(access_key) + " is already in " + path);
  }
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += std::string(access_key) + " " + std::string(secret_key) + "\n";
  // Refuse to rewrite a file that is malformed elsewhere (the daemon could not load it).
  if (auto parsed = KeyStore::Parse(out); !parsed.ok())
    return Status::InvalidArgument(path + ": " + parsed.status().message());
  return ReplaceFile(path, out, lock.fd());
}

Status RemoveKeyFromFile(const std::string& path, std::string_view access_key,
                         bool allow_default) {
  S3XFS_ASSIGN_OR_RETURN(DirLock lock, DirLock::Take(path));
  S3XFS_ASSIGN_OR_RETURN(std::optional<std::string> text, ReadText(path));
  if (!text) return Status::NotFound("no keys file at " + path);
  auto store = KeyStore::Parse(*text);
  if (!store.ok()) return Status::InvalidArgument(path + ": " + store.status().message());
  if (!store->SecretOf(access_key))
    return Status::NotFound("access key " + std::string(access_key) + " is not in " + path);
  if (store->access_keys().size() == 1)
    return Status::InvalidArgument("access key " + std::string(access_key) +
                                   " is the only pair in " + path + "; add another one first");
  if (store->default_key() == access_key && !allow_default)
    return Status::InvalidArgument(
        "access key " + std::string(access_key) + " is the first pair of " + path +
        ": it owns the buckets made without a key (in the mount), which would pass to " +
        store->access_keys()[1]);
  std::string out;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (PairKeyOf(line) == access_key) continue;
    out += line + "\n";
  }
  S3XFS_RETURN_IF_ERROR(KeyStore::Parse(out).status());
  return ReplaceFile(path, out, lock.fd());
}

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
  auto [access, secret] = GenerateKeyPair();
  std::string content = kHeader + access + " " + secret + "\n";
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

Result<KeyStore> KeyStore::Load(const std::string& path) {
  S3XFS_ASSIGN_OR_RETURN(std::optional<std::string> text, ReadText(path));
  if (!text) return Status::NotFound("no keys file at " + path);
  auto store = Parse(*text);
  if (!store.ok()) return Status::InvalidArgument(path + ": " + store.status().message());
  return store;
}

std::vector<std::string> KeyStore::access_keys() const {
  std::vector<std::string> out;
  for (const auto& [k, s] : pairs_) out.push_back(k);
  return out;
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
