// evaluate() on hand-built observations: each rule passing and failing on its own.
#include "controller/check/rules.h"

#include <gtest/gtest.h>

#include "controller/check/vzdump_log.h"

namespace pvt::check {
namespace {

using report::Status;
constexpr int64_t kNow = 1795000000;

config::Config make_config() {
  config::Config c;
  c.guests = {{"tunnel1", "pve1", 110, config::GuestType::qemu, 1},
              {"tunnel2", "pve2", 210, config::GuestType::lxc, std::nullopt}};
  return c;
}

pve::VmResource vm(int64_t vmid, const std::string& type, const std::string& node) {
  pve::VmResource r;
  r.vmid = vmid;
  r.type = type;
  r.node = node;
  r.status = "running";
  r.id = type + "/" + std::to_string(vmid);
  return r;
}

pve::GuestConfig guest_config(bool onboot, std::optional<std::string> startup) {
  pve::GuestConfig g;
  g.onboot = onboot;
  g.startup = std::move(startup);
  return g;
}

// Everything healthy: both guests running, started at boot, backed up yesterday and verified.
Observation healthy() {
  Observation o;
  o.now = std::chrono::system_clock::time_point(std::chrono::seconds(kNow));
  o.version = pve::Version{"8.2.4", "8.2", "x"};
  pve::ClusterStatus cs;
  cs.is_cluster = true;
  cs.cluster_name = "homelab";
  cs.quorate = true;
  cs.nodes = {{"pve1", 1, "", true, true}, {"pve2", 2, "", true, false}};
  o.cluster = cs;
  o.qdevice = pve::QDevice{true, {}};
  pve::Permissions p;
  p.by_path["/"] = {{"Sys.Audit", true},       {"VM.Audit", true},
                    {"Datastore.Audit", true}, {"Datastore.AllocateSpace", true},
                    {"VM.Backup", true},       {"Pool.Audit", true}};
  o.permissions = p;
  o.resources = std::vector<pve::VmResource>{vm(110, "qemu", "pve1"), vm(210, "lxc", "pve2")};
  pve::BackupJob job;
  job.id = "weekly";
  job.schedule = "sun 01:00";
  job.vmids = {110, 210};
  job.storage = "pbs1";
  o.jobs = std::vector<pve::BackupJob>{job};
  o.guests.resize(2);
  for (int i = 0; i < 2; ++i) {
    auto& g = o.guests[static_cast<size_t>(i)];
    const int64_t vmid = i == 0 ? 110 : 210;
    g.resource = (*o.resources)[static_cast<size_t>(i)];
    g.config = guest_config(true, "order=1");
    pve::BackupVolume v;
    v.volid = "pbs1:backup/x/" + std::to_string(vmid);
    v.vmid = vmid;
    v.ctime = kNow - 24 * 3600;
    v.size = 1000;
    v.verification = pve::Verification{"ok", "UPID:x"};
    g.backups.push_back(StorageBackups{"pbs1", "pbs", std::vector<pve::BackupVolume>{v}});
    pve::TaskListEntry t;
    t.upid =
        "UPID:pve" + std::to_string(i + 1) + ":1:2:3:vzdump:" + std::to_string(vmid) + ":root@pam:";
    t.id = std::to_string(vmid);
    t.starttime = kNow - 24 * 3600;
    t.status = "OK";
    NodeTasks nt;
    nt.tasks = std::vector<pve::TaskListEntry>{t};
    o.node_tasks[i == 0 ? "pve1" : "pve2"] = nt;
  }
  return o;
}

const report::RuleResult* find(const report::Report& r, const std::string& rule,
                               const std::string& target) {
  for (const auto& x : r.results) {
    if (x.rule == rule && x.target == target) return &x;
  }
  return nullptr;
}

Status status(const report::Report& r, const std::string& rule, const std::string& target) {
  auto* x = find(r, rule, target);
  EXPECT_NE(x, nullptr) << rule << " " << target;
  return x ? x->status : Status::unknown;
}

TEST(Rules, HealthyIsAllOkAndComplete) {
  auto cfg = make_config();
  auto rep = evaluate(cfg, healthy());
  EXPECT_EQ(rep.status(), Status::ok);
  EXPECT_EQ(rep.exit_code(), 0);
  // tunnel1 has startup_order, tunnel2 not: 12 + 11 guest/backup rules, 3 cluster-wide.
  EXPECT_EQ(rep.results.size(), 3u + 12u + 11u);
  EXPECT_EQ(find(rep, "guest.startup", "tunnel2"), nullptr);
}

TEST(Rules, TwoNodesWithoutQDevice) {
  auto o = healthy();
  o.qdevice = pve::QDevice{false, {}};
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "cluster.two_node", "cluster"), Status::warning);
  EXPECT_EQ(rep.exit_code(), 1);
}

