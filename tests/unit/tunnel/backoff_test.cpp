#include "tunnel/backoff.h"

#include <gtest/gtest.h>

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

TEST(Backoff, NetworkFailuresStayShortAndDoNotGrow) {
  Backoff b(no_jitter());
  TP t{};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b.on_failure(FailureKind::network, t), milliseconds(1000));
  // ...and leave the post-connect step where it was.
  EXPECT_EQ(b.next_step(), milliseconds(1000));
}

TEST(Backoff, JitterStaysWithinItsBandAndUnderTheCaps) {
  BackoffPolicy p;
  p.jitter = 0.5;
  p.network_retry = milliseconds(1800);
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
  // Clean close, then refused connects while sshd is down, then back: no long waits anywhere.
  Backoff b(no_jitter());
  TP t{};
  EXPECT_EQ(b.on_failure(FailureKind::clean_close, t), milliseconds(0));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.on_failure(FailureKind::network, t), milliseconds(1000));
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
