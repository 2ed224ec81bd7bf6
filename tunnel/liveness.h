// Dead-peer detection for the SSH session (issue 4, "Keepalive"). libssh2's keepalive only
// sends; it neither counts misses nor tracks replies, so the worker timestamps every byte read
// from the socket and asks this tracker what to do. Pure: time comes in as arguments.
//
// While the link is silent, a probe the server must answer is sent every `interval` (every
// interval/2 when count_max is 1, so a healthy idle link always answers before the deadline),
// and the session is declared dead once nothing at all arrived for interval x count_max —
// the bound the config promises (keepalive_interval_s x keepalive_count_max).
#pragma once

#include <chrono>

namespace pvt::tunnel {

class Liveness {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Action {
    none,        // nothing to do until next_wakeup()
    send_probe,  // send something the server must answer, then call on_probe_sent()
    dead,        // silence reached interval x count_max: tear the session down
  };

  Liveness(std::chrono::milliseconds interval, int count_max, Clock::time_point now);

  // Any byte read from the session's socket proves the peer alive.
  void on_inbound(Clock::time_point now);
  void on_probe_sent(Clock::time_point now);

  Action tick(Clock::time_point now) const;
  // When tick() may next return something other than none (for the event loop's timeout).
  Clock::time_point next_wakeup() const;

  int probes_unanswered() const { return probes_unanswered_; }
  std::chrono::milliseconds silence(Clock::time_point now) const;
  std::chrono::milliseconds dead_after() const { return interval_ * count_max_; }

 private:
  std::chrono::milliseconds probe_period() const;

  std::chrono::milliseconds interval_;
  int count_max_;
  Clock::time_point last_inbound_;
  Clock::time_point last_probe_;
  bool probed_since_inbound_ = false;
  int probes_unanswered_ = 0;
};

}  // namespace pvt::tunnel
