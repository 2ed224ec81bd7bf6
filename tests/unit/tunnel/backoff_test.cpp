#include "tunnel/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

namespace pvt::tunnel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TP = Backoff::Clock::time_point;

BackoffPolicy no_jitter() {
  BackoffPolicy p;
  p.jitter = 0;
  return p;
}

TEST(Backoff, PostConnectFailuresDoubleUpToTheCap) {
  Backoff b(no_jitter());
  TP t{};
  std::vector<int64_t> waits;
  for (int i = 0; i < 9; ++i) waits.push_back(b.on_failure(FailureKind::after_connect, t).count());
  EXPECT_EQ(waits,
            (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
}

TEST(Backoff, NetworkFailuresStartFastThenStayAtTheirMean) {
  Backoff b(no_jitter());
  TP t{};
  std::vector<int64_t> waits;
  for (int i = 0; i < 8; ++i) waits.push_back(b.on_failure(FailureKind::network, t).count());
  EXPECT_EQ(waits, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000, 1000, 1000}));
  // ...and leave the post-connect step where it was.
  EXPECT_EQ(b.next_step(), milliseconds(1000));
}

TEST(Backoff, ARunOfNetworkFailuresStartsAgainAfterAnythingPastTheConnect) {
  for (auto between :
       {FailureKind::after_connect, FailureKind::credentials, FailureKind::clean_close}) {
    SCOPED_TRACE(to_string(between));
    Backoff b(no_jitter());
    TP t{};
    for (int i = 0; i < 5; ++i) b.on_failure(FailureKind::network, t);
    b.on_failure(between, t);
    EXPECT_EQ(b.on_failure(FailureKind::network, t), milliseconds(100));
  }
  Backoff healthy(no_jitter());
  TP t{};
  for (int i = 0; i < 5; ++i) healthy.on_failure(FailureKind::network, t);
  healthy.on_healthy(t);
  EXPECT_EQ(healthy.on_failure(FailureKind::network, t), milliseconds(100));
}

TEST(Backoff, AnUnansweredConnectNeitherStartsNorContinuesARunOfRefusals) {
  Backoff b(no_jitter());
  TP t{};
  b.on_failure(FailureKind::network, t);  // 100
  b.on_failure(FailureKind::network_timeout, t);
  EXPECT_EQ(b.on_failure(FailureKind::network, t), milliseconds(200));
}

TEST(Backoff, AFirstNetworkWaitAboveTheMeanIsTheMean) {
  BackoffPolicy p = no_jitter();
  p.network_retry_first = milliseconds(5000);
  Backoff b(p);
  EXPECT_EQ(b.on_failure(FailureKind::network, TP{}), milliseconds(1000));
}

TEST(Backoff, JitterStaysWithinItsBandAndUnderTheCaps) {
  BackoffPolicy p;
  p.jitter = 0.5;
  p.network_retry = milliseconds(1800);
  p.network_retry_first = p.network_retry;  // the band of the steady state from the start
  Backoff b(p, 42);
  TP t{};
  for (int i = 0; i < 1000; ++i) {
    auto w = b.on_failure(FailureKind::network, t);
    EXPECT_GE(w, milliseconds(900));
    EXPECT_LE(w, p.network_retry_max);  // 1800 + 50 % would exceed 2 s: capped
  }
  for (int i = 0; i < 50; ++i) {
    auto w = b.on_failure(FailureKind::after_connect, t);
    EXPECT_LE(w, p.max);
    EXPECT_GE(w, milliseconds(500));
  }
}

TEST(Backoff, JitterIsDeterministicForASeed) {
  Backoff a(BackoffPolicy{}, 7), b(BackoffPolicy{}, 7), c(BackoffPolicy{}, 8);
  TP t{};
  bool any_difference = false;
  for (int i = 0; i < 10; ++i) {
    auto wa = a.on_failure(FailureKind::after_connect, t);
    EXPECT_EQ(wa, b.on_failure(FailureKind::after_connect, t));
    any_difference |= wa != c.on_failure(FailureKind::after_connect, t);
  }
  EXPECT_TRUE(any_difference);
}

