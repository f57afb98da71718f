// The service manager's readiness protocol (sd_notify(3)), spoken without libsystemd.
//
// A daemon that systemd starts with Type=notify (or any supervisor speaking the protocol) finds
// the address of a datagram socket in $NOTIFY_SOCKET: a filesystem path ("/run/...") or an
// abstract socket name ("@name"). Each message is one datagram of newline-separated VAR=VALUE
// assignments: READY=1, STOPPING=1, STATUS=text, WATCHDOG=1. The manager reads the sender's pid
// from the socket credentials, so messages must come from the process it started (no fork).
// Without $NOTIFY_SOCKET every call is a no-op: daemons call these unconditionally.
//
// Thread-safety: every function and every Watchdog method may be called from any thread. Nothing
// here changes the environment.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "s3xfs/base/status.h"

namespace s3xfs::sd {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") as one datagram to $NOTIFY_SOCKET. OK and
// nothing sent when the variable is unset or empty; InvalidArgument for an address that is
// neither a path nor "@name" (e.g. systemd's vsock: form, not supported); IOError when the
// send fails.
Status Notify(std::string_view state);

// The watchdog interval the manager asks for: $WATCHDOG_USEC when it is a positive number and
// $WATCHDOG_PID is unset or this process's pid; zero (no watchdog) otherwise.
std::chrono::microseconds WatchdogInterval();

// Sends WATCHDOG=1 every half interval while the daemon answers. Before each ping it runs
// `alive` (on its own thread, with the stop signals blocked so they reach the main thread):
// OK -> ping; an error -> no ping, and one line on stderr (the journal) per run of failures (the
// manager kills and restarts the daemon once a whole interval passes without a ping); a check
// that hangs stops the pings too, which is the point. The first ping is sent at once.
class Watchdog {
 public:
  // Null when WatchdogInterval() is zero. `alive` may be empty (always alive); it must stay
  // callable until the Watchdog is destroyed.
  static std::unique_ptr<Watchdog> Start(std::function<Status()> alive);
  // Stops pinging; waits for a running `alive` to return.
  virtual ~Watchdog() = default;

 protected:
  Watchdog() = default;
};

}  // namespace s3xfs::sd
