// `pvectl-tunnel backup verify` end to end against pvesim: the backup rules of check plus what
// only the volumes show (size against the one before, the archive's config).
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/check/sim_fixture.h"
#include "tests/support/subprocess.h"

namespace pvt {
namespace {

using sim_fixture::CheckAgainstSim;

// The newest backup of 110 in examples/topology.toml, rewritten by each test.
const std::regex kNewest110("storage = \"pbs1\"\nvmid = 110\nage_h = 32\nverification = \"ok\"");

TEST_F(CheckAgainstSim, BackupVerifyOfTheReferenceTopologyIsOk) {
  start();
  auto o = verify();
  EXPECT_EQ(o.exit_code, 0) << o.report.dump(2) << o.err;
  EXPECT_EQ(o.report["status"], "OK");
  for (const char* rule : {"backup.job", "backup.age", "backup.task", "backup.verification",
                           "backup.size", "backup.archive", "backup.retention"}) {
    for (const char* guest : {"tunnel1", "tunnel2"}) {
      EXPECT_EQ(status_of(o.report, rule, guest), "OK") << rule << " " << guest;
    }
  }
  EXPECT_EQ(status_of(o.report, "token.privileges", "token"), "OK");
  // Only backup findings: the guest's own rules are check's business.
  EXPECT_EQ(result(o.report, "guest.onboot", "tunnel2"), nullptr);
  EXPECT_NE((*result(o.report, "backup.age", "tunnel1"))["message"].get<std::string>().find(
                "job backup-tunnels \"sun 01:00\" (Europe/Vienna)"),
            std::string::npos);
}

TEST_F(CheckAgainstSim, BackupVerifyFindsAnEmptyBackup) {
  topology_ = std::regex_replace(
      topology_, kNewest110,
      "storage = \"pbs1\"\nvmid = 110\nage_h = 32\nverification = \"ok\"\nsize = 0");
  start();
  auto o = verify();
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "backup.size", "tunnel1"), "CRITICAL");
  EXPECT_EQ((*result(o.report, "backup.size", "tunnel1"))["observed"], "0 B");
  EXPECT_EQ(status_of(o.report, "backup.size", "tunnel2"), "OK");
}

TEST_F(CheckAgainstSim, BackupVerifyWarnsOfADrasticDrop) {
  topology_ = std::regex_replace(
      topology_, kNewest110,
      "storage = \"pbs1\"\nvmid = 110\nage_h = 32\nverification = \"ok\"\nsize = 104857600");
  start();
  auto o = verify();
  EXPECT_EQ(o.exit_code, 1) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "backup.size", "tunnel1"), "WARNING");
  EXPECT_NE((*result(o.report, "backup.size", "tunnel1"))["message"].get<std::string>().find(
                "100.0 MiB against 1.5 GiB"),
            std::string::npos)
      << o.report.dump(2);
}

TEST_F(CheckAgainstSim, BackupVerifyFindsAnArchiveOfAnotherGuest) {
  topology_ = std::regex_replace(topology_, kNewest110,
                                 "storage = \"pbs1\"\nvmid = 110\nage_h = 32\nverification = "
                                 "\"ok\"\nconfig = \"name: old-webserver\\nmemory: 2048\\n"
                                 "scsi0: local-lvm:vm-110-disk-0\\n\"");
  start();
  auto o = verify();
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "backup.archive", "tunnel1"), "CRITICAL");
  EXPECT_EQ((*result(o.report, "backup.archive", "tunnel1"))["observed"],
            "qemu config of old-webserver");
}

TEST_F(CheckAgainstSim, BackupVerifyFindsAnUnreadableArchive) {
  topology_ = std::regex_replace(
      topology_, kNewest110,
      "storage = \"pbs1\"\nvmid = 110\nage_h = 32\nverification = \"ok\"\nunreadable = true");
  start();
  auto o = verify({"--guest", "tunnel1"});
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "backup.archive", "tunnel1"), "CRITICAL");
  EXPECT_NE((*result(o.report, "backup.archive", "tunnel1"))["message"].get<std::string>().find(
                "unable to read the archive"),
            std::string::npos)
      << o.report.dump(2);
  EXPECT_EQ(result(o.report, "backup.archive", "tunnel2"), nullptr);  // --guest
}

