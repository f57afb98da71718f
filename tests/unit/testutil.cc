#include "testutil.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "s3xfs/base/metrics.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs::testing {

double MetricValue(const std::string& series) {
  std::string text = metrics::Global().Render();
  std::string want = series + " ";
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.compare(pos, want.size(), want) == 0)
      return std::stod(text.substr(pos + want.size(), end - pos - want.size()));
    pos = end + 1;
  }
  return -1;
}

Bytes ChaCha(const std::string& seed, size_t n) {
  Sha256Digest key = Sha256(AsBytes(seed));
  unsigned char iv[16] = {0};
  Bytes zeros(n, 0), out(n + 64);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, key.data(), iv) != 1 ||
      EVP_EncryptUpdate(ctx, out.data(), &len, zeros.data(), static_cast<int>(n)) != 1 ||
      EVP_EncryptFinal_ex(ctx, out.data() + len, &fin) != 1)
    throw std::runtime_error("chacha20 failed");
  EVP_CIPHER_CTX_free(ctx);
  out.resize(n);
  return out;
}

Bytes Md5Raw(ByteView b) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(b.data(), b.size(), d, &n, EVP_md5(), nullptr);
  return Bytes(d, d + n);
}

std::string Md5Hex(ByteView b) { return HexEncode(Md5Raw(b)); }

TempDir::TempDir() {
  const char* t = std::getenv("TMPDIR");
  std::string tmpl = std::string(t && *t ? t : "/tmp") + "/s3xfs-test-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace s3xfs::testing
