// The simulator answers with the shapes of the recorded real responses and behaves like PVE
// where the product depends on it.
#include "tools/pvesim/simulator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <thread>

#include "tests/support/fake_clock.h"

namespace pvt::sim {
namespace {

// The topology's ages are taken from this time, and the simulator's clock starts there.
constexpr int64_t kNow = 1795000000;
const Clock::time_point kStart{std::chrono::seconds(kNow)};

const std::string kAuth = "PVEAPIToken=pvectl@pve!tunnel=8d4b3c1e-2f6a-4b7d-9e0c-5a1f2b3c4d5e";

// The reference topology with instant tasks, then `adjust`ed.
Simulator reference(const Clock& clock, const std::function<void(Topology&)>& adjust = {}) {
  auto t = load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  EXPECT_TRUE(t) << t.error().message;
  t->timing.start_delay_ms = 0;
  t->timing.vzdump_duration_ms = 0;
  t->tokens.at(0).acl["/"].insert("VM.PowerMgmt");  // the tests start guests
  if (adjust) adjust(*t);
  return Simulator(std::move(*t), clock);
}

Json get_data(Simulator& s, const std::string& method, const std::string& path,
              std::map<std::string, std::string> params = {}, int expect = 200) {
  auto r = s.handle(SimRequest{method, path, std::move(params), kAuth});
  EXPECT_EQ(r.status, expect) << method << " " << path << ": " << r.body;
  auto j = Json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j.is_discarded() ? Json() : j["data"];
}

Json fixture_data(const std::string& file) {
  std::ifstream in(std::string(PVT_FIXTURES_DIR) + "/" + file);
  Json f = Json::parse(in);
  return Json::parse(f["body"].get<std::string>())["data"];
}

std::set<std::string> keys(const Json& o) {
  std::set<std::string> k;
  for (const auto& [key, v] : o.items()) k.insert(key);
  return k;
}

TEST(Simulator, ResourcesHaveTheRealKeys) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  auto ours = get_data(sim, "GET", "/cluster/resources", {{"type", "vm"}});
  auto real = fixture_data("TestResourceAffinityPlacement-014-GET-cluster_resources.json");
  auto real_keys = keys(real[0]);
  real_keys.erase("hastate");  // only for HA-managed guests
  for (const auto& k : real_keys) EXPECT_TRUE(ours[0].contains(k)) << k;
  for (const auto& k : keys(ours[0])) {
    EXPECT_TRUE(real[0].contains(k) || k == "lock" || k == "pool") << "invented key " << k;
  }
}

TEST(Simulator, VersionAndTaskStatusHaveTheRealKeys) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  auto v = get_data(sim, "GET", "/version");
  EXPECT_EQ(keys(v), keys(fixture_data("TestVersionRoundTrip-001-GET-version.json")));
  auto upid = get_data(sim, "POST", "/nodes/pve1/qemu/110/status/start");
  clock.advance(std::chrono::milliseconds(5));
  auto status = get_data(sim, "GET", "/nodes/pve1/tasks/" + upid.get<std::string>() + "/status");
  EXPECT_EQ(
      keys(status),
      keys(fixture_data("TestQEMULifecycle-008-GET-nodes_pve_tasks_UPID_pve_00004686_0005B477_"
                        "6A4A8EEF_qmstart_9101_root_pam_sdk_s.json")));
  // The guest was already running: a task that fails, as real PVE does for QEMU.
  EXPECT_EQ(status["exitstatus"], "VM 110 already running");
}

TEST(Simulator, RejectedTokenIsDelayed401) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  auto r = sim.handle(SimRequest{"GET", "/version", {}, "PVEAPIToken=pvectl@pve!tunnel=wrong"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.delay_ms, 3000);
  EXPECT_EQ(sim.handle(SimRequest{"GET", "/version", {}, ""}).reason, "No ticket");
}

TEST(Simulator, RunningContainerStartFailsSynchronously) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  auto r = sim.handle(SimRequest{"POST", "/nodes/pve2/lxc/210/status/start", {}, kAuth});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.reason, "CT 210 already running");
}

