// The restore test end to end against an in-process simulator: every way out removes the
// scratch guest, and a taken scratch VMID is never touched.
#include "controller/backup/restore_test.h"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.h"
#include "tests/support/sim_transport.h"

namespace pvt::backup {
namespace {

using report::Status;
using sim::Json;
using Loss = testing::SimTransport::Loss;

const std::string kAuth = "PVEAPIToken=pvectl@pve!tunnel=8d4b3c1e-2f6a-4b7d-9e0c-5a1f2b3c4d5e";
constexpr int64_t kScratch = 9999;

struct RestoreFlow : ::testing::Test {
  void SetUp() override {
    auto t = sim::load_topology(PVT_SOURCE_DIR "/examples/topology.toml", 1795000000);
    ASSERT_TRUE(t) << t.error().message;
    t->timing.restore_duration_ms = 0;
    t->timing.destroy_duration_ms = 0;
    // examples/topology.toml grants the scratch VMID what README "Backup verification" says.
    EXPECT_EQ(t->tokens.at(0).acl["/vms/9999"], (std::set<std::string>{"VM.Allocate", "VM.Audit"}));
    topology = std::move(*t);
    policy.restore_test_vmid = kScratch;
    policy.restore_test_storage = "local-lvm";
    options.poll = std::chrono::milliseconds(10);
    options.on_log = [this](const std::string&, const std::string& line) { log.push_back(line); };
  }

  // Runs the test for the guest `vmid`'s newest backup.
  // A second run() with keep_world goes on in the same simulated cluster.
  Finding run(int64_t vmid = 110) {
    if (!sim_ || !keep_world) {
      sim_ = std::make_unique<sim::Simulator>(topology, clock_);
      transport_ = std::make_unique<testing::SimTransport>(*sim_, kAuth);
      client_ = std::make_unique<pve::Client>(*transport_, clock_);
    }
    transport_->lose = lose;
    if (prepare) prepare(*client_);
    const sim::BackupVolume* newest = nullptr;
    for (const auto& b : topology.backups) {
      if (b.vmid == vmid && (!newest || b.ctime > newest->ctime)) newest = &b;
    }
    EXPECT_NE(newest, nullptr);
    RestoreSubject subject{
        vmid == 110 ? "tunnel1" : "tunnel2",
        newest->subtype == "qemu" ? config::GuestType::qemu : config::GuestType::lxc,
        vmid == 110 ? "pve1" : "pve2", newest->volid, newest->guest_config};
    return restore_test(*client_, clock_, policy, subject, options);
  }

  bool scratch_exists() {
    auto state = Json::parse(sim_->admin("GET", "/_sim/state", "").body);
    for (const auto& g : state["guests"]) {
      if (g["vmid"] == kScratch) return true;
    }
    return false;
  }
  bool requested(const std::string& what) const {
    for (const auto& r : transport_->log()) {
      if (r.find(what) != std::string::npos) return true;
    }
    return false;
  }
  // The request ("POST /nodes/pve1/qemu") meets `how`; every other one is carried out and answered.
  void lose_on(const std::string& request, Loss how) {
    lose = [request, how](const std::string& r) { return r == request ? how : Loss::none; };
  }
  // A restore that runs for ten minutes, interrupted (Ctrl-C) once a log line starts with `prefix`.
  void interrupt_on(const std::string& prefix) {
    topology.timing.restore_duration_ms = 600000;
    options.interrupted = [this] { return interrupted; };
    options.on_log = [this, prefix](const std::string&, const std::string& line) {
      log.push_back(line);
      if (line.rfind(prefix, 0) == 0) interrupted = true;
    };
  }
  void fault(const Json& body) {
    ASSERT_EQ(sim_->admin("POST", "/_sim/faults", body.dump()).status, 200);
  }