TEST(Rules, StandaloneNodeHasNoQuorumToLose) {
  auto o = healthy();
  o.cluster->is_cluster = false;
  o.cluster->quorate.reset();
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "cluster.quorum", "cluster"), Status::ok);
}

TEST(Rules, UnknownOnlyWinsWithoutCritical) {
  auto o = healthy();
  o.cluster = tl::unexpected(not_read("boom"));
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(rep.status(), Status::unknown);
  EXPECT_EQ(rep.exit_code(), 3);
  o.guests[0].config = guest_config(false, "order=1");
  rep = evaluate(make_config(), o);
  EXPECT_EQ(rep.status(), Status::critical);
}

TEST(Rules, JobNodeFilterAndDisabledJobs) {
  auto o = healthy();
  (*o.jobs)[0].node = "pve1";
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.job", "tunnel1"), Status::ok);
  EXPECT_EQ(status(rep, "backup.job", "tunnel2"), Status::critical);
  (*o.jobs)[0].node.reset();
  (*o.jobs)[0].enabled = false;
  rep = evaluate(make_config(), o);
  EXPECT_EQ(find(rep, "backup.job", "tunnel1")->observed, "weekly (disabled)");
}

TEST(Rules, AllWithExcludeAndPools) {
  auto o = healthy();
  (*o.jobs)[0].vmids.clear();
  (*o.jobs)[0].all = true;
  (*o.jobs)[0].exclude = {210};
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.job", "tunnel1"), Status::ok);
  EXPECT_EQ(status(rep, "backup.job", "tunnel2"), Status::critical);
  (*o.jobs)[0].all = false;
  (*o.jobs)[0].pool = "tunnels";
  pve::Pool pool;
  pool.poolid = "tunnels";
  pool.members = {{"lxc/210", "lxc", 210, "pve2"}};
  o.pools["tunnels"] = pool;
  rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.job", "tunnel2"), Status::ok);
  EXPECT_EQ(status(rep, "backup.job", "tunnel1"), Status::critical);
}

TEST(Rules, BackupAgeFollowsTheCoveringJobsSchedule) {
  // "sun 01:00" in UTC runs every 7 days: allowed 168 h + grace_h 12.
  auto o = healthy();
  o.node_times["pve1"] = pve::NodeTime{"UTC", kNow, kNow};
  auto& vols = *o.guests[0].backups[0].volumes;
  vols[0].ctime = kNow - 180 * 3600;
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.age", "tunnel1"), Status::ok);
  EXPECT_EQ(find(rep, "backup.age", "tunnel1")->expected, "<= 180h");
  EXPECT_NE(find(rep, "backup.age", "tunnel1")->message.find("job weekly \"sun 01:00\" (UTC)"),
            std::string::npos)
      << find(rep, "backup.age", "tunnel1")->message;
  vols[0].ctime -= 1;
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.age", "tunnel1"), Status::critical);
}

TEST(Rules, BackupAgeInTheNodesTimeZoneIncludesTheLongDstWeek) {
  // In Vienna the week across the autumn change is 7 days and 1 hour long.
  auto o = healthy();
  o.node_times["pve1"] = pve::NodeTime{"Europe/Vienna", kNow, kNow};
  auto& vols = *o.guests[0].backups[0].volumes;
  vols[0].ctime = kNow - 181 * 3600;
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.age", "tunnel1"), Status::ok);
  EXPECT_EQ(find(rep, "backup.age", "tunnel1")->expected, "<= 181h");
  vols[0].ctime -= 1;
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.age", "tunnel1"), Status::critical);
}

