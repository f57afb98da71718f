// Load generator for tools/bench/s3.sh: PUT or GET one object size at a given concurrency over
// plain HTTP/1.1 keep-alive sockets, one connection per worker thread, SigV4 with
// UNSIGNED-PAYLOAD (or no auth at all, for the nginx baseline).
//
//   s3_bench --host 127.0.0.1 --port P --op get --path /bucket/key --concurrency 8 --seconds 3
//   s3_bench --host 127.0.0.1 --port P --op put --path /bucket/prefix --file F --concurrency 8
//            --count 16 [--exact]
//
// PUT sends the bytes of --file (read once into memory). Unless --exact, the first 8 bytes of
// every 256 KiB piece carry a per-request stamp, so no two requests store the same blocks (a
// content-addressed store would otherwise deduplicate them); each worker writes keys
// PATH-W-N with N cycling over --keys (default 2). --exact writes the file's bytes to PATH itself.
// GET reads PATH and discards the body (checking its length).
//
// Output (one line, stdout):
//   op=get size=67108864 conc=8 ops=40 bytes=... seconds=... MBps=... opsps=... p50_ms=... p99_ms=... errors=0
// Exit status 1 when any request failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "s3xfs/s3/sigv4.h"

namespace {

using Clock = std::chrono::steady_clock;
using s3xfs::s3::RequestHead;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string access_key, secret_key;  // empty: unauthenticated
  std::string op = "get";
  std::string path;
  std::string file;
  int concurrency = 1;
  long count = 0;        // total requests (split over the workers)
  double seconds = 0;    // or: run each worker this long
  int keys = 2;
  bool exact = false;
};

[[noreturn]] void Die(const std::string& msg) {
  fprintf(stderr, "s3_bench: %s\n", msg.c_str());
  exit(2);
}

std::mutex g_err_mu;
int g_err_printed = 0;
void ReportError(const std::string& msg) {
  std::lock_guard lock(g_err_mu);
  if (g_err_printed++ < 5) fprintf(stderr, "s3_bench: %s\n", msg.c_str());
}

class Connection {
 public:
  explicit Connection(const Options& o) : o_(o) {}
  ~Connection() { Close(); }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  bool Connect() {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr) != 1) Die("bad --host " + o_.host);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Close();
      return false;
    }
    return true;
  }

  bool SendAll(const struct iovec* iov, int n) {
    std::vector<struct iovec> v(iov, iov + n);
    size_t i = 0;
    while (i < v.size()) {
      ssize_t w = ::writev(fd_, v.data() + i, static_cast<int>(std::min<size_t>(v.size() - i, 1024)));
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      size_t left = static_cast<size_t>(w);
      while (i < v.size() && left >= v[i].iov_len) left -= v[i++].iov_len;
      if (i < v.size()) {
        v[i].iov_base = static_cast<char*>(v[i].iov_base) + left;
        v[i].iov_len -= left;
      }
    }
    return true;
  }

  // Reads one response; the body is discarded. Returns the status (0 on a broken connection),
  // *length the body length, *error_body the body of a non-2xx reply (first 512 bytes).
  int ReadResponse(bool head_request, uint64_t* length, std::string* error_body) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return 0;
    }
    std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    int status = 0;
    if (sscanf(head.c_str(), "HTTP/1.%*d %d", &status) != 1) return 0;
    uint64_t cl = 0;
    bool close_after = false;
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      std::string line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") cl = strtoull(value.c_str(), nullptr, 10);
      if (name == "connection" && strcasecmp(value.c_str(), "close") == 0) close_after = true;
    }
    if (head_request || status == 204 || status == 304) cl = 0;
    uint64_t got = std::min<uint64_t>(cl, buf_.size());
    if (status / 100 != 2) error_body->assign(buf_, 0, std::min<size_t>(got, 512));
    buf_.erase(0, got);
    std::vector<char> sink(1 << 20);
    while (got < cl) {
      ssize_t r = ::recv(fd_, sink.data(), std::min<uint64_t>(sink.size(), cl - got), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return 0;
      if (status / 100 != 2 && error_body->size() < 512) {
        error_body->append(sink.data(), std::min<size_t>(size_t(r), 512 - error_body->size()));
      }
      got += uint64_t(r);
    }
    *length = cl;
    if (close_after) Close();
    return status;
  }

  bool connected() const { return fd_ >= 0; }

 private:
  bool Fill() {
    char tmp[16384];
    ssize_t r;
    do {
      r = ::recv(fd_, tmp, sizeof tmp, 0);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return false;
    buf_.append(tmp, size_t(r));
    return true;
  }

  const Options& o_;
  int fd_ = -1;
  std::string buf_;
};

