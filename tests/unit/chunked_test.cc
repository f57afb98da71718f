// The aws-chunked decoder: the AWS documentation's streaming examples (signed chunks; signed
// chunks with a signed CRC32C trailer, in both the SDK layout and the documentation's), input
// split at every byte position, tampering (chunk signatures, data, order, trailers), framing
// errors and limits, trailer checksums of every algorithm, x-amz-decoded-content-length, and
// sticky errors.
#include "s3xfs/s3/chunked.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/sigv4.h"

namespace s3xfs::s3 {
namespace {

using R = Status::Reason;

constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kDate[] = "20130524T000000Z";
constexpr char kScope[] = "20130524/us-east-1/s3/aws4_request";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The AWS example: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 65536 + 1024 bytes of 'a'.
constexpr char kSeed[] = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr char kSig1[] = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
constexpr char kSig2[] = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
constexpr char kSig3[] = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
// The AWS trailer example: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with x-amz-checksum-crc32c.
constexpr char kTrailerSeed[] = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
constexpr char kTSig1[] = "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2";
constexpr char kTSig2[] = "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7";
constexpr char kTSig3[] = "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992";
constexpr char kTrailerSig[] = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

Bytes ExampleKey() { return SigningKey(kSecret, "20130524", "us-east-1", "s3"); }

AwsChunkedOptions SignedOptions(std::string seed = kSeed) {
  AwsChunkedOptions o;
  o.signed_chunks = true;
  o.signing_key = ExampleKey();
  o.amz_date = kDate;
  o.scope = kScope;
  o.seed_signature = std::move(seed);
  return o;
}

AwsChunkedOptions SignedTrailerOptions(std::string seed, std::optional<ChecksumAlgorithm> alg) {
  AwsChunkedOptions o = SignedOptions(std::move(seed));
  o.trailer = true;
  o.signed_trailer = true;
  o.trailer_checksum = alg;
  return o;
}

AwsChunkedOptions UnsignedTrailerOptions(std::optional<ChecksumAlgorithm> alg) {
  AwsChunkedOptions o;
  o.trailer = true;
  o.trailer_checksum = alg;
  return o;
}

std::string ExampleBody() {
  return "10000;chunk-signature=" + std::string(kSig1) + "\r\n" + std::string(65536, 'a') + "\r\n" +
         "400;chunk-signature=" + kSig2 + "\r\n" + std::string(1024, 'a') + "\r\n" +
         "0;chunk-signature=" + kSig3 + "\r\n\r\n";
}

// As the SDKs send it: trailers right after the final chunk, then an empty line.
std::string TrailerExampleBody() {
  return "10000;chunk-signature=" + std::string(kTSig1) + "\r\n" + std::string(65536, 'a') +
         "\r\n" + "400;chunk-signature=" + kTSig2 + "\r\n" + std::string(1024, 'a') + "\r\n" +
         "0;chunk-signature=" + kTSig3 + "\r\n" + "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
         "x-amz-trailer-signature:" + kTrailerSig + "\r\n\r\n";
}

// As the AWS documentation prints it: an empty line before the trailers, none after.
std::string TrailerExampleDocBody() {
  return "10000;chunk-signature=" + std::string(kTSig1) + "\r\n" + std::string(65536, 'a') +
         "\r\n" + "400;chunk-signature=" + kTSig2 + "\r\n" + std::string(1024, 'a') + "\r\n" +
         "0;chunk-signature=" + kTSig3 + "\r\n\r\n" + "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
         "x-amz-trailer-signature:" + kTrailerSig + "\r\n";
}

struct Decoded {
  Status status;
  std::string data;
  HeaderList trailers;
};

// Feeds `body` cut at `cuts` (ascending offsets), then Finish.
Decoded Decode(const AwsChunkedOptions& options, std::string_view body,
               const std::vector<size_t>& cuts = {}) {
  AwsChunkedDecoder d(options);
  Decoded out;
  auto sink = [&](ByteView b) {
    out.data.append(AsChars(b));
    return Status::OK();
  };
  size_t pos = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(body.size());
  for (size_t end : ends) {
    Status s = d.Feed(AsBytes(body.substr(pos, end - pos)), sink);
    pos = end;
    if (!s.ok()) {
      out.status = s;
      EXPECT_FALSE(d.Finish().ok()) << "an error must stick";
      return out;
    }
  }
  out.status = d.Finish();
  EXPECT_EQ(d.decoded_bytes(), out.data.size());
  out.trailers = d.trailers();
  return out;
}

Decoded DecodeBytewise(const AwsChunkedOptions& options, std::string_view body) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < body.size(); ++i) cuts.push_back(i);
  return Decode(options, body, cuts);
}

