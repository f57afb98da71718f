// Kubo HTTP RPC client block store (contract in include/s3xfs/kubo/client.h).
#include "s3xfs/kubo/client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <future>
#include <random>
#include <semaphore>
#include <thread>

#include "http_pool.h"
#include "s3xfs/base/parallel.h"
#include "s3xfs/base/json.h"

namespace s3xfs {

namespace {

using kubo::Deadline;
using kubo::HttpPool;
using kubo::HttpResponse;

constexpr auto kHealthTimeout = std::chrono::seconds(2);
constexpr auto kPinSlack = std::chrono::seconds(10);  // request deadline beyond the node's timeout
constexpr auto kForEachTimeout = std::chrono::hours(1);
constexpr size_t kErrorBody = 64u << 10;  // error answers read at most this much

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A query parameter value: CIDs and our option values need no escaping beyond this.
std::string Q(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// A piece of a node's answer for an error message: one line, bounded.
std::string Snippet(std::string_view body, size_t limit = 200) {
  std::string out(body.substr(0, limit));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return out;
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// The node's error text: {"Message": ...} (Kubo, js-ipfs), else the body itself.
std::string ErrorMessage(const HttpResponse& r) {
  auto j = Json::Parse(r.body);
  if (j.ok() && (*j)["Message"].is_string()) return Snippet((*j)["Message"].str(), 1000);
  std::string body = Snippet(r.body);
  return body.empty() ? "HTTP " + std::to_string(r.status) : body;
}

// Whether an error message says the node does not have a block (Kubo: "block was not found
// locally (offline)", "ipld: could not find ..."; js-ipfs: "block not found", and "request timed
// out" when it gave up looking within the `timeout=` we sent; Kubo's own timeout says "context
// deadline exceeded").
bool SaysMissing(const std::string& message) {
  std::string m = Lower(message);
  return m.find("not found") != std::string::npos || m.find("could not find") != std::string::npos ||
         m.find("request timed out") != std::string::npos ||
         m.find("context deadline exceeded") != std::string::npos;
}

bool SameHash(const Cid& a, const Cid& b) { return std::ranges::equal(a.multihash(), b.multihash()); }

class KuboStore final : public BlockStore {
 public:
  explicit KuboStore(KuboOptions opt)
      : opt_(std::move(opt)),
        pool_(opt_.host, opt_.port, std::max(1u, opt_.max_inflight) * 2),
        slots_(static_cast<std::ptrdiff_t>(std::max(1u, opt_.max_inflight) * 2)) {}

  Status Put(const Cid& cid, ByteView data) override {
    BlockRef one{cid, data};
    return PutMany(std::span<const BlockRef>(&one, 1));
  }

  Status PutMany(std::span<const BlockRef> blocks) override {
    std::vector<std::function<Status()>> jobs;
    for (const BlockRef& b : blocks) jobs.push_back([this, &b] { return PutOne(b); });
    return RunAll(jobs);
  }

  Result<Bytes> Get(const Cid& cid) override {
    S3XFS_ASSIGN_OR_RETURN(HttpResponse r,
        Call("block/get?arg=" + Q(cid.ToString()) + "&offline=true&timeout=" + Ms(opt_.lookup_timeout),
             "block/get " + cid.ToString(), opt_.call_timeout, opt_.max_response));
    Bytes data(r.body.begin(), r.body.end());
    if (!cid.Verify(data).ok())
      return Status::Corruption(Describe() + " sent bad bytes for " + cid.ToString());
    return data;
  }

  std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) override {
    std::vector<Result<Bytes>> out(cids.size(), Result<Bytes>(Status::Internal("not fetched")));
    std::vector<std::function<Status()>> jobs;
    for (size_t i = 0; i < cids.size(); ++i)
      jobs.push_back([this, cids, i, &out] {
        out[i] = Get(cids[i]);
        return Status::OK();
      });
    (void)RunAll(jobs);
    return out;
  }

  Result<bool> Has(const Cid& cid) override {
    auto size = Size(cid);
    if (size.ok()) return true;
    if (size.status().code() == Status::Code::kNotFound) return false;
    return size.status();
  }

  Result<uint64_t> Size(const Cid& cid) override {
    S3XFS_ASSIGN_OR_RETURN(HttpResponse r,
        Call("block/stat?arg=" + Q(cid.ToString()) + "&offline=true&timeout=" + Ms(opt_.lookup_timeout),
             "block/stat " + cid.ToString(), opt_.call_timeout, kErrorBody));
    auto j = Json::Parse(r.body);
    if (!j.ok() || !(*j)["Size"].is_number() || !(*j)["Key"].is_string())
      return Status::Corruption(Describe() + ": block/stat " + cid.ToString() + " answered \"" +
                                Snippet(r.body) + "\"");
    S3XFS_RETURN_IF_ERROR(CheckCid("block/stat", cid, (*j)["Key"].str()));
    return static_cast<uint64_t>((*j)["Size"].int_or(0));
  }

  Status Delete(const Cid& cid) override {
    S3XFS_ASSIGN_OR_RETURN(HttpResponse r,
        Call("block/rm?arg=" + Q(cid.ToString()) + "&force=true", "block/rm " + cid.ToString(),
             opt_.call_timeout, kErrorBody));
    // 200 with one JSON object per block; a failure is in its "Error".
    for (std::string_view rest = r.body; !rest.empty();) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      auto j = Json::Parse(line);
      if (!j.ok()) continue;
      std::string err = (*j)["Error"].str();
      if (!err.empty() && !SaysMissing(err))
        return Status::Internal(Describe() + ": block/rm " + cid.ToString() + ": " + err);
    }
    return Status::OK();
  }

  Status Sync() override { return Status::OK(); }

  Status ForEach(const std::function<Status(const Cid&)>& fn) override {
    std::string pending;
    Status inner;
    auto on_chunk = [&](std::string_view piece) -> Status {
      pending.append(piece);
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(pending.data() + start, nl - start);
        if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
        auto j = Json::Parse(line);
        if (!j.ok() || !(*j)["Ref"].is_string())
          return Status::Corruption(Describe() + ": refs/local sent \"" + Snippet(line) + "\"");
        if (!(*j)["Err"].str().empty())
          return Status::Internal(Describe() + ": refs/local: " + (*j)["Err"].str());
        auto c = Cid::Parse((*j)["Ref"].str());
        if (!c.ok()) return Status::Corruption(Describe() + ": refs/local sent a bad CID: " + c.status().message());
        inner = fn(Cid::V1(Codec::kRaw, c->multihash()));
        if (!inner.ok()) return inner;
      }
      pending.erase(0, start);
      if (pending.size() > kErrorBody) return Status::Corruption(Describe() + ": refs/local sent an endless line");
      return Status::OK();
    };
    slots_.acquire();
    auto r = pool_.PostStream("/api/v0/refs/local", std::chrono::steady_clock::now() + kForEachTimeout,
                              kErrorBody, on_chunk);
    slots_.release();
    if (!inner.ok()) return inner;
    if (!r.ok()) return Prefixed("refs/local", r.status());
    if (r->status != 200) return HttpError("refs/local", *r);
    return Status::OK();
  }

