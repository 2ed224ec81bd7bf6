// `pvectl-tunnel backup verify --restore-test` end to end against pvesim: the newest backups are
// restored into the scratch VMID, checked and removed again — also when a restore fails midway
// or the operator interrupts it — and a taken scratch VMID is never touched.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "tests/integration/check/sim_fixture.h"
#include "tests/support/subprocess.h"

namespace pvt {
namespace {

using sim_fixture::Json;

class RestoreTestAgainstSim : public sim_fixture::CheckAgainstSim {
 protected:
  void SetUp() override {
    CheckAgainstSim::SetUp();
    // examples/topology.toml grants the scratch VMID what README "Backup verification" says.
    ASSERT_NE(topology_.find("\"/vms/9999\" = [\"VM.Allocate\", \"VM.Audit\"]"), std::string::npos);
    topology_ = std::regex_replace(topology_, std::regex("\n\\[timing\\]\n"),
                                   "\n[timing]\nrestore_duration_ms = 300\n"
                                   "destroy_duration_ms = 100\n");
  }
  std::string message_of(const Json& report, const std::string& target) {
    const Json* r = result(report, "backup.restore", target);
    return r ? (*r)["message"].get<std::string>() : "<missing>";
  }
};

TEST_F(RestoreTestAgainstSim, RestoresEachGuestAndRemovesTheScratchGuest) {
  start();
  auto o = verify({"--restore-test"});
  EXPECT_EQ(o.exit_code, 0) << o.report.dump(2) << o.err;
  for (const char* guest : {"tunnel1", "tunnel2"}) {
    EXPECT_EQ(status_of(o.report, "backup.restore", guest), "OK") << message_of(o.report, guest);
  }
  EXPECT_NE(message_of(o.report, "tunnel1").find("to qemu 9999 on local-lvm"), std::string::npos);
  EXPECT_NE(message_of(o.report, "tunnel2").find("to lxc 9999 on local-lvm"), std::string::npos);
  // Progress on stderr, the report alone on stdout.
  EXPECT_NE(o.err.find("tunnel1 | new volume ID is 'local-lvm:vm-9999-disk-0'"), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("tunnel2 | scratch guest 9999 removed"), std::string::npos) << o.err;
  EXPECT_EQ(sim_guest(9999), nullptr);
  // Without --restore-test nothing is restored.
  auto plain = verify();
  EXPECT_EQ(result(plain.report, "backup.restore", "tunnel1"), nullptr);
}

TEST_F(RestoreTestAgainstSim, ARestoreFailingMidwayIsCriticalAndStillCleanedUp) {
  start();
  admin("/_sim/faults", {{"fail_next_restore", {{"9999", "pbs-restore: chunk missing"}}}});
  auto o = verify({"--restore-test"});
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "backup.restore", "tunnel1"), "CRITICAL");
  const std::string m = message_of(o.report, "tunnel1");
  EXPECT_NE(m.find("failed: unable to restore VM 9999 - pbs-restore: chunk missing"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("scratch guest 9999 removed"), std::string::npos) << m;
  EXPECT_NE(o.err.find("tunnel1 | destroying scratch guest 9999"), std::string::npos) << o.err;
  // The next guest's test ran on the freed VMID.
  EXPECT_EQ(status_of(o.report, "backup.restore", "tunnel2"), "OK");
  EXPECT_EQ(sim_guest(9999), nullptr);
}

TEST_F(RestoreTestAgainstSim, ATakenScratchVmidIsRefusedAndLeftAlone) {
  topology_ = std::regex_replace(topology_, std::regex("\n\\[\\[storage\\]\\]\nid = \"local\"\n"),
                                 "\n[[guest]]\nvmid = 9999\ntype = \"qemu\"\nnode = \"pve2\"\n"
                                 "name = \"somebodys-vm\"\n[guest.config]\nmemory = \"512\"\n"
                                 "\n[[storage]]\nid = \"local\"\n");
  start();
  ASSERT_NE(sim_guest(9999), nullptr);
  const Json before = *sim_guest(9999);
  auto o = verify({"--restore-test"});
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  for (const char* guest : {"tunnel1", "tunnel2"}) {
    EXPECT_EQ(status_of(o.report, "backup.restore", guest), "CRITICAL");
    EXPECT_NE(message_of(o.report, guest)
                  .find("refused: the scratch VMID 9999 is in use (qemu "
                        "\"somebodys-vm\" on pve2)"),
              std::string::npos)
        << message_of(o.report, guest);
  }
  ASSERT_NE(sim_guest(9999), nullptr);
  EXPECT_EQ(*sim_guest(9999), before);
  EXPECT_EQ(o.err.find("restoring "), std::string::npos) << o.err;
}

TEST_F(RestoreTestAgainstSim, WithoutAScratchVmidTheTestIsRefused) {
  start();
  std::string cfg = sim_fixture::read_file(dir_ / "config.toml");
  cfg = std::regex_replace(cfg, std::regex("\nrestore_test_vmid = [^\n]*"), "");
  sim_fixture::write_file(dir_ / "config.toml", cfg, sim_fixture::fs::perms(0644));
  auto o = verify({"--restore-test"});
  EXPECT_EQ(o.exit_code, 3) << o.report.dump(2);
  EXPECT_NE(o.report["error"].get<std::string>().find(
                "--restore-test needs restore_test_vmid and restore_test_storage in [backup]"),
            std::string::npos);
}

TEST_F(RestoreTestAgainstSim, SigtermStopsTheRestoreAndRemovesTheScratchGuest) {
  topology_ = std::regex_replace(topology_, std::regex("restore_duration_ms = 300"),
                                 "restore_duration_ms = 600000");
  start();
  const auto err_path = dir_ / "verify.err";
  testing::Background run({PVT_BINARY_DIR "/pvectl-tunnel", "backup", "verify", "--restore-test",
                           "--config", (dir_ / "config.toml").string(), "--format", "json"},
                          err_path.string());
  // Interrupt once the restore task runs.
  bool restoring = false;
  for (int i = 0; i < 300 && !restoring; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    restoring = sim_fixture::read_file(err_path).find("tunnel1 | restoring ") != std::string::npos;
  }
  ASSERT_TRUE(restoring) << sim_fixture::read_file(err_path);
  kill(run.pid(), SIGTERM);
  std::string out;
  for (std::string line = run.read_line(); !line.empty(); line = run.read_line()) out += line;
  EXPECT_EQ(run.wait(), 3) << out;
  const Json report = Json::parse(out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << out;
  EXPECT_EQ(status_of(report, "backup.restore", "tunnel1"), "UNKNOWN");
  EXPECT_NE(message_of(report, "tunnel1").find("interrupted during the restore"),
            std::string::npos);
  EXPECT_NE(message_of(report, "tunnel2").find("interrupted before this guest's test"),
            std::string::npos);
  const std::string err = sim_fixture::read_file(err_path);
  EXPECT_NE(err.find("tunnel1 | scratch guest 9999 removed"), std::string::npos) << err;
  EXPECT_EQ(sim_guest(9999), nullptr);
}

}  // namespace
}  // namespace pvt