// ---- A test-side encoder, written from the documentation (checked against the examples) ----

std::string ChunkSignature(ByteView key, std::string_view previous, std::string_view data) {
  std::string sts = std::string("AWS4-HMAC-SHA256-PAYLOAD\n") + kDate + "\n" + kScope + "\n" +
                    std::string(previous) + "\n" + kEmptySha + "\n" +
                    HexEncode(Sha256Of(AsBytes(data)));
  return HexEncode(HmacSha256(key, AsBytes(sts)));
}

std::string TrailerSignature(ByteView key, std::string_view previous, std::string_view canonical) {
  std::string sts = std::string("AWS4-HMAC-SHA256-TRAILER\n") + kDate + "\n" + kScope + "\n" +
                    std::string(previous) + "\n" + HexEncode(Sha256Of(AsBytes(canonical)));
  return HexEncode(HmacSha256(key, AsBytes(sts)));
}

struct Encoding {
  bool sign = false;
  bool trailer = false;
  bool sign_trailer = false;
  std::string seed = kSeed;
  std::vector<std::pair<std::string, std::string>> trailers;
};

std::string Encode(std::string_view data, const std::vector<size_t>& sizes, const Encoding& e) {
  Bytes key = ExampleKey();
  std::string prev = e.seed;
  std::string out;
  char hex[32];
  size_t pos = 0;
  auto chunk = [&](std::string_view piece) {
    snprintf(hex, sizeof hex, "%zx", piece.size());
    out += hex;
    if (e.sign) {
      prev = ChunkSignature(key, prev, piece);
      out += ";chunk-signature=" + prev;
    }
    out += "\r\n";
    if (!piece.empty()) {
      out += piece;
      out += "\r\n";
    }
  };
  for (size_t n : sizes) {
    chunk(data.substr(pos, n));
    pos += n;
  }
  if (pos < data.size()) chunk(data.substr(pos));
  chunk("");
  if (e.trailer) {
    std::string canonical;
    for (auto& [n, v] : e.trailers) {
      out += n + ":" + v + "\r\n";
      canonical += n + ":" + v + "\n";
    }
    if (e.sign_trailer) out += "x-amz-trailer-signature:" + TrailerSignature(key, prev, canonical) + "\r\n";
  }
  out += "\r\n";
  return out;
}

std::string Base64Checksum(ChecksumAlgorithm alg, std::string_view data) {
  auto c = Checksummer::New(alg);
  c->Update(AsBytes(data));
  return c->Base64();
}

// ---- The AWS examples -----------------------------------------------------------------------

TEST(ChunkedExample, SignedPayload) {
  const std::string body = ExampleBody();
  ASSERT_EQ(body.size(), 66824u);  // the example's Content-Length
  // The test-side encoder reproduces the documented body.
  Encoding e;
  e.sign = true;
  EXPECT_EQ(Encode(std::string(66560, 'a'), {65536, 1024}, e), body);

  AwsChunkedOptions o = SignedOptions();
  o.decoded_length = 66560;
  for (const std::vector<size_t>& cuts : std::vector<std::vector<size_t>>{
           {}, {1}, {88}, {89}, {65624}, {65625}, {65626}, {66822}, {66823}, {10, 20, 30, 40, 66000}}) {
    Decoded d = Decode(o, body, cuts);
    EXPECT_TRUE(d.status.ok()) << d.status.ToString();
    EXPECT_EQ(d.data, std::string(66560, 'a'));
  }
  Decoded d = DecodeBytewise(o, body);
  EXPECT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.data.size(), 66560u);
  // Another seed (the request's own signature) breaks the first chunk.
  EXPECT_EQ(Decode(SignedOptions(kTrailerSeed), body).status.reason(), R::kSignatureDoesNotMatch);
}