  std::string Describe() const override { return "kubo://" + pool_.authority(); }

  Status Health() override {
    auto r = pool_.Post("/api/v0/version", {}, "", std::chrono::steady_clock::now() + kHealthTimeout,
                        kErrorBody);
    if (!r.ok()) return Prefixed("version", r.status());
    if (r->status != 200) {
      Status st = HttpError("version", *r);
      return Status::Unavailable(st.message());
    }
    return Status::OK();
  }

  bool pins_roots() const override { return true; }

  Status PinRoot(const Cid& root, const std::optional<Cid>& replaces) override {
    const auto deadline = opt_.pin_timeout + kPinSlack;
    const std::string node_side = "&offline=true&timeout=" + Ms(opt_.pin_timeout);
    if (replaces && !SameHash(*replaces, root) && has_update_.load()) {
      auto r = Call("pin/update?arg=" + Q(replaces->ToString()) + "&arg=" + Q(root.ToString()) +
                        "&unpin=true" + node_side,
                    "pin/update " + replaces->ToString() + " " + root.ToString(), deadline, kErrorBody);
      if (r.ok()) return CheckPins("pin/update", root, r->body);
      if (r.status().code() != Status::Code::kNotSupported) {
        // E.g. the old root is not pinned (an earlier try moved it): pin the new one instead.
        if (r.status().code() == Status::Code::kUnavailable ||
            r.status().code() == Status::Code::kTimeout)
          return r.status();
      } else {
        has_update_ = false;  // js-ipfs: no pin/update; add and remove instead
      }
    }
    S3XFS_ASSIGN_OR_RETURN(HttpResponse r,
        Call("pin/add?arg=" + Q(root.ToString()) + "&recursive=true" + node_side,
             "pin/add " + root.ToString(), deadline, kErrorBody));
    S3XFS_RETURN_IF_ERROR(CheckPins("pin/add", root, r.body));
    if (replaces && !SameHash(*replaces, root)) return UnpinRoot(*replaces);
    return Status::OK();
  }

