// Benchmark: does listing cost depend on bucket size? Two buckets (each with its own ledger and
// embedded block store): SMALL with 1,000 keys and LARGE with up to 1,000,000 keys, laid out as
// directories of 1,000 files ("dNNNN/fNNNN"), populated through ObjectStore::Put with empty
// objects. Then, in each, timed (median of S3XFS_BENCH_RUNS):
//   - one 1000-key page without delimiter, starting in the middle of the key space (start_after);
//   - one 1000-key page with delimiter "/" (prefix = a directory in the middle);
//   - (LARGE only, informational) a page of common prefixes: prefix "", delimiter "/";
//   - a small Put (1 KiB, new key in the middle directory).
// Prints the LARGE/SMALL ratios (target for a page list: <= 2). Always exits 0 unless something
// fails outright.
//
// Env: S3XFS_BENCH_LARGE_KEYS (default 1000000), S3XFS_BENCH_POPULATE_SECONDS (default 180: if
//      populating takes longer, stop at the end of the current directory and say so),
//      S3XFS_BENCH_THREADS (populating threads, default 2), S3XFS_BENCH_RUNS (default 9),
//      S3XFS_BENCH_DIR (keep the stores there and reuse a populated LARGE store next time;
//      default: a temporary directory, removed).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "s3xfs/blockstore/embedded.h"
#include "s3xfs/core/object_store.h"

namespace s3xfs {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kBucket = "bench";
constexpr uint64_t kPerDir = 1000;

uint64_t EnvU64(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : def;
}
double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Die(const std::string& m) {
  std::cerr << "list_bench: " << m << std::endl;
  std::exit(1);
}

std::string Key(uint64_t dir, uint64_t file) {
  char b[32];
  std::snprintf(b, sizeof b, "d%04llu/f%04llu", static_cast<unsigned long long>(dir),
                static_cast<unsigned long long>(file));
  return b;
}
std::string Dir(uint64_t dir) {
  char b[16];
  std::snprintf(b, sizeof b, "d%04llu/", static_cast<unsigned long long>(dir));
  return b;
}

struct Store {
  std::string path;
  std::unique_ptr<BlockStore> blocks;
  std::unique_ptr<ObjectStore> os;
  uint64_t dirs = 0;  // populated directories of kPerDir keys

  void Open() {
    auto b = OpenEmbeddedStore(path + "/blocks", EmbeddedOptions{});
    if (!b.ok()) Die(b.status().ToString());
    blocks = std::move(b).value();
    ObjectStoreOptions o;
    o.ledger_path = path + "/ledger.db";
    auto s = ObjectStore::Open(o, blocks.get());
    if (!s.ok()) Die(s.status().ToString());
    os = std::move(s).value();
    Status st = os->CreateBucket(kBucket);
    if (!st.ok() && st.reason() != Status::Reason::kBucketAlreadyOwnedByYou) Die(st.ToString());
  }

  // Puts empty objects, directory by directory, until `want_dirs` or the time budget.
  void Populate(uint64_t want_dirs, double budget_s, unsigned threads, const char* name) {
    std::ifstream done(path + "/populated");
    if (done >> dirs && dirs >= want_dirs) {
      std::cout << name << ": reusing " << dirs * kPerDir << " keys in " << path << std::endl;
      return;
    }
    dirs = 0;
    const auto t0 = Clock::now();
    std::atomic<uint64_t> next_dir{0}, keys{0};
    std::atomic<unsigned> finished{0};
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        // A thread checks the budget only between directories, so every claimed directory is
        // complete: the populated keys are exactly directories 0 .. claimed-1.
        for (;;) {
          if (Secs(Clock::now() - t0) > budget_s) break;
          uint64_t d = next_dir++;
          if (d >= want_dirs) break;
          // Populating uses relaxed commits (one WAL fsync per checkpoint, not per key); the
          // measured puts below stay durable, at both sizes.
          s3xfs::PutOptions relaxed;
          relaxed.durability = s3xfs::Durability::kRelaxed;
          for (uint64_t f = 0; f < kPerDir; ++f) {
            auto r = os->Put(kBucket, Key(d, f), ByteView{}, relaxed);
            if (!r.ok()) Die("Put: " + r.status().ToString());
            ++keys;
          }
        }
        ++finished;
      });
    }
    double last = 0;
    while (finished < threads) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      double el = Secs(Clock::now() - t0);
      if (el - last >= 10) {
        last = el;
        uint64_t k = keys.load();
        std::cout << name << ": " << k << " keys in " << static_cast<int>(el) << " s ("
                  << static_cast<uint64_t>(k / el) << " puts/s)" << std::endl;
      }
    }
    for (auto& t : ts) t.join();
    const double el = Secs(Clock::now() - t0);
    const uint64_t k = keys.load();
    dirs = k / kPerDir;
    std::cout << name << ": populated " << k << " empty objects in " << el << " s = "
              << static_cast<uint64_t>(k / std::max(el, 1e-9)) << " ObjectStore::Put/s with "
              << threads << " thread(s)" << std::endl;
    if (dirs < want_dirs) {
      std::cout << name << ": NOTE: populating " << want_dirs * kPerDir << " keys would take ~"
                << static_cast<uint64_t>(want_dirs * kPerDir / std::max(k / el, 1e-9))
                << " s (> budget " << budget_s << " s); measuring with " << dirs * kPerDir
                << " keys instead" << std::endl;
    }
    std::ofstream(path + "/populated") << dirs << "\n";
  }
};