TEST(Backoff, CleanCloseIsRetriedAtOnceButOnlyOnceWithoutAHealthySession) {
  Backoff b(no_jitter());
  TP t{};
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t), milliseconds(0));
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t), milliseconds(1000));
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t), milliseconds(2000));
  b.on_healthy(t);
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t), milliseconds(0));
}

TEST(Backoff, SshdRestartSequence) {
  // Clean close, then refused connects while sshd is down, then back: no long waits anywhere,
  // and the first retries come quickly (sshd is usually back within a fraction of a second).
  Backoff b(no_jitter());
  TP t{};
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t), milliseconds(0));
  std::vector<int64_t> waits;
  for (int i = 0; i < 5; ++i) waits.push_back(b.on_failure(FailureKind::network, t).count());
  EXPECT_EQ(waits, (std::vector<int64_t>{100, 200, 400, 800, 1000}));
  b.on_healthy(t + seconds(6));
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t + seconds(100)), milliseconds(0));
}

TEST(Backoff, ALongHealthySessionResetsTheStep) {
  Backoff b(no_jitter());
  TP t{};
  for (int i = 0; i < 5; ++i) b.on_failure(FailureKind::after_connect, t);
  EXPECT_EQ(b.next_step(), milliseconds(32000));
  b.on_healthy(t);
  EXPECT_EQ(b.on_failure(FailureKind::after_connect, t + seconds(30)), milliseconds(1000));
}

TEST(Backoff, AShortHealthySessionKeepsTheStep) {
  Backoff b(no_jitter());
  TP t{};
  for (int i = 0; i < 3; ++i) b.on_failure(FailureKind::after_connect, t);  // 1, 2, 4
  b.on_healthy(t);
  EXPECT_EQ(b.on_failure(FailureKind::after_connect, t + seconds(29)), milliseconds(8000));
}

TEST(Backoff, HealthySinceCountsFromTheFirstReport) {
  Backoff b(no_jitter());
  TP t{};
  for (int i = 0; i < 3; ++i) b.on_failure(FailureKind::after_connect, t);
  b.on_healthy(t);
  b.on_healthy(t + seconds(25));  // a later report must not restart the healthy period
  EXPECT_EQ(b.on_failure(FailureKind::after_connect, t + seconds(31)), milliseconds(1000));
}

TEST(Backoff, FailureKindNames) {
  EXPECT_STREQ(to_string(FailureKind::network), "network");
  EXPECT_STREQ(to_string(FailureKind::network_timeout), "network-timeout");
  EXPECT_STREQ(to_string(FailureKind::after_connect), "after-connect");
  EXPECT_STREQ(to_string(FailureKind::credentials), "credentials");
  EXPECT_STREQ(to_string(FailureKind::clean_close), "clean-close");
}

}  // namespace
}  // namespace pvt::tunnel

namespace pvt::tunnel {
namespace {

TEST(Backoff, UnansweredConnectIsRetriedAtOnceWithAFreshAttempt) {
  BackoffPolicy p;
  p.jitter = 0;
  Backoff b(p);
  const auto t = std::chrono::steady_clock::time_point{};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(b.on_failure(FailureKind::network_timeout, t), milliseconds(100));
  }
  // It does not advance the exponential step either.
  EXPECT_EQ(b.next_step(), p.initial);
}

}  // namespace
}  // namespace pvt::tunnel

// --- AuthFailureLimiter: host-key and authentication failures, and OpenSSH's PerSourcePenalties

