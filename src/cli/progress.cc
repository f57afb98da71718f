#include "progress.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iterator>

namespace s3xfs::cli {

std::string FormatBytes(uint64_t n) {
  if (n < 1024) return std::to_string(n) + " B";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total,
                         double elapsed_s) {
  std::string line = label + "  " + FormatBytes(done);
  if (total > 0) {
    line += " / " + FormatBytes(total);
    uint64_t pct = done >= total ? 100 : done * 100 / total;
    line += "  " + std::to_string(pct) + "%";
  }
  if (elapsed_s > 0)
    line += "  " + FormatBytes(static_cast<uint64_t>(static_cast<double>(done) / elapsed_s)) + "/s";
  return line;
}

Progress::Progress(std::string label, uint64_t total, ProgressOptions options)
    : label_(std::move(label)), total_(total), opt_(std::move(options)) {
  enabled_ = opt_.enabled.value_or(::isatty(opt_.fd) == 1);
  start_ = Now();
}

Progress::~Progress() {
  if (enabled_ && drawn_ && !finished_) {
    static const char kErase[] = "\r\x1b[K";
    while (::write(opt_.fd, kErase, sizeof kErase - 1) < 0 && errno == EINTR) {
    }
  }
}

std::chrono::steady_clock::time_point Progress::Now() const {
  return opt_.now ? opt_.now() : std::chrono::steady_clock::now();
}

void Progress::Set(uint64_t done) {
  done_ = done;
  Draw(false);
}

void Progress::SetTotal(uint64_t total) {
  total_ = total;
  Draw(false);
}

void Progress::Restart(std::string label, uint64_t total) {
  label_ = std::move(label);
  total_ = total;
  done_ = 0;
  start_ = Now();
  Draw(true);
}

void Progress::Finish() {
  if (finished_) return;
  Draw(true);
  finished_ = true;
  if (enabled_) {
    while (::write(opt_.fd, "\n", 1) < 0 && errno == EINTR) {
    }
  }
}

void Progress::Draw(bool force) {
  if (!enabled_ || finished_) return;
  auto now = Now();
  if (!force && drawn_ && now - last_draw_ < opt_.interval) return;
  last_draw_ = now;
  drawn_ = true;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  // No rate in the first moments: it would be noise.
  std::string line = "\r" + ProgressLine(label_, done_, total_, elapsed >= 0.2 ? elapsed : 0) +
                     "\x1b[K";
  // Best effort: a failing terminal must not fail the command.
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(opt_.fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace s3xfs::cli
