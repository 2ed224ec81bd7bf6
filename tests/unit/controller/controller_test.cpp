// The controller's cycle through the simulated Env, for what the scenario logs do not show:
// audit records, dry run, the published status, reload, shutdown and the maintenance API.
#include "controller/loop/controller.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/scenario_files.h"
#include "tests/support/sim_env.h"

namespace pvt::controller {
namespace {

using Json = nlohmann::json;
using testing::SimEnv;
using testing::SimWorld;

config::Config scenario_config(std::vector<std::string> enforce) {
  auto cfg = testing::scenario_config(testing::kReferenceScenario);
  cfg.controller.enforce = std::move(enforce);
  return cfg;
}

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest()
      : world_(testing::scenario_topology(testing::kReferenceScenario), testing::kScenarioStart) {
    world_.workers.emplace("tunnel1", std::make_unique<testing::FakeWorker>("tunnel1"));
    world_.workers.emplace("tunnel2", std::make_unique<testing::FakeWorker>("tunnel2"));
  }

  void stop_guest(int vmid) {
    ASSERT_EQ(world_.simulator
                  .admin("POST", "/_sim/guest/" + std::to_string(vmid), R"({"status":"stopped"})")
                  .status,
              200);
  }
  std::string guest_status(int vmid) {
    auto state = Json::parse(world_.simulator.admin("GET", "/_sim/state", "").body);
    for (const auto& g : state["guests"]) {
      if (g["vmid"] == vmid) return g["status"];
    }
    return "";
  }
  void pass(std::chrono::seconds s) {
    world_.clock.advance(std::chrono::duration_cast<Clock::duration>(s));
  }
  size_t mutating_requests(SimEnv& env) {
    const auto& log = env.transport().log();
    return std::count_if(log.begin(), log.end(),
                         [](const std::string& l) { return l.rfind("GET ", 0) != 0; });
  }

  SimWorld world_;
};

TEST_F(ControllerTest, AnEnforcedStartIsAuditedWithItsOutcome) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({"start"}), env, ControllerOptions{false, "pve1", 50});
  c.run_cycle();
  stop_guest(210);
  pass(std::chrono::seconds(10));
  c.run_cycle();
  ASSERT_EQ(world_.audit.size(), 1u);
  const auto& rec = world_.audit[0];
  EXPECT_EQ(rec["action"], "start");
  EXPECT_EQ(rec["target"], "tunnel2");
  EXPECT_EQ(rec["result"], "ok");
  EXPECT_EQ(rec["enforced"], true);
  EXPECT_EQ(rec["node"], "pve2");
  EXPECT_EQ(rec["vmid"], 210);
  EXPECT_EQ(rec["controller"], "pve1");
  EXPECT_EQ(rec["at"], "2026-12-07T12:00:10Z");
  EXPECT_TRUE(rec["upid"].get<std::string>().find(":vzstart:210:") != std::string::npos);
  pass(std::chrono::seconds(10));
  c.run_cycle();
  EXPECT_EQ(guest_status(210), "running");
  const auto s = c.status();
  ASSERT_EQ(s.recent_actions.size(), 1u);
  EXPECT_EQ(s.recent_actions[0].result, "ok");
  EXPECT_EQ(s.actions_total.at({"start", "ok"}), 1u);
}

TEST_F(ControllerTest, AuditOnlyRecordsWhatItWouldDoOnceAndNeverMutates) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({}), env, ControllerOptions{false, "pve1", 50});
  stop_guest(210);
  for (int i = 0; i < 5; ++i) {
    c.run_cycle();
    pass(std::chrono::seconds(10));
  }
  EXPECT_EQ(mutating_requests(env), 0u);
  EXPECT_EQ(guest_status(210), "stopped");
  ASSERT_EQ(world_.audit.size(), 1u) << "a 'would' record while it stays planned, once";
  EXPECT_EQ(world_.audit[0]["result"], "would");
  EXPECT_EQ(world_.audit[0]["enforced"], false);
}

TEST_F(ControllerTest, ADryRunNeverActsAndNeverTakesTheLease) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({"start", "onboot", "startup", "backup", "reconnect"}), env,
               ControllerOptions{true, "pve1", 50});
  stop_guest(210);
  const auto lines = c.run_cycle();
  EXPECT_EQ(mutating_requests(env), 0u);
  EXPECT_TRUE(world_.lease_holder.empty());
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "dry run: start tunnel2 (lxc 210 on pve2): it is stopped"),
            lines.end());
  ASSERT_EQ(world_.audit.size(), 1u);
  EXPECT_EQ(world_.audit[0]["result"], "dry-run");
  EXPECT_FALSE(c.status().leader);
  EXPECT_TRUE(c.status().dry_run);
}

