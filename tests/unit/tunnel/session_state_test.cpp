#include "tunnel/session_state.h"

#include <gtest/gtest.h>

#include <algorithm>

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

int64_t ms_since(TP t0, TP t) { return std::chrono::duration_cast<milliseconds>(t - t0).count(); }

// Every request of a forward that the VPS keeps refusing, each sent when due and refused
// `rtt` later, until due() says something else than retry_forward. Returns the send times
// (ms after t0); `end` is where it stopped.
std::vector<int64_t> refuse_all(SessionMachine& m, TP t0, milliseconds rtt, TP& end) {
  std::vector<int64_t> sent;
  TP now = t0;
  for (int guard = 0; guard < 10000; ++guard) {
    if (m.due(now) != Due::retry_forward) break;
    EXPECT_TRUE(m.forward_requested(now));
    sent.push_back(ms_since(t0, now));
    EXPECT_EQ(m.due(now + rtt / 2), Due::nothing);   // one request at a time
    EXPECT_EQ(m.wakeup(), m.since() + seconds(60));  // in flight: only the give-up
    now += rtt;
    EXPECT_TRUE(m.forward_refused(now));
    EXPECT_EQ(m.state(), State::forward_pending);
    const TP next = *m.wakeup();
    EXPECT_GT(next, now);
    EXPECT_EQ(m.due(next - milliseconds(1)), Due::nothing);
    now = next;
  }
  end = now;
  return sent;
}

// The schedule of SessionTimings with zero round trip: every 100 ms for 2 s, every 250 ms up to
// 30 s, then 0.5, 1 and 2 s steps, 2 s at most, until the reconnect at 60 s.
std::vector<int64_t> expected_schedule() {
  std::vector<int64_t> at;
  for (int64_t t = 0; t < 2000; t += 100) at.push_back(t);
  for (int64_t t = 2000; t <= 30000; t += 250) at.push_back(t);
  for (int64_t t : {30500, 31500}) at.push_back(t);
  for (int64_t t = 33500; t < 60000; t += 2000) at.push_back(t);
  return at;
}

TEST(SessionState, RefusedForwardIsRetriedEvery100msThen250msThenBacksOffTo2s) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.take_transitions();
  TP end;
  const auto sent = refuse_all(m, t0, milliseconds(0), end);
  EXPECT_EQ(sent, expected_schedule());
  // Counted: 20 in the first 2 s, 113 from 2 s to 30 s, 16 after; the number the comment at
  // SessionTimings gives for the VPS's log.
  ASSERT_EQ(sent.size(), 149u);
  EXPECT_EQ(std::count_if(sent.begin(), sent.end(), [](int64_t t) { return t < 2000; }), 20);
  EXPECT_EQ(
      std::count_if(sent.begin(), sent.end(), [](int64_t t) { return t >= 2000 && t <= 30000; }),
      113);
  // The steps: 100 ms, 250 ms, then 500 ms, 1 s and the 2 s ceiling, never more.
  std::vector<int64_t> steps;
  for (size_t i = 1; i < sent.size(); ++i) {
    const int64_t d = sent[i] - sent[i - 1];
    if (steps.empty() || steps.back() != d) steps.push_back(d);
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{100, 250, 500, 1000, 2000}));
  EXPECT_EQ(m.forward_refusals(), 149);
  // Give up at forward_pending_max: 0.5 s after the last refusal at 59.5 s, reconnect at 60 s.
  EXPECT_EQ(ms_since(t0, end), 60000);
  EXPECT_EQ(m.due(end), Due::reconnect);
  EXPECT_EQ(m.due(end - milliseconds(1)), Due::nothing);
  // Honest state: forward-pending the whole minute, no transition while retrying.
  EXPECT_EQ(m.state(), State::forward_pending);
  EXPECT_TRUE(m.take_transitions().empty());
  EXPECT_EQ(m.reconnects(), 0);
  m.failed(FailureKind::after_connect, "the VPS refused the forward for 60 s", end);
  EXPECT_EQ(m.state(), State::backoff);
}

TEST(SessionState, RefusedForwardRetryStepsCountFromTheRefusal) {
  // With a 40 ms round trip a step starts when the refusal arrives, so there is never more than
  // one request in flight, and the phases go by the time since forward-pending began.
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  TP end;
  const auto sent = refuse_all(m, t0, milliseconds(40), end);
  ASSERT_GE(sent.size(), 3u);
  EXPECT_EQ(sent[0], 0);
  EXPECT_EQ(sent[1], 140);
  EXPECT_EQ(sent[2], 280);
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < sent.size(); ++i) gaps.push_back(sent[i] - sent[i - 1]);
  for (size_t i = 0; i < gaps.size(); ++i) {
    const int64_t refused_at = sent[i] + 40;  // the refusal that scheduled sent[i + 1]
    const int64_t want = refused_at < 2000 ? 140 : refused_at < 30000 ? 290 : gaps[i];
    EXPECT_EQ(gaps[i], want) << "request " << i + 1 << " at " << sent[i + 1] << " ms";
    if (refused_at >= 30000) {
      EXPECT_TRUE(gaps[i] == 540 || gaps[i] == 1040 || gaps[i] == 2040) << gaps[i];
    }
  }
  EXPECT_LE(sent.size(), 149u);
  EXPECT_GE(ms_since(t0, end), 60000);
  EXPECT_EQ(m.due(end), Due::reconnect);
}

