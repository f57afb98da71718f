// The CLI's progress line (src/cli/progress.h): format, rate limit, and silence off a terminal.
#include "progress.h"

#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace s3xfs::cli {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(Progress, FormatsBytesInIecUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(12ull << 30), "12.0 GiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16.0 EiB");
}

TEST(Progress, LineShowsPercentOnlyWithATotal) {
  EXPECT_EQ(ProgressLine("import-car", 1 << 20, 4 << 20, 2.0), "import-car  1.0 MiB / 4.0 MiB  25%  512.0 KiB/s");
  EXPECT_EQ(ProgressLine("export-car", 3 << 20, 0, 1.0), "export-car  3.0 MiB  3.0 MiB/s");
  EXPECT_EQ(ProgressLine("fsck", 10, 5, 0), "fsck  10 B / 5 B  100%");  // never above 100
}

// Everything written to a pipe, with a fake clock.
class ProgressOnPipe : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::pipe2(p_, O_NONBLOCK | O_CLOEXEC), 0); }
  void TearDown() override {
    ::close(p_[0]);
    ::close(p_[1]);
  }
  ProgressOptions Opts(bool enabled) {
    ProgressOptions o;
    o.fd = p_[1];
    o.enabled = enabled;
    o.now = [this] { return now_; };
    return o;
  }
  std::string Drain() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(p_[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  static int Redraws(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\r')); }
  int p_[2];
  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
};

TEST_F(ProgressOnPipe, RedrawsAtMostTenTimesASecond) {
  {
    Progress p("add", 1000, Opts(true));
    for (int i = 0; i < 1000; ++i) {
      p.Add(1);
      now_ += 1ms;  // one second in all
    }
    std::string out = Drain();
    EXPECT_LE(Redraws(out), 11);
    EXPECT_GE(Redraws(out), 9);
    p.Finish();
    out = Drain();
    EXPECT_THAT(out, HasSubstr("add  1000 B / 1000 B  100%"));
    EXPECT_EQ(out.back(), '\n');
  }
  EXPECT_EQ(Drain(), "");  // finished: nothing erased afterwards
}

TEST_F(ProgressOnPipe, SilentWhenDisabled) {
  {
    Progress p("add", 10, Opts(false));
    EXPECT_FALSE(p.enabled());
    p.Add(5);
    p.Restart("upload", 3);
    p.Finish();
  }
  EXPECT_EQ(Drain(), "");
}

TEST_F(ProgressOnPipe, DefaultIsOffForANonTerminal) {
  ProgressOptions o;
  o.fd = p_[1];  // a pipe is not a terminal
  Progress p("add", 10, o);
  EXPECT_FALSE(p.enabled());
}

TEST_F(ProgressOnPipe, AnUnfinishedLineIsErased) {
  {
    Progress p("fsck", 0, Opts(true));
    p.Add(100);
    Drain();
  }
  EXPECT_EQ(Drain(), "\r\x1b[K");
}

}  // namespace
}  // namespace s3xfs::cli
