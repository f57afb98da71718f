// Shared helpers for unit tests.
#pragma once

#include <string>

#include "s3xfs/base/bytes.h"

namespace s3xfs::testing {

// Kubo's fixture bytes: ChaCha20 keystream, key = sha256(seed), zero nonce, counter 0.
Bytes ChaCha(const std::string& seed, size_t n);

// MD5 of the bytes (raw 16 bytes / lower-case hex), as S3 ETags use it.
Bytes Md5Raw(ByteView b);
std::string Md5Hex(ByteView b);

// The value of one series of the global metrics registry, named as Render() prints it
// (`name{a="x",b="y"}` or a bare name), or -1 when it is not there.
double MetricValue(const std::string& series);

// A fresh directory under $TMPDIR, removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace s3xfs::testing
