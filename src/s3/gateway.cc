// The IPFS gateway (contract in include/s3xfs/s3/gateway.h).
#include "s3xfs/s3/gateway.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "s3xfs/base/log.h"
#include "s3xfs/cas/car_stream.h"
#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/cas/unixfs.h"
#include "s3xfs/s3/router.h"

namespace s3xfs::s3 {
namespace {

constexpr std::string_view kImmutable = "public, max-age=29030400, immutable";
constexpr std::string_view kCarType = "application/vnd.ipld.car; version=1; order=dfs; dups=n";
constexpr std::string_view kRawType = "application/vnd.ipld.raw";
// Bumped when the generated listing changes, so caches drop old pages (its weak Etag names it).
constexpr std::string_view kListingVersion = "s3xfs-1";

// ---- small HTTP helpers ----

// If-None-Match (weak comparison, RFC 9110 §13.1.2) against our (quoted) Etag.
bool NoneMatch(const HeaderList& h, std::string_view etag) {
  const std::string* inm = h.Find("if-none-match");
  return inm && EtagListMatches(*inm, Unquoted(etag));
}

// Content-Disposition with a filename: an ASCII fallback (anything else, quotes and
// backslashes become '_') and the exact name in RFC 8187 form.
std::string Disposition(std::string_view kind, std::string_view filename) {
  std::string ascii;
  bool plain = true;
  for (unsigned char c : filename) {
    bool ok = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    ascii += ok ? static_cast<char>(c) : '_';
    plain = plain && ok;
  }
  std::string out = std::string(kind) + "; filename=\"" + ascii + "\"";
  if (!plain) out += "; filename*=UTF-8''" + UriEncode(filename, true);
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Content-Type from a file name's extension; application/octet-stream when unknown.
std::string_view TypeOfName(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"}, {"csv", "text/csv; charset=utf-8"},
      {"json", "application/json"},         {"xml", "application/xml"},
      {"svg", "image/svg+xml"},             {"png", "image/png"},
      {"jpg", "image/jpeg"},                {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},                 {"webp", "image/webp"},
      {"avif", "image/avif"},               {"ico", "image/x-icon"},
      {"pdf", "application/pdf"},           {"wasm", "application/wasm"},
      {"mp4", "video/mp4"},                 {"webm", "video/webm"},
      {"mp3", "audio/mpeg"},                {"ogg", "audio/ogg"},
      {"wav", "audio/wav"},                 {"zip", "application/zip"},
      {"gz", "application/gzip"},           {"tar", "application/x-tar"},
      {"woff", "font/woff"},                {"woff2", "font/woff2"},
      {"car", "application/vnd.ipld.car"},
  };
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == name.size()) return "application/octet-stream";
  std::string ext = AsciiLower(name.substr(dot + 1));
  for (const auto& [e, type] : kTypes)
    if (e == ext) return type;
  return "application/octet-stream";
}

// ---- response bodies ----

// Bytes [pos, end) of a UnixFS file, read one buffer at a time.
class FileSource final : public BodySource {
 public:
  FileSource(BlockSource* base, Cid root, uint64_t offset, uint64_t length)
      : src_(base), reader_(&src_), root_(std::move(root)), pos_(offset), end_(offset + length) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    if (pos_ >= end_) return size_t{0};
    uint64_t want = std::min<uint64_t>(buf.size(), end_ - pos_);
    size_t got = 0;
    S3XFS_RETURN_IF_ERROR(reader_.Read(root_, pos_, want, [&](ByteView piece) {
      if (got + piece.size() > buf.size()) return Status::Internal("reader returned too much");
      std::memcpy(buf.data() + got, piece.data(), piece.size());
      got += piece.size();
      return Status::OK();
    }));
    if (got == 0) return Status::Corruption(root_.ToString() + " is shorter than its recorded size");
    pos_ += got;
    return got;
  }

 private:
  IdentityInliningSource src_;
  DagReader reader_;
  Cid root_;
  uint64_t pos_, end_;
};

