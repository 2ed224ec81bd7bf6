// The controller's pure core: what plan() decides for each situation, and how outcomes move a
// guest's state. Virtual time only: every cycle gets its `now`.
#include "controller/planner/planner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "controller/planner/startup_property.h"
#include "tests/support/reference_guests.h"

namespace pvt::planner {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kT0 = TimePoint(seconds(1795000000));

// The reference guests, each with a worker the controller can reach.
config::Config two_guests() {
  config::Config cfg = testing::reference_guests();
  config::Tunnel t1;
  t1.name = "tunnel1";
  t1.guest = "tunnel1";
  t1.control_url = "http://10.0.0.11:9190";
  config::Tunnel t2 = t1;
  t2.name = "tunnel2";
  t2.guest = "tunnel2";
  t2.control_url = "http://10.0.0.21:9190";
  cfg.tunnels = {t1, t2};
  return cfg;
}

ObservedGuest healthy_guest(const std::string& node) {
  ObservedGuest g;
  g.found = true;
  g.power = PowerState::running;
  g.power_raw = "running";
  g.node = node;
  g.onboot = true;
  g.startup = "order=1";
  g.config_read = true;
  g.digest = "d1";
  g.backup_overdue = false;
  g.backup_storage = "pbs1";
  return g;
}

Observed healthy() {
  Observed o;
  o.quorate = true;
  o.guests["tunnel1"] = healthy_guest("pve1");
  o.guests["tunnel2"] = healthy_guest("pve2");
  o.tunnels["tunnel1"] = {true, true, false};
  o.tunnels["tunnel2"] = {true, true, false};
  return o;
}

Policy enforce_all() {
  Policy p;
  p.enforce = {ActionKind::start_guest, ActionKind::set_onboot, ActionKind::set_startup,
               ActionKind::backup_guest, ActionKind::reconnect_worker};
  return p;
}

std::vector<std::string> kinds(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& a : p.actions) out.push_back(std::string(to_string(a.kind)) + " " + a.target);
  return out;
}

const Action* find(const Plan& p, ActionKind k, const std::string& target) {
  for (const auto& a : p.actions) {
    if (a.kind == k && a.target == target) return &a;
  }
  return nullptr;
}

TEST(Plan, EverythingAsDesiredPlansNothing) {
  auto p = plan(two_guests(), healthy(), {}, enforce_all(), kT0);
  EXPECT_TRUE(p.actions.empty()) << ::testing::PrintToString(kinds(p));
  EXPECT_EQ(p.next.guests.at("tunnel1").state.phase, GuestPhase::ok);
}

TEST(Plan, AStoppedGuestIsStartedWithinOneCycle) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel2"].power_raw = "stopped";
  auto p = plan(two_guests(), o, {}, enforce_all(), kT0);
  ASSERT_EQ(kinds(p), std::vector<std::string>{"start tunnel2"});
  const Action& a = p.actions[0];
  EXPECT_TRUE(a.enforced);
  EXPECT_EQ(a.node, "pve2");
  EXPECT_EQ(a.vmid, 210);
  EXPECT_EQ(a.describe(), "start tunnel2 (lxc 210 on pve2): it is stopped");
}

TEST(Plan, AuditOnlySaysWhatItWouldDoAndChangesNothing) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel2"].power_raw = "stopped";
  o.guests["tunnel1"].onboot = false;
  auto p = plan(two_guests(), o, {}, Policy{}, kT0);
  ASSERT_EQ(p.actions.size(), 2u);
  for (const auto& a : p.actions) EXPECT_FALSE(a.enforced) << a.describe();
  EXPECT_NE(
      std::find(p.log.begin(), p.log.end(), "would start tunnel2 (lxc 210 on pve2): it is stopped"),
      p.log.end())
      << ::testing::PrintToString(p.log);
  EXPECT_EQ(p.next.guests.at("tunnel2").state.phase, GuestPhase::ok);
}

TEST(Plan, EachEnforcementIsEnabledSeparately) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel1"].onboot = false;
  Policy only_onboot;
  only_onboot.enforce = {ActionKind::set_onboot};
  auto p = plan(two_guests(), o, {}, only_onboot, kT0);
  EXPECT_TRUE(find(p, ActionKind::set_onboot, "tunnel1")->enforced);
  EXPECT_FALSE(find(p, ActionKind::start_guest, "tunnel2")->enforced);
}