TEST(Rules, BackupJobSaysWhenItRanLastAndRunsNextInTheNodesZone) {
  // kNow is Wed 2026-11-18 12:06 in Vienna; "sun 01:00" ran on the 15th and runs on the 22nd.
  auto o = healthy();
  o.node_times["pve1"] = pve::NodeTime{"Europe/Vienna", kNow, kNow};
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(find(rep, "backup.job", "tunnel1")->message,
            "covered by job weekly (sun 01:00 to pbs1): last Sun 2026-11-15 01:00 CET, next Sun "
            "2026-11-22 01:00 CET");
  // Without the node's zone: UTC.
  o.node_times.erase("pve1");
  EXPECT_NE(find(evaluate(make_config(), o), "backup.job", "tunnel1")
                ->message.find("last Sun 2026-11-15 01:00 UTC, next Sun 2026-11-22 01:00 UTC"),
            std::string::npos);
  pve::BackupJob job;
  job.schedule = "2026-01-01 00:00";  // once, in the past
  EXPECT_EQ(check::job_runs(job, nullptr, std::chrono::system_clock::from_time_t(kNow)),
            "last Thu 2026-01-01 00:00 UTC, no further run");
  job.schedule = "not a schedule";
  EXPECT_EQ(check::job_runs(job, nullptr, std::chrono::system_clock::from_time_t(kNow)), "");
}

TEST(Rules, BackupAgeFallsBackToMaxAgeAndSaysWhy) {
  auto o = healthy();
  auto& vols = *o.guests[0].backups[0].volumes;
  vols[0].ctime = kNow - (192 + 12) * 3600;
  // A schedule PVE would not accept: max_age_h + grace_h.
  (*o.jobs)[0].schedule = "sun 25:99";
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.age", "tunnel1"), Status::ok);
  EXPECT_EQ(find(rep, "backup.age", "tunnel1")->expected, "<= 204h");
  EXPECT_NE(find(rep, "backup.age", "tunnel1")->message.find("not understood"), std::string::npos);
  vols[0].ctime -= 1;
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.age", "tunnel1"), Status::critical);
  // No enabled job: the same allowance (and backup.job is the finding).
  (*o.jobs)[0].enabled = false;
  vols[0].ctime += 1;
  rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.age", "tunnel1"), Status::ok);
  EXPECT_NE(find(rep, "backup.age", "tunnel1")->message.find("no enabled job covers it"),
            std::string::npos);
  // The node's zone unknown: UTC, said so.
  (*o.jobs)[0].enabled = true;
  (*o.jobs)[0].schedule = "sun 01:00";
  o.node_times["pve1"] = tl::unexpected(pve::ApiError{});
  rep = evaluate(make_config(), o);
  EXPECT_NE(find(rep, "backup.age", "tunnel1")->message.find("time zone could not be read"),
            std::string::npos);
}

TEST(Rules, NoBackupIsCritical) {
  auto o = healthy();
  auto& vols = *o.guests[0].backups[0].volumes;
  vols.clear();
  EXPECT_EQ(find(evaluate(make_config(), o), "backup.age", "tunnel1")->observed, "no backup");
}

TEST(Rules, VerificationStates) {
  auto o = healthy();
  auto& v = (*o.guests[0].backups[0].volumes)[0];
  v.verification = pve::Verification{"failed", "UPID:x"};
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.verification", "tunnel1"), Status::critical);
  v.verification.reset();
  // Not verified yet: fine while younger than verify_grace_h (36 h), a WARNING after.
  auto cfg = make_config();
  v.ctime = kNow - 36 * 3600;
  EXPECT_EQ(status(evaluate(cfg, o), "backup.verification", "tunnel1"), Status::ok);
  v.ctime = kNow - 36 * 3600 - 1;
  EXPECT_EQ(status(evaluate(cfg, o), "backup.verification", "tunnel1"), Status::warning);
  cfg.backup.verify_grace_h = 48;
  EXPECT_EQ(status(evaluate(cfg, o), "backup.verification", "tunnel1"), Status::ok);
  o.guests[0].backups[0].plugintype = "dir";
  EXPECT_EQ(find(evaluate(make_config(), o), "backup.verification", "tunnel1"), nullptr);
}