  Status UnpinRoot(const Cid& root) override {
    auto r = Call("pin/rm?arg=" + Q(root.ToString()) + "&recursive=true", "pin/rm " + root.ToString(),
                  opt_.call_timeout, kErrorBody);
    if (r.ok()) return Status::OK();
    if (Lower(r.status().message()).find("not pinned") != std::string::npos) return Status::OK();
    return r.status();
  }

 private:
  Status Prefixed(const std::string& what, const Status& st) const {
    std::string msg = Describe() + ": " + what + ": " + st.message();
    switch (st.code()) {
      case Status::Code::kTimeout: return Status::Timeout(msg);
      case Status::Code::kUnavailable: return Status::Unavailable(msg);
      default: return Status::Internal(msg);
    }
  }

  // A non-200 answer as a Status (see the header for the mapping).
  Status HttpError(const std::string& what, const HttpResponse& r) const {
    const std::string msg = Describe() + ": " + what + ": " + ErrorMessage(r);
    switch (r.status) {
      case 404:
      case 405: return Status::NotSupported(msg + " (HTTP " + std::to_string(r.status) + ": no such RPC command here)");
      case 400: return Status::InvalidArgument(msg);
      case 429:
      case 502:
      case 503:
      case 504: return Status::Unavailable(msg + " (HTTP " + std::to_string(r.status) + ")");
      case 500: return SaysMissing(msg) ? Status::NotFound(msg + " (not on the node)") : Status::Internal(msg);
      default: return Status::Internal(msg + " (HTTP " + std::to_string(r.status) + ")");
    }
  }

  // One RPC, retried with doubling backoff (and jitter) while the failure is transient. At most
  // slots_ requests of this store run at once. Success means HTTP 200.
  Result<HttpResponse> Call(const std::string& command, const std::string& what,
                            std::chrono::milliseconds timeout, size_t body_limit,
                            std::string_view body = {}, const std::string& content_type = "") {
    auto delay = opt_.backoff;
    const std::string target = "/api/v0/" + command;
    for (int attempt = 1;; ++attempt) {
      slots_.acquire();
      auto r = pool_.Post(target, body, content_type, std::chrono::steady_clock::now() + timeout,
                          body_limit);
      slots_.release();
      Status st = !r.ok() ? Prefixed(what, r.status()) : r->status == 200 ? Status::OK() : HttpError(what, *r);
      if (st.ok()) return std::move(r).value();
      // A missed deadline is worth another try for block calls, not for long ones (pins).
      const bool transient = st.code() == Status::Code::kUnavailable ||
                             (st.code() == Status::Code::kTimeout && timeout <= opt_.call_timeout);
      if (!transient || attempt >= std::max(1, opt_.attempts)) return st;
      std::this_thread::sleep_for(delay + Jitter(delay));
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
  }

  std::chrono::milliseconds Jitter(std::chrono::milliseconds d) {
    thread_local std::minstd_rand rng(std::random_device{}());
    return std::chrono::milliseconds(d.count() > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(d.count() / 4 + 1)) : 0);
  }

  // Runs the jobs at most max_inflight at a time; returns the first error (all jobs finish).
  Status RunAll(const std::vector<std::function<Status()>>& jobs) {
    return RunEach(jobs.size(), std::max(1u, opt_.max_inflight), [&](size_t i) { return jobs[i](); });
  }