TEST_F(CheckAgainstSim, BackupVerifyWarnsWhenPruningWouldDropTheVerifiedBackup) {
  // keep-last=1: the prune after the next (unverified) backup removes the only verified one.
  topology_ = std::regex_replace(topology_,
                                 std::regex("\"prune-backups\" = \\{ keep-last = \"3\", "
                                            "keep-weekly = \"4\" \\}"),
                                 "\"prune-backups\" = { keep-last = \"1\" }");
  start();
  auto o = verify();
  EXPECT_EQ(o.exit_code, 1) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "backup.retention", "tunnel1"), "WARNING");
  EXPECT_EQ(status_of(o.report, "backup.retention", "tunnel2"), "WARNING");
  EXPECT_NE(
      (*result(o.report, "backup.retention", "tunnel2"))["remediation"].get<std::string>().find(
          "--protected 1"),
      std::string::npos);
}

// `backup run`: a short vzdump in the simulator, followed to its end.
void fast_backups(std::string& topology) {
  topology = std::regex_replace(topology, std::regex("vzdump_duration_ms = 3000"),
                                "vzdump_duration_ms = 300");
}

TEST_F(CheckAgainstSim, BackupRunBacksUpEachGuestAndFollowsTheTask) {
  fast_backups(topology_);
  start();
  auto o = report_of({"backup", "run"}, {});
  EXPECT_EQ(o.exit_code, 0) << o.err << o.report.dump(2);
  EXPECT_EQ(o.report["ok"], true);
  ASSERT_EQ(o.report["results"].size(), 2u);
  for (const auto& r : o.report["results"]) {
    EXPECT_EQ(r["ok"], true) << r.dump();
    EXPECT_EQ(r["outcome"], "OK");
    EXPECT_EQ(r["storage"], "pbs1");  // the covering job's storage
    EXPECT_EQ(r["upid"].get<std::string>().rfind("UPID:", 0), 0u);
  }
  // The task log is the progress, on stderr next to the JSON.
  EXPECT_NE(o.err.find("tunnel1 | INFO: Starting Backup of VM 110 (qemu)"), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("tunnel2 | TASK OK"), std::string::npos) << o.err;
  // The new backups are there: the newest is now minutes old, not 32 h.
  auto v = verify();
  EXPECT_NE(
      (*result(v.report, "backup.age", "tunnel1"))["observed"].get<std::string>().rfind("0h ", 0),
      std::string::npos)
      << v.report.dump(2);
}

TEST_F(CheckAgainstSim, BackupRunReportsAFailedBackupWithItsErrorLines) {
  fast_backups(topology_);
  start();
  admin("/_sim/faults", {{"fail_next_vzdump", {{"110", "no space left on device"}}}});
  auto o = report_of({"backup", "run"}, {"--guest", "tunnel1"});
  EXPECT_EQ(o.exit_code, 1) << o.err;
  ASSERT_EQ(o.report["results"].size(), 1u);
  const auto& r = o.report["results"][0];
  EXPECT_EQ(r["ok"], false);
  ASSERT_EQ(r["errors"].size(), 1u);
  EXPECT_EQ(r["errors"][0], "ERROR: Backup of VM 110 failed - no space left on device");
  // Text output: the verdict and the error line.
  admin("/_sim/faults", {{"fail_next_vzdump", {{"110", "no space left on device"}}}});
  auto text = testing::run({PVT_BINARY_DIR "/pvectl-tunnel", "backup", "run", "--config",
                            (dir_ / "config.toml").string(), "--guest", "tunnel1"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find("tunnel1: FAILED - "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  ERROR: Backup of VM 110 failed - no space left on device"),
            std::string::npos)
      << text.out;
}

}  // namespace
}  // namespace pvt