TEST(Plan, NothingWithoutQuorumOrWithoutKnowingIt) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel1"].onboot = false;
  o.quorate = false;
  auto p = plan(two_guests(), o, {}, enforce_all(), kT0);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(p.next.guests.at("tunnel2").state.describe(),
            "blocked: cluster not quorate: PVE refuses starts and config changes");
  o.quorate.reset();
  EXPECT_TRUE(plan(two_guests(), o, {}, enforce_all(), kT0).actions.empty());
}

TEST(Plan, StateChangesAreLoggedOnceAndBlockedClearsWhenQuorumReturns) {
  auto o = healthy();
  o.quorate = false;
  auto p1 = plan(two_guests(), o, {}, enforce_all(), kT0);
  EXPECT_EQ(std::count_if(p1.log.begin(), p1.log.end(),
                          [](const std::string& l) {
                            return l.rfind(
                                       "guest tunnel1: state ok => blocked: cluster not "
                                       "quorate",
                                       0) == 0;
                          }),
            1);
  auto p2 = plan(two_guests(), o, p1.next, enforce_all(), kT0 + seconds(10));
  EXPECT_TRUE(p2.log.empty()) << ::testing::PrintToString(p2.log);  // unchanged: no line
  o.quorate = true;
  auto p3 = plan(two_guests(), o, p2.next, enforce_all(), kT0 + seconds(20));
  EXPECT_EQ(p3.next.guests.at("tunnel1").state.phase, GuestPhase::ok);
}

TEST(Plan, NeverStartsWhatItMustNotTouch) {
  struct Case {
    const char* name;
    void (*set)(ObservedGuest&);
    const char* reason;
  };
  const Case cases[] = {
      {"HA-managed", [](ObservedGuest& g) { g.hastate = "stopped"; },
       "blocked: HA-managed (hastate stopped): PVE's HA stack decides whether it runs"},
      {"locked", [](ObservedGuest& g) { g.lock = "backup"; }, "blocked: locked (backup)"},
      {"template", [](ObservedGuest& g) { g.is_template = true; },
       "blocked: a template cannot run"},
      {"node offline", [](ObservedGuest& g) { g.node_online = false; },
       "blocked: node pve2 is offline"},
      {"unknown state",
       [](ObservedGuest& g) {
         g.power = PowerState::other;
         g.power_raw = "unknown";
       },
       "blocked: its state \"unknown\" is not one to act on"},
      {"not found", [](ObservedGuest& g) { g.found = false; },
       "blocked: guest 210 not found (or not visible to the token)"},
  };
  for (const auto& k : cases) {
    auto o = healthy();
    auto& g = o.guests["tunnel2"];
    g.power = PowerState::stopped;
    g.power_raw = "stopped";
    k.set(g);
    auto p = plan(two_guests(), o, {}, enforce_all(), kT0);
    EXPECT_EQ(find(p, ActionKind::start_guest, "tunnel2"), nullptr) << k.name;
    EXPECT_EQ(p.next.guests.at("tunnel2").state.describe(), k.reason) << k.name;
  }
}

TEST(Plan, OnlyWhatIsObservedStoppedIsStarted) {
  // A running QEMU guest's start gives a failing task, a running LXC's a 500: never try.
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::running;
  EXPECT_EQ(find(plan(two_guests(), o, {}, enforce_all(), kT0), ActionKind::start_guest, "tunnel2"),
            nullptr);
}

TEST(Plan, AStartInFlightIsFollowedNotRepeated) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel2"].power_raw = "stopped";
  const auto policy = enforce_all();
  auto p1 = plan(two_guests(), o, {}, policy, kT0);
  History h = p1.next;
  record_outcome(h, p1.actions[0], {true, "UPID:pve2:start:210", "", false}, policy, kT0, p1.log);
  EXPECT_EQ(h.guests.at("tunnel2").state.describe(), "start requested (UPID:pve2:start:210)");
  // Still stopped, task running: nothing new.
  o.tasks["UPID:pve2:start:210"] = {TaskProgress::running, ""};
  auto p2 = plan(two_guests(), o, h, policy, kT0 + seconds(10));
  EXPECT_TRUE(p2.actions.empty());
  // Running now: ok.
  o.guests["tunnel2"].power = PowerState::running;
  o.tasks["UPID:pve2:start:210"] = {TaskProgress::ok, "OK"};
  auto p3 = plan(two_guests(), o, p2.next, policy, kT0 + seconds(20));
  EXPECT_EQ(p3.next.guests.at("tunnel2").state.phase, GuestPhase::ok);
  EXPECT_EQ(p3.next.guests.at("tunnel2").start_failures, 0);
}