TEST(ChunkedExample, SignedTrailer) {
  EXPECT_EQ(Base64Checksum(ChecksumAlgorithm::kCrc32c, std::string(66560, 'a')), "sOO8/Q==");
  AwsChunkedOptions o = SignedTrailerOptions(kTrailerSeed, ChecksumAlgorithm::kCrc32c);
  o.decoded_length = 66560;
  Encoding e;
  e.sign = e.trailer = e.sign_trailer = true;
  e.seed = kTrailerSeed;
  e.trailers = {{"x-amz-checksum-crc32c", "sOO8/Q=="}};
  EXPECT_EQ(Encode(std::string(66560, 'a'), {65536, 1024}, e), TrailerExampleBody());
  for (const std::string& body : {TrailerExampleBody(), TrailerExampleDocBody()}) {
    for (const std::vector<size_t>& cuts :
         std::vector<std::vector<size_t>>{{}, {66700}, {body.size() - 1}, {body.size() - 2}, {100, 66650}}) {
      Decoded d = Decode(o, body, cuts);
      ASSERT_TRUE(d.status.ok()) << d.status.ToString();
      EXPECT_EQ(d.data, std::string(66560, 'a'));
      ASSERT_NE(d.trailers.Find("x-amz-checksum-crc32c"), nullptr);
      EXPECT_EQ(*d.trailers.Find("x-amz-checksum-crc32c"), "sOO8/Q==");
    }
    EXPECT_TRUE(DecodeBytewise(o, body).status.ok());
  }
  // The documented layout ends at the body's end: a further line there is still a trailer.
  std::string doc = TrailerExampleDocBody();
  EXPECT_TRUE(Decode(o, doc + "\r\n").status.ok());
  EXPECT_EQ(Decode(o, doc + "x-extra:1\r\n").status.reason(), R::kSignatureDoesNotMatch);
  // A tampered trailer signature.
  std::string bad = TrailerExampleBody();
  bad[bad.find(kTrailerSig) + 5] ^= 1;
  EXPECT_EQ(Decode(o, bad).status.reason(), R::kSignatureDoesNotMatch);
}

// ---- Splitting ------------------------------------------------------------------------------

TEST(ChunkedSplit, EveryPositionEveryMode) {
  std::string data;
  for (int i = 0; i < 100; ++i) data += char('A' + i % 26);
  struct Mode {
    AwsChunkedOptions options;
    Encoding encoding;
  };
  std::vector<Mode> modes(4);
  modes[0].options = SignedOptions();
  modes[0].encoding.sign = true;
  modes[1].options = SignedTrailerOptions(kSeed, ChecksumAlgorithm::kSha256);
  modes[1].encoding.sign = modes[1].encoding.trailer = modes[1].encoding.sign_trailer = true;
  modes[1].encoding.trailers = {{"x-amz-checksum-sha256", Base64Checksum(ChecksumAlgorithm::kSha256, data)}};
  modes[2].options = UnsignedTrailerOptions(ChecksumAlgorithm::kCrc32);
  modes[2].encoding.trailer = true;
  modes[2].encoding.trailers = {{"x-amz-checksum-crc32", Base64Checksum(ChecksumAlgorithm::kCrc32, data)}};
  modes[3].options = UnsignedTrailerOptions(std::nullopt);
  modes[3].encoding.trailer = true;
  for (Mode& m : modes) {
    m.options.decoded_length = data.size();
    std::string body = Encode(data, {7, 50, 1}, m.encoding);
    for (size_t i = 0; i <= body.size(); ++i) {
      Decoded d = Decode(m.options, body, {i});
      ASSERT_TRUE(d.status.ok()) << "cut at " << i << ": " << d.status.ToString();
      ASSERT_EQ(d.data, data);
    }
    for (size_t i = 0; i <= body.size(); i += 3) {
      for (size_t j = i; j <= body.size(); j += 5) {
        Decoded d = Decode(m.options, body, {i, j});
        ASSERT_TRUE(d.status.ok()) << "cut at " << i << "," << j << ": " << d.status.ToString();
        ASSERT_EQ(d.data, data);
      }
    }
    EXPECT_TRUE(DecodeBytewise(m.options, body).status.ok());
    // Every truncation fails.
    for (size_t i = 0; i + 2 < body.size(); ++i) {
      Decoded d = Decode(m.options, body.substr(0, i));
      EXPECT_FALSE(d.status.ok()) << "truncated at " << i;
    }
  }
}