// The CAR stream as a response body. The status line is sent by the time it fails: all that is
// left then is to cut the body short (no last chunk) and say why in the log.
class CarBody final : public BodySource {
 public:
  CarBody(std::unique_ptr<CarStream> car, std::string what) : car_(std::move(car)), what_(std::move(what)) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    auto n = car_->Read(buf);
    if (!n.ok())
      S3XFS_LOG(kWarning) << "gateway CAR of " << what_ << " cut short after "
                          << car_->bytes_produced() << " bytes: " << n.status().ToString();
    return n;
  }

 private:
  std::unique_ptr<CarStream> car_;
  std::string what_;
};

// ---- the request ----

enum class Format { kNone, kRaw, kCar };

struct CarParams {
  std::string version, order, dups;  // from Accept, overridden by car-* query parameters
};

class Handler {
 public:
  Handler(BlockSource* base, const GatewayRequest& req) : base_(base), src_(base), req_(req) {}

  Response Run() {
    std::string path;
    if (!PercentDecode(req_.raw_path, &path, false) || path.rfind("/ipfs/", 0) != 0)
      return Fail(400, "not an /ipfs/ path");
    std::string_view rest = std::string_view(path).substr(6);
    size_t slash = rest.find('/');
    std::string_view cid_text = rest.substr(0, slash);
    content_path_ = std::string(rest);
    std::string_view sub = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    auto cid = Cid::Parse(cid_text);
    if (!cid.ok()) return Fail(400, "invalid CID \"" + std::string(cid_text) + "\": " + cid.status().message());
    root_ = std::move(cid).value();
    if (root_.hash_code() != HashCode::kSha2_256 && root_.hash_code() != HashCode::kIdentity)
      return Fail(400, root_.ToString() + " uses a hash function this gateway cannot verify (only sha2-256 and identity)");
    if (const std::string* sw = req_.headers->Find("service-worker"); sw && *sw == "script" && TrimOws(sub).empty())
      return Fail(400, "a service worker cannot be registered at the root of /ipfs/" + root_.ToString() +
                           " (its scope would be all of /ipfs/)");
    if (Status st = Negotiate(); !st.ok()) return Fail(StatusCode(st), st.message());

    auto resolved = ResolvePath(&src_, root_, sub);
    if (!resolved.ok()) return Fail(resolved.status());
    terminal_ = resolved->cid;
    path_blocks_ = std::move(resolved->path_blocks);
    for (const Cid& c : resolved->segments) roots_ += (roots_.empty() ? "" : ",") + c.ToString();
    // The last path segment names the file (for its Content-Type); "" for a bare CID.
    std::string_view trimmed = sub;
    while (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
    name_ = std::string(trimmed.substr(trimmed.rfind('/') == std::string_view::npos ? 0 : trimmed.rfind('/') + 1));

    switch (format_) {
      case Format::kRaw: return Raw();
      case Format::kCar: return Car();
      case Format::kNone: return Deserialized();
    }
    return Fail(500, "unknown format");
  }

 private:
  // ---- format negotiation ----
  Status Negotiate() {
    if (const std::string* f = FindParam(req_.query, "format")) {
      if (*f == "raw") format_ = Format::kRaw;
      else if (*f == "car") format_ = Format::kCar;
      else if (!f->empty())
        return Status::InvalidArgument("format=" + *f + " is not supported here (raw or car)");
    }
    bool from_format = format_ != Format::kNone;
    if (const std::string* accept = req_.headers->Find("accept")) {
      S3XFS_RETURN_IF_ERROR(ParseAccept(*accept, from_format));
    }
    if (format_ != Format::kNone && !from_format) {
      // Negotiated by Accept alone: name the URL with ?format= so caches keep them apart.
      content_location_ = req_.raw_path + "?" + (req_.raw_query.empty() ? "" : req_.raw_query + "&") +
                          "format=" + (format_ == Format::kRaw ? "raw" : "car");
    }
    if (format_ != Format::kCar) return Status::OK();
    if (const std::string* v = FindParam(req_.query, "car-version")) car_.version = *v;
    if (const std::string* v = FindParam(req_.query, "car-order")) car_.order = *v;
    if (const std::string* v = FindParam(req_.query, "car-dups")) car_.dups = *v;
    if (!car_.version.empty() && car_.version != "1")
      return Status::InvalidArgument("only CAR version 1 is served (asked for " + car_.version + ")");
    if (!car_.order.empty() && car_.order != "dfs" && car_.order != "unk")
      return Status::InvalidArgument("CAR order " + car_.order + " is not supported (dfs)");
    if (!car_.dups.empty() && car_.dups != "n")
      return Status::InvalidArgument("CAR dups=" + car_.dups + " is not supported (each block is sent once: dups=n)");
    if (FindParam(req_.query, "entity-bytes"))
      return Status::NotSupported("entity-bytes is not implemented by this gateway; ask for "
                                  "dag-scope=entity, or use a Range request on the file");
    const std::string* scope = FindParam(req_.query, "dag-scope");
    if (!scope || *scope == "all" || scope->empty()) scope_ = DagScope::kAll;
    else if (*scope == "entity") scope_ = DagScope::kEntity;
    else if (*scope == "block") scope_ = DagScope::kBlock;
    else return Status::InvalidArgument("dag-scope must be all, entity or block");
    return Status::OK();
  }

  // The highest-q application/vnd.ipld.raw or .car entry of Accept (the first on a tie). With a
  // format parameter, only the CAR parameters of a matching entry are read.
  Status ParseAccept(std::string_view accept, bool from_format) {
    double best_q = 0;
    Format best = Format::kNone;
    CarParams best_car;
    std::string refused;
    while (!accept.empty()) {
      size_t comma = accept.find(',');
      std::string_view item = accept.substr(0, comma);
      accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
      size_t semi = item.find(';');
      std::string type = AsciiLower(TrimOws(item.substr(0, semi)));
      Format f = type == "application/vnd.ipld.raw"   ? Format::kRaw
                 : type == "application/vnd.ipld.car" ? Format::kCar
                                                      : Format::kNone;
      if (f == Format::kNone) continue;
      double q = 1;
      CarParams cp;
      std::string_view params = semi == std::string_view::npos ? std::string_view() : item.substr(semi + 1);
      while (!params.empty()) {
        size_t s = params.find(';');
        std::string_view p = TrimOws(params.substr(0, s));
        params = s == std::string_view::npos ? std::string_view() : params.substr(s + 1);
        size_t eq = p.find('=');
        if (eq == std::string_view::npos) continue;
        std::string key = AsciiLower(TrimOws(p.substr(0, eq)));
        std::string value(TrimOws(p.substr(eq + 1)));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (key == "q") q = std::atof(value.c_str());
        else if (key == "version") cp.version = value;
        else if (key == "order") cp.order = AsciiLower(value);
        else if (key == "dups") cp.dups = AsciiLower(value);
      }
      if (q <= 0) continue;
      if (f == Format::kCar && !cp.version.empty() && cp.version != "1") {
        refused = "CAR version " + cp.version;
        continue;
      }
      if (from_format && f != format_) continue;
      if (q > best_q) {
        best_q = q;
        best = f;
        best_car = cp;
      }
    }
    if (from_format) {
      if (best == Format::kCar) car_ = best_car;
      return Status::OK();
    }
    if (best == Format::kNone && !refused.empty())
      return Status::InvalidArgument("only CAR version 1 is served (Accept asked for " + refused + ")");
    format_ = best;
    car_ = best_car;
    return Status::OK();
  }

  // ---- replies ----
  static int StatusCode(const Status& st) {
    switch (st.code()) {
      case Status::Code::kNotFound: return 404;
      case Status::Code::kInvalidArgument:
        return st.reason() == Status::Reason::kNotDirectory ? 404 : 400;
      case Status::Code::kUnavailable: return 502;
      case Status::Code::kTimeout: return 504;
      case Status::Code::kNotSupported: return 501;
      default: return 500;
    }
  }

  Response Fail(const Status& st) { return Fail(StatusCode(st), st.message()); }

  Response Fail(int code, const std::string& message) {
    Response r;
    r.status = code;
    r.headers.Add("Content-Type", "text/plain; charset=utf-8");
    r.headers.Add("X-Content-Type-Options", "nosniff");
    if (code == 502 || code == 504) r.headers.Add("Retry-After", "30");
    r.body = std::to_string(code) + " " + Reason(code) + ": " + message + "\n";
    if (req_.method == "HEAD") {
      r.content_length = r.body.size();
      r.body.clear();
      r.head_only = true;
    }
    return r;
  }

  static const char* Reason(int code) {
    switch (code) {
      case 400: return "Bad Request";
      case 404: return "Not Found";
      case 416: return "Range Not Satisfiable";
      case 501: return "Not Implemented";
      case 502: return "Bad Gateway";
      case 504: return "Gateway Timeout";
      default: return "Internal Server Error";
    }
  }

  // Headers every successful reply carries.
  Response Ok(int status, std::string_view etag) {
    Response r;
    r.status = status;
    r.headers.Add("Etag", etag);
    r.headers.Add("Cache-Control", kImmutable);
    r.headers.Add("X-Ipfs-Path", req_.raw_path);
    r.headers.Add("X-Ipfs-Roots", roots_);
    if (!content_location_.empty()) r.headers.Add("Content-Location", content_location_);
    r.headers.Add("Vary", "Accept");
    return r;
  }

  Response NotModified(std::string_view etag) {
    Response r = Ok(304, etag);
    r.head_only = true;
    return r;
  }

  std::string Param(std::string_view name) const {
    const std::string* v = FindParam(req_.query, name);
    return v ? *v : std::string();
  }

  // A 200 download of a verifiable format: its type, never sniffed, saved as ?filename= or
  // CID + extension.
  Response Attachment(const std::string& etag, std::string_view type, std::string_view ext) {
    Response r = Ok(200, etag);
    r.headers.Add("Content-Type", std::string(type));
    r.headers.Add("X-Content-Type-Options", "nosniff");
    std::string filename = Param("filename");
    r.headers.Add("Content-Disposition",
                  Disposition("attachment", filename.empty() ? terminal_.ToString() + std::string(ext) : filename));
    return r;
  }

  Response Raw() {
    auto block = GetOneBlock(&src_, terminal_);
    if (!block.ok()) return Fail(block.status());
    std::string etag = "\"" + terminal_.ToString() + ".raw\"";
    if (NoneMatch(*req_.headers, etag)) return NotModified(etag);
    Response r = Attachment(etag, kRawType, ".bin");
    r.headers.Add("Accept-Ranges", "bytes");
    uint64_t offset = 0, length = block->size();
    if (const std::string* range = req_.headers->Find("range")) {
      auto parsed = ParseByteRange(*range, block->size());
      if (!parsed.ok()) return Unsatisfiable(block->size());
      if (parsed->has_value()) {
        offset = (*parsed)->first;
        length = (*parsed)->length;
        r.status = 206;
        r.headers.Add("Content-Range", ContentRange(offset, length, block->size()));
      }
    }
    r.content_length = length;
    if (req_.method == "HEAD") {
      r.head_only = true;
    } else {
      r.body.assign(reinterpret_cast<const char*>(block->data()) + offset, length);
    }
    return r;
  }


  Response Unsatisfiable(uint64_t size) {
    Response r = Fail(416, "the requested range is not satisfiable (the entity has " +
                               std::to_string(size) + " bytes)");
    r.headers.Add("Content-Range", "bytes */" + std::to_string(size));
    return r;
  }

  Response Car() {
    // The terminal block must be there before the 200 goes out (404 otherwise).
    auto block = GetOneBlock(&src_, terminal_);
    if (!block.ok()) return Fail(block.status());
    static constexpr std::string_view kScopeNames[] = {"all", "entity", "block"};
    std::string etag = "\"" + terminal_.ToString() + ".car.dfs.n." +
                       std::string(kScopeNames[static_cast<int>(scope_)]) + "\"";
    if (NoneMatch(*req_.headers, etag)) return NotModified(etag);
    auto car = CarStream::Open(base_, terminal_, std::move(block).value(), scope_,
                               std::move(path_blocks_));
    if (!car.ok()) {
      if (car.status().code() == Status::Code::kNotSupported)
        return Fail(501, car.status().message() + "; ask for dag-scope=block");
      return Fail(car.status());
    }
    Response r = Attachment(etag, kCarType, ".car");
    r.headers.Add("Accept-Ranges", "none");
    r.chunked = true;
    if (req_.method == "HEAD") r.head_only = true;
    else r.stream = std::make_unique<CarBody>(std::move(car).value(), req_.raw_path);
    return r;
  }

  Response Deserialized() {
    auto block = GetOneBlock(&src_, terminal_);
    if (!block.ok()) return Fail(block.status());
    auto node = DecodeUnixfsNode(terminal_, *block);
    if (!node.ok()) return Fail(node.status());
    switch (node->kind) {
      case UnixfsKind::kRawLeaf:
      case UnixfsKind::kFile:
        return File(terminal_, *node, std::move(block).value(), name_);
      case UnixfsKind::kDirectory:
      case UnixfsKind::kHamtShard:
        return Directory();
      case UnixfsKind::kSymlink: {
        std::string etag = "\"" + terminal_.ToString() + "\"";
        if (NoneMatch(*req_.headers, etag)) return NotModified(etag);
        Response r = Ok(200, etag);
        r.headers.Add("Content-Type", "text/plain; charset=utf-8");
        r.content_length = node->symlink_target.size();
        if (req_.method == "HEAD") r.head_only = true;
        else r.body = node->symlink_target;
        return r;
      }
      case UnixfsKind::kOther:
        break;
    }
    return Fail(501, terminal_.ToString() + " is not UnixFS data: ask for ?format=raw or ?format=car");
  }

  Response File(const Cid& cid, const UnixfsNode& node, Bytes block, std::string_view name) {
    std::string etag = "\"" + cid.ToString() + "\"";
    if (NoneMatch(*req_.headers, etag)) return NotModified(etag);
    Response r = Ok(200, etag);
    std::string filename = Param("filename");
    r.headers.Add("Content-Type", TypeOfName(filename.empty() ? name : std::string_view(filename)));
    r.headers.Add("Accept-Ranges", "bytes");
    bool download = Param("download") == "true";
    if (download || !filename.empty()) {
      std::string_view kind = download ? "attachment" : "inline";
      r.headers.Add("Content-Disposition",
                    filename.empty() ? std::string(kind) : Disposition(kind, filename));
    }
    const uint64_t size = node.size;
    uint64_t offset = 0, length = size;
    if (const std::string* range = req_.headers->Find("range")) {
      auto parsed = ParseByteRange(*range, size);
      if (!parsed.ok()) return Unsatisfiable(size);
      if (parsed->has_value()) {
        offset = (*parsed)->first;
        length = (*parsed)->length;
        r.status = 206;
        r.headers.Add("Content-Range", ContentRange(offset, length, size));
      }
    }
    r.content_length = length;
    if (req_.method == "HEAD") {
      r.head_only = true;
      return r;
    }
    if (node.kind == UnixfsKind::kRawLeaf) {  // the bytes are in hand
      r.body.assign(reinterpret_cast<const char*>(block.data()) + offset, length);
      return r;
    }
    r.stream = std::make_unique<FileSource>(base_, cid, offset, length);
    return r;
  }

  Response Directory() {
    if (req_.raw_path.empty() || req_.raw_path.back() != '/') {
      // Relative links in the directory need the trailing slash (path gateway spec: MUST).
      Response r = Ok(301, "\"" + terminal_.ToString() + "\"");
      r.headers.Add("Location", req_.raw_path + "/" + (req_.raw_query.empty() ? "" : "?" + req_.raw_query));
      r.headers.Add("Content-Type", "text/plain; charset=utf-8");
      r.body = "moved to " + req_.raw_path + "/\n";
      if (req_.method == "HEAD") {
        r.content_length = r.body.size();
        r.body.clear();
        r.head_only = true;
      }
      return r;
    }
    auto index = LookupEntry(&src_, terminal_, "index.html");
    if (!index.ok()) return Fail(index.status());
    if (index->has_value()) {
      const Cid& icid = (*index)->cid;
      auto iblock = GetOneBlock(&src_, icid);
      if (!iblock.ok()) return Fail(iblock.status());
      auto inode = DecodeUnixfsNode(icid, *iblock);
      if (!inode.ok()) return Fail(inode.status());
      if (inode->is_file()) return File(icid, *inode, std::move(iblock).value(), "index.html");
    }
    return Listing();
  }

  Response Listing() {
    std::string etag = "W/\"DirIndex-" + std::string(kListingVersion) + "_CID-" + terminal_.ToString() + "\"";
    if (NoneMatch(*req_.headers, etag)) return NotModified(etag);
    std::vector<DirEntry> entries;
    bool truncated = false;
    Status st = ForEachDirectoryEntry(&src_, terminal_, [&](const DirEntry& e) {
      if (entries.size() == kMaxListing) {
        truncated = true;
        return Status::Internal("listing full");  // stops the walk
      }
      entries.push_back(e);
      return Status::OK();
    });
    if (!st.ok() && !truncated) return Fail(st);
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    std::string title = HtmlEscape("/ipfs/" + content_path_);
    std::string html =
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>" + title +
        "</title>\n</head>\n<body>\n<h1>Index of " + title + "</h1>\n<p>CID: <code>" +
        terminal_.ToString() + "</code></p>\n<table>\n<tr><th>Name</th><th>Size</th><th>CID</th></tr>\n";
    if (content_path_.find('/') != std::string::npos && content_path_.find('/') + 1 < content_path_.size())
      html += "<tr><td><a href=\"../\">..</a></td><td></td><td></td></tr>\n";
    for (const DirEntry& e : entries) {
      std::string c = e.cid.ToString();
      html += "<tr><td><a href=\"./" + HtmlEscape(UriEncode(e.name, true)) + "\">" + HtmlEscape(e.name) +
              "</a></td><td>" + std::to_string(e.tsize) + "</td><td><a href=\"/ipfs/" + c + "\"><code>" +
              c + "</code></a></td></tr>\n";
    }
    html += "</table>\n";
    if (truncated)
      html += "<p>Only the first " + std::to_string(kMaxListing) +
              " entries are listed; fetch <code>?format=car</code> for all of them.</p>\n";
    html += "</body>\n</html>\n";
    Response r = Ok(200, etag);
    r.headers.Add("Content-Type", "text/html; charset=utf-8");
    r.content_length = html.size();
    if (req_.method == "HEAD") r.head_only = true;
    else r.body = std::move(html);
    return r;
  }

  BlockSource* base_;
  IdentityInliningSource src_;
  const GatewayRequest& req_;
  std::string content_path_;  // decoded, after "/ipfs/": "{cid}[/path]"
  Cid root_, terminal_;
  std::vector<Cid> path_blocks_;
  std::string roots_;  // X-Ipfs-Roots
  std::string name_;   // the last path segment
  Format format_ = Format::kNone;
  DagScope scope_ = DagScope::kAll;
  CarParams car_;
  std::string content_location_;
};

}  // namespace

Result<GatewayMode> ParseGatewayMode(std::string_view text) {
  if (text == "off") return GatewayMode::kOff;
  if (text == "signed") return GatewayMode::kSigned;
  if (text == "public") return GatewayMode::kPublic;
  return Status::InvalidArgument("--gateway must be off, signed or public, not '" + std::string(text) + "'");
}

std::string_view GatewayModeName(GatewayMode mode) {
  switch (mode) {
    case GatewayMode::kOff: return "off";
    case GatewayMode::kSigned: return "signed";
    case GatewayMode::kPublic: return "public";
  }
  return "off";
}

bool IsGatewayPath(std::string_view path) {
  if (path.substr(0, 6) != "/ipfs/") return false;
  std::string_view rest = path.substr(6);
  std::string_view seg = rest.substr(0, rest.find('/'));
  return !seg.empty() && Cid::Parse(seg).ok();
}

Response ServeGateway(BlockSource* source, const GatewayRequest& request) {
  return Handler(source, request).Run();
}

}  // namespace s3xfs::s3