TEST(Plan, RepeatedStartFailuresBackOffExponentiallyThenGiveUpVisibly) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel2"].power_raw = "stopped";
  Policy policy = enforce_all();
  policy.start_min_interval = seconds(60);
  policy.start_backoff_max = seconds(900);
  History h;
  TimePoint now = kT0;
  std::vector<std::chrono::seconds> waits;
  for (int attempt = 0; attempt < 7; ++attempt) {
    // Cycle every 10 s until the planner asks for a start.
    Plan p;
    for (int cycle = 0; cycle < 200; ++cycle) {
      p = plan(two_guests(), o, h, policy, now);
      if (find(p, ActionKind::start_guest, "tunnel2")) break;
      h = p.next;
      now += seconds(10);
    }
    const Action* a = find(p, ActionKind::start_guest, "tunnel2");
    ASSERT_NE(a, nullptr) << "attempt " << attempt;
    h = p.next;
    record_outcome(h, *a, {false, "", "start failed: QEMU exited with code 1", false}, policy, now,
                   p.log);
    const auto& s = h.guests.at("tunnel2").state;
    ASSERT_EQ(s.phase, GuestPhase::start_backoff);
    waits.push_back(std::chrono::duration_cast<seconds>(s.until - now));
    if (waits.back() == seconds(900)) {
      EXPECT_TRUE(s.giving_up);
      EXPECT_EQ(s.describe().rfind("giving up until ", 0), 0u) << s.describe();
    } else {
      EXPECT_FALSE(s.giving_up);
    }
  }
  EXPECT_EQ(waits, (std::vector<seconds>{seconds(60), seconds(120), seconds(240), seconds(480),
                                         seconds(900), seconds(900), seconds(900)}));
}

TEST(Plan, AStartTaskThatEndsWithTheGuestStillStoppedIsAFailure) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  History h;
  h.guests["tunnel2"].state = GuestState::start_requested("UPID:x");
  h.guests["tunnel2"].last_start = kT0;
  o.tasks["UPID:x"] = {TaskProgress::failed, "start failed: no space left"};
  auto p = plan(two_guests(), o, h, enforce_all(), kT0 + seconds(10));
  EXPECT_EQ(p.next.guests.at("tunnel2").state.phase, GuestPhase::start_backoff);
  EXPECT_EQ(p.next.guests.at("tunnel2").start_failures, 1);
  EXPECT_TRUE(p.actions.empty());
}

TEST(Plan, AtMostOneStartPerMinimumInterval) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  History h;
  h.guests["tunnel2"].last_start = kT0;
  auto p = plan(two_guests(), o, h, enforce_all(), kT0 + seconds(60));
  EXPECT_NE(find(p, ActionKind::start_guest, "tunnel2"), nullptr);
}

TEST(Plan, AGuestThatStopsSoonAfterItsStartBacksOffLikeAFailedStart) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  History h;
  h.guests["tunnel2"].last_start = kT0;  // started, came up, stopped again (a flapping guest)
  auto p = plan(two_guests(), o, h, enforce_all(), kT0 + seconds(30));
  EXPECT_EQ(find(p, ActionKind::start_guest, "tunnel2"), nullptr);
  const auto& m = p.next.guests.at("tunnel2");
  EXPECT_EQ(m.start_failures, 1);
  EXPECT_EQ(m.state.phase, GuestPhase::start_backoff);
  EXPECT_EQ(m.state.until, kT0 + seconds(90));
  EXPECT_NE(std::find(p.log.begin(), p.log.end(),
                      "guest tunnel2: start failed (1 in a row): it stopped again 30 s after its "
                      "start"),
            p.log.end());
  // Not before the backoff has passed; then once, and a second flap waits twice as long.
  auto h2 = p.next;
  p = plan(two_guests(), o, h2, enforce_all(), kT0 + seconds(60));
  EXPECT_EQ(find(p, ActionKind::start_guest, "tunnel2"), nullptr);
  p = plan(two_guests(), o, h2, enforce_all(), kT0 + seconds(90));
  ASSERT_NE(find(p, ActionKind::start_guest, "tunnel2"), nullptr);
  auto h3 = p.next;
  h3.guests["tunnel2"].last_start = kT0 + seconds(90);
  h3.guests["tunnel2"].state = GuestState::ok();  // it came up
  p = plan(two_guests(), o, h3, enforce_all(), kT0 + seconds(100));
  EXPECT_EQ(p.next.guests.at("tunnel2").start_failures, 2);
  EXPECT_EQ(p.next.guests.at("tunnel2").state.until, kT0 + seconds(100 + 120));
}

