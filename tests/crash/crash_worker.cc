// Crash-consistency worker for tests/cli/crash.sh.
//
//   crash_worker run DIR SEED   loops forever doing puts (new keys and overwrites), renames,
//                               copies, deletes and small multipart uploads against an
//                               ObjectStore on an embedded block store (sync_each_put) + ledger
//                               in DIR. Before each call it appends "? <op>" to DIR/acked.log,
//                               after the call returns OK it appends "<op>" (the
//                               acknowledgement), after an expected failure "F"; each line is
//                               fsynced. The script SIGKILLs it at a random moment.
//   crash_worker verify DIR     reopens the store and checks:
//                                - Fsck(false): no missing blocks, no wrong reference counts, no
//                                  structural problems (orphan blocks are expected after a crash
//                                  mid-write); Fsck(true) then leaves it clean();
//                                - the objects in the bucket are exactly the state implied by
//                                  replaying the acknowledged ops of acked.log; the op in flight at
//                                  the kill (an intent without acknowledgement) may or may not
//                                  have applied — as a whole;
//                                - every object reads back whole (md5 = logged md5, etag as
//                                  logged), also after CollectGarbage(0).
//                               It then records how the in-flight op resolved (its
//                               acknowledgement, or "F") so the next round replays correctly.
//                               Exit 0 when consistent, 1 (with the differences) otherwise.
//
// Op lines:  P <key> <size> <md5> <etag>     put (or completed multipart) of new content
//            R <from> <to>                   rename
//            C <src> <dst>                   copy
//            D <key>                         delete
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/testutil.h"
#include "s3xfs/blockstore/embedded.h"
#include "s3xfs/core/object_store.h"

namespace s3xfs {
namespace {

constexpr const char* kBucket = "crash";
constexpr uint64_t kMinPart = 300000;

std::string Md5Hex(ByteView b) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(b.data(), b.size(), d, &n, EVP_md5(), nullptr);
  return HexEncode(ByteView(d, n));
}
Bytes Md5Raw(ByteView b) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(b.data(), b.size(), d, &n, EVP_md5(), nullptr);
  return Bytes(d, d + n);
}

[[noreturn]] void Die(const std::string& msg) {
  std::cerr << "crash_worker: " << msg << std::endl;
  std::exit(2);
}

struct Opened {
  std::unique_ptr<BlockStore> blocks;
  std::unique_ptr<ObjectStore> store;
};

Opened OpenAll(const std::string& dir) {
  Opened o;
  auto b = OpenEmbeddedStore(dir + "/blocks", EmbeddedOptions{});  // sync_each_put = true
  if (!b.ok()) Die("open block store: " + b.status().ToString());
  o.blocks = std::move(b).value();
  ObjectStoreOptions opt;
  opt.ledger_path = dir + "/ledger.db";
  opt.min_part_size = kMinPart;
  auto s = ObjectStore::Open(opt, o.blocks.get());
  if (!s.ok()) Die("open object store: " + s.status().ToString());
  o.store = std::move(s).value();
  return o;
}