TEST_F(ControllerTest, AFollowerPlansButSendsNothing) {
  world_.lease_holder = "c0";
  world_.lease_renewed = testing::kScenarioStart;
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({"start"}), env, ControllerOptions{false, "pve2", 50});
  stop_guest(210);
  c.run_cycle();
  EXPECT_EQ(mutating_requests(env), 0u);
  const auto s = c.status();
  EXPECT_FALSE(s.leader);
  EXPECT_EQ(s.leader_why, "held by c0");
}

TEST_F(ControllerTest, TheStatusShowsGuestsTunnelsAndTheTrafficPath) {
  world_.traffic_via = "tunnel1";
  world_.workers.at("tunnel2")->reachable = false;
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  auto cfg = scenario_config({});
  cfg.vps.public_url = "https://home.example.net/healthz";
  Controller c(cfg, env, ControllerOptions{false, "pve1", 50});
  c.run_cycle();
  const auto s = c.status();
  EXPECT_TRUE(s.leader);
  EXPECT_EQ(s.cycle_at, "2026-12-07T12:00:00Z");
  EXPECT_EQ(s.traffic_via, "tunnel1");
  ASSERT_EQ(s.guests.size(), 2u);
  EXPECT_EQ(s.guests[0].name, "tunnel1");
  EXPECT_EQ(s.guests[0].power, "running");
  EXPECT_EQ(s.guests[0].node, "pve1");
  EXPECT_EQ(s.guests[0].state, "ok");
  EXPECT_EQ(s.guests[0].backup_age_s, 10 * 3600);
  ASSERT_EQ(s.tunnels.size(), 2u);
  EXPECT_EQ(s.tunnels[0].state, "serving");
  EXPECT_TRUE(s.tunnels[0].serving);
  EXPECT_EQ(s.tunnels[1].state, "unreachable");
  EXPECT_FALSE(s.tunnels[1].serving);
}

TEST_F(ControllerTest, ApiErrorsAreCountedAndTheGuestsBlocked) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({"start"}), env, ControllerOptions{false, "pve1", 50});
  ASSERT_EQ(world_.simulator.admin("POST", "/_sim/faults", R"({"error_rate":1.0})").status, 200);
  stop_guest(210);
  c.run_cycle();
  EXPECT_EQ(mutating_requests(env), 0u);
  const auto s = c.status();
  EXPECT_GE(s.api_errors, 2u);
  EXPECT_EQ(s.guests[1].state.rfind("blocked: ", 0), 0u) << s.guests[1].state;
}

TEST_F(ControllerTest, ReloadKeepsWhatItKnowsOfGuestsStillConfigured) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({"start"}), env, ControllerOptions{false, "pve1", 50});
  c.run_cycle();
  stop_guest(210);
  pass(std::chrono::seconds(10));
  c.run_cycle();  // start requested
  c.reload(scenario_config({"start"}));
  pass(std::chrono::seconds(10));
  const auto lines = c.run_cycle();
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) {
                           return l.rfind("guest tunnel2: state start requested", 0) == 0;
                         }),
            lines.end())
      << "the start task is still followed after the reload";
  // A guest dropped from the config is forgotten.
  auto fewer = scenario_config({"start"});
  fewer.guests.pop_back();
  fewer.tunnels.pop_back();
  c.reload(fewer);
  pass(std::chrono::seconds(10));
  c.run_cycle();
  EXPECT_EQ(c.status().guests.size(), 1u);
}

TEST_F(ControllerTest, ShutdownRecordsTasksNoLongerFollowedAndGivesTheLeaseUp) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({"start"}), env, ControllerOptions{false, "pve1", 50});
  stop_guest(210);
  c.run_cycle();
  EXPECT_EQ(world_.lease_holder, "c1");
  c.shutdown("SIGTERM");
  EXPECT_TRUE(world_.lease_holder.empty());
  const auto& rec = world_.audit.back();
  EXPECT_EQ(rec["action"], "shutdown");
  EXPECT_EQ(rec["result"], "SIGTERM");
  ASSERT_EQ(rec["tasks_not_followed"].size(), 1u);
  EXPECT_EQ(rec["tasks_not_followed"][0]["guest"], "tunnel2");
}

TEST_F(ControllerTest, MaintenanceIsRefusedForAnUnknownTunnel) {
  SimEnv env(world_, "c1", std::chrono::seconds(30));
  Controller c(scenario_config({}), env, ControllerOptions{false, "pve1", 50});
  auto r = c.set_maintenance("tunnel9", true, "test");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "no tunnel \"tunnel9\" in the config");
  ASSERT_TRUE(c.set_maintenance("tunnel1", true, "test"));
  EXPECT_EQ(world_.flags.count("tunnel1"), 1u);
  c.run_cycle();
  EXPECT_EQ(world_.workers.at("tunnel1")->state(), "draining");
  EXPECT_TRUE(c.status().tunnels[0].maintenance);
}

}  // namespace
}  // namespace pvt::controller
