// The metrics registry and its text exposition (format 0.0.4), and the log wrapper.
#include "s3xfs/base/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "s3xfs/base/log.h"

namespace s3xfs::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The sample lines of `text` for `name` (prefix match up to '{' or ' ').
std::vector<std::string> Samples(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) == 0 && line.size() > name.size() &&
        (line[name.size()] == '{' || line[name.size()] == ' '))
      out.push_back(line);
  }
  return out;
}

TEST(Metrics, RendersCountersGaugesAndHelp) {
  Registry r;
  auto& req = r.Counters("t_requests_total", "Requests served.", {"op", "code"});
  req.With({"Get", "200"}).Inc(3);
  req.With({"Put", "403"}).Inc();
  req.With({"Get", "200"}).Inc();
  r.Gauges("t_dirty_bytes", "Bytes not yet flushed.").With({}).Set(1.5);
  r.Gauges("t_empty", "No series yet.", {"x"});
  EXPECT_EQ(r.Render(),
            "# HELP t_dirty_bytes Bytes not yet flushed.\n"
            "# TYPE t_dirty_bytes gauge\n"
            "t_dirty_bytes 1.5\n"
            "# HELP t_empty No series yet.\n"
            "# TYPE t_empty gauge\n"
            "# HELP t_requests_total Requests served.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{op=\"Get\",code=\"200\"} 4\n"
            "t_requests_total{op=\"Put\",code=\"403\"} 1\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry r;
  r.Counters("t_esc_total", "Back\\slash and\nnewline; \"quotes\" stay.", {"v"})
      .With({"a\\b\"c\nd"})
      .Inc();
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# HELP t_esc_total Back\\\\slash and\\nnewline; \"quotes\" stay.\n"));
  EXPECT_THAT(text, HasSubstr("t_esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"));
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeHelp("a\"b"), "a\"b");
}

TEST(Metrics, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  // Large values in exponent form, as Go's client prints them; always exact.
  EXPECT_EQ(FormatValue(1073741824), "1.073741824e+09");
  EXPECT_EQ(std::stod(FormatValue(1795532481.4014308)), 1795532481.4014308);
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatValue(1e21)), 1e21);
  EXPECT_EQ(std::stod(FormatValue(1.0 / 3)), 1.0 / 3);  // round-trips
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  Registry r;
  static const std::vector<double> bounds = {0.5, 1, 2};
  auto& h = r.Histograms("t_latency_seconds", "Latency.", {"op"}, bounds).With({"Get"});
  for (double v : {0.1, 0.5, 0.75, 1.0, 2.0, 3.0, 100.0}) h.Observe(v);
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_DOUBLE_EQ(s.sum, 107.35);
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE t_latency_seconds histogram\n"
                              "t_latency_seconds_bucket{op=\"Get\",le=\"0.5\"} 2\n"
                              "t_latency_seconds_bucket{op=\"Get\",le=\"1\"} 4\n"
                              "t_latency_seconds_bucket{op=\"Get\",le=\"2\"} 5\n"
                              "t_latency_seconds_bucket{op=\"Get\",le=\"+Inf\"} 7\n"
                              "t_latency_seconds_sum{op=\"Get\"} 107.35\n"
                              "t_latency_seconds_count{op=\"Get\"} 7\n"));
  // Without labels: only le.
  r.Histograms("t_plain_seconds", "Plain.", {}, bounds).With({}).Observe(0.2);
  EXPECT_THAT(r.Render(), HasSubstr("t_plain_seconds_bucket{le=\"0.5\"} 1\n"));
}

TEST(Metrics, SameNameSameFamily) {
  Registry r;
  auto& a = r.Counters("t_same_total", "Same.", {"k"});
  auto& b = r.Counters("t_same_total", "Same.", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.With({"x"}), &b.With({"x"}));
  EXPECT_NE(&a.With({"x"}), &a.With({"y"}));
}

