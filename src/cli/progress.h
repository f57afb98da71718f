// A progress line for long commands (import-car, export-car, fsck, flush, large adds): bytes
// done, the rate, and the percentage when the total is known, redrawn in place on stderr at
// most every 100 ms — only when stderr is a terminal; otherwise it prints nothing at all, so
// scripts and logs see no progress noise.
//
//   Progress p("import-car", file_size);   // total 0: unknown
//   for (...) p.Add(n);
//   p.Finish();                             // final line, then a newline
//
// Destroying an unfinished Progress erases its line (an error message follows on a clean line).
// Thread-safety: none; use one Progress from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace s3xfs::cli {

struct ProgressOptions {
  int fd = 2;
  // Draw or not; default: when fd is a terminal.
  std::optional<bool> enabled;
  std::chrono::milliseconds interval{100};  // least time between two redraws
  // Clock (tests inject one).
  std::function<std::chrono::steady_clock::time_point()> now;
};

class Progress {
 public:
  explicit Progress(std::string label, uint64_t total = 0, ProgressOptions options = {});
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }
  void Add(uint64_t n) { Set(done_ + n); }
  void Set(uint64_t done);
  void SetTotal(uint64_t total);
  // A new phase: the label changes, the count and the rate start again.
  void Restart(std::string label, uint64_t total);
  // Draws the final state and ends the line.
  void Finish();

 private:
  std::chrono::steady_clock::time_point Now() const;
  void Draw(bool force);

  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  ProgressOptions opt_;
  bool enabled_;
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "0 B", "1023 B", "1.0 KiB", "12.3 MiB", ... (IEC units, one decimal above bytes).
std::string FormatBytes(uint64_t n);
// The line Progress draws (without the leading "\r" and trailing erase), e.g.
// "import-car  12.3 MiB / 1.0 GiB  1%  45.6 MiB/s". elapsed_s <= 0: no rate yet.
std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total, double elapsed_s);

}  // namespace s3xfs::cli
