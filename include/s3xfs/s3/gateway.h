// The IPFS gateway on the S3 listener: `GET|HEAD /ipfs/{cid}[/{path}]` answered from the local
// block store, per the IPFS trustless gateway spec (verifiable raw blocks and CAR streams) plus
// the deserialized files and directories of the path gateway spec for browsers and curl.
//
//  - ?format=raw or Accept: application/vnd.ipld.raw — the terminal block, as stored (verified
//    against its CID by the block store); one Range gives 206.
//  - ?format=car or Accept: application/vnd.ipld.car — a CARv1 stream (cas/car_stream.h;
//    chunked, never buffered whole) whose root is the terminal CID: first the blocks read to
//    resolve the path, then the terminal DAG depth first, each block once (order=dfs; dups=n).
//    dag-scope=all (default), entity or block. entity-bytes is not supported (501).
//  - no format — UnixFS deserialized: a file's bytes (one Range → 206), Content-Type from the
//    name's extension; a directory without its trailing '/' → 301; with it, its index.html or a
//    generated HTML listing (at most kMaxListing entries); a symlink's target as text/plain.
//
// Status codes: 400 for a CID or path that cannot be used or an unsupported format, 404 when a
// block of the path or the name is missing (or a path goes through a file), 502 / 504 when the
// remote block store is unavailable / timed out, 500 for a corrupt block, 501 for what the
// gateway cannot deserialize (dag-cbor) or does not implement. Errors are text/plain.
//
// Pure request → response code over a BlockSource: no socket, no authentication (the S3
// service decides who may call it, see GatewayMode). Thread-safety: Serve may be called from
// any number of threads when the source is safe for concurrent use; the returned Response's
// stream reads the source later, so the source must outlive it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/s3/http.h"

namespace s3xfs::s3 {

// Who may use /ipfs/ on the S3 listener. Written in config files: names never change.
enum class GatewayMode {
  kOff,     // no gateway: /ipfs/... is the S3 bucket "ipfs" like any other
  kSigned,  // requests signed (SigV4) with any known key; anonymous ones get 403
  kPublic,  // anyone, signed or not (a signature that is present must still be valid)
};
// "off", "signed", "public"; InvalidArgument otherwise.
Result<GatewayMode> ParseGatewayMode(std::string_view text);
std::string_view GatewayModeName(GatewayMode mode);

// The bucket name the gateway's path shadows (see SEMANTICS.md "The IPFS gateway").
constexpr std::string_view kGatewayBucket = "ipfs";

// True when a decoded path-style request path is "/ipfs/{cid}[/...]" with a first segment that
// parses as a CID: what the router hands to the gateway when it is enabled.
bool IsGatewayPath(std::string_view decoded_path);

// Largest number of entries a generated directory listing shows (the rest is summarised).
constexpr size_t kMaxListing = 10000;

struct GatewayRequest {
  std::string method;          // GET or HEAD
  std::string raw_path;        // as received (percent-encoded): "/ipfs/{cid}/a%20b"
  std::string raw_query;       // as received, without '?'
  std::vector<QueryParam> query;
  const HeaderList* headers = nullptr;  // must outlive the Serve call
};

// Answers one gateway request. REQUIRES: IsGatewayPath(decoded raw_path), method GET or HEAD.
// `source` must outlive the returned Response (its stream reads blocks as it is sent).
Response ServeGateway(BlockSource* source, const GatewayRequest& request);

}  // namespace s3xfs::s3
