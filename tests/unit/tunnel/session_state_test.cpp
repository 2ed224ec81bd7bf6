#include "tunnel/session_state.h"

#include <gtest/gtest.h>

namespace pvt::tunnel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TP = SessionMachine::Clock::time_point;
using Due = SessionMachine::Due;

BackoffPolicy no_jitter() {
  BackoffPolicy p;
  p.jitter = 0;
  return p;
}

SessionMachine machine(TP t0) { return SessionMachine(SessionTimings{}, Backoff(no_jitter()), t0); }

// Brings a fresh machine to forward_pending at `t`.
void connect(SessionMachine& m, TP t) {
  ASSERT_TRUE(m.resolved(t, "192.0.2.7:22"));
  ASSERT_TRUE(m.connected(t));
  ASSERT_TRUE(m.authenticated(t));
}

std::vector<std::string> names(const std::vector<Transition>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(std::string(to_string(t.from)) + "=>" + to_string(t.to));
  return out;
}

TEST(SessionState, NamesAreTheContractOfDesign9) {
  EXPECT_STREQ(to_string(State::forward_pending), "forward-pending");
  for (State s :
       {State::resolving, State::connecting, State::authenticating, State::forward_pending,
        State::serving, State::draining, State::drained, State::backoff, State::stopping}) {
    EXPECT_STRNE(to_string(s), "?");
    EXPECT_STRNE(describe(s), "?");
  }
}

TEST(SessionState, HappyPathRecordsEachChangeWithItsReason) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  EXPECT_EQ(m.due(t0), Due::retry_forward);  // the forward is requested at once
  ASSERT_TRUE(m.forward_requested(t0));
  EXPECT_EQ(m.due(t0), Due::nothing);
  ASSERT_TRUE(m.forward_bound(t0 + milliseconds(30), "127.0.0.1:29000"));
  EXPECT_EQ(m.state(), State::serving);
  auto ts = m.take_transitions();
  EXPECT_EQ(names(ts), (std::vector<std::string>{
                           "resolving=>connecting", "connecting=>authenticating",
                           "authenticating=>forward-pending", "forward-pending=>serving"}));
  EXPECT_EQ(ts[0].reason, "resolved to 192.0.2.7:22");
  EXPECT_EQ(ts[3].reason, "forward 127.0.0.1:29000 bound");
  EXPECT_TRUE(m.take_transitions().empty());
  EXPECT_EQ(m.wakeup(), std::nullopt);  // serving: only I/O moves us
}

TEST(SessionState, EventsOutOfOrderAreIgnored) {
  TP t0{};
  auto m = machine(t0);
  EXPECT_FALSE(m.connected(t0));
  EXPECT_FALSE(m.authenticated(t0));
  EXPECT_FALSE(m.forward_bound(t0, "x"));
  EXPECT_FALSE(m.channels_closed(t0));
  EXPECT_EQ(m.state(), State::resolving);
  EXPECT_TRUE(m.take_transitions().empty());
}

TEST(SessionState, RefusedForwardKeepsTheSessionAndRetriesWithBackoff) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  std::vector<int64_t> retry_at_ms;
  TP now = t0;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(m.due(now), Due::retry_forward);
    m.forward_requested(now);
    m.forward_refused(now);
    now = *m.wakeup();
    retry_at_ms.push_back(std::chrono::duration_cast<milliseconds>(now - t0).count());
  }
  EXPECT_EQ(retry_at_ms, (std::vector<int64_t>{500, 1500, 3500, 5500, 7500, 9500}));
  EXPECT_EQ(m.state(), State::forward_pending);
  EXPECT_EQ(m.forward_refusals(), 6);
  EXPECT_TRUE(m.forward_long_refused(now));
  EXPECT_EQ(m.last_error(), "the VPS refused the remote forward");
  // The stale session on the VPS expires: the next retry binds, no reconnect happened.
  m.forward_requested(now);
  EXPECT_TRUE(m.forward_bound(now, "127.0.0.1:29000"));
  EXPECT_EQ(m.reconnects(), 0);
}