template <typename F>
double Median(int runs, F&& f) {
  std::vector<double> t;
  f();  // warm-up
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(Secs(Clock::now() - t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Timings {
  double page = 0, page_delim = 0, cp_page = 0, put = 0;
  size_t cp_entries = 0;
};

Timings Measure(Store& s, int runs, bool cps) {
  Timings out;
  const uint64_t mid = s.dirs / 2;
  // Page without delimiter, starting in the middle of the key space.
  ListOptions lo;
  lo.start_after = s.dirs > 1 ? Key(mid - 1, kPerDir / 2) : "";
  lo.max_keys = 1000;
  out.page = Median(runs, [&] {
    auto r = s.os->List(kBucket, lo);
    if (!r.ok() || r->objects.size() != 1000) Die("page list returned too few keys");
  });
  // Page with delimiter: the middle directory's 1000 files.
  ListOptions ld;
  ld.prefix = Dir(mid);
  ld.delimiter = "/";
  ld.max_keys = 1000;
  out.page_delim = Median(runs, [&] {
    auto r = s.os->List(kBucket, ld);
    if (!r.ok() || r->objects.size() != 1000) Die("delimited list returned too few keys");
  });
  if (cps) {
    ListOptions lc;
    lc.delimiter = "/";
    lc.start_after = Dir(s.dirs / 4);
    lc.max_keys = 1000;
    out.cp_page = Median(runs, [&] {
      auto r = s.os->List(kBucket, lc);
      if (!r.ok()) Die("cp list failed");
      out.cp_entries = r->common_prefixes.size();
    });
  }
  // Small put into the middle directory.
  std::vector<uint8_t> kib(1024, 'x');
  int n = 0;
  out.put = Median(runs * 3, [&] {
    auto r = s.os->Put(kBucket, Dir(mid) + "new-" + std::to_string(n++), kib);
    if (!r.ok()) Die("put failed: " + r.status().ToString());
  });
  return out;
}

int Main() {
  const uint64_t large_keys = EnvU64("S3XFS_BENCH_LARGE_KEYS", 1000000);
  const double budget = static_cast<double>(EnvU64("S3XFS_BENCH_POPULATE_SECONDS", 180));
  const unsigned threads = static_cast<unsigned>(EnvU64("S3XFS_BENCH_THREADS", 2));
  const int runs = static_cast<int>(EnvU64("S3XFS_BENCH_RUNS", 9));
  std::string base;
  bool temp = false;
  if (const char* d = std::getenv("S3XFS_BENCH_DIR"); d && *d) {
    base = d;
  } else {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/s3xfs-list-bench-XXXXXX";
    if (!::mkdtemp(tmpl.data())) Die("mkdtemp");
    base = tmpl;
    temp = true;
  }
  std::filesystem::create_directories(base + "/small");
  std::filesystem::create_directories(base + "/large");
  Store small, large;
  small.path = base + "/small";
  large.path = base + "/large";
  small.Open();
  large.Open();
  small.Populate(1, 1e9, 1, "small");
  large.Populate(std::max<uint64_t>(large_keys / kPerDir, 2), budget, threads, "large");
  if (large.dirs < 2) Die("too few keys populated to measure");

  Timings s = Measure(small, runs, false);
  Timings l = Measure(large, runs, true);
  const uint64_t lk = large.dirs * kPerDir;
  auto ms = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%8.3f ms", x * 1e3);
    return std::string(b);
  };
  auto verdict = [](double r) { return r <= 2.0 ? "PASS" : "ABOVE TARGET"; };
  std::printf("\nlist_bench: small = %d keys, large = %llu keys%s; median of %d runs\n", 1000,
              static_cast<unsigned long long>(lk), lk < large_keys ? " (REDUCED, see NOTE above)" : "",
              runs);
  std::printf("  %-44s %s  %s  ratio %.2f  %s\n", "1000-key page, no delimiter, mid start_after:",
              ms(s.page).c_str(), ms(l.page).c_str(), l.page / s.page, verdict(l.page / s.page));
  std::printf("  %-44s %s  %s  ratio %.2f  %s\n", "1000-key page, delimiter '/', mid directory:",
              ms(s.page_delim).c_str(), ms(l.page_delim).c_str(), l.page_delim / s.page_delim,
              verdict(l.page_delim / s.page_delim));
  std::printf("  %-44s %s  %s  ratio %.2f  (target <= 2: %s)\n", "small put (1 KiB, new key):",
              ms(s.put).c_str(), ms(l.put).c_str(), l.put / s.put, verdict(l.put / s.put));
  std::printf("  %-44s %11s  %s  (%zu prefixes, %.1f us each)\n",
              "common-prefix page (large only):", "-", ms(l.cp_page).c_str(), l.cp_entries,
              l.cp_entries ? l.cp_page * 1e6 / l.cp_entries : 0.0);
  small.os.reset();
  large.os.reset();
  if (temp) std::filesystem::remove_all(base);
  return 0;
}

}  // namespace
}  // namespace s3xfs

int main() { return s3xfs::Main(); }