TEST(ChunkedSplit, RandomDataAndChunking) {
  std::mt19937 rng(66560);
  for (int iter = 0; iter < 50; ++iter) {
    std::string data(rng() % 5000, '\0');
    for (char& c : data) c = char(rng());
    std::vector<size_t> sizes;
    for (size_t left = data.size(); left > 0;) {
      size_t n = std::min<size_t>(left, 1 + rng() % 1500);
      sizes.push_back(n);
      left -= n;
    }
    Encoding e;
    e.sign = e.trailer = e.sign_trailer = true;
    e.trailers = {{"x-amz-checksum-crc64nvme", Base64Checksum(ChecksumAlgorithm::kCrc64Nvme, data)}};
    std::string body = Encode(data, sizes, e);
    std::vector<size_t> cuts;
    for (size_t p = rng() % 300; p < body.size(); p += 1 + rng() % 700) cuts.push_back(p);
    AwsChunkedOptions o = SignedTrailerOptions(kSeed, ChecksumAlgorithm::kCrc64Nvme);
    o.decoded_length = data.size();
    Decoded d = Decode(o, body, cuts);
    ASSERT_TRUE(d.status.ok()) << d.status.ToString();
    ASSERT_EQ(d.data, data);
  }
}

// ---- Signed chunks --------------------------------------------------------------------------

TEST(ChunkedSigned, TamperedChunkSignature) {
  const std::string body = ExampleBody();
  for (const char* sig : {kSig1, kSig2, kSig3}) {
    std::string bad = body;
    size_t at = bad.find(sig);
    bad[at + 63] = bad[at + 63] == '0' ? '1' : '0';
    EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch) << sig;
  }
  // Upper-case hex, a short signature, none at all.
  std::string bad = body;
  size_t at = bad.find(kSig1);
  for (size_t i = at; i < at + 64; ++i) bad[i] = char(toupper(bad[i]));
  EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch);
  bad = body;
  bad.erase(bad.find(kSig2), 1);
  EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch);
  bad = body;
  bad.erase(bad.find(";chunk-signature=" + std::string(kSig2)), 81);
  EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch);
  bad = body;
  bad.replace(bad.find("chunk-signature=" + std::string(kSig1)), 15, "chunk-signaturX");
  EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch);
}

TEST(ChunkedSigned, TamperedData) {
  std::string bad = ExampleBody();
  bad[100] = 'b';
  EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch);
  bad = ExampleBody();
  bad[bad.find(kSig2) + 66] = 'b';  // the second chunk's first byte
  EXPECT_EQ(Decode(SignedOptions(), bad).status.reason(), R::kSignatureDoesNotMatch);
}

TEST(ChunkedSigned, ChainingCatchesReorderAndDrop) {
  std::string a(10, 'a'), b(10, 'b');
  Encoding e;
  e.sign = true;
  std::string ab = Encode(a + b, {10, 10}, e);
  ASSERT_TRUE(Decode(SignedOptions(), ab).status.ok());
  // Each chunk signed alone from the seed: valid first chunk, second one does not chain.
  std::string first = Encode(a, {10}, e);
  std::string second = Encode(b, {10}, e);
  std::string spliced = first.substr(0, first.find("0;")) + second;
  EXPECT_EQ(Decode(SignedOptions(), spliced).status.reason(), R::kSignatureDoesNotMatch);
  // Swapping chunks: each header line is 84 bytes, each chunk 96.
  const size_t c1 = 96, c2 = 192;
  ASSERT_EQ(ab.substr(c2, 2), "0;");
  std::string swapped = ab.substr(c1, c2 - c1) + ab.substr(0, c1) + ab.substr(c2);
  EXPECT_EQ(Decode(SignedOptions(), swapped).status.reason(), R::kSignatureDoesNotMatch);
  // Dropping the final chunk's signature check by ending early.
  EXPECT_EQ(Decode(SignedOptions(), ab.substr(0, c2)).status.reason(), R::kIncompleteBody);
}

TEST(ChunkedSigned, EmptyPayloadAndFinalCrlf) {
  Encoding e;
  e.sign = true;
  std::string body = Encode("", {}, e);
  AwsChunkedOptions o = SignedOptions();
  o.decoded_length = 0;
  Decoded d = Decode(o, body);
  EXPECT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_TRUE(d.data.empty());
  // The closing CRLF after the final chunk may be missing, not garbled.
  EXPECT_TRUE(Decode(o, body.substr(0, body.size() - 2)).status.ok());
  EXPECT_EQ(Decode(o, body.substr(0, body.size() - 1)).status.reason(), R::kIncompleteBody);
  EXPECT_EQ(Decode(o, body.substr(0, body.size() - 2) + "\n\r").status.reason(), R::kIncompleteBody);
}

