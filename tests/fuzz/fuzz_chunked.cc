// libFuzzer target for the aws-chunked decoder (tests/fuzz/run.sh).
// fuzz-sources: src/s3/http.cc src/s3/checksum.cc src/s3/sigv4.cc src/s3/chunked.cc src/base/status.cc src/base/bytes.cc
//
// Input: [flags][chunk][nsplit][nsplit x 2 bytes of split offsets][payload]
//   flags bits 0-1: mode (plain, signed, signed + signed trailer, unsigned trailer)
//         bit  2:   the payload is the body as is (raw), else the data the harness encodes
//         bits 3-5: the trailer checksum (0-4 an algorithm, else none)
//         bit  6:   pass x-amz-decoded-content-length
//         bit  7:   flip one bit of the encoded body (at the last split offset)
//   chunk: the encoder's chunk size - 1 (raised so that there are at most ~32 chunks)
// Properties: the decoder never crashes or grows without bound; feeding the body in the
// fuzzer-chosen pieces gives the same status (code and reason), data and trailers as feeding it
// whole; an encoded body that was not tampered with decodes to the data; and when signatures or
// a checksum protect the body, a tampered body never decodes to different data.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/chunked.h"
#include "s3xfs/s3/sigv4.h"

namespace {

using namespace s3xfs;
using namespace s3xfs::s3;

constexpr char kDate[] = "20130524T000000Z";
constexpr char kScope[] = "20130524/us-east-1/s3/aws4_request";
constexpr char kSeed[] = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

void Check(bool ok) {
  if (!ok) abort();
}

const Bytes& Key() {
  static const Bytes key = SigningKey("secret", "20130524", "us-east-1", "s3");
  return key;
}

struct Outcome {
  Status status;
  std::string data;
  uint64_t decoded = 0;
  HeaderList trailers;
};

Outcome Run(const AwsChunkedOptions& options, std::string_view body,
            const std::vector<size_t>& cuts) {
  AwsChunkedDecoder decoder(options);
  Outcome out;
  auto sink = [&](ByteView b) {
    out.data.append(AsChars(b));
    return Status::OK();
  };
  size_t pos = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : body.size();
    Status s = decoder.Feed(AsBytes(body.substr(pos, end - pos)), sink);
    pos = end;
    if (!s.ok()) {
      out.status = s;
      Check(!decoder.Finish().ok());
      out.decoded = decoder.decoded_bytes();
      return out;
    }
  }
  out.status = decoder.Finish();
  out.decoded = decoder.decoded_bytes();
  out.trailers = decoder.trailers();
  Check(out.decoded == out.data.size());
  return out;
}

std::string Encode(std::string_view data, size_t chunk, const AwsChunkedOptions& o) {
  std::string out, prev = kSeed;
  char hex[32];
  auto emit = [&](std::string_view piece) {
    snprintf(hex, sizeof hex, "%zx", piece.size());
    out += hex;
    if (o.signed_chunks) {
      std::string sts = std::string("AWS4-HMAC-SHA256-PAYLOAD\n") + kDate + "\n" + kScope + "\n" +
                        prev + "\n" + HexEncode(Sha256Of({})) + "\n" +
                        HexEncode(Sha256Of(AsBytes(piece)));
      prev = SignHex(Key(), sts);
      out += ";chunk-signature=" + prev;
    }
    out += "\r\n";
    if (!piece.empty()) {
      out += piece;
      out += "\r\n";
    }
  };
  for (size_t pos = 0; pos < data.size(); pos += chunk) emit(data.substr(pos, chunk));
  emit("");
  if (o.trailer) {
    std::string canonical;
    if (o.trailer_checksum) {
      auto c = Checksummer::New(*o.trailer_checksum);
      c->Update(AsBytes(data));
      std::string line = "x-amz-checksum-" + std::string(ChecksumName(*o.trailer_checksum)) +
                         ":" + c->Base64();
      out += line + "\r\n";
      canonical += line + "\n";
    }
    if (o.signed_trailer) {
      std::string sts = std::string("AWS4-HMAC-SHA256-TRAILER\n") + kDate + "\n" + kScope + "\n" +
                        prev + "\n" + HexEncode(Sha256Of(AsBytes(canonical)));
      out += "x-amz-trailer-signature:" + SignHex(Key(), sts) + "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint8_t flags = data[0];
  size_t chunk = size_t(data[1]) + 1;
  size_t nsplit = data[2] % 16;
  data += 3;
  size -= 3;
  if (size < nsplit * 2) return 0;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < nsplit; ++i) offsets.push_back(size_t(data[2 * i]) << 8 | data[2 * i + 1]);
  data += nsplit * 2;
  size -= nsplit * 2;
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  // At most ~32 encoded chunks: each costs a SHA-256 and an HMAC, which would dominate.
  chunk = std::max(chunk, payload.size() / 32 + 1);

  AwsChunkedOptions o;
  int mode = flags & 3;
  o.signed_chunks = mode == 1 || mode == 2;
  o.trailer = mode >= 2;
  o.signed_trailer = mode == 2;
  o.signing_key = Key();
  o.amz_date = kDate;
  o.scope = kScope;
  o.seed_signature = kSeed;
  int alg = (flags >> 3) & 7;
  if (o.trailer && alg < 5) o.trailer_checksum = static_cast<ChecksumAlgorithm>(alg);
  bool raw = flags & 4;
  bool tamper = !raw && (flags & 128) && !offsets.empty();
  if (flags & 64) o.decoded_length = raw ? payload.size() / 2 : payload.size();

  std::string body = raw ? std::string(payload) : Encode(payload, chunk, o);
  if (tamper) {
    size_t at = offsets.back() % body.size();
    body[at] = char(body[at] ^ (1 << (offsets.back() >> 13)));
  }
  std::vector<size_t> cuts;
  for (size_t off : offsets) cuts.push_back(body.empty() ? 0 : off % (body.size() + 1));
  std::sort(cuts.begin(), cuts.end());

  Outcome whole = Run(o, body, {});
  Outcome split = Run(o, body, cuts);
  Check(whole.status.code() == split.status.code());
  Check(whole.status.reason() == split.status.reason());
  Check(whole.data == split.data);
  Check(whole.decoded == split.decoded);
  Check(whole.trailers.fields == split.trailers.fields);

  if (!raw && !tamper) {
    Check(whole.status.ok());
    Check(whole.data == payload);
  }
  bool protected_body = o.signed_chunks || o.trailer_checksum.has_value();
  if (!raw && tamper && protected_body && whole.status.ok()) Check(whole.data == payload);
  return 0;
}