TEST(Plan, BootFlagsAreFixedWithTheDigestAndTheStartupOrderMerged) {
  auto o = healthy();
  o.guests["tunnel1"].onboot = false;
  o.guests["tunnel1"].startup = "order=3,up=30,down=60";
  o.guests["tunnel1"].digest = "abc";
  auto p = plan(two_guests(), o, {}, enforce_all(), kT0);
  ASSERT_EQ(kinds(p), (std::vector<std::string>{"onboot tunnel1", "startup tunnel1"}));
  EXPECT_EQ(p.actions[0].digest, "abc");
  EXPECT_EQ(p.actions[1].startup, "order=1,up=30,down=60");
  EXPECT_EQ(p.actions[1].digest, "abc");
}

TEST(Plan, ConfigIsLeftAloneWhileLockedOrUnread) {
  auto o = healthy();
  o.guests["tunnel1"].onboot = false;
  o.guests["tunnel1"].lock = "snapshot";
  EXPECT_TRUE(plan(two_guests(), o, {}, enforce_all(), kT0).actions.empty());
  o.guests["tunnel1"].lock.reset();
  o.guests["tunnel1"].config_read = false;
  EXPECT_TRUE(plan(two_guests(), o, {}, enforce_all(), kT0).actions.empty());
}

TEST(Plan, AnOverdueBackupIsTriggeredOncePerNodeAndNeverTwice) {
  auto o = healthy();
  o.guests["tunnel1"].backup_overdue = true;
  auto p = plan(two_guests(), o, {}, enforce_all(), kT0);
  ASSERT_EQ(kinds(p), std::vector<std::string>{"backup tunnel1"});
  EXPECT_EQ(p.actions[0].storage, "pbs1");
  // Another vzdump runs on the node: wait (PVE runs one per node at a time).
  o.nodes_backing_up = {"pve1"};
  EXPECT_TRUE(plan(two_guests(), o, {}, enforce_all(), kT0).actions.empty());
  o.nodes_backing_up.clear();
  // Its own backup runs: nothing.
  o.guests["tunnel1"].lock = "backup";
  EXPECT_TRUE(plan(two_guests(), o, {}, enforce_all(), kT0).actions.empty());
  o.guests["tunnel1"].lock.reset();
  // [backup] storage wins over the covering job's.
  Policy with_storage = enforce_all();
  with_storage.backup_storage = "local";
  EXPECT_EQ(plan(two_guests(), o, {}, with_storage, kT0).actions[0].storage, "local");
}

TEST(Plan, TwoGuestsOnOneNodeGetOneBackupPerCycle) {
  auto cfg = two_guests();
  cfg.guests[1].node = "pve1";
  auto o = healthy();
  o.guests["tunnel2"].node = "pve1";
  o.guests["tunnel1"].backup_overdue = true;
  o.guests["tunnel2"].backup_overdue = true;
  EXPECT_EQ(kinds(plan(cfg, o, {}, enforce_all(), kT0)),
            std::vector<std::string>{"backup tunnel1"});
}

TEST(Plan, ARequestedBackupIsFollowedAndAFailureWaitsAnHour) {
  auto o = healthy();
  o.guests["tunnel1"].backup_overdue = true;
  const auto policy = enforce_all();
  auto p = plan(two_guests(), o, {}, policy, kT0);
  History h = p.next;
  record_outcome(h, p.actions[0], {true, "UPID:pve1:vzdump", "", false}, policy, kT0, p.log);
  o.tasks["UPID:pve1:vzdump"] = {TaskProgress::running, ""};
  EXPECT_TRUE(plan(two_guests(), o, h, policy, kT0 + minutes(1)).actions.empty());
  o.tasks["UPID:pve1:vzdump"] = {TaskProgress::failed, "job errors"};
  auto failed = plan(two_guests(), o, h, policy, kT0 + minutes(2));
  EXPECT_TRUE(failed.actions.empty());
  EXPECT_EQ(plan(two_guests(), o, failed.next, policy, kT0 + minutes(30)).actions.size(), 0u);
  EXPECT_EQ(kinds(plan(two_guests(), o, failed.next, policy, kT0 + minutes(63))),
            std::vector<std::string>{"backup tunnel1"});
}

TEST(Plan, VzdumpWithoutATaskMeansTheGuestMoved) {
  auto o = healthy();
  o.guests["tunnel1"].backup_overdue = true;
  const auto policy = enforce_all();
  auto p = plan(two_guests(), o, {}, policy, kT0);
  History h = p.next;
  std::vector<std::string> log;
  record_outcome(h, p.actions[0], {true, "", "", true}, policy, kT0, log);
  EXPECT_EQ(h.guests.at("tunnel1").state.phase, GuestPhase::ok);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("not there any more"), std::string::npos);
}

