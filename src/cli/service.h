// What the daemons (mount, serve, node) tell a service manager: READY=1 once they serve,
// STOPPING=1 when they begin to stop, STATUS= lines, and watchdog pings while they answer
// (sd_notify.h speaks the protocol; without $NOTIFY_SOCKET nothing is sent).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "s3xfs/base/sd_notify.h"
#include "s3xfs/base/status.h"

namespace s3xfs::cli {

// Thread-safe. Destroy it before whatever `alive` uses (declare it after those objects).
class ServiceNotifier {
 public:
  // READY=1 with STATUS=status, then watchdog pings (when $WATCHDOG_USEC asks for them) while
  // alive() is OK (empty: always). Only the first call does anything.
  void Ready(const std::string& status, std::function<Status()> alive);
  // STOPPING=1 with STATUS=status; stops the pings (the manager stops the watchdog too).
  void Stopping(const std::string& status);

 private:
  void Send(const std::string& state);

  std::mutex mu_;
  bool ready_ = false;                      // GUARDED_BY(mu_)
  std::unique_ptr<sd::Watchdog> watchdog_;  // GUARDED_BY(mu_)
};

}  // namespace s3xfs::cli