TEST(SessionState, ForwardPendingTooLongMeansReconnect) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.forward_requested(t0);
  m.forward_refused(t0);
  EXPECT_EQ(m.due(t0 + seconds(59)), Due::retry_forward);
  EXPECT_EQ(m.due(t0 + seconds(60)), Due::reconnect);
  m.failed(FailureKind::after_connect, "forward not bound within 60 s", t0 + seconds(60));
  EXPECT_EQ(m.state(), State::backoff);
}

TEST(SessionState, NotLongRefusedAfterOneRefusal) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.forward_requested(t0);
  m.forward_refused(t0);
  EXPECT_FALSE(m.forward_long_refused(t0 + seconds(1)));
}

TEST(SessionState, FailureWaitsTheBackoffThenResolvesAgain) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.failed(FailureKind::after_connect, "host key mismatch", t0);
  EXPECT_EQ(m.state(), State::backoff);
  EXPECT_EQ(m.last_error(), "host key mismatch");
  EXPECT_EQ(m.wakeup(), t0 + seconds(1));
  EXPECT_FALSE(m.retry(t0 + milliseconds(999)));
  EXPECT_EQ(m.due(t0 + seconds(1)), Due::backoff_over);
  EXPECT_TRUE(m.retry(t0 + seconds(1)));
  EXPECT_EQ(m.state(), State::resolving);
  EXPECT_EQ(m.reconnects(), 1);
  connect(m, t0 + seconds(2));
  m.failed(FailureKind::after_connect, "auth failed", t0 + seconds(2));
  EXPECT_EQ(m.wakeup(), t0 + seconds(4));  // doubled
}

TEST(SessionState, DrainCancelsAndWaitsForChannelsThenResumes) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.forward_requested(t0);
  m.forward_bound(t0, "127.0.0.1:29000");
  ASSERT_TRUE(m.drain(t0 + seconds(1)));
  EXPECT_EQ(m.state(), State::draining);
  EXPECT_EQ(m.wakeup(), t0 + seconds(31));
  ASSERT_TRUE(m.channels_closed(t0 + seconds(2)));
  EXPECT_EQ(m.state(), State::drained);
  ASSERT_TRUE(m.resume(t0 + seconds(3)));
  EXPECT_EQ(m.state(), State::forward_pending);
  EXPECT_EQ(m.due(t0 + seconds(3)), Due::retry_forward);
}

TEST(SessionState, DrainTimeoutIsDue) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.drain(t0);
  EXPECT_EQ(m.due(t0 + seconds(29)), Due::nothing);
  EXPECT_EQ(m.due(t0 + seconds(30)), Due::drain_timeout);
}

TEST(SessionState, ADrainedWorkerStaysDrainedAcrossAReconnect) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.drain(t0);
  m.channels_closed(t0);
  m.failed(FailureKind::network, "connection reset", t0);
  ASSERT_TRUE(m.retry(t0 + seconds(2)));
  connect(m, t0 + seconds(2));
  EXPECT_EQ(m.state(), State::drained);
  EXPECT_TRUE(m.resume(t0 + seconds(3)));
  EXPECT_EQ(m.state(), State::forward_pending);
}

TEST(SessionState, StopWinsOverEverythingAndIgnoresLaterFailures) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.stop(t0);
  EXPECT_EQ(m.state(), State::stopping);
  m.failed(FailureKind::network, "reset", t0);
  EXPECT_EQ(m.state(), State::stopping);
  EXPECT_EQ(m.due(t0 + seconds(30)), Due::drain_timeout);
}

TEST(SessionState, CleanCloseReconnectsAtOnce) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.forward_requested(t0);
  m.forward_bound(t0, "127.0.0.1:29000");
  m.failed(FailureKind::clean_close, "server closed the session", t0 + seconds(100));
  EXPECT_EQ(m.due(t0 + seconds(100)), Due::backoff_over);
}

// Up to the authentication step, then refused: what a worker with a bad key goes through.
void refused_at(SessionMachine& m, TP t, const std::string& why) {
  ASSERT_TRUE(m.resolved(t, "192.0.2.7:22"));
  ASSERT_TRUE(m.connected(t));
  m.failed(FailureKind::credentials, why, t);
}

