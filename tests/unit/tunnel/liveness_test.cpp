#include "tunnel/liveness.h"

#include <gtest/gtest.h>

namespace pvt::tunnel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TP = Liveness::Clock::time_point;
using A = Liveness::Action;

// Drives a tracker through a silent link, doing what the event loop would: wake at
// next_wakeup(), send a probe when asked. Returns when it was declared dead and how many probes
// went out.
std::pair<TP, int> run_silent(Liveness& l, TP start) {
  TP now = start;
  int probes = 0;
  for (int i = 0; i < 1000; ++i) {
    now = std::max(now, l.next_wakeup());
    switch (l.tick(now)) {
      case A::dead:
        return {now, probes};
      case A::send_probe:
        l.on_probe_sent(now);
        ++probes;
        break;
      case A::none:
        ADD_FAILURE() << "woken with nothing to do";
        return {now, probes};
    }
  }
  ADD_FAILURE() << "never declared dead";
  return {now, probes};
}

TEST(Liveness, SilentLinkIsDeadAfterIntervalTimesCount) {
  TP t0{};
  Liveness l(seconds(10), 3, t0);
  auto [dead_at, probes] = run_silent(l, t0);
  EXPECT_EQ(dead_at, t0 + seconds(30));
  EXPECT_EQ(probes, 2);  // at 10 s and 20 s; the third interval ends the session
  EXPECT_EQ(l.probes_unanswered(), 2);
}

TEST(Liveness, DefaultsAndShortTestSettings) {
  for (auto [interval, count] : {std::pair{seconds(1), 3}, std::pair{seconds(10), 3},
                                 std::pair{seconds(5), 6}, std::pair{seconds(2), 2}}) {
    TP t0{};
    Liveness l(interval, count, t0);
    auto [dead_at, probes] = run_silent(l, t0);
    EXPECT_EQ(dead_at - t0, interval * count);
    EXPECT_EQ(probes, count - 1);
  }
}

TEST(Liveness, CountOfOneStillProbesBeforeTheDeadline) {
  TP t0{};
  Liveness l(seconds(10), 1, t0);
  EXPECT_EQ(l.tick(t0 + seconds(4)), A::none);
  EXPECT_EQ(l.tick(t0 + seconds(5)), A::send_probe);
  l.on_probe_sent(t0 + seconds(5));
  // The answer arrives: the link is alive, the clock starts again.
  l.on_inbound(t0 + seconds(5) + milliseconds(40));
  EXPECT_EQ(l.tick(t0 + seconds(10)), A::none);
  auto [dead_at, probes] = run_silent(l, t0 + seconds(6));
  EXPECT_EQ(dead_at, t0 + seconds(15) + milliseconds(40));
  EXPECT_EQ(probes, 1);
}

TEST(Liveness, AnsweredProbesKeepAnIdleLinkAliveForever) {
  TP t0{};
  Liveness l(seconds(10), 3, t0);
  TP now = t0;
  for (int i = 0; i < 10000; ++i) {
    now = l.next_wakeup();
    ASSERT_EQ(l.tick(now), A::send_probe) << "at step " << i;
    l.on_probe_sent(now);
    l.on_inbound(now + milliseconds(80));  // the server's reply
  }
  EXPECT_EQ(l.probes_unanswered(), 0);
}

TEST(Liveness, TrafficMeansNoProbes) {
  TP t0{};
  Liveness l(seconds(10), 3, t0);
  for (int s = 1; s < 1000; ++s) {
    l.on_inbound(t0 + seconds(s));
    EXPECT_EQ(l.tick(t0 + seconds(s) + milliseconds(999)), A::none);
  }
}

TEST(Liveness, ProbesAreSpacedByTheIntervalNotRepeatedEveryTick) {
  TP t0{};
  Liveness l(seconds(10), 3, t0);
  ASSERT_EQ(l.tick(t0 + seconds(10)), A::send_probe);
  l.on_probe_sent(t0 + seconds(10));
  EXPECT_EQ(l.tick(t0 + seconds(10) + milliseconds(1)), A::none);
  EXPECT_EQ(l.tick(t0 + seconds(19)), A::none);
  EXPECT_EQ(l.next_wakeup(), t0 + seconds(20));
  EXPECT_EQ(l.tick(t0 + seconds(20)), A::send_probe);
}

TEST(Liveness, InboundResetsTheUnansweredCount) {
  TP t0{};
  Liveness l(seconds(1), 3, t0);
  l.on_probe_sent(t0 + seconds(1));
  l.on_probe_sent(t0 + seconds(2));
  EXPECT_EQ(l.probes_unanswered(), 2);
  EXPECT_EQ(l.silence(t0 + seconds(2)), seconds(2));
  l.on_inbound(t0 + milliseconds(2500));
  EXPECT_EQ(l.probes_unanswered(), 0);
  EXPECT_EQ(l.silence(t0 + seconds(3)), milliseconds(500));
  EXPECT_EQ(l.tick(t0 + seconds(3)), A::none);
  EXPECT_EQ(l.tick(t0 + milliseconds(3500)), A::send_probe);
  EXPECT_EQ(l.tick(t0 + milliseconds(5500)), A::dead);
}

TEST(Liveness, LateTimestampsDoNotMoveTheClockBack) {
  TP t0{};
  Liveness l(seconds(1), 3, t0);
  l.on_inbound(t0 + seconds(2));
  l.on_inbound(t0 + seconds(1));  // reordered report from the loop
  EXPECT_EQ(l.silence(t0 + seconds(3)), seconds(1));
}

}  // namespace
}  // namespace pvt::tunnel
