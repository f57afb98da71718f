// Decoder for "Content-Encoding: aws-chunked" bodies (the STREAMING-* payload modes of SigV4):
//
//   hex-size[;chunk-signature=SIG]\r\n <size bytes> \r\n  ...  0[;chunk-signature=SIG]\r\n
//   [trailer-name:value\r\n ... [x-amz-trailer-signature:SIG\r\n]] \r\n
//
// - Signed chunks: each chunk's signature is HMAC(signing key,
//     "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n" scope "\n" previous_signature "\n"
//     hex(sha256("")) "\n" hex(sha256(chunk data)))
//   with previous_signature starting at the seed (the request's own signature). A missing or
//   wrong signature fails with SignatureDoesNotMatch.
// - Trailers (modes *-TRAILER): lines "name:value"; the checksum named by the request's
//   x-amz-trailer header (x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256) must be present and
//   match the decoded payload (else BadDigest / InvalidRequest when missing). In the signed
//   trailer mode x-amz-trailer-signature must be HMAC(signing key,
//     "AWS4-HMAC-SHA256-TRAILER\n" amz_date "\n" scope "\n" previous_signature "\n"
//     hex(sha256(canonical trailers)))
//   where canonical trailers are "name:value\n" for each trailer except the signature.
// - Decoded bytes are handed to the sink as they arrive, before the enclosing chunk's signature
//   has been checked: a caller must not make anything visible until Finish() returned OK.
// - Limits: a chunk header line of at most 4 KiB, a chunk size of at most 64 MiB, trailers of at
//   most 16 KiB; more is IncompleteBody/InvalidArgument, never unbounded memory.
// - Input may be split anywhere (byte by byte works). After the first error every call fails.
//
// Thread-safety: one decoder per request, one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/http.h"

namespace s3xfs::s3 {

struct AwsChunkedOptions {
  bool signed_chunks = false;  // STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]
  bool trailer = false;        // *-TRAILER
  bool signed_trailer = false; // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
  Bytes signing_key;
  std::string amz_date;
  std::string scope;
  std::string seed_signature;
  // From x-amz-trailer: the checksum the trailer must carry (required when trailer is set
  // and the request named one).
  std::optional<ChecksumAlgorithm> trailer_checksum;
  // x-amz-decoded-content-length when given: the decoded total must equal it (IncompleteBody).
  std::optional<uint64_t> decoded_length;
};

class AwsChunkedDecoder {
 public:
  explicit AwsChunkedDecoder(AwsChunkedOptions options);
  ~AwsChunkedDecoder();
  AwsChunkedDecoder(const AwsChunkedDecoder&) = delete;
  AwsChunkedDecoder& operator=(const AwsChunkedDecoder&) = delete;

  using Sink = std::function<Status(ByteView)>;
  // Consumes `input`, passing decoded payload bytes to `sink` (a sink error is returned as is).
  Status Feed(ByteView input, const Sink& sink);
  // End of the HTTP body: OK only when the final chunk (and trailers) were complete and every
  // check passed. Bytes after the end are an error.
  Status Finish();

  uint64_t decoded_bytes() const;
  // Trailer fields received (names lower case), e.g. x-amz-checksum-crc32.
  const HeaderList& trailers() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace s3xfs::s3