class Log {
 public:
  explicit Log(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) Die("open " + path);
  }
  ~Log() { ::close(fd_); }
  void Line(const std::string& s) {
    std::string l = s + "\n";
    if (::write(fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) Die("write log");
    if (::fsync(fd_) != 0) Die("fsync log");
  }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------- run

int Run(const std::string& dir, uint64_t seed) {
  Opened o = OpenAll(dir);
  ObjectStore& st = *o.store;
  Status cb = st.CreateBucket(kBucket);
  if (!cb.ok() && cb.reason() != Status::Reason::kBucketAlreadyOwnedByYou)
    Die("CreateBucket: " + cb.ToString());
  Log log(dir + "/acked.log");
  std::mt19937_64 rng(seed);
  auto U = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  static const char* kKeys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7",
                                "d/k0", "d/k1", "d/k2", "d/e/k3", "d/e/k4", "x/y"};
  constexpr int kNumKeys = sizeof kKeys / sizeof kKeys[0];
  auto key = [&] { return std::string(kKeys[U(0, kNumKeys - 1)]); };
  for (uint64_t i = 0;; ++i) {
    const uint64_t r = U(0, 99);
    if (r < 55) {  // put (new key or overwrite)
      std::string k = key();
      uint64_t size = U(0, 3) == 0 ? U(0, 2000) : U(0, 700000);
      Bytes d = testing::ChaCha("crash/" + std::to_string(seed) + "/" + std::to_string(i), size);
      std::string md5 = Md5Hex(d);
      std::string op = "P " + k + " " + std::to_string(size) + " " + md5 + " " + md5;
      log.Line("? " + op);
      auto res = st.Put(kBucket, k, d);
      if (!res.ok()) Die("Put " + k + ": " + res.status().ToString());
      if (res->etag != md5) Die("Put " + k + ": etag " + res->etag + " != " + md5);
      log.Line(op);
    } else if (r < 60) {  // multipart
      std::string k = key();
      Bytes p1 = testing::ChaCha("crash-mp1/" + std::to_string(seed) + "/" + std::to_string(i),
                                 kMinPart + U(0, 300000));
      Bytes p2 = testing::ChaCha("crash-mp2/" + std::to_string(seed) + "/" + std::to_string(i),
                                 U(0, 200000));
      Bytes all = p1;
      all.insert(all.end(), p2.begin(), p2.end());
      Bytes md5s = Md5Raw(p1);
      Bytes m2 = Md5Raw(p2);
      md5s.insert(md5s.end(), m2.begin(), m2.end());
      std::string op = "P " + k + " " + std::to_string(all.size()) + " " + Md5Hex(all) + " " +
                       Md5Hex(md5s) + "-2";
      log.Line("? " + op);
      auto up = st.CreateMultipart(kBucket, k, {});
      if (!up.ok()) Die("CreateMultipart: " + up.status().ToString());
      auto r1 = st.UploadPart(*up, 1, p1);
      auto r2 = st.UploadPart(*up, 2, p2);
      if (!r1.ok() || !r2.ok()) Die("UploadPart failed");
      auto done = st.CompleteMultipart(*up, {{1, r1->etag}, {2, r2->etag}});
      if (!done.ok()) Die("CompleteMultipart: " + done.status().ToString());
      log.Line(op);
    } else if (r < 78) {  // rename
      std::string from = key(), to = key();
      if (from == to) continue;
      std::string op = "R " + from + " " + to;
      log.Line("? " + op);
      Status s = st.Rename(kBucket, from, to);
      if (s.ok()) {
        log.Line(op);
      } else if (s.reason() == Status::Reason::kNoSuchKey) {
        log.Line("F");
      } else {
        Die("Rename " + from + " " + to + ": " + s.ToString());
      }
    } else if (r < 88) {  // copy
      std::string from = key(), to = key();
      if (from == to) continue;
      std::string op = "C " + from + " " + to;
      log.Line("? " + op);
      auto s = st.Copy(kBucket, from, kBucket, to, CopyOptions{});
      if (s.ok()) {
        log.Line(op);
      } else if (s.status().reason() == Status::Reason::kNoSuchKey) {
        log.Line("F");
      } else {
        Die("Copy " + from + " " + to + ": " + s.status().ToString());
      }
    } else {  // delete
      std::string k = key();
      std::string op = "D " + k;
      log.Line("? " + op);
      Status s = st.Delete(kBucket, k);
      if (!s.ok()) Die("Delete " + k + ": " + s.ToString());
      log.Line(op);
    }
  }
}

// ------------------------------------------------------------------------------------- verify

struct Obj {
  uint64_t size = 0;
  std::string md5, etag;
  bool operator==(const Obj&) const = default;
};
using State = std::map<std::string, Obj>;

// Applies one op line (without the "? "); false if malformed.
bool Apply(State& s, const std::string& line) {
  std::istringstream in(line);
  std::string t;
  in >> t;
  if (t == "P") {
    std::string k;
    Obj o;
    if (!(in >> k >> o.size >> o.md5 >> o.etag)) return false;
    s[k] = o;
  } else if (t == "R") {
    std::string a, b;
    if (!(in >> a >> b)) return false;
    auto it = s.find(a);
    if (it == s.end()) return true;  // cannot happen for an acknowledged rename
    Obj o = it->second;
    s.erase(it);
    s[b] = o;
  } else if (t == "C") {
    std::string a, b;
    if (!(in >> a >> b)) return false;
    auto it = s.find(a);
    if (it != s.end()) s[b] = it->second;
  } else if (t == "D") {
    std::string k;
    if (!(in >> k)) return false;
    s.erase(k);
  } else {
    return false;
  }
  return true;
}

std::string Show(const State& s) {
  std::string out;
  for (auto& [k, o] : s) out += "  " + k + " size=" + std::to_string(o.size) + " md5=" + o.md5 + " etag=" + o.etag + "\n";
  return out.empty() ? "  (empty)\n" : out;
}

// What the store holds, read back in full. Errors are reported in *err.
State Observe(ObjectStore& st, std::string* err) {
  State s;
  ListOptions lo;
  for (;;) {
    auto l = st.List(kBucket, lo);
    if (!l.ok()) {
      *err += "List: " + l.status().ToString() + "\n";
      return s;
    }
    for (const ObjectInfo& i : l->objects) {
      auto g = st.Get(kBucket, i.key);
      if (!g.ok()) {
        *err += "Get " + i.key + ": " + g.status().ToString() + "\n";
        continue;
      }
      if (g->size() != i.size) *err += "Get " + i.key + ": size differs from listing\n";
      s[i.key] = Obj{g->size(), Md5Hex(*g), i.etag};
    }
    if (!l->truncated) break;
    lo.start_after = l->next_marker;
  }
  return s;
}