TEST(Rules, MultiGuestTaskDecidedByItsLog) {
  auto o = healthy();
  pve::TaskListEntry t;
  t.upid = "UPID:pve1:9:9:9:vzdump::root@pam:";
  t.id = "";
  t.starttime = kNow - 3600;
  t.status = "job errors";
  auto& nt = o.node_tasks["pve1"];
  nt.tasks->insert(nt.tasks->begin(), t);
  nt.logs[t.upid] = std::vector<pve::TaskLogLine>{
      {1, "INFO: Starting Backup of VM 110 (qemu)"},
      {2, "ERROR: Backup of VM 110 failed - unable to freeze filesystem"},
      {3, "INFO: Starting Backup of VM 1100 (qemu)"},
      {4, "INFO: Finished Backup of VM 1100 (00:00:10)"}};
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.task", "tunnel1"), Status::critical);
  EXPECT_EQ(find(rep, "backup.task", "tunnel1")->observed,
            "ERROR: Backup of VM 110 failed - unable to freeze filesystem");
  // The same job failing for another guest does not fail this one.
  nt.logs[t.upid] = std::vector<pve::TaskLogLine>{{1, "INFO: Starting Backup of VM 110 (qemu)"},
                                                  {2, "INFO: Finished Backup of VM 110 (00:01:02)"},
                                                  {3, "INFO: Starting Backup of VM 111 (qemu)"},
                                                  {4, "ERROR: Backup of VM 111 failed - x"}};
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.task", "tunnel1"), Status::ok);
}

TEST(Rules, WarningsExitStatusIsAWarning) {
  auto o = healthy();
  (*o.node_tasks["pve2"].tasks)[0].status = "WARNINGS: 2";
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.task", "tunnel2"), Status::warning);
}

TEST(Rules, EnforcementNeedsMorePrivileges) {
  auto cfg = make_config();
  cfg.controller.enforce = {"start", "onboot"};
  auto rep = evaluate(cfg, healthy());
  auto* t = find(rep, "token.privileges", "token");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->status, Status::warning);
  EXPECT_NE(t->observed->find("VM.PowerMgmt on /vms/110"), std::string::npos) << *t->observed;
  // The startup order is a separate enforcement: only it needs Sys.Modify on / (for a VM).
  EXPECT_EQ(t->observed->find("Sys.Modify"), std::string::npos) << *t->observed;
  cfg.controller.enforce = {"startup"};
  rep = evaluate(cfg, healthy());
  t = find(rep, "token.privileges", "token");
  EXPECT_NE(t->observed->find("Sys.Modify on /"), std::string::npos) << *t->observed;
}

// What check itself must read (the backups, the tasks of a node) makes a missing privilege
// CRITICAL; only what an enabled feature needs is a WARNING.
TEST(Rules, PrivilegesCheckNeedsToReadAreCritical) {
  auto o = healthy();
  o.permissions->by_path["/"].erase("VM.Backup");
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "token.privileges", "token"), Status::critical);
  o = healthy();
  o.permissions->by_path["/nodes/pve2"] = {{"Datastore.Audit", true}};
  EXPECT_EQ(status(evaluate(make_config(), o), "token.privileges", "token"), Status::critical);
}

TEST(Rules, RestoreTestNeedsTheScratchVmidAndItsStorage) {
  auto cfg = make_config();
  cfg.backup.restore_test_vmid = 9999;
  cfg.backup.restore_test_storage = "local-lvm";
  auto o = healthy();
  auto privileges = [&]() -> std::string {
    auto rep = evaluate(cfg, o);
    auto* t = find(rep, "token.privileges", "token");
    if (t == nullptr) return "no token.privileges";
    if (t->status == Status::ok) return "ok";
    EXPECT_EQ(t->status, Status::warning) << "the restore test alone never blocks check";
    return t->observed.value_or("");
  };
  // VM.Audit and Datastore.AllocateSpace come from "/", VM.Allocate is nowhere.
  EXPECT_EQ(privileges(), "missing VM.Allocate on /vms/9999");
  // Granted on the scratch VMID alone, as the docs advise; that entry then decides for the path.
  o.permissions->by_path["/vms/9999"] = {{"VM.Allocate", true}};
  EXPECT_EQ(privileges(), "missing VM.Audit on /vms/9999");
  o.permissions->by_path["/vms/9999"] = {{"VM.Allocate", true}, {"VM.Audit", true}};
  o.permissions->by_path["/storage/local-lvm"] = {{"Datastore.Audit", true}};
  EXPECT_EQ(privileges(), "missing Datastore.AllocateSpace on /storage/local-lvm");
  o.permissions->by_path.erase("/storage/local-lvm");
  EXPECT_EQ(privileges(), "ok");
  // Without a scratch VMID nothing of this is asked for.
  cfg.backup.restore_test_vmid.reset();
  o.permissions->by_path.erase("/vms/9999");
  EXPECT_EQ(privileges(), "ok");
}

