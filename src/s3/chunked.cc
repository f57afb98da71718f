#include "s3xfs/s3/chunked.h"

#include <algorithm>
#include <cstring>

#include "s3xfs/s3/http.h"
#include "s3xfs/s3/sigv4.h"

namespace s3xfs::s3 {
namespace {

using R = Status::Reason;

constexpr size_t kMaxLine = 4 * 1024;              // a chunk header line
constexpr uint64_t kMaxChunk = 64ull * 1024 * 1024;  // one chunk's data
constexpr size_t kMaxTrailers = 16 * 1024;          // every trailer line together
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kSignatureExt = "chunk-signature=";

Status Framing(std::string msg) {
  return Status::InvalidArgument("aws-chunked body: " + std::move(msg)).With(R::kIncompleteBody);
}
Status ChunkMismatch() {
  return Status::InvalidArgument(
             "The request signature we calculated does not match the signature you provided "
             "(aws-chunked chunk signature).")
      .With(R::kSignatureDoesNotMatch);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

struct AwsChunkedDecoder::State {
  enum class Phase {
    kSizeLine,     // reading "hex[;ext]\r\n"
    kData,         // `remaining` bytes of chunk data
    kDataCr,       // the '\r' after chunk data
    kDataLf,       // the '\n' after chunk data
    kFinalCrlf,    // no-trailer mode: the "\r\n" after the final chunk
    kTrailerLine,  // trailer mode: "name:value\r\n" ... "\r\n"
    kDone,
    kFailed,
  };

  AwsChunkedOptions options;
  Phase phase = Phase::kSizeLine;
  Status error;
  std::string line;  // the partial header / trailer line
  uint64_t remaining = 0;
  uint64_t decoded = 0;
  std::string chunk_signature;     // claimed signature of the current chunk
  std::string previous_signature;  // chained from the seed
  std::unique_ptr<Sha256> chunk_hash;
  std::unique_ptr<Checksummer> checksum;
  HeaderList trailers;
  size_t trailer_bytes = 0;
  // AWS's documentation shows an empty line between the final chunk and the trailers and none
  // after them: an empty first trailer line is accepted as that layout, ending at the body end.
  bool blank_before_trailers = false;
  size_t final_crlf = 0;  // bytes of the final "\r\n" seen (no-trailer mode)

  Status Fail(Status s) {
    error = std::move(s);
    phase = Phase::kFailed;
    return error;
  }

  std::string ChunkStringToSign(std::string_view data_hash) const {
    std::string s = "AWS4-HMAC-SHA256-PAYLOAD\n";
    s += options.amz_date;
    s += '\n';
    s += options.scope;
    s += '\n';
    s += previous_signature;
    s += '\n';
    s += kEmptySha256;
    s += '\n';
    s += data_hash;
    return s;
  }

  // Checks the current chunk's signature given the hex sha256 of its data; advances the chain.
  Status CheckChunk(std::string_view data_hash) {
    if (!options.signed_chunks) return Status::OK();
    std::string expected = SignHex(options.signing_key, ChunkStringToSign(data_hash));
    if (!ConstantTimeEquals(expected, chunk_signature)) return ChunkMismatch();
    previous_signature = std::move(expected);
    return Status::OK();
  }

  Status ParseSizeLine(std::string_view text) {
    size_t semi = text.find(';');
    std::string_view hex = text.substr(0, semi);
    if (hex.empty() || hex.size() > 16) return Framing("malformed chunk size '" + std::string(hex) + "'");
    uint64_t size = 0;
    for (char c : hex) {
      int d = HexDigit(c);
      if (d < 0) return Framing("malformed chunk size '" + std::string(hex) + "'");
      size = size * 16 + uint64_t(d);
    }
    if (size > kMaxChunk) return Framing("chunk of " + std::to_string(size) + " bytes exceeds 64 MiB");
    chunk_signature.clear();
    if (options.signed_chunks) {
      std::string_view ext = semi == std::string_view::npos ? "" : text.substr(semi + 1);
      if (ext.substr(0, kSignatureExt.size()) != kSignatureExt) {
        return Status::InvalidArgument("aws-chunked body: a chunk has no chunk-signature")
            .With(R::kSignatureDoesNotMatch);
      }
      std::string_view sig = ext.substr(kSignatureExt.size());
      if (!IsLowerHex64(sig)) return ChunkMismatch();
      chunk_signature = std::string(sig);
    }
    if (options.decoded_length && decoded + size > *options.decoded_length) {
      return Status::InvalidArgument(
                 "aws-chunked body is longer than x-amz-decoded-content-length")
          .With(R::kIncompleteBody);
    }
    if (size > 0) {
      remaining = size;
      if (options.signed_chunks) chunk_hash = std::make_unique<Sha256>();
      phase = Phase::kData;
      return Status::OK();
    }
    // The final chunk.
    S3XFS_RETURN_IF_ERROR(CheckChunk(kEmptySha256));
    phase = options.trailer ? Phase::kTrailerLine : Phase::kFinalCrlf;
    return Status::OK();
  }

  Status TrailerLine(std::string_view text) {
    if (text.empty()) {
      if (trailers.fields.empty() && !blank_before_trailers) {
        blank_before_trailers = true;
        return Status::OK();
      }
      phase = Phase::kDone;
      return CheckTrailers();
    }
    size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Framing("malformed trailer line");
    }
    trailers.Add(TrimOws(text.substr(0, colon)), TrimOws(text.substr(colon + 1)));
    return Status::OK();
  }

  Status CheckTrailers() {
    if (options.signed_trailer) {
      std::string canonical;
      const std::string* claimed = nullptr;
      for (const auto& [name, value] : trailers.fields) {
        if (name == "x-amz-trailer-signature") {
          if (claimed) return Framing("x-amz-trailer-signature is given twice");
          claimed = &value;
          continue;
        }
        canonical += name;
        canonical += ':';
        canonical += value;
        canonical += '\n';
      }
      if (!claimed) {
        return Status::InvalidArgument("aws-chunked body: x-amz-trailer-signature is missing")
            .With(R::kSignatureDoesNotMatch);
      }
      std::string sts = "AWS4-HMAC-SHA256-TRAILER\n";
      sts += options.amz_date;
      sts += '\n';
      sts += options.scope;
      sts += '\n';
      sts += previous_signature;
      sts += '\n';
      sts += HexEncode(Sha256Of(AsBytes(canonical)));
      if (!ConstantTimeEquals(SignHex(options.signing_key, sts), *claimed)) {
        return Status::InvalidArgument(
                   "The request signature we calculated does not match the signature you "
                   "provided (x-amz-trailer-signature).")
            .With(R::kSignatureDoesNotMatch);
      }
    }
    if (options.trailer_checksum) {
      std::string name = "x-amz-checksum-" + std::string(ChecksumName(*options.trailer_checksum));
      const std::string* value = trailers.Find(name);
      if (!value) {
        return Status::InvalidArgument("The trailer " + name + " named by x-amz-trailer is missing")
            .With(R::kInvalidRequest);
      }
      Bytes claimed;
      Bytes actual = checksum->Digest();
      if (!Base64Decode(*value, &claimed) || claimed.size() != actual.size()) {
        return Status::InvalidArgument("Value for " + name + " trailing header is invalid.")
            .With(R::kInvalidRequest);
      }
      if (claimed != actual) {
        return Status::InvalidArgument("The " + name +
                                       " you specified did not match the calculated checksum.")
            .With(R::kBadDigest);
      }
    }
    return Status::OK();
  }

  // Consumes bytes up to and including the next '\n' into `line` (at most `limit` bytes in all,
  // CRLF included); returns the count used and sets *complete when the line (without its
  // "\r\n") is in `line`.
  Result<size_t> TakeLine(const uint8_t* p, size_t n, size_t limit, bool* complete) {
    const void* nl = memchr(p, '\n', n);
    size_t take = nl ? size_t(static_cast<const uint8_t*>(nl) - p) + 1 : n;
    if (line.size() + take > limit) {
      return Framing(phase == Phase::kTrailerLine ? "trailers exceed 16 KiB"
                                                  : "chunk header line exceeds 4 KiB");
    }
    line.append(reinterpret_cast<const char*>(p), take);
    *complete = nl != nullptr;
    if (*complete) {
      if (line.size() < 2 || line[line.size() - 2] != '\r') {
        return Framing("a line does not end with CRLF");
      }
      line.resize(line.size() - 2);
      if (line.find('\r') != std::string::npos) return Framing("stray CR in a line");
    }
    return take;
  }

  Status Feed(ByteView input, const Sink& sink) {
    const uint8_t* p = input.data();
    size_t n = input.size();
    while (n > 0) {
      switch (phase) {
        case Phase::kSizeLine: {
          bool complete = false;
          S3XFS_ASSIGN_OR_RETURN(size_t used, TakeLine(p, n, kMaxLine + 2, &complete));
          p += used;
          n -= used;
          if (complete) {
            std::string text = std::move(line);
            line.clear();
            S3XFS_RETURN_IF_ERROR(ParseSizeLine(text));
          }
          break;
        }
        case Phase::kData: {
          size_t take = size_t(std::min<uint64_t>(remaining, n));
          ByteView piece(p, take);
          if (chunk_hash) chunk_hash->Update(piece);
          if (checksum) checksum->Update(piece);
          decoded += take;
          remaining -= take;
          p += take;
          n -= take;
          S3XFS_RETURN_IF_ERROR(sink(piece));
          if (remaining == 0) {
            if (options.signed_chunks) {
              std::string hash = HexEncode(chunk_hash->Digest());
              chunk_hash.reset();
              S3XFS_RETURN_IF_ERROR(CheckChunk(hash));
            }
            phase = Phase::kDataCr;
          }
          break;
        }
        case Phase::kDataCr:
        case Phase::kDataLf: {
          char want = phase == Phase::kDataCr ? '\r' : '\n';
          if (*p != want) return Framing("chunk data is not followed by CRLF");
          ++p;
          --n;
          phase = phase == Phase::kDataCr ? Phase::kDataLf : Phase::kSizeLine;
          break;
        }
        case Phase::kFinalCrlf: {
          char want = final_crlf == 0 ? '\r' : '\n';
          if (*p != want) return Framing("bytes after the final chunk");
          ++p;
          --n;
          if (++final_crlf == 2) phase = Phase::kDone;
          break;
        }
        case Phase::kTrailerLine: {
          bool complete = false;
          // trailer_bytes already counts the partial line.
          S3XFS_ASSIGN_OR_RETURN(
              size_t used, TakeLine(p, n, line.size() + kMaxTrailers - trailer_bytes, &complete));
          p += used;
          n -= used;
          trailer_bytes += used;
          if (complete) {
            std::string text = std::move(line);
            line.clear();
            S3XFS_RETURN_IF_ERROR(TrailerLine(text));
          }
          break;
        }
        case Phase::kDone:
          return Framing("bytes after the end of the body");
        case Phase::kFailed:
          return error;
      }
    }
    return Status::OK();
  }

  Status Finish() {
    switch (phase) {
      case Phase::kFailed:
        return error;
      case Phase::kDone:
        break;
      case Phase::kFinalCrlf:
        // The final chunk was complete; a missing closing CRLF loses nothing.
        if (final_crlf != 0) return Framing("truncated after the final chunk");
        break;
      case Phase::kTrailerLine:
        // The documented layout: empty line, trailers, end of body.
        if (blank_before_trailers && line.empty()) {
          S3XFS_RETURN_IF_ERROR(CheckTrailers());
          break;
        }
        return Framing("the body ended inside the trailers");
      default:
        return Status::InvalidArgument(
                   "aws-chunked body ended before its final chunk: You did not provide the "
                   "number of bytes specified by the Content-Length HTTP header.")
            .With(R::kIncompleteBody);
    }
    if (options.decoded_length && decoded != *options.decoded_length) {
      return Status::InvalidArgument(
                 "aws-chunked body decodes to " + std::to_string(decoded) +
                 " bytes, not x-amz-decoded-content-length " +
                 std::to_string(*options.decoded_length))
          .With(R::kIncompleteBody);
    }
    phase = Phase::kDone;
    return Status::OK();
  }
};

AwsChunkedDecoder::AwsChunkedDecoder(AwsChunkedOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->previous_signature = state_->options.seed_signature;
  if (state_->options.trailer && state_->options.trailer_checksum) {
    state_->checksum = Checksummer::New(*state_->options.trailer_checksum);
  }
}

AwsChunkedDecoder::~AwsChunkedDecoder() = default;

Status AwsChunkedDecoder::Feed(ByteView input, const Sink& sink) {
  if (state_->phase == State::Phase::kFailed) return state_->error;
  Status s = state_->Feed(input, sink);
  if (!s.ok() && state_->phase != State::Phase::kFailed) state_->Fail(s);
  return s;
}

Status AwsChunkedDecoder::Finish() {
  Status s = state_->Finish();
  if (!s.ok() && state_->phase != State::Phase::kFailed) state_->Fail(s);
  return s;
}

uint64_t AwsChunkedDecoder::decoded_bytes() const { return state_->decoded; }

const HeaderList& AwsChunkedDecoder::trailers() const { return state_->trailers; }

}  // namespace s3xfs::s3