TEST(MetricsDeathTest, MisuseAborts) {
  Registry r;
  r.Counters("t_dup_total", "One.", {"k"});
  EXPECT_DEATH(r.Gauges("t_dup_total", "One.", {"k"}), "registered twice");
  EXPECT_DEATH(r.Counters("t_dup_total", "One.", {"other"}), "registered twice");
  EXPECT_DEATH(r.Counters("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(r.Counters("t_x_total", "x", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(r.Histograms("t_h", "x", {"le"}), "invalid label name");
  EXPECT_DEATH(r.Counters("t_dup_total", "One.", {"k"}).With({"a", "b"}), "2 label values for 1");
  static const std::vector<double> bad = {1, 1};
  EXPECT_DEATH(r.Histograms("t_h2", "x", {}, bad), "increasing");
}

TEST(Metrics, CallbacksRunAtScrapeAndGoAway) {
  Registry r;
  auto& g = r.Gauges("t_queue", "Queue length.", {"queue"});
  double v = 7;
  int collects = 0;
  {
    Registration a = r.Bind(g, {"up"}, [&] { return v; });
    Registration hook = r.OnCollect([&] {
      ++collects;
      v = 8;  // hooks run before the values are read
    });
    auto& c = r.Counters("t_done_total", "Done.");
    Registration b = r.Bind(c, {}, [] { return 42.0; });
    std::string text = r.Render();
    EXPECT_THAT(text, HasSubstr("t_queue{queue=\"up\"} 8\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE t_done_total counter\nt_done_total 42\n"));
    EXPECT_EQ(collects, 1);
    Registration moved = std::move(a);  // still registered
    EXPECT_THAT(r.Render(), HasSubstr("t_queue{queue=\"up\"} 8\n"));
    EXPECT_EQ(collects, 2);
  }
  std::string text = r.Render();
  EXPECT_THAT(text, Not(HasSubstr("t_queue{")));
  EXPECT_THAT(text, Not(HasSubstr("t_done_total 42")));
  EXPECT_EQ(collects, 2);  // the hook is gone too
}

TEST(Metrics, RemovingACallbackWaitsForTheScrape) {
  Registry r;
  auto& g = r.Gauges("t_slow", "Slow.");
  std::atomic<bool> in_callback{false}, removed{false}, saw_removed_inside{false};
  auto holder = std::make_unique<Registration>(r.Bind(g, {}, [&] {
    in_callback = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    saw_removed_inside = removed.load();
    return 1.0;
  }));
  std::thread scraper([&] { r.Render(); });
  while (!in_callback) std::this_thread::yield();
  holder.reset();  // must block until the scrape is done with the callback
  removed = true;
  scraper.join();
  EXPECT_FALSE(saw_removed_inside);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& fam = r.Counters("t_conc_total", "Concurrent.", {"t"});
  static const std::vector<double> bounds = {1, 2, 3};
  auto& hist = r.Histograms("t_conc_seconds", "Concurrent.", {}, bounds).With({});
  constexpr int kThreads = 8, kPer = 100000;
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    // Scrapes while the counts move: each rendering is cumulative and self-consistent.
    while (!stop) {
      std::string text = r.Render();
      auto lines = Samples(text, "t_conc_seconds_bucket");
      uint64_t prev = 0;
      for (const std::string& l : lines) {
        uint64_t n = std::stoull(l.substr(l.rfind(' ') + 1));
        ASSERT_GE(n, prev) << text;
        prev = n;
      }
      auto count = Samples(text, "t_conc_seconds_count");
      if (!count.empty()) {
        ASSERT_EQ(std::stoull(count[0].substr(count[0].rfind(' ') + 1)), prev);
      }
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      Counter& mine = fam.With({std::to_string(t % 2)});
      for (int i = 0; i < kPer; ++i) {
        mine.Inc();
        fam.With({"shared"}).Inc(2);
        hist.Observe(static_cast<double>(i % 4));  // 0, 1, 2, 3: one per bucket and +Inf
      }
    });
  }
  for (auto& t : ts) t.join();
  stop = true;
  scraper.join();
  EXPECT_EQ(fam.With({"0"}).Value() + fam.With({"1"}).Value(), uint64_t{kThreads} * kPer);
  EXPECT_EQ(fam.With({"shared"}).Value(), uint64_t{2} * kThreads * kPer);
  Histogram::Snapshot s = hist.Read();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kPer);
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads} * kPer / 2);  // 0 and 1
  EXPECT_DOUBLE_EQ(s.sum, 1.5 * kThreads * kPer);
}

TEST(Metrics, GlobalIsOneRegistry) { EXPECT_EQ(&Global(), &Global()); }

}  // namespace
}  // namespace s3xfs::metrics

namespace s3xfs::log {
namespace {

TEST(Log, ParsesLevels) {
  EXPECT_EQ(*ParseLevel("trace"), Level::kTrace);
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("info"), Level::kInfo);
  EXPECT_EQ(*ParseLevel("warn"), Level::kWarning);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarning);
  EXPECT_EQ(*ParseLevel("error"), Level::kError);
  EXPECT_FALSE(ParseLevel("verbose").ok());
  EXPECT_EQ(LevelName(Level::kWarning), "warning");
}

TEST(Log, WritesToAFileAtTheLevelGiven) {
  std::string path = ::testing::TempDir() + "/s3xfs-log-test." + std::to_string(::getpid());
  ::unlink(path.c_str());
  Options o;
  o.level = Level::kWarning;
  o.file = path;
  ASSERT_TRUE(Init(o).ok());
  int evaluated = 0;
  S3XFS_LOG(kInfo) << "hidden " << ++evaluated;
  S3XFS_LOG(kWarning) << "shown " << 1;
  S3XFS_LOG(kError) << "two\nlines";
  EXPECT_EQ(evaluated, 0);  // below the level: the stream expression is not evaluated
  EXPECT_FALSE(Enabled(Level::kDebug));
  EXPECT_TRUE(Enabled(Level::kError));
  ASSERT_TRUE(Init(Options{}).ok());  // back to stderr at info
  EXPECT_TRUE(Enabled(Level::kInfo));
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], ::testing::MatchesRegex(
                            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[-+][0-9:]+ s3xfs\\[[0-9]+\\] "
                            "warning: shown 1"));
  EXPECT_THAT(lines[1], ::testing::EndsWith("error: two\\nlines"));
  // A path that cannot be a file (spdlog creates missing directories, but not under a file).
  EXPECT_FALSE(Init(Options{Level::kInfo, path + "/under-a-file"}).ok());
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace s3xfs::log
