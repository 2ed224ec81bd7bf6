// From a real observation (check's collect against the in-process simulator of the reference
// topology) to the planner's view, and on to the plan.
#include "controller/planner/observe.h"

#include <gtest/gtest.h>

#include "controller/check/collect.h"
#include "controller/planner/planner.h"
#include "tests/support/fake_clock.h"
#include "tests/support/reference_guests.h"
#include "tests/support/sim_transport.h"

namespace pvt::planner {
namespace {

constexpr int64_t kNow = 1795000000;

struct ObserveTest : ::testing::Test {
  void SetUp() override {
    auto t = sim::load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
    ASSERT_TRUE(t) << t.error().message;
    topology = std::move(*t);
  }
  Observed run(const std::map<std::string, maintenance::Flag>& flags = {}) {
    sim::Simulator simulator(topology, clock);
    testing::SimTransport transport(simulator, testing::kReferenceTokenAuth);
    pve::Client client(transport, clock);
    const auto o =
        check::collect(testing::reference_guests(), client, clock, check::CollectOptions{});
    return observe(testing::reference_guests(), o, {}, flags);
  }
  sim::Topology topology;
  FakeClock clock{std::chrono::system_clock::time_point{std::chrono::seconds{kNow}}};
};

TEST_F(ObserveTest, TheReferenceTopologyAsThePlannerSeesIt) {
  const Observed o = run();
  EXPECT_EQ(o.quorate, true);
  const auto& vm = o.guests.at("tunnel1");
  EXPECT_TRUE(vm.found);
  EXPECT_EQ(vm.power, PowerState::running);
  EXPECT_EQ(vm.node, "pve1");
  EXPECT_TRUE(vm.config_read);
  EXPECT_EQ(vm.onboot, true);
  EXPECT_FALSE(vm.digest.empty());
  EXPECT_EQ(vm.backup_overdue, false);  // 32 h old, the weekly job allows 181 h
  EXPECT_EQ(vm.backup_storage, "pbs1");
  // The demo's one finding: the container does not start at boot.
  EXPECT_EQ(o.guests.at("tunnel2").onboot, false);
  // And the plan fixes exactly that.
  Policy p;
  p.enforce = {ActionKind::start_guest, ActionKind::set_onboot, ActionKind::set_startup,
               ActionKind::backup_guest};
  const auto plan_now = plan(testing::reference_guests(), o, {}, p, clock.now());
  ASSERT_EQ(plan_now.actions.size(), 1u);
  EXPECT_EQ(
      plan_now.actions[0].describe(),
      "set onboot 1 on tunnel2 (lxc 210): onboot is 0: it would stay down after a power loss");
}

TEST_F(ObserveTest, AStoppedGuestOnAnOfflineNodeIsNotActedOn) {
  for (auto& g : topology.guests) {
    if (g.vmid == 210) g.status = "stopped";
  }
  topology.faults.offline_nodes = {"pve2"};
  const Observed o = run();
  EXPECT_FALSE(o.guests.at("tunnel2").node_online);
  Policy p;
  p.enforce = {ActionKind::start_guest};
  EXPECT_TRUE(plan(testing::reference_guests(), o, {}, p, clock.now()).actions.empty());
}

TEST_F(ObserveTest, AnOldBackupIsOverdueAndMaintenanceIsCarriedOver) {
  clock.advance(std::chrono::hours(24 * 9));  // the newest backup is now 9 days and 8 h old
  const Observed o = run({{"tunnel1", maintenance::Flag{"2026-12-07T10:00:00Z", "test"}}});
  EXPECT_EQ(o.guests.at("tunnel1").backup_overdue, true);
  EXPECT_EQ(o.maintenance, (std::set<std::string>{"tunnel1"}));
}

TEST(PowerStateOf, OnlyRunningAndStoppedAreActedOn) {
  EXPECT_EQ(power_state("running"), PowerState::running);
  EXPECT_EQ(power_state("stopped"), PowerState::stopped);
  for (const char* other : {"unknown", "paused", "prelaunch", "", "Running"}) {
    EXPECT_EQ(power_state(other), PowerState::other) << other;
  }
}

}  // namespace
}  // namespace pvt::planner