TEST(Rules, TunnelWorkerStates) {
  auto cfg = make_config();
  config::Tunnel t;
  t.name = "tunnel1";
  t.guest = "tunnel1";
  t.control_url = "http://127.0.0.1:9190";
  cfg.tunnels = {t};
  auto o = healthy();
  tunnel::WorkerStatus s;
  s.name = "tunnel1";
  s.state = "serving";
  s.forward = "127.0.0.1:29000";
  s.probe = {true, 12, report::format_utc(o.now - std::chrono::seconds(5))};
  o.workers["tunnel1"] = s;
  auto rep = evaluate(cfg, o);
  EXPECT_EQ(status(rep, "tunnel.worker", "tunnel1"), Status::ok);
  EXPECT_EQ(status(rep, "tunnel.probe", "tunnel1"), Status::ok);
  s.probe.at = report::format_utc(o.now - std::chrono::seconds(31));
  o.workers["tunnel1"] = s;
  EXPECT_EQ(status(evaluate(cfg, o), "tunnel.probe", "tunnel1"), Status::critical);
  s.state = "drained";
  s.forward.reset();
  o.workers["tunnel1"] = s;
  rep = evaluate(cfg, o);
  EXPECT_EQ(status(rep, "tunnel.worker", "tunnel1"), Status::warning);
  s.state = "forward-pending";
  o.workers["tunnel1"] = s;
  EXPECT_EQ(status(evaluate(cfg, o), "tunnel.worker", "tunnel1"), Status::critical);
  o.workers["tunnel1"] = tl::unexpected(Error{"connection refused"});
  EXPECT_EQ(status(evaluate(cfg, o), "tunnel.worker", "tunnel1"), Status::critical);
}

TEST(Report, JsonSchemaAndPluginLine) {
  auto o = healthy();
  o.guests[1].config = guest_config(false, std::nullopt);
  auto rep = evaluate(make_config(), o);
  auto j = report::to_json(rep);
  EXPECT_EQ(j["schema"], 1);
  EXPECT_EQ(j["status"], "CRITICAL");
  EXPECT_EQ(j["exit_code"], 2);
  EXPECT_EQ(j["checked_at"], report::format_utc(o.now));
  EXPECT_FALSE(j.contains("error"));
  auto text = report::to_text(rep, {});
  EXPECT_EQ(text.substr(0, text.find(" | ")),
            "PVECTL-TUNNEL CRITICAL - tunnel2: not set to start at boot");
  EXPECT_NE(text.find(" | critical=1 warning=0 unknown=0 ok=25 "), std::string::npos) << text;
  EXPECT_NE(report::to_text(rep, {.color = true}).find("\033[31m"), std::string::npos);
  auto unknown = report::unknown_report("bad config", o.now);
  EXPECT_EQ(report::to_json(unknown)["status"], "UNKNOWN");
  EXPECT_EQ(report::to_json(unknown)["error"], "bad config");
  EXPECT_EQ(unknown.exit_code(), 3);
}

// A NoAccess ACL on /vms/210 leaves the guest out of /cluster/resources and the path out of
// /access/permissions, so the full list seems to grant VM.Audit through "/": the answer for the
// guest's own path decides, and the guest is not reported missing.
TEST(Rules, GuestHiddenByItsOwnAclIsUnknownNotMissing) {
  auto o = healthy();
  o.resources = std::vector<pve::VmResource>{vm(110, "qemu", "pve1")};
  o.guests[1].resource.reset();
  pve::Permissions own;
  own.by_path["/vms/210"] = {};
  o.guests[1].permissions = own;
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "guest.exists", "tunnel2"), Status::unknown);
  EXPECT_EQ(status(rep, "token.privileges", "token"), Status::critical);
  EXPECT_NE(find(rep, "token.privileges", "token")->observed->find("VM.Audit on /vms/210"),
            std::string::npos);
  // Really gone: the token may see the path, so the guest is missing.
  own.by_path["/vms/210"] = {{"VM.Audit", true}};
  o.guests[1].permissions = own;
  EXPECT_EQ(status(evaluate(make_config(), o), "guest.exists", "tunnel2"), Status::critical);
}

