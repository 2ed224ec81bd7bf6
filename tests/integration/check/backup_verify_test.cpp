// `pvectl-tunnel backup verify` end to end against pvesim: the backup rules of check plus what
// only the volumes show (size against the one before, the archive's config).
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/check/sim_fixture.h"

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

}  // namespace
}  // namespace pvt