TEST(SessionState, RefusedForwardRetriesAtEachPhaseBoundary) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  auto refuse = [&](int64_t at_ms) {
    m.forward_requested(t0 + milliseconds(at_ms));
    m.forward_refused(t0 + milliseconds(at_ms));
    return ms_since(t0, *m.wakeup());
  };
  // A refusal just before 2 s is retried 100 ms later, one after 2 s 250 ms later.
  EXPECT_EQ(refuse(1999), 2099);
  EXPECT_EQ(refuse(2099), 2349);
  // Just before 30 s: 250 ms; from 30 s the step doubles from 500 ms to the 2 s ceiling.
  EXPECT_EQ(refuse(29999), 30249);
  EXPECT_EQ(refuse(30249), 30749);
  EXPECT_EQ(refuse(30749), 31749);
  EXPECT_EQ(refuse(31749), 33749);
  EXPECT_EQ(refuse(33749), 35749);
  EXPECT_EQ(refuse(35749), 37749);
  // Near the give-up the wakeup is the give-up, not the next retry.
  EXPECT_EQ(refuse(59000), 60000);
  EXPECT_EQ(m.due(t0 + milliseconds(59999)), Due::nothing);
  EXPECT_EQ(m.due(t0 + seconds(60)), Due::reconnect);
  EXPECT_EQ(m.state(), State::forward_pending);
}

TEST(SessionState, RefusedForwardKeepsTheSessionAndBindsWhenThePortIsReleased) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  m.take_transitions();
  // The stale session holds the port for 9.37 s: refused until then.
  const TP released = t0 + milliseconds(9370);
  TP now = t0;
  while (true) {
    ASSERT_EQ(m.due(now), Due::retry_forward);
    m.forward_requested(now);
    if (now >= released) break;
    m.forward_refused(now);
    EXPECT_EQ(m.state(), State::forward_pending);
    EXPECT_EQ(m.last_error(),
              "the VPS refused the remote forward: the port is probably still held there (a "
              "stale session of ours until the VPS's sshd ends it, or another client); retrying "
              "in this session");
    now = *m.wakeup();
  }
  // The first request after the release goes out within one 250 ms step of it.
  EXPECT_EQ(ms_since(t0, now), 9500);
  EXPECT_LE(now - released, milliseconds(250));
  EXPECT_TRUE(m.forward_long_refused(now));
  EXPECT_TRUE(m.forward_bound(now, "127.0.0.1:29000"));
  EXPECT_EQ(m.state(), State::serving);
  EXPECT_EQ(m.last_error(), "");
  EXPECT_EQ(m.reconnects(), 0);
  EXPECT_EQ(names(m.take_transitions()), (std::vector<std::string>{"forward-pending=>serving"}));
}

TEST(SessionState, EveryForwardPendingStartsTheScheduleAfresh) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  TP end;
  refuse_all(m, t0, milliseconds(0), end);  // 60 s refused: reconnect
  m.failed(FailureKind::after_connect, "forward refused for 60 s", end);
  const TP t1 = *m.wakeup();
  ASSERT_TRUE(m.retry(t1));
  connect(m, t1);
  EXPECT_EQ(m.forward_refusals(), 0);
  EXPECT_FALSE(m.forward_long_refused(t1));
  EXPECT_EQ(refuse_all(m, t1, milliseconds(0), end), expected_schedule());
  // And after a drain and resume.
  m.drain(end);
  m.channels_closed(end);
  ASSERT_TRUE(m.resume(end + seconds(1)));
  m.forward_requested(end + seconds(1));
  m.forward_refused(end + seconds(1));
  EXPECT_EQ(m.wakeup(), end + milliseconds(1100));
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

TEST(SessionState, LongRefusedAfterThreeRefusalsAndTwoSeconds) {
  TP t0{};
  auto m = machine(t0);
  connect(m, t0);
  for (int i = 0; i < 19; ++i) {  // the burst: 19 refusals in 1.9 s
    const TP t = t0 + milliseconds(100 * i);
    m.forward_requested(t);
    m.forward_refused(t);
    EXPECT_FALSE(m.forward_long_refused(t)) << i;
  }
  EXPECT_FALSE(m.forward_long_refused(t0 + milliseconds(1999)));
  EXPECT_TRUE(m.forward_long_refused(t0 + seconds(2)));
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
  EXPECT_EQ(m.wakeup(), t + milliseconds(100));  // the first of a run of network failures
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
