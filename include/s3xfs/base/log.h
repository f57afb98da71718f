// Logging for the daemons (mount, serve, node): levels, and one sink chosen at start-up — the
// terminal (stderr), a file, or syslog (which journald collects). spdlog does the writing; only
// src/base/log.cc includes it.
//
//   S3XFS_LOG(kInfo) << "S3 listening on http://" << address;
//   S3XFS_LOG(kWarning) << "remote " << name << ": " << st.message();
//
// A line below the configured level costs one relaxed atomic load: its stream expression is
// not evaluated. Each line is written whole (lines from different threads never interleave).
//
// Output formats:
//   stderr  "s3xfs: MESSAGE" at info, "s3xfs: LEVEL: MESSAGE" otherwise (what the daemons
//           always printed, so scripts reading "s3xfs: S3 listening on ..." keep working);
//   file    "2025-01-31T12:00:00.123+01:00 s3xfs[PID] LEVEL: MESSAGE", flushed per line,
//           opened for appending (logrotate: use copytruncate);
//   syslog  ident "s3xfs", facility daemon, the level as the priority, LOG_PID.
// Before Init() (one-shot commands, tests) lines go to stderr at info.
//
// Thread-safety: everything may be called from any thread.
#pragma once

#include <atomic>
#include <sstream>
#include <string>
#include <string_view>

#include "s3xfs/base/status.h"

namespace s3xfs::log {

enum class Level { kTrace = 0, kDebug, kInfo, kWarning, kError, kOff };

// trace, debug, info, warning (or warn), error, off.
Result<Level> ParseLevel(std::string_view text);
std::string_view LevelName(Level level);

struct Options {
  Level level = Level::kInfo;
  // Append to this file instead of writing to stderr or syslog.
  std::string file;
};

// (Re)configures logging: level and sink (the file when given, else stderr). IOError when the
// file cannot be opened (logging is then unchanged).
Status Init(const Options& options);
// The process left its terminal (the mount daemonized; stderr is /dev/null): without a log file,
// lines go to syslog from now on.
void Detached();
// Writes what is buffered (files are flushed per line anyway).
void Flush();

namespace internal {
extern std::atomic<int> g_level;
}  // namespace internal

inline bool Enabled(Level level) {
  return static_cast<int>(level) >= internal::g_level.load(std::memory_order_relaxed) &&
         level != Level::kOff;
}
// One line (a trailing newline is dropped; embedded newlines are written as "\n" so a line
// stays a line).
void Write(Level level, std::string_view message);

// The stream behind S3XFS_LOG: collects a line and writes it when destroyed.
class Line {
 public:
  explicit Line(Level level) : level_(level) {}
  ~Line() { Write(level_, stream_.str()); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  Level level_;
  std::ostringstream stream_;
};

// Makes `cond ? (void)0 : Voidify() & stream << ...` well-typed.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace s3xfs::log

// S3XFS_LOG(kInfo) << ...; LEVEL is kTrace, kDebug, kInfo, kWarning or kError.
#define S3XFS_LOG(LEVEL)                                              \
  !::s3xfs::log::Enabled(::s3xfs::log::Level::LEVEL)                  \
      ? (void)0                                                       \
      : ::s3xfs::log::Voidify() & ::s3xfs::log::Line(::s3xfs::log::Level::LEVEL).stream()