TEST(Rules, PrivilegeRemediationNamesTheConfiguredToken) {
  auto o = healthy();
  o.permissions->by_path["/"].erase("Sys.Audit");
  auto cfg = make_config();
  config::PveSection pve;
  pve.token_id = "monitor@pve!check";
  cfg.pve = pve;
  const auto rep = evaluate(cfg, o);
  const auto* r = find(rep, "token.privileges", "token");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->remediation.find("--users 'monitor@pve' --tokens 'monitor@pve!check'"),
            std::string::npos)
      << r->remediation;
  EXPECT_EQ(r->remediation.find("TOKEN'"), std::string::npos) << r->remediation;
}

TEST(Rules, WorkerRemediationsNameTheShippedUnit) {
  auto o = healthy();
  auto cfg = make_config();
  config::Tunnel t;
  t.name = "tunnel1";
  t.guest = "tunnel1";
  t.control_url = "http://127.0.0.1:9190";
  cfg.tunnels = {t};
  o.workers["tunnel1"] = fail("http://127.0.0.1:9190: cannot reach the worker: refused");
  const auto rep = evaluate(cfg, o);
  const auto* r = find(rep, "tunnel.worker", "tunnel1");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->remediation.find("systemctl status pvectl-tunnel@tunnel1`"), std::string::npos)
      << r->remediation;
}

TEST(Rules, InsecureTlsIsAWarningResult) {
  auto o = healthy();
  auto cfg = make_config();
  config::PveSection pve;
  pve.insecure = true;
  cfg.pve = pve;
  EXPECT_EQ(status(evaluate(cfg, o), "pve.tls", "cluster"), Status::warning);
  cfg.pve->insecure = false;
  cfg.pve->ca_file = "/etc/pvectl-tunnel/pve-root-ca.pem";
  EXPECT_EQ(status(evaluate(cfg, o), "pve.tls", "cluster"), Status::ok);
}

TEST(Rules, BackupAgeIsUnknownWhenTheJobsCannotBeRead) {
  auto o = healthy();
  o.jobs = tl::unexpected(not_read("403 Permission check failed"));
  EXPECT_EQ(status(evaluate(make_config(), o), "backup.age", "tunnel1"), Status::unknown);
}

// tunnel2 was backed up on pve1 and migrated to pve2 since: pve2 has no task for it, the task on
// pve1 (asked around the backup's time) decides, and the message says where it ran.
TEST(Rules, BackupTaskFoundOnTheNodeTheGuestMovedFrom) {
  auto o = healthy();
  auto moved = (*o.node_tasks["pve2"].tasks)[0];
  moved.upid = "UPID:pve1:1:2:3:vzdump:210:root@pam:";
  moved.status = "ERROR: job failed";
  o.node_tasks["pve2"].tasks = std::vector<pve::TaskListEntry>{};
  o.node_tasks["pve1"].tasks->push_back(moved);
  auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "backup.task", "tunnel2"), Status::warning);  // not asked: "none"
  o.guests[1].task_nodes = {"pve2", "pve1"};
  rep = evaluate(make_config(), o);
  const auto* r = find(rep, "backup.task", "tunnel2");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, Status::critical);
  EXPECT_NE(r->message.find(" on pve1)"), std::string::npos) << r->message;
  EXPECT_NE(r->remediation.find("read the log on pve1"), std::string::npos) << r->remediation;
}

// The config says qemu, PVE says the VMID is a container: guest.type is CRITICAL, and the other
// remediations name the tool that works for the guest as it is (pct, not qm).
TEST(Rules, RemediationsUseTheToolOfTheGuestAsItIs) {
  auto o = healthy();
  (*o.resources)[0].type = "lxc";
  o.guests[0].resource->type = "lxc";
  o.guests[0].config = guest_config(false, std::string("order=1"));
  const auto rep = evaluate(make_config(), o);
  EXPECT_EQ(status(rep, "guest.type", "tunnel1"), Status::critical);
  const auto* onboot = find(rep, "guest.onboot", "tunnel1");
  ASSERT_NE(onboot, nullptr);
  EXPECT_EQ(onboot->remediation, "`pct set 110 --onboot 1`");
}

}  // namespace
}  // namespace pvt::check