TEST(Plan, AnUnhealthyWorkerIsAskedToReconnectAfterNCycles) {
  auto o = healthy();
  o.tunnels["tunnel1"].serving = false;
  Policy policy = enforce_all();
  policy.reconnect_after_cycles = 3;
  History h;
  for (int cycle = 1; cycle <= 2; ++cycle) {
    auto p = plan(two_guests(), o, h, policy, kT0 + seconds(10 * cycle));
    EXPECT_TRUE(p.actions.empty()) << cycle;
    h = p.next;
  }
  auto p = plan(two_guests(), o, h, policy, kT0 + seconds(30));
  ASSERT_EQ(kinds(p), std::vector<std::string>{"reconnect tunnel1"});
  EXPECT_EQ(p.next.unhealthy_cycles.at("tunnel1"), 0);
}

TEST(Plan, NoReconnectDuringMaintenanceWhenDrainedOrWhileItsGuestIsDown) {
  Policy policy = enforce_all();
  policy.reconnect_after_cycles = 1;
  auto o = healthy();
  o.tunnels["tunnel1"].serving = false;
  o.maintenance = {"tunnel1"};
  EXPECT_TRUE(plan(two_guests(), o, {}, policy, kT0).actions.empty());
  o.maintenance.clear();
  o.tunnels["tunnel1"].drained = true;
  EXPECT_TRUE(plan(two_guests(), o, {}, policy, kT0).actions.empty());
  o.tunnels["tunnel1"].drained = false;
  o.tunnels["tunnel1"].reachable = false;  // cannot be asked anything
  EXPECT_TRUE(plan(two_guests(), o, {}, policy, kT0).actions.empty());
  o.tunnels["tunnel1"].reachable = true;
  o.guests["tunnel1"].power = PowerState::stopped;  // the start comes first
  EXPECT_EQ(kinds(plan(two_guests(), o, {}, policy, kT0)),
            std::vector<std::string>{"start tunnel1"});
}

TEST(Plan, BothTunnelsDownStartsBothGuests) {
  auto o = healthy();
  for (auto* name : {"tunnel1", "tunnel2"}) {
    o.guests[name].power = PowerState::stopped;
    o.tunnels[name] = {false, false, false};
  }
  EXPECT_EQ(kinds(plan(two_guests(), o, {}, enforce_all(), kT0)),
            (std::vector<std::string>{"start tunnel1", "start tunnel2"}));
}

TEST(Plan, IsPure) {
  auto o = healthy();
  o.guests["tunnel2"].power = PowerState::stopped;
  o.guests["tunnel1"].backup_overdue = true;
  const auto a = plan(two_guests(), o, {}, enforce_all(), kT0);
  const auto b = plan(two_guests(), o, {}, enforce_all(), kT0);
  EXPECT_EQ(kinds(a), kinds(b));
  EXPECT_EQ(a.log, b.log);
}

TEST(PolicyFromConfig, ReadsEnforcementAndLimits) {
  auto cfg = two_guests();
  cfg.controller.enforce = {"start", "startup"};
  cfg.controller.start_min_interval_s = 30;
  cfg.backup.storage = "local";
  const auto p = policy_from_config(cfg);
  EXPECT_EQ(p.enforce, (std::set<ActionKind>{ActionKind::start_guest, ActionKind::set_startup}));
  EXPECT_EQ(p.start_min_interval, seconds(30));
  EXPECT_EQ(p.backup_storage, "local");
}

TEST(StartupProperty, OrderIsMergedKeepingUpAndDown) {
  EXPECT_EQ(with_startup_order(std::nullopt, 2), "order=2");
  EXPECT_EQ(with_startup_order("", 2), "order=2");
  EXPECT_EQ(with_startup_order("order=3,up=30", 2), "order=2,up=30");
  EXPECT_EQ(with_startup_order("up=30,down=60", 1), "order=1,up=30,down=60");
  EXPECT_EQ(with_startup_order("up=30,order=5,down=60", 1), "up=30,order=1,down=60");
  EXPECT_EQ(with_startup_order("4", 1), "order=1");           // a bare number is an order
  EXPECT_EQ(with_startup_order("order=x", 1), std::nullopt);  // unreadable: not touched
  EXPECT_TRUE(has_startup_order("order=1,up=5", 1));
  EXPECT_TRUE(has_startup_order("1", 1));
  EXPECT_FALSE(has_startup_order("up=5", 1));
  EXPECT_FALSE(has_startup_order(std::nullopt, 1));
}

}  // namespace
}  // namespace pvt::planner
