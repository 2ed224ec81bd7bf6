// The end-to-end probe (issue 4, "Relay"): an HTTP request sent into a direct-tcpip channel to
// the forwarded address on the VPS, which the VPS's sshd hands back to us through our own remote
// forward, so the answer proves VPS -> tunnel -> local target in one round trip.
#pragma once

#include <libssh2.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pvt::tunnel {

// The request: HTTP/1.0 with Connection: close, so the target ends the exchange.
std::string probe_request(std::string_view path, std::string_view host);

// The status code of an HTTP status line ("HTTP/1.1 200 OK"); nullopt if it is not one.
std::optional<int> parse_status_line(std::string_view line);

struct ProbeOutcome {
  bool ok = false;
  std::chrono::milliseconds latency{0};
  std::string message;  // "HTTP 200", or what failed
};

// One probe exchange on an open channel. The channel stays the caller's to free.
class HttpProbe {
 public:
  using Clock = std::chrono::steady_clock;

  HttpProbe(LIBSSH2_CHANNEL* channel, std::string request, Clock::time_point started,
            Clock::time_point deadline);

  // Advances the exchange; returns the outcome once there is one.
  std::optional<ProbeOutcome> pump(Clock::time_point now);
  LIBSSH2_CHANNEL* channel() const { return channel_; }

 private:
  ProbeOutcome finish(bool ok, std::string message, Clock::time_point now) const;

  LIBSSH2_CHANNEL* channel_;
  std::string request_;
  size_t sent_ = 0;
  size_t pending_write_ = 0;
  std::string response_;
  Clock::time_point started_;
  Clock::time_point deadline_;
};

}  // namespace pvt::tunnel