namespace pvt::tunnel {
namespace {

// sshd's side, as srclimit.c (OpenSSH 9.8 to 10.x) keeps it for one source address with the
// default PerSourcePenalties: whole seconds; each failure adds `penalty_s` to one deadline
// (a new entry: now + penalty_s); an entry whose deadline has passed is dropped first; the
// address is refused ("active") once more than `min_s` is left, with at most `max_s` left.
// Returns whether any of the failures (seconds since some start, ascending) made it active.
bool sshd_blocks(const std::vector<int64_t>& seconds_seen, int64_t penalty_s = 5,
                 int64_t min_s = 15, int64_t max_s = 600) {
  bool have = false;
  int64_t expiry = 0;
  for (int64_t now : seconds_seen) {
    if (have && expiry < now) have = false;  // expire_penalties: expiry < now goes
    if (!have) {
      have = true;
      expiry = now + penalty_s;
      if (penalty_s > min_s) return true;
      continue;
    }
    expiry = std::min(expiry + penalty_s, now + max_s);
    if (expiry - now > min_s) return true;
  }
  return false;
}

TEST(SshdPenaltyModel, MatchesTheDocumentedDefaults) {
  // Three authentication failures at once: 15 s left, not more than `min`: no block.
  EXPECT_FALSE(sshd_blocks({0, 0, 0}));
  // A fourth within the same second: 20 s > 15 s.
  EXPECT_TRUE(sshd_blocks({0, 0, 0, 0}));
  // One failure every 5 s forever only keeps the deadline where it is.
  std::vector<int64_t> every5;
  for (int64_t t = 0; t < 600; t += 5) every5.push_back(t);
  EXPECT_FALSE(sshd_blocks(every5));
  // One every 4 s builds up: blocked after a few.
  std::vector<int64_t> every4;
  for (int64_t t = 0; t < 100; t += 4) every4.push_back(t);
  EXPECT_TRUE(sshd_blocks(every4));
}

TEST(AuthFailureLimiter, TheConstantsStayUnderSshdsDefaultThreshold) {
  // 3 failures x authfail 5 s = 15 s: exactly `min`, which must be exceeded to block.
  EXPECT_LE(kAuthFailuresPerWindow * 5, 15);
  EXPECT_GE(kAuthFailureWindow, std::chrono::seconds(15));
}

TEST(AuthFailureLimiter, LetsTheFirstFailuresThroughThenHoldsBackUntilTheOldestLeavesTheWindow) {
  AuthFailureLimiter l;  // 3 per 16 s
  TP t{};
  EXPECT_EQ(l.wait(t), milliseconds(0));
  l.record(t);
  EXPECT_EQ(l.wait(t), milliseconds(0));
  l.record(t + seconds(1));
  EXPECT_EQ(l.wait(t + seconds(1)), milliseconds(0));
  l.record(t + seconds(3));
  EXPECT_EQ(l.failures_in_window(t + seconds(3)), 3);
  EXPECT_EQ(l.next_allowed(t + seconds(3)), t + seconds(16));
  EXPECT_EQ(l.wait(t + seconds(3)), seconds(13));
  EXPECT_EQ(l.wait(t + seconds(10)), seconds(6));
  EXPECT_EQ(l.wait(t + seconds(16)), milliseconds(0));
  EXPECT_EQ(l.next_allowed(t + seconds(20)), t + seconds(20));  // never in the past
  // The fourth failure at 16 s: the last three are 1, 3 and 16 s, so the next may start at 17 s.
  l.record(t + seconds(16));
  EXPECT_EQ(l.failures_in_window(t + seconds(16)), 3);  // the one at 0 s has left the window
  EXPECT_EQ(l.next_allowed(t + seconds(16)), t + seconds(17));
}

TEST(AuthFailureLimiter, CountsOnlyFailuresInsideTheWindow) {
  AuthFailureLimiter l(3, seconds(16));
  TP t{};
  l.record(t);
  l.record(t + seconds(10));
  EXPECT_EQ(l.failures_in_window(t + seconds(10)), 2);
  EXPECT_EQ(l.failures_in_window(t + milliseconds(15999)), 2);
  EXPECT_EQ(l.failures_in_window(t + seconds(16)), 1);
  EXPECT_EQ(l.failures_in_window(t + seconds(26)), 0);
  EXPECT_EQ(l.wait(t + seconds(10)), milliseconds(0));  // two: the third may come at once
}

TEST(AuthFailureLimiter, RoundsPartialMillisecondsUp) {
  AuthFailureLimiter l(1, seconds(16));
  TP t{};
  l.record(t + std::chrono::microseconds(1500));
  // 16 s + 1.5 ms from t: waiting 16001 ms would start 0.5 ms early.
  EXPECT_EQ(l.wait(t), milliseconds(16002));
}

TEST(AuthFailureLimiter, OtherLimitsAndOff) {
  AuthFailureLimiter one(1, seconds(10));
  TP t{};
  one.record(t);
  EXPECT_EQ(one.wait(t), seconds(10));
  AuthFailureLimiter off(0, seconds(16));
  for (int i = 0; i < 100; ++i) off.record(t);
  EXPECT_EQ(off.wait(t), milliseconds(0));
  EXPECT_EQ(off.failures_in_window(t), 0);
}

// Every attempt fails: the next starts after max(backoff wait, limiter). Whatever the waits
// the backoff proposes (here: random, 0 to 20 s), any 16 s holds at most 3 failures and sshd's
// arithmetic never blocks the address, even when sshd notes each failure up to 999 ms later
// than the worker does.
TEST(AuthFailureLimiter, NoWindowEverHoldsMoreThanThreeAndSshdNeverBlocks) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> proposed(0, seed % 4 == 0 ? 0 : 20000);
    std::uniform_int_distribution<int64_t> attempt_ms(0, 3000);
    std::uniform_int_distribution<int64_t> sshd_delay_ms(0, 999);
    AuthFailureLimiter l;
    TP now{};
    std::vector<TP> failures;
    std::vector<int64_t> sshd_seconds;
    while (now < TP{} + std::chrono::hours(1)) {
      now += milliseconds(attempt_ms(rng));  // the attempt itself: connect, kex, auth
      failures.push_back(now);
      l.record(now);
      const int64_t seen_ms =
          std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count() +
          sshd_delay_ms(rng) + 500;  // sshd's clock starts mid-second
      sshd_seconds.push_back(seen_ms / 1000);
      now = std::max(now + milliseconds(proposed(rng)), l.next_allowed(now));
    }
    std::sort(sshd_seconds.begin(), sshd_seconds.end());
    for (size_t i = 0; i + 3 < failures.size(); ++i) {
      ASSERT_GE(failures[i + 3] - failures[i], kAuthFailureWindow) << "seed " << seed;
    }
    ASSERT_FALSE(sshd_blocks(sshd_seconds)) << "seed " << seed;
    // Nor does it hold back more than it must: retried at once, 3 failures at least every 19 s
    // (the 16 s window and an attempt of up to 3 s).
    if (seed % 4 == 0) {
      EXPECT_GE(failures.size(), 3u * (3600 / 19)) << "seed " << seed;
    }
  }
}

