// The service manager's notification protocol (sd_notify(3), sd_watchdog_enabled(3)) spoken
// directly, without libsystemd: one datagram of newline-separated assignments ("READY=1",
// "STATUS=...", "WATCHDOG=1", "STOPPING=1", "RELOADING=1") to the AF_UNIX socket named by
// $NOTIFY_SOCKET, and the watchdog interval systemd passes in $WATCHDOG_USEC.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pvt::sd {

// Sends `state` as one datagram to $NOTIFY_SOCKET, as sd_notify(0, state) does (the variable is
// left set): a path socket ("/run/systemd/notify") or an abstract one ("@name": the name with a
// leading NUL). Never blocks (a full receive queue drops the message). False when the variable
// is unset, names no socket this understands (e.g. "vsock:"), is too long for sockaddr_un, the
// state is empty, or the send fails; systemd then simply did not hear from us.
bool notify(std::string_view state);

// The watchdog interval when systemd asked this process for keep-alive pings ("WATCHDOG=1" at
// least this often), as sd_watchdog_enabled(0, ...) reads it: $WATCHDOG_USEC set to a positive
// number, and $WATCHDOG_PID, if set, naming this process.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace pvt::sd
