// libFuzzer target for the S3 front end's request path (tests/fuzz/run.sh): query parsing,
// routing, and the whole S3Service (Begin / OnBody / Finish) over an in-memory core.
// fuzz-sources: src/base/*.cc src/cas/*.cc src/blockstore/*.cc src/ledger/*.cc src/core/*.cc src/s3/http.cc src/s3/checksum.cc src/s3/xml.cc src/s3/sigv4.cc src/s3/chunked.cc src/s3/router.cc src/s3/credentials.cc src/s3/gateway.cc src/s3/service.cc -lsqlite3 -DSPDLOG_SHARED_LIB -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -lspdlog -lfmt
//
// Input:
//   byte 0        flags: bit 0 sign the request with a known key (header form), bit 1 presign it
//                 instead, bits 2-3 how the body is cut into OnBody pieces (whole, 1, 7, 4096
//                 bytes), bit 4 end the body early (Finish(false)), bit 5 add Content-Length.
//   then text     "METHOD TARGET" line, "Name: value" lines up to an empty line, then the body.
// Every input starts from the same state (a ledger file and an in-memory block store: bucket
// "bkt" owned by the key, "pub" readable by anyone, a few objects in each; rebuilt after any
// input that changed it), so inputs are reproducible.
//
// Invariants checked:
// - ParseQuery: a parsed name/value survives UriEncode -> PercentDecode.
// - RouteRequest: keys are at most 1024 bytes without NUL; only ListBuckets has no bucket.
// - The service never crashes, answers 100..599 with an x-amz-request-id, error bodies are
//   S3 <Error> documents with a Code (the IPFS gateway's, on /ipfs/CID, are text/plain starting
//   with the status), a streamed body has exactly content_length bytes (a chunked one ends).
//   The gateway is on in mode signed, so anonymous requests never read blocks through it.
// - Requests not signed by the harness (anonymous, or carrying the fuzzer's own Authorization
//   or query signature) and requests whose body ended early never change the store, and a 2xx
//   for them is only ever a read of the public bucket.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/blockstore/memory.h"
#include "s3xfs/core/object_store.h"
#include "s3xfs/s3/credentials.h"
#include "s3xfs/s3/http.h"
#include "s3xfs/s3/router.h"
#include "s3xfs/s3/service.h"
#include "s3xfs/s3/sigv4.h"
#include "s3xfs/s3/xml.h"

namespace {

using namespace s3xfs;
using namespace s3xfs::s3;

constexpr int64_t kNow = 1790000000;
constexpr char kAk[] = "FUZZKEY1";
constexpr char kSk[] = "fuzz-secret-0123456789";

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "invariant violated: %s\n", what);
    abort();
  }
}

const std::string& Dir() {
  static const std::string* dir = [] {  // never destroyed: the atexit handler uses it
    auto* t = new std::string(
        (std::filesystem::temp_directory_path() / "fuzz_router.XXXXXX").string());
    Check(mkdtemp(t->data()) != nullptr, "mkdtemp");
    atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(Dir(), ec);
    });
    return t;
  }();
  return *dir;
}

const KeyStore& Keys() {
  static KeyStore keys = KeyStore::Parse(std::string(kAk) + " " + kSk +
                                         "\nOTHERKEY other-secret-000\ngrant * pub read\n")
                             .value();
  return keys;
}

// The initial store (see above).
struct World {
  MemoryBlockStore blocks;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<S3Service> service;

  World() {
    std::string ledger = Dir() + "/ledger.db";
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((ledger + suffix).c_str());
    ObjectStoreOptions o;
    o.ledger_path = ledger;
    o.now_ns = [] { return kNow * int64_t{1000000000}; };
    o.min_part_size = 16;
    store = std::move(ObjectStore::Open(o, &blocks).value());
    Check(store->CreateBucket("bkt", kAk).ok(), "create bkt");
    Check(store->CreateBucket("pub", kAk).ok(), "create pub");
    for (const char* key : {"k", "dir/", "dir/a", "a b+c%", "x/../y"}) {
      Check(store->Put("bkt", key, AsBytes(std::string_view("data of ") )).ok(), "put bkt");
      Check(store->Put("pub", key, AsBytes(std::string_view(key))).ok(), "put pub");
    }
    S3ServiceOptions so;
    so.now_s = [] { return kNow; };
    so.max_xml_bytes = 4096;
    so.max_put_size = 1 << 20;
    so.gateway = GatewayMode::kSigned;
    service = std::make_unique<S3Service>(store.get(), &Keys(), so);
  }

