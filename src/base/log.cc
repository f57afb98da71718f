// The only file that includes spdlog.
#include "s3xfs/base/log.h"

#include <syslog.h>

#include <cstdio>
#include <mutex>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/syslog_sink.h>

namespace s3xfs::log {

namespace internal {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
}  // namespace internal

namespace {

constexpr const char* kFilePattern = "%Y-%m-%dT%H:%M:%S.%e%z s3xfs[%P] %l: %v";

// "s3xfs: MESSAGE", with the level named unless it is info.
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string line = "s3xfs: ";
    if (msg.level != spdlog::level::info) {
      line += LevelName(FromSpd(msg.level));
      line += ": ";
    }
    line.append(msg.payload.data(), msg.payload.size());
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  static Level FromSpd(spdlog::level::level_enum l) {
    switch (l) {
      case spdlog::level::trace: return Level::kTrace;
      case spdlog::level::debug: return Level::kDebug;
      case spdlog::level::info: return Level::kInfo;
      case spdlog::level::warn: return Level::kWarning;
      default: return Level::kError;
    }
  }
};

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarning: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

struct State {
  std::mutex mu;  // Init/Detached (the dist sink itself is thread-safe for writers)
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist;
  std::shared_ptr<spdlog::logger> logger;
  bool to_file = false;  // GUARDED_BY(mu)
};

State& Get() {
  // Never destroyed: threads may log during static destruction.
  static State* s = [] {
    auto* st = new State;
    st->dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
    st->dist->add_sink(std::make_shared<StderrSink>());
    st->logger = std::make_shared<spdlog::logger>("s3xfs", st->dist);
    st->logger->set_level(spdlog::level::trace);  // Enabled() filters
    st->logger->flush_on(spdlog::level::trace);   // a daemon's lines are few; lose none
    return st;
  }();
  return *s;
}

}  // namespace

Result<Level> ParseLevel(std::string_view t) {
  if (t == "trace") return Level::kTrace;
  if (t == "debug") return Level::kDebug;
  if (t == "info") return Level::kInfo;
  if (t == "warning" || t == "warn") return Level::kWarning;
  if (t == "error") return Level::kError;
  if (t == "off") return Level::kOff;
  return Status::InvalidArgument("log level must be trace, debug, info, warning, error or off, not \"" +
                                 std::string(t) + "\"");
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kTrace: return "trace";
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
    case Level::kOff: return "off";
  }
  return "info";
}

Status Init(const Options& o) {
  State& s = Get();
  std::lock_guard l(s.mu);
  if (!o.file.empty()) {
    std::shared_ptr<spdlog::sinks::sink> file;
    try {
      file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(o.file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      return Status::IOError("cannot open log file " + o.file + ": " + e.what());
    }
    file->set_pattern(kFilePattern);
    s.dist->set_sinks({file});
    s.to_file = true;
  } else {
    s.dist->set_sinks({std::make_shared<StderrSink>()});
    s.to_file = false;
  }
  internal::g_level.store(static_cast<int>(o.level), std::memory_order_relaxed);
  return Status::OK();
}

void Detached() {
  State& s = Get();
  std::lock_guard l(s.mu);
  if (s.to_file) return;
  auto sys = std::make_shared<spdlog::sinks::syslog_sink_mt>("s3xfs", LOG_PID, LOG_DAEMON,
                                                             /*enable_formatting=*/false);
  s.dist->set_sinks({sys});
}

void Flush() { Get().logger->flush(); }

void Write(Level level, std::string_view message) {
  if (!Enabled(level)) return;
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  std::string escaped;
  if (message.find('\n') != std::string_view::npos) {
    for (char c : message) {
      if (c == '\n') escaped += "\\n";
      else escaped += c;
    }
    message = escaped;
  }
  Get().logger->log(ToSpd(level), spdlog::string_view_t(message.data(), message.size()));
}

}  // namespace s3xfs::log