// The margin is needed. Attempts that fail at once, three by three: with a 15 s window, sshd
// noting the first three 600 ms later than the worker (its clock half a second into a second)
// counts them one second later, and the second three push the time left to 16 s: blocked.
// With the 16 s window the same delays leave exactly 15 s.
std::vector<int64_t> bursts_seen_by_sshd(std::chrono::milliseconds window) {
  AuthFailureLimiter l(3, window);
  TP t{};
  std::vector<int64_t> seen;
  for (int i = 0; i < 6; ++i) {
    t = l.next_allowed(t);
    l.record(t);
    const int64_t ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
    seen.push_back((ms + 500 + (i < 3 ? 600 : 0)) / 1000);
  }
  return seen;
}

TEST(AuthFailureLimiter, AFifteenSecondWindowIsTheEdgeSixteenKeepsAMargin) {
  const auto at15 = bursts_seen_by_sshd(seconds(15));
  EXPECT_EQ(at15, (std::vector<int64_t>{1, 1, 1, 15, 15, 15}));
  EXPECT_TRUE(sshd_blocks(at15));
  const auto at16 = bursts_seen_by_sshd(kAuthFailureWindow);
  EXPECT_EQ(at16, (std::vector<int64_t>{1, 1, 1, 16, 16, 16}));
  EXPECT_FALSE(sshd_blocks(at16));
}