// ---- Framing and limits ---------------------------------------------------------------------

AwsChunkedOptions Unsigned() {
  AwsChunkedOptions o;  // no signatures, no trailer: framing only
  return o;
}

TEST(ChunkedFraming, MissingFinalChunk) {
  const std::string body = ExampleBody();
  size_t final_at = body.find("0;chunk-signature=" + std::string(kSig3));
  Decoded d = Decode(SignedOptions(), body.substr(0, final_at));
  EXPECT_EQ(d.status.reason(), R::kIncompleteBody);
  EXPECT_EQ(d.data.size(), 66560u);  // handed over, but Finish() refused
  EXPECT_EQ(Decode(SignedOptions(), body.substr(0, 1000)).status.reason(), R::kIncompleteBody);
  EXPECT_EQ(Decode(SignedOptions(), "").status.reason(), R::kIncompleteBody);
  EXPECT_EQ(Decode(Unsigned(), "5\r\nhello\r\n").status.reason(), R::kIncompleteBody);
  EXPECT_TRUE(Decode(Unsigned(), "5\r\nhello\r\n0\r\n\r\n").status.ok());
}

TEST(ChunkedFraming, BadSizeLines) {
  for (std::string bad : std::vector<std::string>{
           "zz\r\n", "\r\n", ";x\r\n", "-1\r\n", " 5\r\nhello\r\n0\r\n\r\n", "5 \r\nhello\r\n0\r\n\r\n",
           "0x5\r\nhello\r\n0\r\n\r\n", "11111111111111111\r\n", "4000001\r\n",
           "ffffffffffffffff\r\n", "5\nhello\r\n0\r\n\r\n", "5\r\r\nhello\r\n0\r\n\r\n",
           "5\r\nhello\n0\r\n\r\n", "5\r\nhelloXY0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\nmore",
           "5\r\nhello\r\n0\r\nX\r\n"}) {
    Decoded d = Decode(Unsigned(), bad);
    EXPECT_FALSE(d.status.ok()) << bad;
    EXPECT_EQ(d.status.reason(), R::kIncompleteBody) << bad;
  }
  // Upper-case hex and leading zeros are hex all the same; extensions are ignored unsigned.
  Decoded d = Decode(Unsigned(), "00A\r\n0123456789\r\n0;foo=bar\r\n\r\n");
  EXPECT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.data, "0123456789");
  // 64 MiB is the largest chunk.
  AwsChunkedDecoder dec(Unsigned());
  EXPECT_TRUE(dec.Feed(AsBytes("4000000\r\n"), [](ByteView) { return Status::OK(); }).ok());
}

TEST(ChunkedFraming, OversizeHeaderLineIsBounded) {
  AwsChunkedDecoder d(Unsigned());
  auto sink = [](ByteView) { return Status::OK(); };
  std::string piece(1000, '0');
  Status s;
  size_t fed = 0;
  for (int i = 0; i < 100 && s.ok(); ++i) {
    s = d.Feed(AsBytes(piece), sink);
    fed += piece.size();
  }
  EXPECT_EQ(s.reason(), R::kIncompleteBody);
  EXPECT_LE(fed, 5000u);
  // A line of exactly 4 KiB is still fine.
  AwsChunkedDecoder ok(Unsigned());
  std::string line = "5;" + std::string(4094, 'x') + "\r\nhello\r\n0\r\n\r\n";  // 4096 + CRLF
  EXPECT_TRUE(ok.Feed(AsBytes(line), sink).ok());
  EXPECT_TRUE(ok.Finish().ok());
  AwsChunkedDecoder too_long(Unsigned());
  line = "5;" + std::string(4095, 'x') + "\r\nhello\r\n0\r\n\r\n";
  EXPECT_EQ(too_long.Feed(AsBytes(line), sink).reason(), R::kIncompleteBody);
}