TEST(Simulator, VzdumpOfAGuestOnAnotherNodeIsOkWithoutATask) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  EXPECT_EQ(get_data(sim, "POST", "/nodes/pve1/vzdump", {{"vmid", "210"}, {"storage", "pbs1"}}),
            "OK");
  auto upid = get_data(sim, "POST", "/nodes/pve2/vzdump", {{"vmid", "210"}, {"storage", "pbs1"}});
  ASSERT_TRUE(upid.is_string());
  clock.advance(std::chrono::milliseconds(5));
  auto log = get_data(sim, "GET", "/nodes/pve2/tasks/" + upid.get<std::string>() + "/log");
  std::string text;
  for (const auto& l : log) text += l["t"].get<std::string>() + "\n";
  EXPECT_NE(text.find("INFO: Starting Backup of VM 210 (lxc)"), std::string::npos) << text;
  EXPECT_NE(text.find("TASK OK"), std::string::npos) << text;
  auto content = get_data(sim, "GET", "/nodes/pve2/storage/pbs1/content",
                          {{"content", "backup"}, {"vmid", "210"}});
  EXPECT_EQ(content.size(), 2u);
}

TEST(Simulator, VmidFilterDropsMultiGuestTasksLikePve) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  auto all = get_data(sim, "GET", "/nodes/pve1/tasks", {{"typefilter", "vzdump"}});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["id"], "");
  auto filtered =
      get_data(sim, "GET", "/nodes/pve1/tasks", {{"typefilter", "vzdump"}, {"vmid", "110"}});
  EXPECT_TRUE(filtered.empty());
}

TEST(Simulator, OfflineNodeAnswers595) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  sim.admin("POST", "/_sim/faults", R"({"offline_nodes":["pve2"]})");
  auto r = sim.handle(SimRequest{"GET", "/nodes/pve2/lxc/210/config", {}, kAuth});
  EXPECT_EQ(r.status, 595);
  auto status = get_data(sim, "GET", "/cluster/status");
  EXPECT_EQ(status[2]["online"], 0);
  auto res = get_data(sim, "GET", "/cluster/resources", {{"type", "vm"}});
  for (const auto& g : res) {
    if (g["node"] == "pve2") {
      EXPECT_EQ(g["status"], "unknown");
    }
  }
}

TEST(Simulator, ConfigPutAndPrivileges) {
  FakeClock clock{kStart};
  auto sim = reference(clock);
  auto r = sim.handle(SimRequest{"PUT", "/nodes/pve2/lxc/210/config", {{"onboot", "1"}}, kAuth});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.reason, "Permission check failed (/vms/210, VM.Config.Options)");
  sim.admin("POST", "/_sim/guest/210", R"({"config":{"onboot":1}})");
  EXPECT_EQ(get_data(sim, "GET", "/nodes/pve2/lxc/210/config")["onboot"], 1);
  auto missing = sim.handle(SimRequest{"GET", "/nodes/pve1/qemu/999/config", {}, kAuth});
  EXPECT_EQ(missing.status, 500);
  EXPECT_EQ(missing.reason, "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist");
}

TEST(Simulator, TopologyErrorsNameTheKey) {
  auto t = parse_topology("[[node]]\nname = 1\n", "topo.toml", 0);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, "topo.toml:2:8: node[0].name: expected a string");
  EXPECT_FALSE(parse_topology("", "empty.toml", 0));
}

TEST(Simulator, HaManagedGuestsStartThroughHa) {
  auto t = load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  ASSERT_TRUE(t);
  t->timing.start_delay_ms = 0;
  t->tokens.at(0).acl["/"].insert("VM.PowerMgmt");
  t->guests.at(0).ha_managed = true;
  t->guests.at(0).status = "stopped";
  FakeClock clock{kStart};
  Simulator ha(std::move(*t), clock);
  auto upid = get_data(ha, "POST", "/nodes/pve1/qemu/110/status/start");
  ASSERT_TRUE(upid.is_string());
  EXPECT_NE(upid.get<std::string>().find(":hastart:110:"), std::string::npos) << upid;
}