std::string AmzNow() {
  return s3xfs::s3::FormatAmzDate(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
}

// The request head (text), signed when keys are given.
std::string Head(const Options& o, const std::string& method, const std::string& path,
                 uint64_t content_length) {
  std::string host = o.host + ":" + std::to_string(o.port);
  RequestHead h;
  h.method = method;
  h.target = path;
  h.headers.Add("host", host);
  if (!o.access_key.empty()) {
    std::string date = AmzNow();
    h.headers.Add("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    h.headers.Add("x-amz-date", date);
    s3xfs::s3::SigV4Request a;
    a.credential = {o.access_key, date.substr(0, 8), "us-east-1", "s3"};
    a.signed_headers = {"host", "x-amz-content-sha256", "x-amz-date"};
    a.amz_date = date;
    a.payload_hash = "UNSIGNED-PAYLOAD";
    std::string sts = s3xfs::s3::StringToSign(date, a.credential.Scope(),
                                              s3xfs::s3::CanonicalRequest(h, {}, a));
    std::string sig = s3xfs::s3::SignHex(
        s3xfs::s3::SigningKey(o.secret_key, a.credential.date, "us-east-1", "s3"), sts);
    h.headers.Add("authorization", "AWS4-HMAC-SHA256 Credential=" + o.access_key + "/" +
                                       a.credential.Scope() +
                                       ", SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                                       "Signature=" + sig);
  }
  if (method == "PUT") h.headers.Add("content-length", std::to_string(content_length));
  std::string out = method + " " + path + " HTTP/1.1\r\n";
  for (const auto& [n, v] : h.headers.fields) out += n + ": " + v + "\r\n";
  return out + "\r\n";
}

struct WorkerResult {
  std::vector<double> latencies_ms;
  uint64_t bytes = 0;
  long errors = 0;
};

void Worker(const Options& o, int id, const std::string& data, long count, Clock::time_point deadline,
            WorkerResult* res) {
  Connection c(o);
  constexpr size_t kPiece = 256 << 10;
  for (long i = 0; count == 0 || i < count; ++i) {
    if (count == 0 && Clock::now() >= deadline) break;
    auto t0 = Clock::now();
    if (!c.connected() && !c.Connect()) {
      ReportError("cannot connect");
      ++res->errors;
      continue;
    }
    bool put = o.op == "put";
    std::string path = o.path;
    if (put && !o.exact) path += "-" + std::to_string(id) + "-" + std::to_string(i % o.keys);
    std::string head = Head(o, put ? "PUT" : "GET", path, put ? data.size() : 0);
    std::vector<struct iovec> iov;
    iov.push_back({head.data(), head.size()});
    std::vector<uint64_t> stamps;
    if (put) {
      size_t pieces = (data.size() + kPiece - 1) / kPiece;
      stamps.resize(pieces);
      for (size_t p = 0; p < pieces; ++p) {
        size_t off = p * kPiece, len = std::min(kPiece, data.size() - off);
        if (!o.exact && len >= 8) {
          stamps[p] = (uint64_t(id) << 48) ^ (uint64_t(i) << 20) ^ p ^ uint64_t(getpid()) << 32;
          iov.push_back({&stamps[p], 8});
          iov.push_back({const_cast<char*>(data.data()) + off + 8, len - 8});
        } else {
          iov.push_back({const_cast<char*>(data.data()) + off, len});
        }
      }
    }
    uint64_t len = 0;
    std::string err;
    int status = c.SendAll(iov.data(), int(iov.size())) ? c.ReadResponse(false, &len, &err) : 0;
    if (status / 100 != 2) {
      ReportError(o.op + " " + path + ": HTTP " + std::to_string(status) + " " + err);
      ++res->errors;
      c.Close();
      continue;
    }
    if (!put && !data.empty() && len != data.size()) {
      ReportError("GET " + path + ": " + std::to_string(len) + " bytes, expected " +
                  std::to_string(data.size()));
      ++res->errors;
    }
    res->bytes += put ? data.size() : len;
    res->latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = atoi(next().c_str());
    else if (a == "--access-key") o.access_key = next();
    else if (a == "--secret-key") o.secret_key = next();
    else if (a == "--op") o.op = next();
    else if (a == "--path") o.path = next();
    else if (a == "--file") o.file = next();
    else if (a == "--concurrency") o.concurrency = std::max(1, atoi(next().c_str()));
    else if (a == "--count") o.count = atol(next().c_str());
    else if (a == "--seconds") o.seconds = atof(next().c_str());
    else if (a == "--keys") o.keys = std::max(1, atoi(next().c_str()));
    else if (a == "--exact") o.exact = true;
    else Die("unknown argument " + a);
  }
  if (o.port <= 0 || o.path.empty() || (o.op != "get" && o.op != "put")) {
    Die("usage: s3_bench --host H --port P [--access-key AK --secret-key SK] --op get|put "
        "--path PATH [--file F] [--concurrency C] (--count N | --seconds S) [--keys K] [--exact]");
  }
  if (o.count == 0 && o.seconds <= 0) o.count = o.concurrency;
  std::string data;
  if (!o.file.empty()) {
    std::ifstream f(o.file, std::ios::binary);
    if (!f) Die("cannot read " + o.file);
    data.assign(std::istreambuf_iterator<char>(f), {});
  } else if (o.op == "put") {
    Die("--op put needs --file");
  }
  std::vector<WorkerResult> results(o.concurrency);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(o.seconds));
  for (int w = 0; w < o.concurrency; ++w) {
    long n = o.count == 0 ? 0 : o.count / o.concurrency + (w < o.count % o.concurrency ? 1 : 0);
    if (o.count != 0 && n == 0) continue;
    threads.emplace_back(Worker, std::cref(o), w, std::cref(data), n, deadline, &results[w]);
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> lat;
  uint64_t bytes = 0;
  long errors = 0;
  for (auto& r : results) {
    lat.insert(lat.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    bytes += r.bytes;
    errors += r.errors;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, size_t(p * lat.size()))]; };
  printf("op=%s size=%zu conc=%d ops=%zu bytes=%llu seconds=%.3f MBps=%.1f opsps=%.1f p50_ms=%.2f "
         "p99_ms=%.2f errors=%ld\n",
         o.op.c_str(), data.size(), o.concurrency, lat.size(), static_cast<unsigned long long>(bytes),
         secs, bytes / secs / 1e6, lat.size() / secs, pct(0.5), pct(0.99), errors);
  return errors ? 1 : 0;
}
