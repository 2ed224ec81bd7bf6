// The tunnel worker's session state machine (the states README.md lists under "The tunnel
// worker"). Pure: the event loop
// feeds it events with timestamps and asks what to wait for; it never touches a socket. Each
// change is recorded as a Transition with its reason, which the worker logs once
// ("state forward-pending => serving: forward 127.0.0.1:29000 bound") and reports in its status.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tunnel/backoff.h"

namespace pvt::tunnel {

enum class State {
  resolving,        // looking up the VPS host name (DNS may be down at boot)
  connecting,       // TCP connect with a timeout
  authenticating,   // SSH handshake, host key check against known_hosts, public key auth
  forward_pending,  // session up, remote forward requested or refused and being retried
  serving,          // forward bound: the VPS forwards connections to us
  draining,         // forward cancelled on request, open channels finishing, idle ones closed
  drained,          // forward cancelled, no channels, session kept (planned maintenance)
  backoff,          // waiting before the next attempt
  stopping,         // SIGTERM: no new channels, open ones finish up to drain_timeout_s
};

// The state's name ("forward-pending"), used in logs, status and metrics.
const char* to_string(State s);
// One line for people, e.g. for the systemd STATUS= line.
const char* describe(State s);

struct Transition {
  State from;
  State to;
  std::string reason;
  std::chrono::steady_clock::time_point at;
};

struct SessionTimings {
  // A refused forward is retried inside the session. The VPS refuses it while the port is still
  // held, almost always by a stale session of ours that its sshd has not ended yet (ClientAlive);
  // the request after it lets go binds. A retry is one small global request ("tcpip-forward") and
  // one round trip, and the VPS's sshd logs two error lines per refusal ("bind [127.0.0.1]:R:
  // Address already in use", "channel_setup_fwd_listener_tcpip: cannot listen to port: R").
  // The next request goes out a step after the refusal, the step depending on how long the
  // forward has been pending:
  //  - 100 ms in the first 2 s: a session that is already going away (its TCP connection reset)
  //    frees the port within a round trip or two. At most 20 requests.
  //  - 250 ms up to 30 s: the VPS ends a silent session ClientAliveInterval x ClientAliveCountMax
  //    (the VPS template: 10 s x 3) after it last heard from it, and the worker has reconnected
  //    by then, since its own keepalive gives up after about as long (or at once on a local
  //    error). A release in that window is followed by a request within 250 ms, so the forward
  //    is bound again within 0.5 s of the release for round trips up to 250 ms (OpenSSH restarted
  //    by autossh needs a new connection, ~0.4 s on loopback). At most 113 requests.
  //  - then doubling from forward_retry_initial to forward_retry_max until forward_pending_max:
  //    what still holds the port is probably not ours (the old autossh unit). 16 requests up
  //    to 60 s.
  // So at most 149 requests (298 log lines on the VPS) per forward_pending_max of 60 s, 4.7 times
  // the 32 of a plain 0.5 s -> 2 s doubling, whose worst case was 2 s from release to re-bind.
  std::chrono::milliseconds forward_retry_burst{100};
  std::chrono::milliseconds forward_retry_burst_for{2000};
  std::chrono::milliseconds forward_retry_fast{250};
  std::chrono::milliseconds forward_retry_fast_for{30000};
  std::chrono::milliseconds forward_retry_initial{500};  // first step after the fast window
  std::chrono::milliseconds forward_retry_max{2000};
  std::chrono::milliseconds forward_pending_max{60000};  // then reconnect
  std::chrono::milliseconds drain_timeout{30000};
};

class SessionMachine {
 public:
  using Clock = std::chrono::steady_clock;

  SessionMachine(SessionTimings timings, Backoff backoff, Clock::time_point now);

  State state() const { return state_; }
  Clock::time_point since() const { return since_; }

  // Session set-up, in order. Each is ignored (returns false) outside the state it completes.
  bool resolved(Clock::time_point now, const std::string& address);
  bool connected(Clock::time_point now);
  bool authenticated(Clock::time_point now);
  // The loop sent the forward request (when due() said retry_forward).
  bool forward_requested(Clock::time_point now);
  bool forward_bound(Clock::time_point now, const std::string& forward);
  // The VPS refused the forward (typically a stale session still holds the port): stay
  // connected, stay forward_pending and retry on the schedule of SessionTimings; reconnect only
  // after forward_pending_max.
  bool forward_refused(Clock::time_point now);

  // Something failed; the session is gone. Moves to backoff for the wait Backoff decides. When
  // AuthFailureLimiter made that wait longer, the reason and last_error() say so after `reason`.
  void failed(FailureKind kind, const std::string& reason, Clock::time_point now);
  // The backoff wait is over (called by the loop at wakeup()).
  bool retry(Clock::time_point now);

  // Control API.
  bool drain(Clock::time_point now);            // serving/forward_pending -> draining
  bool channels_closed(Clock::time_point now);  // draining -> drained (or stopping -> done)
  bool resume(Clock::time_point now);           // drained/draining -> forward_pending
  void stop(Clock::time_point now);             // any -> stopping

  // What the loop should do at `now` that is due by time alone: retry the forward, give up on
  // it and reconnect, finish a backoff wait, or give up draining.
  enum class Due { nothing, retry_forward, reconnect, backoff_over, drain_timeout };
  Due due(Clock::time_point now) const;
  // Next time due() may change, for the loop's poll timeout; nullopt when only I/O can move us.
  std::optional<Clock::time_point> wakeup() const;

  // The forward has been refused for a while (3 times, and for forward_retry_burst_for):
  // something else (another session, the old autossh unit) probably holds the port on the VPS.
  bool forward_long_refused(Clock::time_point now) const;

  // Changes since the last call, oldest first (the worker logs them).
  std::vector<Transition> take_transitions();

  int reconnects() const { return reconnects_; }
  bool drain_requested() const { return drain_requested_; }
  // A reloaded config may change the forward and drain bounds; they apply from the next wait.
  void set_timings(SessionTimings timings) { timings_ = timings; }
  const std::string& last_error() const { return last_error_; }
  int forward_refusals() const { return forward_refusals_; }
  Backoff& backoff() { return backoff_; }

 private:
  void set(State to, std::string reason, Clock::time_point now);

  SessionTimings timings_;
  Backoff backoff_;
  State state_ = State::resolving;
  Clock::time_point since_;
  std::vector<Transition> pending_;
  // forward_pending
  Clock::time_point forward_pending_since_{};
  Clock::time_point next_forward_retry_{};
  std::chrono::milliseconds forward_retry_step_{};  // after forward_retry_fast_for: doubling
  int forward_refusals_ = 0;
  bool forward_in_flight_ = false;
  // backoff
  Clock::time_point backoff_until_{};
  // draining / stopping
  Clock::time_point drain_deadline_{};
  bool drain_requested_ = false;  // survives reconnects: a drained worker stays drained
  int reconnects_ = 0;
  std::string last_error_;
};

}  // namespace pvt::tunnel