TEST(Simulator, SecondVzdumpOnANodeWaitsForTheFirst) {
  auto t = load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  ASSERT_TRUE(t);
  t->timing.vzdump_duration_ms = 200;
  t->tokens.at(0).acl["/"].insert("VM.PowerMgmt");
  FakeClock clock{kStart};
  Simulator sim(std::move(*t), clock);
  auto first = get_data(sim, "POST", "/nodes/pve1/vzdump", {{"vmid", "110"}, {"storage", "pbs1"}});
  auto second = get_data(sim, "POST", "/nodes/pve1/vzdump", {{"vmid", "111"}, {"storage", "pbs1"}});
  auto status = [&](const Json& upid) {
    return get_data(sim, "GET",
                    "/nodes/pve1/tasks/" + upid.get<std::string>() + "/status")["status"];
  };
  // Poll (bounded) until the first is done; the second must still be running then.
  for (int i = 0; i < 200 && status(first) == "running"; ++i) {
    clock.advance(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(status(first), "stopped");
  EXPECT_EQ(status(second), "running");
  for (int i = 0; i < 200 && status(second) == "running"; ++i) {
    clock.advance(std::chrono::milliseconds(10));
  }
  auto log = get_data(sim, "GET", "/nodes/pve1/tasks/" + second.get<std::string>() + "/log");
  EXPECT_EQ(log[0]["t"], "INFO: trying to get global lock - waiting...");
}

}  // namespace
}  // namespace pvt::sim

namespace pvt::sim {
namespace {

// Time is the simulator's own: advance() to a time before a task's end leaves it running, the
// end time finishes it (at its own end, whenever it is looked at), and nothing moves time back.
TEST(Simulator, AdvanceBeforeATasksEndLeavesItRunning) {
  FakeClock clock{kStart};
  auto sim = reference(clock, [](Topology& t) { t.timing.vzdump_duration_ms = 3600000; });
  const std::string upid =
      get_data(sim, "POST", "/nodes/pve1/vzdump", {{"vmid", "110"}, {"storage", "pbs1"}});
  auto status = [&] { return get_data(sim, "GET", "/nodes/pve1/tasks/" + upid + "/status"); };
  sim.advance(kStart + std::chrono::minutes(59) + std::chrono::seconds(59));
  EXPECT_EQ(status()["status"], "running");
  sim.advance(kStart + std::chrono::milliseconds(3599999));
  EXPECT_EQ(status()["status"], "running");
  sim.advance(kStart + std::chrono::hours(3));
  EXPECT_EQ(status()["status"], "stopped");
  EXPECT_EQ(status()["exitstatus"], "OK");
  sim.advance(kStart);  // never back
  auto tasks = get_data(sim, "GET", "/nodes/pve1/tasks", {{"typefilter", "vzdump"}});
  ASSERT_FALSE(tasks.empty());
  EXPECT_EQ(tasks[0]["upid"], upid);
  EXPECT_EQ(tasks[0]["starttime"], kNow);
  EXPECT_EQ(tasks[0]["endtime"], kNow + 3600);
  EXPECT_EQ(get_data(sim, "GET", "/nodes/pve1/time")["time"], kNow + 3 * 3600);
}

TEST(Simulator, NodeTimeGivesTheZoneAndTheLocalWallClock) {
  FakeClock clock{kStart};
  auto sim = reference(clock);  // examples/topology.toml: both nodes in Europe/Vienna
  auto t = get_data(sim, "GET", "/nodes/pve1/time");
  EXPECT_EQ(t["timezone"], "Europe/Vienna");
  const int64_t offset = t["localtime"].get<int64_t>() - t["time"].get<int64_t>();
  EXPECT_TRUE(offset == 3600 || offset == 7200) << offset;  // CET or CEST
}

}  // namespace
}  // namespace pvt::sim