  sim::Topology topology;
  std::function<void(pve::Client&)> prepare;
  std::function<Loss(const std::string&)> lose;
  bool keep_world = false;
  bool interrupted = false;
  config::BackupSection policy;
  RestoreTestOptions options;
  std::vector<std::string> log;
  FakeClock clock_{Clock::time_point{std::chrono::seconds{1795000000}}};  // the topology's time
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<testing::SimTransport> transport_;
  std::unique_ptr<pve::Client> client_;
};

TEST_F(RestoreFlow, RestoresChecksAndRemovesTheScratchVm) {
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::ok) << f.message;
  EXPECT_NE(f.message.find("1 disk, not started"), std::string::npos) << f.message;
  EXPECT_TRUE(requested("POST /nodes/pve1/qemu"));
  EXPECT_TRUE(requested("DELETE /nodes/pve1/qemu/9999"));
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, RestoresAContainerOnItsNode) {
  const Finding f = run(210);
  EXPECT_EQ(f.status, Status::ok) << f.message;
  EXPECT_TRUE(requested("POST /nodes/pve2/lxc"));
  EXPECT_TRUE(requested("DELETE /nodes/pve2/lxc/9999"));
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, RunsPastTheClientDeadline) {
  // The report's -t limit is for reading; a restore and its clean-up must not be cut short.
  prepare = [this](pve::Client& c) { c.set_deadline(clock_.steady_now()); };
  EXPECT_EQ(run(110).status, Status::ok);
}

TEST_F(RestoreFlow, FailureMidwayStillRemovesTheScratchGuest) {
  topology.faults.fail_next_restore[kScratch] = "pbs-restore: chunk 4f2a... missing";
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::critical);
  EXPECT_EQ(f.observed, "restore failed");
  EXPECT_NE(f.message.find("chunk 4f2a... missing"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("error before or during data restore"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("scratch guest 9999 removed"), std::string::npos) << f.message;
  EXPECT_TRUE(requested("DELETE /nodes/pve1/qemu/9999"));
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, ATakenScratchVmidIsNeverTouched) {
  sim::Guest taken;
  taken.vmid = kScratch;
  taken.type = "qemu";
  taken.node = "pve2";
  taken.name = "somebodys-vm";
  taken.config = {{"name", "somebodys-vm"}, {"memory", "512"}};
  topology.guests.push_back(taken);
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::critical);
  EXPECT_EQ(f.observed, "VMID 9999 in use");
  EXPECT_NE(f.message.find("qemu \"somebodys-vm\" on pve2"), std::string::npos) << f.message;
  EXPECT_FALSE(requested("POST /nodes/pve1/qemu"));
  EXPECT_FALSE(requested("DELETE"));
  EXPECT_TRUE(scratch_exists());
}

TEST_F(RestoreFlow, TakenEvenWhenTheTokenCannotSeeIt) {
  sim::Guest hidden;
  hidden.vmid = kScratch;
  hidden.type = "lxc";
  hidden.node = "pve1";
  topology.guests.push_back(hidden);
  topology.tokens.at(0).acl["/vms/9999"] = {"VM.Allocate"};  // no VM.Audit: not listed
  const Finding f = run(110);
  EXPECT_EQ(f.observed, "VMID 9999 in use");
  EXPECT_FALSE(requested("POST /nodes/pve1/qemu"));
}

TEST_F(RestoreFlow, InterruptionStopsTheRestoreAndRemovesTheScratchGuest) {
  interrupt_on("restoring ");  // the operator presses Ctrl-C as the restore starts
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::unknown) << f.message;
  EXPECT_EQ(f.observed, "interrupted");
  EXPECT_TRUE(requested("DELETE /nodes/pve1/tasks/UPID:pve1:"));
  EXPECT_TRUE(requested("DELETE /nodes/pve1/qemu/9999"));
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, AFailedCleanUpIsCriticalAndSaysHowToFinishIt) {
  topology.faults.fail_next_destroy[kScratch] = "lvremove 'pve/vm-9999-disk-0' error: busy";
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::critical);
  EXPECT_EQ(f.observed, "scratch guest left behind");
  EXPECT_NE(f.message.find("lvremove"), std::string::npos) << f.message;
  EXPECT_NE(f.remediation.find("qm destroy 9999 --purge"), std::string::npos) << f.remediation;
  EXPECT_TRUE(scratch_exists());
}

// A timeout after the request left: PVE started the restore, the answer never came.
TEST_F(RestoreFlow, ALostAnswerIsFollowedThroughTheTaskItStarted) {
  lose_on("POST /nodes/pve1/qemu", Loss::answer);
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::ok) << f.message;
  EXPECT_TRUE(requested("GET /nodes/pve1/tasks"));
  EXPECT_TRUE(requested("DELETE /nodes/pve1/qemu/9999"));
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, ARunningRestoreWhoseAnswerWasLostIsStoppedAndRemovedOnInterrupt) {
  lose_on("POST /nodes/pve1/qemu", Loss::answer);
  interrupt_on("found it: UPID:pve1:");
  const Finding f = run(110);
  EXPECT_EQ(f.observed, "interrupted") << f.message;
  EXPECT_TRUE(interrupted);
  EXPECT_TRUE(requested("DELETE /nodes/pve1/tasks/"));
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, ALostRequestIsAnUnknownOutcomeAndTouchesNothing) {
  lose_on("POST /nodes/pve2/lxc", Loss::request);
  const Finding f = run(210);
  EXPECT_EQ(f.status, Status::critical);
  EXPECT_EQ(f.observed, "restore outcome unknown");
  EXPECT_NE(f.message.find("no vzrestore task for 9999 shows on node pve2"), std::string::npos)
      << f.message;
  EXPECT_NE(f.remediation.find("pct destroy 9999"), std::string::npos) << f.remediation;
  EXPECT_FALSE(requested("DELETE"));
}

TEST_F(RestoreFlow, AnEarlierTestsTaskIsNotTakenForALostOne) {
  keep_world = true;
  ASSERT_EQ(run(110).status, Status::ok);  // leaves a finished qmrestore of 9999 behind
  lose_on("POST /nodes/pve1/qemu", Loss::request);
  const Finding f = run(110);
  EXPECT_EQ(f.observed, "restore outcome unknown") << f.message;
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, AStorageWithoutDiskContentIsRefusedBeforeRestoring) {
  policy.restore_test_storage = "local";  // iso,vztmpl,backup
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::critical);
  EXPECT_NE(f.message.find("storage local does not hold VM images"), std::string::npos)
      << f.message;
  EXPECT_FALSE(requested("POST /nodes/pve1/qemu"));
}

TEST_F(RestoreFlow, AMissingPrivilegeIsNamed) {
  topology.tokens.at(0).acl.erase("/vms/9999");
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::critical);
  EXPECT_NE(f.message.find("VM.Allocate"), std::string::npos) << f.message;
  EXPECT_FALSE(scratch_exists());
}

TEST_F(RestoreFlow, NotConfiguredIsUnknownWithoutAnyRequest) {
  policy.restore_test_vmid.reset();
  const Finding f = run(110);
  EXPECT_EQ(f.status, Status::unknown);
  EXPECT_TRUE(transport_->log().empty());
}

TEST_F(RestoreFlow, TheLogIsPassedOnAsItComes) {
  ASSERT_EQ(run(110).status, Status::ok);
  auto has = [&](const std::string& text) {
    for (const auto& l : log) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("restoring pbs1:backup/vm/110/"));
  EXPECT_TRUE(has("new volume ID is 'local-lvm:vm-9999-disk-0'"));
  EXPECT_TRUE(has("scratch guest 9999 removed"));
  EXPECT_FALSE(has("no content"));
}

}  // namespace
}  // namespace pvt::backup