TEST(ChunkedFraming, ErrorsStickAndSinkErrorsPassThrough) {
  AwsChunkedDecoder d(Unsigned());
  auto sink = [](ByteView) { return Status::OK(); };
  EXPECT_FALSE(d.Feed(AsBytes("zz\r\n"), sink).ok());
  EXPECT_FALSE(d.Feed(AsBytes("5\r\nhello\r\n0\r\n\r\n"), sink).ok());
  EXPECT_FALSE(d.Finish().ok());

  AwsChunkedDecoder e(Unsigned());
  int calls = 0;
  auto failing = [&](ByteView) {
    ++calls;
    return Status::IOError("disk full");
  };
  Status s = e.Feed(AsBytes("5\r\nhello\r\n0\r\n\r\n"), failing);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "disk full");
  EXPECT_EQ(e.Feed(AsBytes("x"), failing).code(), Status::Code::kIOError);
  EXPECT_EQ(e.Finish().code(), Status::Code::kIOError);
  EXPECT_EQ(calls, 1);

  // Bytes after a complete body.
  AwsChunkedDecoder f(Unsigned());
  EXPECT_TRUE(f.Feed(AsBytes("0\r\n\r\n"), sink).ok());
  EXPECT_FALSE(f.Feed(AsBytes("0"), sink).ok());
  EXPECT_FALSE(f.Finish().ok());
}

TEST(ChunkedFraming, DecodedLength) {
  Encoding e;
  e.sign = true;
  std::string body = Encode("hello world", {5}, e);
  AwsChunkedOptions o = SignedOptions();
  o.decoded_length = 11;
  EXPECT_TRUE(Decode(o, body).status.ok());
  o.decoded_length = 12;
  EXPECT_EQ(Decode(o, body).status.reason(), R::kIncompleteBody);
  o.decoded_length = 10;
  Decoded d = Decode(o, body);
  EXPECT_EQ(d.status.reason(), R::kIncompleteBody);
  EXPECT_LE(d.data.size(), 5u);  // refused at the chunk header, before its data
  o.decoded_length = 0;
  EXPECT_EQ(Decode(o, body).status.reason(), R::kIncompleteBody);
}

// ---- Trailers -------------------------------------------------------------------------------

TEST(ChunkedTrailer, UnsignedChecksumsGoodAndBad) {
  const std::string data = "The quick brown fox jumps over the lazy dog";
  for (ChecksumAlgorithm alg : {ChecksumAlgorithm::kCrc32, ChecksumAlgorithm::kCrc32c,
                                ChecksumAlgorithm::kCrc64Nvme, ChecksumAlgorithm::kSha1,
                                ChecksumAlgorithm::kSha256}) {
    std::string name = "x-amz-checksum-" + std::string(ChecksumName(alg));
    Encoding e;
    e.trailer = true;
    e.trailers = {{name, Base64Checksum(alg, data)}};
    AwsChunkedOptions o = UnsignedTrailerOptions(alg);
    o.decoded_length = data.size();
    Decoded d = Decode(o, Encode(data, {10, 20}, e));
    EXPECT_TRUE(d.status.ok()) << name << ": " << d.status.ToString();
    EXPECT_EQ(d.data, data);
    EXPECT_EQ(*d.trailers.Find(name), Base64Checksum(alg, data));
    // A bytewise feed computes the same checksum.
    EXPECT_TRUE(DecodeBytewise(o, Encode(data, {10, 20}, e)).status.ok()) << name;

    // The checksum of other data.
    e.trailers = {{name, Base64Checksum(alg, data + ".")}};
    EXPECT_EQ(Decode(o, Encode(data, {10, 20}, e)).status.reason(), R::kBadDigest) << name;
    // Malformed base64, or the wrong length.
    e.trailers = {{name, "not base64!"}};
    EXPECT_EQ(Decode(o, Encode(data, {10, 20}, e)).status.reason(), R::kInvalidRequest) << name;
    e.trailers = {{name, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}};
    EXPECT_EQ(Decode(o, Encode(data, {10, 20}, e)).status.reason(), R::kInvalidRequest) << name;
    // Missing, or another algorithm's.
    e.trailers = {};
    EXPECT_EQ(Decode(o, Encode(data, {10, 20}, e)).status.reason(), R::kInvalidRequest) << name;
    ChecksumAlgorithm other =
        alg == ChecksumAlgorithm::kCrc32 ? ChecksumAlgorithm::kCrc32c : ChecksumAlgorithm::kCrc32;
    e.trailers = {{"x-amz-checksum-" + std::string(ChecksumName(other)), Base64Checksum(other, data)}};
    EXPECT_EQ(Decode(o, Encode(data, {10, 20}, e)).status.reason(), R::kInvalidRequest) << name;
  }
}

