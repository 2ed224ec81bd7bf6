// When to try again after a failed tunnel session (issue 4, "Reconnect"). Pure: time comes in
// as arguments, randomness from a seeded generator, so tests replay exact sequences.
//
// Two kinds of failure wait differently:
//  - the network itself (DNS, connect refused or timed out): short, capped, jittered retries, so
//    the tunnel is back within ~2 s of the network healing. A run of them starts at 100 ms and
//    doubles to the 1 s mean: a restarting sshd refuses connections only for a moment, and a
//    refused connect costs the VPS nothing (no sshd process, no log line, no penalty). The
//    network failures that come after a TCP connect (a handshake not finished in time, a lost
//    connection, a silent peer) have each taken seconds already, which paces them;
//  - after the TCP connect (host key, authentication, forward refused beyond its bound): doubling
//    from 1 s to 60 s with jitter, because retrying faster only fills the VPS's auth log;
//  - a clean close by the server is retried at once (once: a second clean close without a healthy
//    session in between is treated as a post-connect failure, so a server that accepts and
//    closes cannot make us spin).
// A session that stayed healthy for `healthy_reset` resets the exponential step.
//
// On top of that, host-key and authentication failures are rate limited (AuthFailureLimiter):
// the VPS's sshd counts them against the home's public address, which both tunnels share.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <random>

namespace pvt::tunnel {

enum class FailureKind {
  network,          // resolve, connect refused, unreachable, a silent peer
  network_timeout,  // a connect attempt that got no answer: it already waited, so go again at
                    // once with a fresh SYN (a pending one only goes out again after 1, 2, 4 s)
  after_connect,    // handshake, forward refused too long, probe, protocol
  credentials,      // host key refused (mismatch, unknown) or public key authentication refused
                    // (or the key unusable): waits like after_connect, and AuthFailureLimiter
                    // counts it, since the VPS's sshd penalises the address for it
  clean_close,      // the server closed the session in order (e.g. sshd restart)
};

const char* to_string(FailureKind k);

// OpenSSH 9.8 and later (Debian 13 ships 10.0) penalise a source address by default
// (sshd_config(5) PerSourcePenalties; the arithmetic is srclimit.c's srclimit_penalise). Each
// connection adds its penalty to one deadline per address (per PerSourceNetBlockSize block,
// default /32 and /128), which then runs down in real time:
//   authfail 5 s   disconnect after one or more failed authentication attempts (our bad key);
//   noauth   1 s   disconnect without attempting authentication (we refused the host key);
//   (grace-exceeded 20 s in 9.8, 10 s from 9.9; refuseconnection 10 s from 9.9; invaliduser
//   5 s from 10.3; crash 90 s: none of them a worker's doing).
// The address is refused only while more than `min` (15 s) is left, and then until the deadline,
// at most `max` (10 min). Penalties of authenticated sessions: none.
//
// So a worker stays unpunished as long as the time left never exceeds 15 s. Counting every
// failure as authfail (5 s): the time left just after a failure at t is at most
// max over s <= t of (5 s x failures in [s, t] - (t - s)). With at most 3 failures in any window
// W >= 15 s, an interval of length L holds at most 3 x (floor(L / W) + 1) failures, so the time
// left is at most 15 s + 15 s x floor(L / W) - L <= 15 s: never above the threshold. 3 per 15 s
// is the exact edge; the window is 16 s so that sshd's whole-second clock and the delay between
// our noting a failure and sshd's (it notes it when the connection ends) cannot tip it over.
// In steady state that is one failing attempt per 5.3 s at most, far fewer with the exponential
// backoff below (1, 2, 4 ... 60 s); the limit is what bounds a restarted worker (the backoff
// starts again at 1 s) or one whose failures alternate with network errors (which retry fast).
// The budget is the address's, not the tunnel's: a healthy second tunnel adds nothing (its
// sessions authenticate), two tunnels both failing exceed it (docs: PerSourcePenaltyExemptList).
inline constexpr int kAuthFailuresPerWindow = 3;
inline constexpr std::chrono::milliseconds kAuthFailureWindow{16000};

// At most `max_failures` attempts ending in FailureKind::credentials within any `window`: with
// that many in the window, the next attempt (of any kind: it may fail the same way) waits until
// the oldest of them has left it. Pure; max_failures <= 0 turns the limit off.
class AuthFailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit AuthFailureLimiter(int max_failures = kAuthFailuresPerWindow,
                              std::chrono::milliseconds window = kAuthFailureWindow);

  // An attempt ended in a host-key or authentication failure at `at`.
  void record(Clock::time_point at);
  // The earliest time the next attempt may start (`now` when nothing holds it back).
  Clock::time_point next_allowed(Clock::time_point now) const;
  // next_allowed(now) - now.
  std::chrono::milliseconds wait(Clock::time_point now) const;
  // Failures recorded in (now - window, now].
  int failures_in_window(Clock::time_point now) const;

  int max_failures() const { return max_; }
  std::chrono::milliseconds window() const { return window_; }

 private:
  int max_;
  std::chrono::milliseconds window_;
  std::deque<Clock::time_point> recent_;  // the last max_ failures, oldest first
};

struct BackoffPolicy {
  // Network failures in a row wait network_retry_first, doubling to network_retry (the mean
  // from then on), at most network_retry_max with jitter. An unanswered connect leaves the run
  // as it is; any other outcome starts a new one.
  std::chrono::milliseconds network_retry_first{100};
  std::chrono::milliseconds network_retry{1000};
  std::chrono::milliseconds network_retry_max{2000};
  std::chrono::milliseconds timeout_retry{100};  // mean wait after an unanswered connect
  std::chrono::milliseconds initial{1000};       // first wait after a post-connect failure
  std::chrono::milliseconds max{60000};
  double jitter = 0.2;                             // +- fraction applied to every wait
  std::chrono::milliseconds healthy_reset{30000};  // healthy this long: start again at `initial`
  int auth_failures_max = kAuthFailuresPerWindow;  // AuthFailureLimiter (0: no limit)
  std::chrono::milliseconds auth_failure_window = kAuthFailureWindow;
};

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = 0x5eed);

  // A session failed (or closed) at `now`; returns how long to wait before the next attempt:
  // the wait for `kind`, or longer when AuthFailureLimiter holds the next attempt back.
  std::chrono::milliseconds on_failure(FailureKind kind, Clock::time_point now);
  // The last on_failure() wait was set by AuthFailureLimiter (longer than the kind's own).
  bool limited() const { return limited_; }
  const AuthFailureLimiter& limiter() const { return limiter_; }

  // The session became healthy (forward bound) at `now`.
  void on_healthy(Clock::time_point now);

  // The exponential step the next post-connect failure would use (before jitter).
  std::chrono::milliseconds next_step() const { return step_; }

  const BackoffPolicy& policy() const { return policy_; }

 private:
  std::chrono::milliseconds jittered(std::chrono::milliseconds base, std::chrono::milliseconds cap);
  std::chrono::milliseconds kind_wait(FailureKind kind, Clock::time_point now);
  void start_network_run();  // the next network failure waits network_retry_first again

  BackoffPolicy policy_;
  AuthFailureLimiter limiter_;
  bool limited_ = false;
  std::mt19937_64 rng_;
  std::chrono::milliseconds step_;
  std::chrono::milliseconds network_step_{};  // the next network failure's wait, before jitter
  bool healthy_ = false;
  Clock::time_point healthy_since_{};
  bool last_was_clean_close_ = false;
};

}  // namespace pvt::tunnel
