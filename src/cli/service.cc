#include "service.h"

#include <iostream>

namespace s3xfs::cli {

void ServiceNotifier::Send(const std::string& state) {
  Status st = sd::Notify(state);
  if (!st.ok()) std::cerr << "s3xfs: cannot notify the service manager: " << st.message() << "\n";
}

void ServiceNotifier::Ready(const std::string& status, std::function<Status()> alive) {
  std::lock_guard<std::mutex> l(mu_);
  if (ready_) return;
  ready_ = true;
  Send("READY=1\nSTATUS=" + status);
  watchdog_ = sd::Watchdog::Start(std::move(alive));
}

void ServiceNotifier::Stopping(const std::string& status) {
  std::unique_ptr<sd::Watchdog> stopped;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopped = std::move(watchdog_);
  }
  stopped.reset();  // outside the lock: waits for a running check
  Send("STOPPING=1\nSTATUS=" + status);
}

}  // namespace s3xfs::cli