TEST(ChunkedTrailer, TrailerSyntax) {
  const std::string data = "abc";
  std::string crc = Base64Checksum(ChecksumAlgorithm::kCrc32, data);
  AwsChunkedOptions o = UnsignedTrailerOptions(ChecksumAlgorithm::kCrc32);
  // Names are case-insensitive, values trimmed; other trailers are kept.
  Decoded d = Decode(o, "3\r\nabc\r\n0\r\nX-Amz-Checksum-CRC32: " + crc + " \r\nx-other:1\r\n\r\n");
  EXPECT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(*d.trailers.Find("x-other"), "1");
  // A line without ':' or with an empty name.
  EXPECT_EQ(Decode(o, "3\r\nabc\r\n0\r\nx-amz-checksum-crc32\r\n\r\n").status.reason(), R::kIncompleteBody);
  EXPECT_EQ(Decode(o, "3\r\nabc\r\n0\r\n:x\r\n\r\n").status.reason(), R::kIncompleteBody);
  // The body ends inside the trailers.
  EXPECT_EQ(Decode(o, "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:" + crc + "\r\n").status.reason(),
            R::kIncompleteBody);
  EXPECT_EQ(Decode(o, "3\r\nabc\r\n0\r\n").status.reason(), R::kIncompleteBody);
  // No checksum named: trailers are optional.
  EXPECT_TRUE(Decode(UnsignedTrailerOptions(std::nullopt), "3\r\nabc\r\n0\r\n\r\n").status.ok());
  // Trailers are bounded.
  std::string big = "3\r\nabc\r\n0\r\n";
  for (int i = 0; i < 400; ++i) big += "x-pad-" + std::to_string(i) + ":" + std::string(40, 'p') + "\r\n";
  big += "\r\n";
  EXPECT_EQ(Decode(UnsignedTrailerOptions(std::nullopt), big).status.reason(), R::kIncompleteBody);
  std::string one_line = "3\r\nabc\r\n0\r\nx:" + std::string(20000, 'p') + "\r\n\r\n";
  EXPECT_EQ(Decode(UnsignedTrailerOptions(std::nullopt), one_line).status.reason(), R::kIncompleteBody);
}

TEST(ChunkedTrailer, SignedGoodAndBad) {
  const std::string data(3000, 'z');
  std::string crc = Base64Checksum(ChecksumAlgorithm::kCrc32c, data);
  Encoding e;
  e.sign = e.trailer = e.sign_trailer = true;
  e.trailers = {{"x-amz-checksum-crc32c", crc}};
  AwsChunkedOptions o = SignedTrailerOptions(kSeed, ChecksumAlgorithm::kCrc32c);
  o.decoded_length = data.size();
  std::string body = Encode(data, {1000, 1000}, e);
  ASSERT_TRUE(Decode(o, body).status.ok()) << Decode(o, body).status.ToString();

  // A changed trailer value: the trailer signature no longer matches.
  std::string bad = body;
  size_t at = bad.find(crc);
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Decode(o, bad).status.reason(), R::kSignatureDoesNotMatch);
  // A tampered trailer signature.
  bad = body;
  at = bad.find("x-amz-trailer-signature:") + 24;
  bad[at] = bad[at] == '0' ? '1' : '0';
  EXPECT_EQ(Decode(o, bad).status.reason(), R::kSignatureDoesNotMatch);
  // No trailer signature.
  bad = body;
  at = bad.find("x-amz-trailer-signature:");
  bad.erase(at, bad.find("\r\n", at) + 2 - at);
  EXPECT_EQ(Decode(o, bad).status.reason(), R::kSignatureDoesNotMatch);
  // An added trailer that was not signed.
  bad = body;
  bad.insert(bad.find("x-amz-trailer-signature:"), "x-amz-meta-evil:1\r\n");
  EXPECT_EQ(Decode(o, bad).status.reason(), R::kSignatureDoesNotMatch);
  // A correctly signed trailer carrying the wrong checksum.
  e.trailers = {{"x-amz-checksum-crc32c", Base64Checksum(ChecksumAlgorithm::kCrc32c, "other")}};
  EXPECT_EQ(Decode(o, Encode(data, {1000, 1000}, e)).status.reason(), R::kBadDigest);
  // A trailer signature that chains from another request's seed.
  e.trailers = {{"x-amz-checksum-crc32c", crc}};
  e.seed = kTrailerSeed;
  EXPECT_EQ(Decode(o, Encode(data, {1000, 1000}, e)).status.reason(), R::kSignatureDoesNotMatch);
}

}  // namespace
}  // namespace s3xfs::s3
