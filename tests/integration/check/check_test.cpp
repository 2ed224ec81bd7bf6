// `pvectl-tunnel check` end to end: the real binary against pvesim over HTTPS, with the
// certificate pinned by fingerprint, for each situation of issue 3.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/integration/check/sim_fixture.h"
#include "tests/support/subprocess.h"

namespace pvt {
namespace {

using sim_fixture::CheckAgainstSim;
using sim_fixture::kSecret;
using sim_fixture::read_file;
using sim_fixture::write_file;
using Json = nlohmann::json;
namespace fs = std::filesystem;

TEST_F(CheckAgainstSim, ReferenceTopologyShowsTheOneDeliberateFinding) {
  start();
  auto o = check();
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_EQ(o.report["status"], "CRITICAL");
  EXPECT_EQ(o.report["schema"], 1);
  EXPECT_EQ(o.report["exit_code"], 2);
  EXPECT_FALSE(o.report.contains("error"));
  int critical = 0;
  for (const auto& r : o.report["results"]) {
    for (const char* k :
         {"rule", "target", "status", "observed", "expected", "message", "remediation"}) {
      EXPECT_TRUE(r.contains(k)) << r.dump();
    }
    if (r["status"] != "OK") {
      ++critical;
      EXPECT_EQ(r["rule"], "guest.onboot");
      EXPECT_EQ(r["target"], "tunnel2");
      EXPECT_EQ(r["observed"], "0");
      EXPECT_EQ(r["expected"], "1");
      EXPECT_EQ(r["remediation"], "`pct set 210 --onboot 1`");
    }
  }
  EXPECT_EQ(critical, 1);
  // Every rule for every guest, passing ones included.
  for (const char* g : {"tunnel1", "tunnel2"}) {
    for (const char* rule : {"guest.exists", "guest.node", "guest.type", "guest.template",
                             "guest.onboot", "guest.startup", "guest.running", "guest.lock",
                             "backup.job", "backup.age", "backup.task", "backup.verification"}) {
      EXPECT_NE(result(o.report, rule, g), nullptr) << rule << " " << g;
    }
  }
  for (const char* rule : {"cluster.quorum", "cluster.two_node"}) {
    EXPECT_EQ(status_of(o.report, rule, "cluster"), "OK");
  }
  EXPECT_EQ(status_of(o.report, "token.privileges", "token"), "OK");
}

TEST_F(CheckAgainstSim, CompliantClusterIsOk) {
  topology_ = std::regex_replace(
      topology_, std::regex("\\[guest.config\\]\nstartup = \"order=1\"\nmemory = 512"),
      "[guest.config]\nonboot = 1\nstartup = \"order=1\"\nmemory = 512");
  start();
  auto o = check();
  EXPECT_EQ(o.exit_code, 0) << o.report.dump(2);
  EXPECT_EQ(o.report["status"], "OK");
}

TEST_F(CheckAgainstSim, TextOutputStartsWithThePluginLine) {
  start();
  auto r = testing::run(
      {PVT_BINARY_DIR "/pvectl-tunnel", "check", "--config", (dir_ / "config.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out.rfind("PVECTL-TUNNEL CRITICAL - tunnel2: not set to start at boot | critical=1 "
                        "warning=0 unknown=0 ",
                        0),
            0u)
      << r.out;
  EXPECT_EQ(r.out.find("\033["), std::string::npos) << "no colour when stdout is not a TTY";
}

TEST_F(CheckAgainstSim, EachGuestFindingOnItsOwn) {
  start();
  admin("/_sim/guest/110", {{"status", "stopped"}});
  admin("/_sim/guest/210",
        {{"config", {{"onboot", 1}, {"startup", "order=3"}}}, {"lock", "backup"}});
  auto o = check();
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(status_of(o.report, "guest.running", "tunnel1"), "CRITICAL");
  EXPECT_EQ((*result(o.report, "guest.running", "tunnel1"))["remediation"], "`qm start 110`");
  EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel2"), "OK");
  EXPECT_EQ(status_of(o.report, "guest.startup", "tunnel2"), "WARNING");
  EXPECT_EQ((*result(o.report, "guest.startup", "tunnel2"))["observed"], "order=3");
  EXPECT_EQ(status_of(o.report, "guest.lock", "tunnel2"), "WARNING");
  EXPECT_EQ((*result(o.report, "guest.lock", "tunnel2"))["observed"], "backup");
}

TEST_F(CheckAgainstSim, GuestOnAnotherNodeIsAWarningAndStillChecked) {
  start();
  admin("/_sim/guest/210", {{"node", "pve1"}, {"config", {{"onboot", 1}}}});
  auto o = check();
  EXPECT_EQ(status_of(o.report, "guest.node", "tunnel2"), "WARNING");
  EXPECT_EQ((*result(o.report, "guest.node", "tunnel2"))["observed"], "pve1");
  EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel2"), "OK");
}

TEST_F(CheckAgainstSim, MissingGuestIsCriticalAndTheRestUnknown) {
  topology_ = std::regex_replace(topology_, std::regex("vmid = 210\ntype = \"lxc\""),
                                 "vmid = 212\ntype = \"lxc\"");
  start();
  auto o = check();
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(status_of(o.report, "guest.exists", "tunnel2"), "CRITICAL");
  EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel2"), "UNKNOWN");
  EXPECT_EQ((*result(o.report, "backup.age", "tunnel2"))["message"], "guest not found");
}

TEST_F(CheckAgainstSim, NodeOfflineIsNeverOk) {
  start();
  admin("/_sim/faults", {{"offline_nodes", {"pve2"}}});
  auto o = check();
  EXPECT_EQ(status_of(o.report, "guest.running", "tunnel2"), "UNKNOWN");
  EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel2"), "UNKNOWN");
  EXPECT_EQ(status_of(o.report, "backup.task", "tunnel2"), "UNKNOWN");
  EXPECT_EQ(status_of(o.report, "guest.running", "tunnel1"), "OK");
  // Two nodes + QDevice: one node down keeps quorum.
  EXPECT_EQ(status_of(o.report, "cluster.quorum", "cluster"), "OK");
}

TEST_F(CheckAgainstSim, TwoNodesWithoutQDeviceLoseQuorumWithOneNode) {
  topology_ = std::regex_replace(topology_, std::regex("qdevice = true"), "qdevice = false");
  start();
  auto o = check();
  EXPECT_EQ(status_of(o.report, "cluster.two_node", "cluster"), "WARNING");
  admin("/_sim/faults", {{"offline_nodes", {"pve1"}}});
  o = check();
  EXPECT_EQ(status_of(o.report, "cluster.quorum", "cluster"), "CRITICAL");
  EXPECT_EQ(o.exit_code, 2);
}

TEST_F(CheckAgainstSim, QuorumLost) {
  start();
  admin("/_sim/faults", {{"quorum_lost", true}});
  auto o = check();
  EXPECT_EQ(status_of(o.report, "cluster.quorum", "cluster"), "CRITICAL");
}

TEST_F(CheckAgainstSim, RejectedTokenIsUnknownWithACompleteReport) {
  start("wrong-secret");
  auto o = check();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.report["status"], "UNKNOWN");
  ASSERT_TRUE(o.report.contains("error"));
  EXPECT_NE(o.report["error"].get<std::string>().find("401"), std::string::npos)
      << o.report["error"];
  EXPECT_EQ(o.report["error"].get<std::string>().find("wrong-secret"), std::string::npos);
  EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel1"), "UNKNOWN");
  EXPECT_EQ(status_of(o.report, "cluster.quorum", "cluster"), "UNKNOWN");
}

TEST_F(CheckAgainstSim, TokenWithoutBackupPrivilegesSeesNoBackupsButSaysWhy) {
  topology_ = std::regex_replace(
      topology_, std::regex(", \"Datastore.AllocateSpace\", \"VM.Backup\"\\]"), "]");
  start();
  auto o = check();
  // check itself cannot read the backups: CRITICAL (a WARNING let the report end UNKNOWN).
  EXPECT_EQ(status_of(o.report, "token.privileges", "token"), "CRITICAL");
  // Not visible is not missing: UNKNOWN, never "no backup".
  EXPECT_EQ(status_of(o.report, "backup.age", "tunnel1"), "UNKNOWN");
  EXPECT_NE((*result(o.report, "token.privileges", "token"))["observed"].get<std::string>().find(
                "Datastore.AllocateSpace + VM.Backup"),
            std::string::npos);
}

TEST_F(CheckAgainstSim, TokenThatCannotSeeAGuest) {
  topology_ =
      std::regex_replace(topology_, std::regex("\"/\" = \\[\"Sys.Audit\", \"VM.Audit\","),
                         "\"/vms/110\" = [\"VM.Audit\", \"VM.Backup\"]\n\"/\" = [\"Sys.Audit\",");
  start();
  auto o = check();
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(status_of(o.report, "token.privileges", "token"), "CRITICAL");
  EXPECT_EQ(status_of(o.report, "guest.exists", "tunnel2"), "UNKNOWN");
  EXPECT_EQ(status_of(o.report, "guest.exists", "tunnel1"), "OK");
}

TEST_F(CheckAgainstSim, GarbageAnswersAreUnknownNotACrash) {
  start();
  admin("/_sim/faults", {{"garbage_paths", {"/cluster/resources"}}});
  auto o = check();
  EXPECT_EQ(o.exit_code, 3) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "guest.exists", "tunnel1"), "UNKNOWN");
  EXPECT_NE((*result(o.report, "guest.exists", "tunnel1"))["message"].get<std::string>().find(
                "/cluster/resources"),
            std::string::npos);
}