  // Everything a request could change, as text.
  std::string Snapshot() {
    std::string out;
    auto buckets = store->ListBuckets();
    Check(buckets.ok(), "ListBuckets");
    for (const BucketInfo& b : *buckets) {
      out += "bucket " + b.name + "\n";
      ListOptions lo;
      auto l = store->List(b.name, lo);
      Check(l.ok(), "List");
      for (const ObjectInfo& o : l->objects) out += o.key + " " + o.etag + "\n";
      auto u = store->ListUploads(b.name, "");
      Check(u.ok(), "ListUploads");
      for (const UploadInfo& up : *u) out += "upload " + up.key + "\n";
    }
    return out;
  }
};

RequestHead ParseHead(std::string_view text, std::string_view* body) {
  RequestHead h;
  size_t eol = text.find('\n');
  std::string_view line = text.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp = line.find(' ');
  h.method = std::string(line.substr(0, sp));
  h.target = sp == std::string_view::npos ? "/" : std::string(line.substr(sp + 1));
  text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  while (!text.empty()) {
    eol = text.find('\n');
    line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    h.headers.Add(line.substr(0, colon), value);
  }
  *body = text;
  return h;
}

// Signs `h` as a client would (every header signed; the payload hash as the request states it).
void SignHeader(RequestHead* h) {
  if (!h->headers.Has("host")) h->headers.Add("host", "127.0.0.1:9000");
  std::string date = FormatAmzDate(kNow);
  if (!h->headers.Has("x-amz-date")) h->headers.Add("x-amz-date", date);
  if (!h->headers.Has("x-amz-content-sha256")) h->headers.Add("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  auto query = ParseQuery(SplitRequestTarget(h->target).raw_query);
  if (!query.ok()) return;
  SigV4Request a;
  a.credential = {kAk, date.substr(0, 8), "us-east-1", "s3"};
  for (const auto& [name, value] : h->headers.fields) {
    if (name == "authorization") continue;
    bool bad = name.empty();
    for (char c : name) bad |= c <= ' ' || c == ':' || c == ';' || c == ',' || c == 0x7f;
    if (bad) continue;
    a.signed_headers.push_back(name);
  }
  std::sort(a.signed_headers.begin(), a.signed_headers.end());
  a.signed_headers.erase(std::unique(a.signed_headers.begin(), a.signed_headers.end()),
                         a.signed_headers.end());
  a.amz_date = *h->headers.Find("x-amz-date");
  a.payload_hash = *h->headers.Find("x-amz-content-sha256");
  std::string sts = StringToSign(a.amz_date, a.credential.Scope(), CanonicalRequest(*h, *query, a));
  std::string sig = SignHex(SigningKey(kSk, a.credential.date, "us-east-1", "s3"), sts);
  std::string list;
  for (const std::string& n : a.signed_headers) list += (list.empty() ? "" : ";") + n;
  auto& f = h->headers.fields;
  f.erase(std::remove_if(f.begin(), f.end(), [](const auto& kv) { return kv.first == "authorization"; }),
          f.end());
  h->headers.Add("authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(kAk) + "/" +
                                      a.credential.Scope() + ", SignedHeaders=" + list +
                                      ", Signature=" + sig);
}

// Presigns `h`: X-Amz-* query parameters appended to the target, host signed.
void Presign(RequestHead* h) {
  if (!h->headers.Has("host")) h->headers.Add("host", "127.0.0.1:9000");
  std::string date = FormatAmzDate(kNow - 10);
  std::string scope = date.substr(0, 8) + "/us-east-1/s3/aws4_request";
  std::string sep = h->target.find('?') == std::string::npos ? "?" : "&";
  h->target += sep + "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
               UriEncode(std::string(kAk) + "/" + scope, true) + "&X-Amz-Date=" + date +
               "&X-Amz-Expires=300&X-Amz-SignedHeaders=host";
  auto query = ParseQuery(SplitRequestTarget(h->target).raw_query);
  if (!query.ok()) return;
  auto parsed = ParseSigV4(*h, *query);
  if (!parsed.ok() || !parsed->has_value()) return;
  std::string sts = StringToSign(date, scope, CanonicalRequest(*h, *query, **parsed));
  h->target += "&X-Amz-Signature=" + SignHex(SigningKey(kSk, date.substr(0, 8), "us-east-1", "s3"), sts);
}

void CheckQueryAndRoute(const RequestHead& head) {
  auto query = ParseQuery(SplitRequestTarget(head.target).raw_query);
  if (!query.ok()) return;
  for (const QueryParam& p : *query) {
    std::string back;
    Check(PercentDecode(UriEncode(p.name, true), &back, true) && back == p.name, "name round trip");
    Check(PercentDecode(UriEncode(p.value, true), &back, true) && back == p.value,
          "value round trip");
    Check(p.has_value || p.value.empty(), "value without '='");
  }
  for (const char* domain : {"", "s3.example.com"}) {
    RouterOptions ro{domain};
    auto route = RouteRequest(head, *query, ro);
    if (!route.ok()) {
      Check(!route.status().message().empty(), "route error without a message");
      continue;
    }
    Check(route->key.size() <= 1024, "key longer than 1024 bytes");
    Check(route->key.find('\0') == std::string::npos, "key with NUL");
    Check(!route->bucket.empty() || route->op == S3Op::kListBuckets, "no bucket");
    Check(route->bucket.empty() == (route->op == S3Op::kListBuckets), "ListBuckets with a bucket");
    Check(!OpName(route->op).empty(), "op name");
    if (!route->key.empty()) Check(route->op != S3Op::kListObjectsV2, "object route lists");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 16384) return 0;
  uint8_t flags = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view body;
  RequestHead head = ParseHead(text, &body);
  if (flags & 0x20) head.headers.Add("content-length", std::to_string(body.size()));
  bool ours = flags & 1;
  if (ours) {
    if (flags & 2) Presign(&head);
    else SignHeader(&head);
  }
  CheckQueryAndRoute(head);

  // The world is rebuilt only after an input changed it (building it costs more than most
  // requests), so each input still starts from the initial state.
  static std::unique_ptr<World> world;
  static std::string initial;
  if (!world) {
    world = std::make_unique<World>();
    initial = world->Snapshot();
  }
  World& w = *world;
  const std::string& before = initial;
  auto ex = w.service->Begin(head);
  // "Ended early" only means something for a request that declares a non-empty body: one
  // without Content-Length or Transfer-Encoding has none (its operation may run at Begin).
  bool declares_body =
      head.headers.Has("content-length") || head.headers.Has("transfer-encoding");
  bool complete = !(flags & 0x10) || !declares_body || body.empty();
  Response r;
  if (ex->WantsBody()) {
    static constexpr size_t kPieces[] = {SIZE_MAX, 1, 7, 4096};
    size_t piece = kPieces[(flags >> 2) & 3];
    size_t end = complete ? body.size() : body.size() / 2;
    bool ok = true;
    for (size_t pos = 0; pos < end && ok;) {
      size_t n = std::min(piece, end - pos);
      ok = ex->OnBody(AsBytes(body.substr(pos, n))).ok();
      pos += n;
    }
    r = ex->Finish(ok && complete);
  } else {
    r = ex->Finish(true);
  }
  Check(r.status >= 100 && r.status <= 599, "status out of range");
  Check(r.headers.Has("x-amz-request-id"), "no x-amz-request-id");
  const std::string* type = r.headers.Find("content-type");
  if (r.status >= 400 && !r.head_only && type && type->rfind("text/plain", 0) == 0) {
    Check(r.body.rfind(std::to_string(r.status) + " ", 0) == 0, "gateway error body");
  } else if (r.status >= 400 && !r.head_only) {
    auto doc = ParseXml(r.body);
    if (doc.ok()) {
      Check(doc->name == "Error" && !doc->ChildText("Code").empty(), "error body");
    } else {
      // Only bytes XML 1.0 cannot carry (control characters of the request echoed in Message
      // or Resource) may make it unparsable; the structure must still be there.
      bool control = std::any_of(r.body.begin(), r.body.end(), [](char c) {
        return (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
               static_cast<unsigned char>(c) >= 0x80;
      });
      size_t code = r.body.find("<Error><Code>");
      Check(control && code != std::string::npos &&
                r.body.find("</Code>", code) > code + 13, "error body is not well-formed XML");
    }
  }
  if (r.stream) {
    std::vector<uint8_t> buf(4096);
    uint64_t total = 0;
    for (;;) {
      auto n = r.stream->Read(std::span<uint8_t>(buf.data(), buf.size()));
      Check(n.ok(), "stream read failed");
      if (*n == 0) break;
      total += *n;
    }
    Check(r.chunked || total == r.content_length, "streamed length differs from content_length");
  }
  int status = r.status;
  r = Response();
  ex.reset();
  bool changed = w.Snapshot() != before;
  if (!ours || !complete) {
    Check(!changed, "an unauthenticated or incomplete request changed the store");
    if (!ours && status / 100 == 2) {
      Check(head.target.rfind("/pub", 0) == 0,
            "2xx for an unauthenticated request outside the public bucket");
    }
  }
  if (changed) world.reset();
  return 0;
}