TEST(SessionState, ThreeCredentialFailuresHoldTheNextAttemptBackAndSayWhy) {
  TP t0{};
  auto m = machine(t0);
  const std::string refused = "the VPS refused public key authentication as user \"root\"";
  refused_at(m, t0, refused);
  EXPECT_EQ(m.last_error(), refused);  // the first two wait the plain backoff: 1 s, 2 s
  EXPECT_EQ(m.wakeup(), t0 + seconds(1));
  ASSERT_TRUE(m.retry(t0 + seconds(1)));
  refused_at(m, t0 + seconds(1), refused);
  EXPECT_EQ(m.last_error(), refused);
  EXPECT_EQ(m.wakeup(), t0 + seconds(3));
  ASSERT_TRUE(m.retry(t0 + seconds(3)));
  m.take_transitions();

  // The third at 3 s: the backoff would say 7 s, the limiter 16 s (3 per 16 s).
  refused_at(m, t0 + seconds(3), refused);
  EXPECT_EQ(m.state(), State::backoff);
  EXPECT_EQ(m.wakeup(), t0 + seconds(16));
  const std::string& e = m.last_error();
  EXPECT_EQ(e.rfind(refused, 0), 0u) << e;  // the failure itself first
  EXPECT_NE(e.find("next attempt held back: at most 3 host-key or authentication failures per "
                   "16 s"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("PerSourcePenalties"), std::string::npos) << e;
  auto ts = m.take_transitions();
  ASSERT_FALSE(ts.empty());
  EXPECT_EQ(ts.back().to, State::backoff);
  EXPECT_EQ(ts.back().reason, e);  // the worker logs and reports (STATUS=) the same
  EXPECT_EQ(m.due(t0 + seconds(7)), Due::nothing);
  EXPECT_FALSE(m.retry(t0 + milliseconds(15999)));
  EXPECT_EQ(m.due(t0 + seconds(16)), Due::backoff_over);
  ASSERT_TRUE(m.retry(t0 + seconds(16)));
  EXPECT_EQ(m.reconnects(), 3);

  // The fourth at 16 s: the backoff's 8 s is the longer wait again; the reason is plain.
  refused_at(m, t0 + seconds(16), refused);
  EXPECT_EQ(m.wakeup(), t0 + seconds(24));
  EXPECT_EQ(m.last_error(), refused);
}

// Three refusals at 0, 1 and 3 s, each retried when due; returns the time of the third retry.
TP three_refusals(SessionMachine& m, TP t0, const std::string& why) {
  TP t = t0;
  for (int i = 0; i < 3; ++i) {
    refused_at(m, t, why);
    t = m.wakeup().value_or(t);
    EXPECT_TRUE(m.retry(t));
  }
  EXPECT_EQ(t, t0 + seconds(16));
  return t;
}

TEST(SessionState, AfterTheHeldBackWaitOtherFailuresWaitTheirOwn) {
  TP t0{};
  auto m = machine(t0);
  const TP t = three_refusals(m, t0, "host key of [vps]:22 does not match");
  m.failed(FailureKind::network, "Connection refused", t);
  EXPECT_EQ(m.wakeup(), t + seconds(1));
  EXPECT_EQ(m.last_error(), "Connection refused");
}

TEST(SessionState, AHealthySessionClearsTheErrorOfTheHeldBackWait) {
  TP t0{};
  auto m = machine(t0);
  refused_at(m, t0, "auth refused");
  ASSERT_TRUE(m.retry(t0 + seconds(1)));
  refused_at(m, t0 + seconds(1), "auth refused");
  ASSERT_TRUE(m.retry(t0 + seconds(3)));
  refused_at(m, t0 + seconds(3), "auth refused");
  EXPECT_NE(m.last_error().find("held back"), std::string::npos);
  EXPECT_EQ(to_string(m.state()), std::string("backoff"));
  ASSERT_TRUE(m.retry(t0 + seconds(16)));
  connect(m, t0 + seconds(16));
  m.forward_requested(t0 + seconds(16));
  ASSERT_TRUE(m.forward_bound(t0 + seconds(16), "127.0.0.1:29000"));
  EXPECT_EQ(m.last_error(), "");
}

}  // namespace
}  // namespace pvt::tunnel