TEST_F(CheckAgainstSim, FailedBackupTaskIsQuotedFromTheLog) {
  topology_ = std::regex_replace(
      topology_, std::regex("guests = \\[\\{ vmid = 110 \\}, \\{ vmid = 111 \\}\\]"),
      "guests = [{ vmid = 110, outcome = \"error\", message = \"no space left on device\" }, { "
      "vmid = 111 }]");
  start();
  auto o = check();
  EXPECT_EQ(status_of(o.report, "backup.task", "tunnel1"), "CRITICAL");
  EXPECT_EQ((*result(o.report, "backup.task", "tunnel1"))["observed"],
            "ERROR: Backup of VM 110 failed - no space left on device");
}

TEST_F(CheckAgainstSim, UnreachableApiIsUnknown) {
  start();
  sim_.reset();  // stops pvesim: the endpoint now refuses connections
  auto o = check();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.report["status"], "UNKNOWN");
}

TEST_F(CheckAgainstSim, BadConfigGivesAnUnknownJsonReport) {
  start();
  write_file(dir_ / "config.toml", "[pve]\nendpoints = 3\n", fs::perms(0644));
  auto o = check();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.report["status"], "UNKNOWN");
  EXPECT_NE(o.report["error"].get<std::string>().find("pve.endpoints"), std::string::npos);
}