TEST(Backoff, CredentialFailuresBackOffLikeAfterConnectThenTheLimiterTakesOver) {
  Backoff b(no_jitter());
  TP t{};
  EXPECT_EQ(b.on_failure(FailureKind::credentials, t), seconds(1));
  EXPECT_FALSE(b.limited());
  EXPECT_EQ(b.on_failure(FailureKind::credentials, t + seconds(1)), seconds(2));
  EXPECT_FALSE(b.limited());
  // Third failure at 3 s: the backoff says 4 s (7 s), the limiter 16 s after the first.
  EXPECT_EQ(b.on_failure(FailureKind::credentials, t + seconds(3)), seconds(13));
  EXPECT_TRUE(b.limited());
  EXPECT_EQ(b.next_step(), seconds(8));  // the exponential step went on underneath
  // Fourth at 16 s: backoff 8 s (24 s) is later than the limiter's 17 s.
  EXPECT_EQ(b.on_failure(FailureKind::credentials, t + seconds(16)), seconds(8));
  EXPECT_FALSE(b.limited());
  EXPECT_EQ(b.limiter().failures_in_window(t + seconds(16)), 3);
}

TEST(Backoff, ARestartedBackoffStillKeepsTheLimit) {
  // The step back at 1 s (a long healthy session before, or a policy with short waits): the
  // limiter alone bounds the failures.
  BackoffPolicy p = no_jitter();
  p.initial = milliseconds(100);
  p.max = milliseconds(100);
  Backoff b(p);
  TP t{};
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; ++i) {
    const auto w = b.on_failure(FailureKind::credentials, t);
    waits.push_back(w.count());
    t += w;
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{100, 100, 15800, 100, 100, 15800, 100}));
}

TEST(Backoff, AnyFailureAfterThreeCredentialFailuresWaitsForTheLimiter) {
  // The next attempt may meet the same bad key, whatever ended the one before it.
  Backoff b(no_jitter());
  TP t{};
  for (int i = 0; i < 3; ++i) b.on_failure(FailureKind::credentials, t);
  EXPECT_EQ(b.on_failure(FailureKind::network, t + seconds(1)), seconds(15));
  EXPECT_TRUE(b.limited());
  EXPECT_EQ(b.on_failure(FailureKind::network_timeout, t + seconds(2)), seconds(14));
  EXPECT_TRUE(b.limited());
  b.on_healthy(t + seconds(16));
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t + seconds(20)), milliseconds(0));
  EXPECT_FALSE(b.limited());
}

TEST(Backoff, OtherPostConnectFailuresAreNotCounted) {
  Backoff b(no_jitter());
  TP t{};
  for (int i = 0; i < 10; ++i) {
    b.on_failure(FailureKind::after_connect, t);
    EXPECT_FALSE(b.limited());
  }
  EXPECT_EQ(b.limiter().failures_in_window(t), 0);
  EXPECT_EQ(b.on_failure(FailureKind::network, t), milliseconds(100));  // its own first wait
}

TEST(Backoff, TheLimitComesFromThePolicy) {
  BackoffPolicy p = no_jitter();
  p.auth_failures_max = 1;
  p.auth_failure_window = seconds(30);
  Backoff b(p);
  TP t{};
  EXPECT_EQ(b.on_failure(FailureKind::credentials, t), seconds(30));
  p.auth_failures_max = 0;
  Backoff off(p);
  for (int i = 0; i < 5; ++i) off.on_failure(FailureKind::credentials, t);
  EXPECT_FALSE(off.limited());
  EXPECT_EQ(off.on_failure(FailureKind::credentials, t), seconds(32));
}

}  // namespace
}  // namespace pvt::tunnel
