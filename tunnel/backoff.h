// When to try again after a failed tunnel session (issue 4, "Reconnect"). Pure: time comes in
// as arguments, randomness from a seeded generator, so tests replay exact sequences.
//
// Two kinds of failure wait differently:
//  - the network itself (DNS, connect refused or timed out): short, capped, jittered retries, so
//    the tunnel is back within ~2 s of the network healing;
//  - after the TCP connect (host key, authentication, forward refused beyond its bound): doubling
//    from 1 s to 60 s with jitter, because retrying faster only fills the VPS's auth log;
//  - a clean close by the server is retried at once (once: a second clean close without a healthy
//    session in between is treated as a post-connect failure, so a server that accepts and
//    closes cannot make us spin).
// A session that stayed healthy for `healthy_reset` resets the exponential step.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace pvt::tunnel {

enum class FailureKind {
  network,          // resolve, connect refused, unreachable, a silent peer
  network_timeout,  // a connect attempt that got no answer: it already waited, so go again at
                    // once with a fresh SYN (a pending one only goes out again after 1, 2, 4 s)
  after_connect,    // handshake, host key, authentication, forward refused too long, protocol
  clean_close,      // the server closed the session in order (e.g. sshd restart)
};

const char* to_string(FailureKind k);

struct BackoffPolicy {
  std::chrono::milliseconds network_retry{1000};  // mean wait after a network failure
  std::chrono::milliseconds network_retry_max{2000};
  std::chrono::milliseconds timeout_retry{100};  // mean wait after an unanswered connect
  std::chrono::milliseconds initial{1000};       // first wait after a post-connect failure
  std::chrono::milliseconds max{60000};
  double jitter = 0.2;                             // +- fraction applied to every wait
  std::chrono::milliseconds healthy_reset{30000};  // healthy this long: start again at `initial`
};

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = 0x5eed);

  // A session failed (or closed) at `now`; returns how long to wait before the next attempt.
  std::chrono::milliseconds on_failure(FailureKind kind, Clock::time_point now);

  // The session became healthy (forward bound) at `now`.
  void on_healthy(Clock::time_point now);

  // The exponential step the next post-connect failure would use (before jitter).
  std::chrono::milliseconds next_step() const { return step_; }

  const BackoffPolicy& policy() const { return policy_; }

 private:
  std::chrono::milliseconds jittered(std::chrono::milliseconds base, std::chrono::milliseconds cap);

  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  std::chrono::milliseconds step_;
  bool healthy_ = false;
  Clock::time_point healthy_since_{};
  bool last_was_clean_close_ = false;
};

}  // namespace pvt::tunnel