  Status PutOne(const BlockRef& b) {
    std::string codec;
    switch (b.cid.codec()) {
      case Codec::kRaw: codec = "cid-codec=raw&format=raw"; break;  // format: js-ipfs (header)
      case Codec::kDagPb: codec = "cid-codec=dag-pb"; break;
      default:
        return Status::InvalidArgument(Describe() + ": cannot put " + b.cid.ToString() +
                                       ": only raw and dag-pb blocks are stored here");
    }
    if (b.cid.hash_code() != HashCode::kSha2_256)
      return Status::InvalidArgument(Describe() + ": cannot put " + b.cid.ToString() + ": not sha2-256");
    // multipart/form-data with one file part. The boundary must not occur in the data: a
    // random 32-hex-digit one is checked (and changed in the unlikely case it does).
    std::string boundary;
    do {
      boundary = "s3xfs-" + RandomHex();
    } while (std::search(b.data.begin(), b.data.end(), boundary.begin(), boundary.end()) != b.data.end());
    std::string body;
    body.reserve(b.data.size() + 256);
    body += "--" + boundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"data\"; filename=\"block\"\r\n";
    body += "Content-Type: application/octet-stream\r\n\r\n";
    body.append(reinterpret_cast<const char*>(b.data.data()), b.data.size());
    body += "\r\n--" + boundary + "--\r\n";
    S3XFS_ASSIGN_OR_RETURN(HttpResponse r,
        Call("block/put?" + codec + "&mhtype=sha2-256&version=1&pin=false", "block/put " + b.cid.ToString(),
             opt_.call_timeout, kErrorBody, body, "multipart/form-data; boundary=" + boundary));
    // One JSON object per block (a stream of one).
    std::string_view first = r.body;
    first = first.substr(0, first.find('\n'));
    auto j = Json::Parse(first);
    if (!j.ok() || !(*j)["Key"].is_string())
      return Status::Corruption(Describe() + ": block/put of " + b.cid.ToString() + " answered \"" +
                                Snippet(r.body) + "\"");
    S3XFS_RETURN_IF_ERROR(CheckCid("block/put", b.cid, (*j)["Key"].str()));
    if ((*j)["Size"].is_number() && static_cast<uint64_t>((*j)["Size"].int_or(-1)) != b.data.size())
      return Status::Corruption(Describe() + ": block/put of " + b.cid.ToString() + " stored " +
                                std::to_string((*j)["Size"].int_or(-1)) + " bytes, not " +
                                std::to_string(b.data.size()));
    return Status::OK();
  }

  static std::string RandomHex() {
    thread_local std::mt19937_64 rng(std::random_device{}());
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 2; ++i) {
      uint64_t v = rng();
      for (int k = 0; k < 16; ++k, v >>= 4) s += hex[v & 15];
    }
    return s;
  }

  // The node's CID for a block must name the same bytes (same multihash) as ours.
  Status CheckCid(const char* what, const Cid& want, const std::string& got_text) const {
    auto got = Cid::Parse(got_text);
    if (!got.ok() || !SameHash(*got, want))
      return Status::Corruption(Describe() + ": " + what + " of " + want.ToString() + " answered \"" +
                                got_text + "\" (CID mismatch)");
    return Status::OK();
  }

  // {"Pins": [...]} must name root.
  Status CheckPins(const char* what, const Cid& root, const std::string& body) const {
    auto j = Json::Parse(body);
    if (j.ok() && (*j)["Pins"].is_array()) {
      for (const Json& p : (*j)["Pins"].array()) {
        auto c = Cid::Parse(p.str());
        if (c.ok() && SameHash(*c, root)) return Status::OK();
      }
    }
    return Status::Corruption(Describe() + ": " + what + " of " + root.ToString() + " answered \"" +
                              Snippet(body) + "\" (root not among the pins)");
  }

  const KuboOptions opt_;
  HttpPool pool_;
  std::counting_semaphore<1024> slots_;
  std::atomic<bool> has_update_{true};  // cleared when the node has no pin/update
};

}  // namespace

Result<KuboOptions> ParseKuboUrl(const std::string& url) {
  if (url.rfind("kubo://", 0) != 0)
    return Status::InvalidArgument("not a Kubo URL (kubo://HOST:PORT): " + url);
  std::string rest = url.substr(7);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  KuboOptions o;
  const auto bad = [&] { return Status::InvalidArgument("Kubo URL needs HOST:PORT: " + url); };
  size_t colon = rest.rfind(':');
  if (rest.empty() || colon == std::string::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find('/') != std::string::npos ||
      rest.find_first_not_of("0123456789", colon + 1) != std::string::npos || rest.size() - colon > 6)
    return bad();
  o.host = rest.substr(0, colon);
  o.port = rest.substr(colon + 1);
  if (o.host.front() == '[') {
    if (o.host.size() < 3 || o.host.back() != ']') return bad();
    o.host = o.host.substr(1, o.host.size() - 2);
  } else if (o.host.find(':') != std::string::npos) {
    return Status::InvalidArgument("Kubo URL: write an IPv6 address in brackets: " + url);
  }
  if (std::stoul(o.port) == 0 || std::stoul(o.port) > 65535) return bad();
  return o;
}

Result<std::unique_ptr<BlockStore>> OpenKuboStore(const KuboOptions& options) {
  if (options.host.empty() || options.port.empty())
    return Status::InvalidArgument("Kubo store needs a host and a port");
  return std::unique_ptr<BlockStore>(new KuboStore(options));
}

}  // namespace s3xfs