std::string FsckProblems(const FsckReport& r, bool orphans_too) {
  std::string e;
  for (auto& x : r.missing_blocks) e += "  missing block " + x + "\n";
  for (auto& x : r.wrong_refcounts) e += "  wrong refcount " + x + "\n";
  for (auto& x : r.other) e += "  other: " + x + "\n";
  if (orphans_too)
    for (auto& x : r.orphan_blocks) e += "  orphan block " + x + "\n";
  return e;
}

int Verify(const std::string& dir) {
  Opened o = OpenAll(dir);
  ObjectStore& st = *o.store;
  int rc = 0;
  auto problem = [&](const std::string& m) {
    std::cerr << "verify: " << m << std::endl;
    rc = 1;
  };

  // 1. Block accounting.
  auto f = st.Fsck(false);
  if (!f.ok()) Die("Fsck: " + f.status().ToString());
  if (auto e = FsckProblems(*f, false); !e.empty()) problem("Fsck(false) after the crash:\n" + e);
  std::cout << "verify: fsck: " << f->orphan_blocks.size() << " orphan block(s) (expected after a "
            << "kill mid-write)" << std::endl;
  auto fr = st.Fsck(true);
  if (!fr.ok()) Die("Fsck(repair): " + fr.status().ToString());
  auto f2 = st.Fsck(false);
  if (!f2.ok()) Die("Fsck: " + f2.status().ToString());
  if (!f2->clean()) problem("Fsck(false) after Fsck(true) is not clean:\n" + FsckProblems(*f2, true));

  // 2. Replay the log.
  std::ifstream in(dir + "/acked.log");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  State state;
  std::optional<std::string> pending;
  size_t acked = 0, lines = 0;
  size_t pos = 0;
  for (;;) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn last line is ignored
    std::string line = content.substr(pos, nl - pos);
    pos = nl + 1;
    ++lines;
    if (line.rfind("? ", 0) == 0) {
      pending = line.substr(2);
    } else if (line == "F") {
      pending.reset();
    } else {
      if (!Apply(state, line)) Die("malformed log line: " + line);
      ++acked;
      pending.reset();
    }
  }
  // Drop a torn last line so the log ends on a line boundary for the next round.
  if (pos < content.size() && ::truncate((dir + "/acked.log").c_str(), static_cast<off_t>(pos)) != 0)
    Die("truncate acked.log");

  // 3. Compare.
  std::string err;
  State seen = Observe(st, &err);
  if (!err.empty()) problem("reading the objects back:\n" + err);
  State with = state;
  if (pending) Apply(with, *pending);
  Log log(dir + "/acked.log");
  if (seen == state) {
    if (pending) log.Line("F");  // the in-flight op did not apply
    std::cout << "verify: state = acknowledged ops" << (pending ? " (in-flight op not applied: " + *pending + ")" : "") << std::endl;
  } else if (pending && seen == with) {
    log.Line(*pending);  // it applied: acknowledge it now
    std::cout << "verify: state = acknowledged ops + in-flight op " << *pending << std::endl;
  } else {
    std::string m = "store does not match the acknowledged ops (" + std::to_string(acked) +
                    " acked in " + std::to_string(lines) + " lines)\nexpected:\n" + Show(state);
    if (pending) m += "or, with the in-flight op \"" + *pending + "\":\n" + Show(with);
    m += "store holds:\n" + Show(seen);
    problem(m);
  }

  // 4. GC right after a crash never deletes referenced data.
  auto gc = st.CollectGarbage(std::chrono::milliseconds(0));
  if (!gc.ok()) problem("CollectGarbage: " + gc.status().ToString());
  std::string err2;
  State again = Observe(st, &err2);
  if (!err2.empty() || !(again == seen)) problem("after CollectGarbage(0):\n" + err2 + Show(again));
  auto f3 = st.Fsck(false);
  if (!f3.ok() || !f3->clean()) problem("Fsck(false) after GC is not clean");
  std::cout << "verify: " << seen.size() << " objects, " << acked << " acknowledged ops so far"
            << (rc ? " -- FAILED" : " -- ok") << std::endl;
  return rc;
}

}  // namespace
}  // namespace s3xfs

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "run" && argc == 4) return s3xfs::Run(argv[2], std::strtoull(argv[3], nullptr, 0));
  if (mode == "verify" && argc == 3) return s3xfs::Verify(argv[2]);
  std::cerr << "usage: crash_worker run DIR SEED | crash_worker verify DIR" << std::endl;
  return 2;
}