TEST_F(CheckAgainstSim, BadArgumentsGiveAnUnknownJsonReport) {
  auto r = testing::run({PVT_BINARY_DIR "/pvectl-tunnel", "check", "--format", "json", "--bogus"});
  EXPECT_EQ(r.exit_code, 3);
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["status"], "UNKNOWN");
}

TEST_F(CheckAgainstSim, GuestFilter) {
  start();
  auto o = check({"--guest", "tunnel1"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(result(o.report, "guest.onboot", "tunnel2"), nullptr);
  auto bad = check({"--guest", "nope"});
  EXPECT_EQ(bad.exit_code, 3);
}

TEST_F(CheckAgainstSim, WrongPinnedFingerprintNamesTheOneSeen) {
  start();
  std::string cfg = read_file(dir_ / "config.toml");
  const std::string wrong(95, '0');
  std::string pinned = wrong;
  for (size_t i = 2; i < pinned.size(); i += 3) pinned[i] = ':';
  cfg = std::regex_replace(cfg, std::regex("fingerprint = \"[^\"]*\""),
                           "fingerprint = \"" + pinned + "\"");
  write_file(dir_ / "config.toml", cfg, fs::perms(0644));
  auto o = check();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_NE(o.report["error"].get<std::string>().find(fingerprint_), std::string::npos)
      << o.report["error"];
}

TEST_F(CheckAgainstSim, FailsOverToTheNextEndpoint) {
  start();
  std::string cfg = read_file(dir_ / "config.toml");
  // 127.0.0.1:1 refuses connections: the second endpoint answers for the cluster.
  cfg = std::regex_replace(cfg, std::regex("endpoints = \\[\""),
                           "endpoints = [\"https://127.0.0.1:1\", \"");
  write_file(dir_ / "config.toml", cfg, fs::perms(0644));
  auto o = check();
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel1"), "OK");
}

TEST_F(CheckAgainstSim, TimeoutForTheWholeRunGivesUnknownNotAHang) {
  start();
  admin("/_sim/faults", {{"latency_ms", 1500}});
  auto began = std::chrono::steady_clock::now();
  auto o = check({"-t", "2"});
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(o.exit_code, 3) << o.report.dump(2);
  EXPECT_EQ(o.report["status"], "UNKNOWN");
  // Not a timing assertion on the machine's speed: only that -t bounded a run that would
  // otherwise take 15 x 1.5 s.
  EXPECT_LT(took, std::chrono::seconds(15));
}

TEST_F(CheckAgainstSim, ServerErrorsAreRetriedOrReported) {
  start();
  admin("/_sim/faults", {{"error_rate", 1.0}});
  auto o = check();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_NE(o.report["error"].get<std::string>().find("simulated internal error"),
            std::string::npos)
      << o.report["error"];
}

TEST_F(CheckAgainstSim, NeverChangesAnything) {
  start();
  auto state = [&] {
    httplib::Client c(url_);
    c.enable_server_certificate_verification(false);
    auto res = c.Get("/_sim/state");
    return res ? res->body : std::string();
  };
  const std::string before = state();
  check();
  check({"--guest", "tunnel2"});
  EXPECT_EQ(before, state());
  EXPECT_NE(before.find("\"tasks\""), std::string::npos);
}

TEST(PvesimBinary, PrintsItsAddressAndFingerprintAndStopsCleanlyOnSigterm) {
  testing::Background sim({PVT_BINARY_DIR "/pvesim", "--topology",
                           PVT_SOURCE_DIR "/examples/topology.toml", "--listen", "127.0.0.1:0"});
  EXPECT_TRUE(std::regex_match(sim.read_line(),
                               std::regex("listening: https://127\\.0\\.0\\.1:[1-9][0-9]*")));
  EXPECT_TRUE(
      std::regex_match(sim.read_line(), std::regex("fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}")));
  EXPECT_EQ(sim.stop(), 0);
}

TEST(PvesimBinary, BadTopologyIsOneClearError) {
  auto r = testing::run(
      {PVT_BINARY_DIR "/pvesim", "--topology", "/nonexistent.toml", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "pvesim: /nonexistent.toml: cannot read topology: No such file or directory\n");
}

}  // namespace
}  // namespace pvt