namespace pvt::sim {
namespace {

Simulator restorer(const Clock& clock) {
  auto t = load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  EXPECT_TRUE(t) << t.error().message;
  t->timing.restore_duration_ms = 0;
  t->timing.destroy_duration_ms = 0;
  return Simulator(std::move(*t), clock);
}

std::string newest_backup(Simulator& sim, const std::string& node, int64_t vmid) {
  auto list = get_data(sim, "GET", "/nodes/" + node + "/storage/pbs1/content",
                       {{"content", "backup"}, {"vmid", std::to_string(vmid)}});
  std::string volid;
  int64_t ctime = 0;
  for (const auto& b : list) {
    if (b["ctime"].get<int64_t>() > ctime) {
      ctime = b["ctime"];
      volid = b["volid"];
    }
  }
  return volid;
}

TEST(Simulator, RestoreMakesANewStoppedGuestFromTheArchive) {
  FakeClock clock{kStart};
  auto sim = restorer(clock);
  const std::string volid = newest_backup(sim, "pve1", 110);
  EXPECT_EQ(get_data(sim, "GET", "/cluster/nextid", {{"vmid", "9999"}}), "9999");
  auto upid =
      get_data(sim, "POST", "/nodes/pve1/qemu",
               {{"vmid", "9999"}, {"archive", volid}, {"storage", "local-lvm"}, {"unique", "1"}});
  ASSERT_TRUE(upid.is_string());
  EXPECT_NE(upid.get<std::string>().find(":qmrestore:9999:"), std::string::npos);
  // The VMID is taken from the start of the restore.
  get_data(sim, "GET", "/cluster/nextid", {{"vmid", "9999"}}, 400);
  clock.advance(std::chrono::milliseconds(5));
  auto status = get_data(sim, "GET", "/nodes/pve1/tasks/" + upid.get<std::string>() + "/status");
  EXPECT_EQ(status["exitstatus"], "OK");
  auto config = get_data(sim, "GET", "/nodes/pve1/qemu/9999/config");
  EXPECT_EQ(config["name"], "tunnel1");
  EXPECT_EQ(config["scsi0"], "local-lvm:vm-9999-disk-0,iothread=1,size=8G");
  EXPECT_NE(config["net0"], "virtio=BC:24:11:00:01:10,bridge=vmbr0");  // unique: a new MAC
  EXPECT_EQ(config["net0"].get<std::string>().substr(0, 7), "virtio=");
  EXPECT_FALSE(config.contains("lock"));
  EXPECT_EQ(get_data(sim, "GET", "/nodes/pve1/qemu/9999/status/current")["status"], "stopped");
}

TEST(Simulator, RestoreNeverOverwritesAndChecksItsInputs) {
  FakeClock clock{kStart};
  auto sim = restorer(clock);
  const std::string volid = newest_backup(sim, "pve1", 110);
  auto restore = [&](std::map<std::string, std::string> p) {
    return sim.handle(SimRequest{"POST", "/nodes/pve1/qemu", std::move(p), kAuth});
  };
  auto r = restore({{"vmid", "110"}, {"archive", volid}, {"storage", "local-lvm"}});
  EXPECT_EQ(r.status, 403);  // the token may not allocate 110
  r = restore({{"vmid", "9999"}, {"archive", volid}, {"storage", "local"}});
  EXPECT_EQ(r.reason, "storage 'local' does not support vm images");
  r = restore({{"vmid", "9999"}, {"archive", "pbs1:backup/vm/110/nope"}, {"storage", "local-lvm"}});
  EXPECT_EQ(r.reason, "volume 'pbs1:backup/vm/110/nope' does not exist");
  get_data(sim, "POST", "/nodes/pve1/qemu",
           {{"vmid", "9999"}, {"archive", volid}, {"storage", "local-lvm"}});
  r = restore({{"vmid", "9999"}, {"archive", volid}, {"storage", "local-lvm"}});
  EXPECT_EQ(r.reason, "unable to restore VM 9999 - VM 9999 already exists on node 'pve1'");
}

TEST(Simulator, DestroyRemovesTheGuestUnlessItRunsOrIsLocked) {
  FakeClock clock{kStart};
  auto sim = restorer(clock);
  get_data(sim, "POST", "/nodes/pve2/lxc",
           {{"vmid", "9999"},
            {"ostemplate", newest_backup(sim, "pve2", 210)},
            {"restore", "1"},
            {"storage", "local-lvm"}});
  clock.advance(std::chrono::milliseconds(5));
  ASSERT_EQ(sim.admin("POST", "/_sim/guest/9999", R"({"status":"running"})").status, 200);
  auto r = sim.handle(SimRequest{"DELETE", "/nodes/pve2/lxc/9999", {{"purge", "1"}}, kAuth});
  EXPECT_EQ(r.reason, "CT 9999 is running - destroy failed");
  ASSERT_EQ(sim.admin("POST", "/_sim/guest/9999", R"({"status":"stopped","lock":"backup"})").status,
            200);
  r = sim.handle(SimRequest{"DELETE", "/nodes/pve2/lxc/9999", {{"purge", "1"}}, kAuth});
  EXPECT_EQ(r.reason, "CT is locked (backup)");
  ASSERT_EQ(sim.admin("POST", "/_sim/guest/9999", R"({"lock":null})").status, 200);
  auto upid = get_data(sim, "DELETE", "/nodes/pve2/lxc/9999",
                       {{"purge", "1"}, {"destroy-unreferenced-disks", "1"}});
  EXPECT_NE(upid.get<std::string>().find(":vzdestroy:9999:"), std::string::npos);
  clock.advance(std::chrono::milliseconds(5));
  get_data(sim, "GET", "/nodes/pve2/lxc/9999/config", {}, 500);
  EXPECT_EQ(get_data(sim, "GET", "/cluster/nextid", {{"vmid", "9999"}}), "9999");
}

TEST(Simulator, AStoppedRestoreLeavesWhatItWrote) {
  auto t = load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  ASSERT_TRUE(t);
  t->timing.restore_duration_ms = 600000;
  FakeClock clock{kStart};
  Simulator sim(std::move(*t), clock);
  auto upid = get_data(sim, "POST", "/nodes/pve1/qemu",
                       {{"vmid", "9999"},
                        {"archive", newest_backup(sim, "pve1", 110)},
                        {"storage", "local-lvm"}})
                  .get<std::string>();
  EXPECT_EQ(get_data(sim, "GET", "/nodes/pve1/qemu/9999/status/current")["lock"], "create");
  get_data(sim, "DELETE", "/nodes/pve1/tasks/" + upid);
  auto status = get_data(sim, "GET", "/nodes/pve1/tasks/" + upid + "/status");
  EXPECT_EQ(status["status"], "stopped");
  EXPECT_EQ(status["exitstatus"], "unable to restore VM 9999 - interrupted by signal");
  auto config = get_data(sim, "GET", "/nodes/pve1/qemu/9999/config");
  EXPECT_FALSE(config.contains("lock"));
}

TEST(Simulator, DestroyAndRestoreAnswerLikeTheRecordedApi) {
  // The recorded DELETE answers a task id of the same form.
  auto real = fixture_data("TestConsoleMint-013-DELETE-nodes_pve_qemu_9102.json");
  ASSERT_TRUE(real.is_string());
  EXPECT_NE(real.get<std::string>().find(":qmdestroy:9102:"), std::string::npos);
  FakeClock clock{kStart};
  auto sim = restorer(clock);
  get_data(
      sim, "POST", "/nodes/pve1/qemu",
      {{"vmid", "9999"}, {"archive", newest_backup(sim, "pve1", 110)}, {"storage", "local-lvm"}});
  clock.advance(std::chrono::milliseconds(5));
  auto ours = get_data(sim, "DELETE", "/nodes/pve1/qemu/9999", {{"purge", "1"}});
  ASSERT_TRUE(ours.is_string());
  EXPECT_TRUE(std::regex_match(ours.get<std::string>(),
                               std::regex("UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:"
                                          "qmdestroy:9999:[^:]+:")))
      << ours;
}

}  // namespace
}  // namespace pvt::sim
