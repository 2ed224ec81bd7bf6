#include <gtest/gtest.h>

#include <deque>

#include "pve/client.h"
#include "pve/models.h"
#include "tests/support/fake_clock.h"

namespace pvt::pve {
namespace {

using std::chrono::milliseconds;

// Answers queued responses (or transport errors) and records the requests.
class Scripted : public Transport {
 public:
  std::deque<Result<Response, ApiError>> answers;
  std::vector<Request> seen;
  Result<Response, ApiError> perform(const Request& r) override {
    seen.push_back(r);
    if (answers.empty()) return Response{500, "no more answers", "", "e"};
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
  void ok(const std::string& data_json) {
    answers.push_back(Response{200, "OK", "{\"data\":" + data_json + "}", "e"});
  }
  void status(int code, const std::string& reason, const std::string& body = "{\"data\":null}") {
    answers.push_back(Response{code, reason, body, "e"});
  }
  void down(ErrorKind k = ErrorKind::unreachable) {
    ApiError e;
    e.kind = k;
    e.message = "connection refused";
    answers.push_back(tl::unexpected(e));
  }
};

struct ClientTest : ::testing::Test {
  Scripted t;
  FakeClock clock;
  Client c{t, clock};
};

TEST_F(ClientTest, QuirkyShapesParse) {
  t.ok(R"({"onboot":"1","startup":"order=2,up=30","memory":"2048","template":0,"digest":"ab"})");
  auto cfg = c.guest_config("pve1", GuestKind::qemu, 110);
  ASSERT_TRUE(cfg) << cfg.error().describe();
  EXPECT_TRUE(cfg->onboot);
  EXPECT_EQ(parse_startup(*cfg->startup)->order, 2);
  EXPECT_EQ(parse_startup(*cfg->startup)->up, 30);
  EXPECT_EQ(t.seen.back().path, "/nodes/pve1/qemu/110/config");
}

TEST_F(ClientTest, AbsentOnbootMeansZero) {
  t.ok(R"({"hostname":"tunnel2","memory":512})");
  auto cfg = c.guest_config("pve2", GuestKind::lxc, 210);
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->onboot);
  EXPECT_FALSE(cfg->startup);
  EXPECT_EQ(cfg->name, "tunnel2");
}

TEST_F(ClientTest, StandaloneAndClusterStatus) {
  t.ok(
      R"([{"type":"node","name":"pve","online":1,"local":1,"ip":"10.0.0.2","id":"node/pve","level":""}])");
  auto s = c.cluster_status();
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->is_cluster);
  EXPECT_FALSE(s->quorate);
  t.ok(
      R"([{"type":"cluster","name":"c","nodes":2,"quorate":"0","version":3},{"type":"node","name":"a","online":0,"nodeid":"1"}])");
  s = c.cluster_status();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->is_cluster);
  EXPECT_EQ(s->quorate, false);
  EXPECT_EQ(s->nodes.at(0).nodeid, 1);
}

TEST_F(ClientTest, BackupJobsInEveryShape) {
  t.ok(
      R"([{"id":"a","schedule":"sun 01:00","vmid":"110, 210","storage":"pbs1","prune-backups":{"keep-last":3}},
           {"id":"b","schedule":"daily","all":1,"exclude":"9000","enabled":0,"node":"pve1"},
           {"id":"c","starttime":"02:00","dow":"sat","pool":"tunnels","enabled":"1"}])");
  auto jobs = c.backup_jobs();
  ASSERT_TRUE(jobs) << jobs.error().describe();
  EXPECT_EQ((*jobs)[0].vmids, (std::vector<int64_t>{110, 210}));
  EXPECT_TRUE((*jobs)[0].enabled);
  EXPECT_EQ((*jobs)[0].prune_backups.at("keep-last"), "3");
  EXPECT_FALSE((*jobs)[1].enabled);
  EXPECT_TRUE((*jobs)[1].all);
  EXPECT_EQ((*jobs)[1].exclude, (std::vector<int64_t>{9000}));
  EXPECT_EQ((*jobs)[2].schedule, "sat 02:00");
  EXPECT_EQ((*jobs)[2].pool, "tunnels");
}

TEST_F(ClientTest, BadShapeNamesTheField) {
  t.ok(R"([{"id":"a","vmid":"110,abc"}])");
  auto jobs = c.backup_jobs();
  ASSERT_FALSE(jobs);
  EXPECT_EQ(jobs.error().kind, ErrorKind::malformed);
  EXPECT_EQ(jobs.error().message, "backup jobs[0]: field \"vmid\": \"abc\" is not a vmid");
}

TEST_F(ClientTest, PbsVerificationAndPermissions) {
  t.ok(
      R"([{"volid":"pbs1:backup/vm/110/2026-11-22T01:00:03Z","vmid":"110","ctime":1790000000,"size":123,
            "format":"pbs-vm","subtype":"qemu","verification":{"state":"ok","upid":"UPID:x"}}])");
  auto v = c.backup_volumes("pve1", "pbs1", 110);
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)[0].storage, "pbs1");
  EXPECT_EQ((*v)[0].verification->state, "ok");
  EXPECT_EQ(t.seen.back().path, "/nodes/pve1/storage/pbs1/content");
  EXPECT_EQ(t.seen.back().params, (Params{{"content", "backup"}, {"vmid", "110"}}));
  t.ok(R"({"/":{"Sys.Audit":1},"/vms":{"VM.Audit":1},"/vms/110":{"VM.Audit":0}})");
  auto p = c.permissions();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has("/vms/210", "VM.Audit"));
  // 0 is "does not propagate": the privilege holds at /vms/110 itself.
  EXPECT_TRUE(p->has("/vms/110", "VM.Audit"));
  EXPECT_TRUE(p->has("/nodes/pve1", "Sys.Audit"));
  EXPECT_FALSE(p->has("/storage/pbs1", "Datastore.Audit"));
}

TEST(Upid, ParsesEveryPart) {
  auto u = Upid::parse("UPID:pve2-dogfood:0000FB74:0015053E:6A4AB624:vzdump::root@pam!sdk:");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->node, "pve2-dogfood");
  EXPECT_EQ(u->pid, 0xFB74u);
  EXPECT_EQ(u->starttime, 0x6A4AB624);
  EXPECT_EQ(u->type, "vzdump");
  EXPECT_EQ(u->id, "");
  EXPECT_EQ(u->user, "root@pam!sdk");
  EXPECT_FALSE(Upid::parse("UPID:pve:XYZ:0:0:qmstart:1:root@pam:"));
  EXPECT_FALSE(Upid::parse("UPID:pve:0:0:0:qmstart:1:root@pam"));
  EXPECT_FALSE(Upid::parse("OK"));
}

TEST(ExitStatus, SuccessForms) {
  EXPECT_TRUE(exitstatus_ok("OK"));
  EXPECT_TRUE(exitstatus_ok("WARNINGS: 3"));
  EXPECT_EQ(exitstatus_warnings("WARNINGS: 3"), 3);
  EXPECT_FALSE(exitstatus_ok("job errors"));
  EXPECT_FALSE(exitstatus_ok("WARNINGS: x"));
}

TEST_F(ClientTest, ErrorsCarryWhatAUserCanActOn) {
  t.status(403, "Permission check failed (/vms/110, VM.PowerMgmt)",
           R"({"data":null,"message":"Permission check failed (/vms/110, VM.PowerMgmt)\n"})");
  auto r = c.start_guest("pve1", GuestKind::qemu, 110);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::forbidden);
  EXPECT_EQ(r.error().missing_privilege()->path, "/vms/110");
  EXPECT_EQ(r.error().missing_privilege()->privilege, "VM.PowerMgmt");
  EXPECT_EQ(r.error().describe(),
            "POST /nodes/pve1/qemu/110/status/start: 403 Permission check failed (/vms/110, "
            "VM.PowerMgmt)");
  t.status(595, "Connection refused");
  auto s = c.guest_status("pve2", GuestKind::lxc, 210);
  EXPECT_EQ(s.error().kind, ErrorKind::node_unreachable);
  EXPECT_EQ(s.error().message, "Connection refused");
  t.status(
      500, "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist",
      R"({"data":null,"message":"Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\n"})");
  EXPECT_EQ(c.guest_config("pve1", GuestKind::qemu, 999).error().kind, ErrorKind::not_found);
  t.answers.push_back(Response{200, "OK", "<html>proxy error</html>", "e"});
  auto m = c.version();
  EXPECT_EQ(m.error().kind, ErrorKind::malformed);
  EXPECT_NE(m.error().message.find("<html>proxy error"), std::string::npos);
}

TEST_F(ClientTest, GetsAreRetriedWithBackoff) {
  t.down();
  t.status(503, "busy");
  t.ok(R"({"version":"8.2.4"})");
  auto v = c.version();
  ASSERT_TRUE(v);
  EXPECT_EQ(c.requests_made(), 3);
  EXPECT_EQ(clock.now().time_since_epoch(), milliseconds(200 + 400));
}

TEST_F(ClientTest, RejectedTokenIsNeverRetried) {
  t.status(401, "invalid token value!");
  t.ok(R"({"version":"8.2.4"})");
  auto v = c.version();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, ErrorKind::unauthorized);
  EXPECT_EQ(v.error().message, "invalid token value!");
  EXPECT_EQ(c.requests_made(), 1);
}

TEST_F(ClientTest, PostsAreNeverRetried) {
  t.down(ErrorKind::timeout);
  t.ok(R"("UPID:pve1:00001234:00005678:6A4AB624:qmstart:110:pvectl@pve!tunnel:")");
  auto r = c.start_guest("pve1", GuestKind::qemu, 110);
  ASSERT_FALSE(r);
  EXPECT_EQ(c.requests_made(), 1);
}

TEST_F(ClientTest, StatusCodesMapToKinds) {
  t.status(404, "Not Found", "");
  auto nf = c.pool("gone");
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error().kind, ErrorKind::not_found);
  EXPECT_EQ(nf.error().message, "Not Found");
  EXPECT_EQ(nf.error().path, "/pools/gone");
  t.status(596, "Broken pipe");
  EXPECT_EQ(c.node_time("pve-2").error().kind, ErrorKind::node_unreachable);
  t.status(
      400, "Parameter verification failed.",
      R"({"data":null,"errors":{"vmid":"invalid format - value does not look like a valid VM ID\n"},"message":"Parameter verification failed.\n"})");
  auto bad =
      c.vzdump("pve-1", VzdumpOptions{{1}, std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::bad_request);
  EXPECT_EQ(bad.error().param_errors.at("vmid"),
            "invalid format - value does not look like a valid VM ID");
  t.answers.push_back(Response{200, "OK", R"({"errors":null})", "e"});
  EXPECT_EQ(c.qdevice().error().kind, ErrorKind::malformed);
  EXPECT_EQ(c.requests_made(), 4);
}

TEST_F(ClientTest, PersistentServerErrorGivesUpAfterTheAttempts) {
  for (int i = 0; i < 3; ++i) t.status(502, "Bad Gateway", "");
  t.ok(R"({"version":"8.2.4"})");
  auto v = c.version();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, ErrorKind::server);
  EXPECT_EQ(v.error().http_status, 502);
  EXPECT_EQ(c.requests_made(), 3);
  EXPECT_EQ(clock.now().time_since_epoch(), milliseconds(200 + 400));
}

TEST_F(ClientTest, BackoffIsCappedByThePolicy) {
  Client capped(t, clock, RetryPolicy{4, milliseconds(300), milliseconds(500)});
  for (int i = 0; i < 3; ++i) t.down(ErrorKind::timeout);
  t.ok(R"({"version":"8.2.4"})");
  ASSERT_TRUE(capped.version());
  EXPECT_EQ(capped.requests_made(), 4);
  EXPECT_EQ(clock.now().time_since_epoch(), milliseconds(300 + 500 + 500));
}

TEST_F(ClientTest, PutsAreNeverRetried) {
  t.status(503, "busy");
  t.ok("null");
  auto r = c.update_guest_config("pve-1", GuestKind::lxc, 210, {{"onboot", "1"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(c.requests_made(), 1);
  EXPECT_EQ(t.seen.back().method, "PUT");
  EXPECT_EQ(t.seen.back().path, "/nodes/pve-1/lxc/210/config");
  EXPECT_EQ(t.seen.back().params, (Params{{"onboot", "1"}}));
  ASSERT_TRUE(c.update_guest_config("pve-1", GuestKind::lxc, 210, {{"onboot", "1"}}));
}

TEST_F(ClientTest, TaskListAsksForActiveAndArchivedTasks) {
  t.ok("[]");
  ASSERT_TRUE(c.node_tasks("pve-1", "vzdump", 100, 1795395603));
  EXPECT_EQ(t.seen.back().path, "/nodes/pve-1/tasks");
  EXPECT_EQ(
      t.seen.back().params,
      (Params{
          {"typefilter", "vzdump"}, {"limit", "100"}, {"source", "all"}, {"since", "1795395603"}}));
}

TEST_F(ClientTest, NodeUnreachableIsNotRetried) {
  t.status(595, "No route to host");
  EXPECT_FALSE(c.nodes());
  EXPECT_EQ(c.requests_made(), 1);
}

TEST_F(ClientTest, DeadlineStopsRequestsAndRetries) {
  c.set_deadline(clock.steady_now() + milliseconds(300));
  t.down();
  t.down();
  auto v = c.version();
  ASSERT_FALSE(v);
  EXPECT_EQ(c.requests_made(), 2);  // the second backoff (400 ms) would pass the deadline
  clock.advance(milliseconds(500));
  auto w = c.version();
  EXPECT_EQ(w.error().kind, ErrorKind::timeout);
  EXPECT_EQ(c.requests_made(), 2);
}

TEST_F(ClientTest, VzdumpOkMeansNoTask) {
  t.ok(R"("OK")");
  auto r = c.vzdump("pve2", VzdumpOptions{{110}, "pbs1", "snapshot", std::nullopt, std::nullopt});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(t.seen.back().params,
            (Params{{"vmid", "110"}, {"storage", "pbs1"}, {"mode", "snapshot"}}));
  t.ok(R"("UPID:pve1:00001234:00005678:6A4AB624:vzdump:110:pvectl@pve!tunnel:")");
  r = c.vzdump("pve1",
               VzdumpOptions{{110}, std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)->type, "vzdump");
}

TEST_F(ClientTest, PathSegmentsAreEscaped) {
  t.ok(R"({"status":"stopped","upid":"UPID:pve1:0:0:0:vzdump::root@pam:"})");
  (void)c.task_status("pve1", "UPID:pve1:0:0:0:vzdump::root@pam:");
  EXPECT_EQ(t.seen.back().path,
            "/nodes/pve1/tasks/UPID%3Apve1%3A0%3A0%3A0%3Avzdump%3A%3Aroot%40pam%3A/status");
}

TEST_F(ClientTest, TaskListNeverFiltersByVmid) {
  t.ok(
      R"([{"upid":"UPID:pve1:0:0:0:vzdump::root@pam:","id":"","type":"vzdump","starttime":5,"status":"OK"}])");
  auto l = c.node_tasks("pve1", "vzdump", 20);
  ASSERT_TRUE(l);
  EXPECT_EQ((*l)[0].id, "");
  for (const auto& [k, v] : t.seen.back().params) EXPECT_NE(k, "vmid");
}

TEST_F(ClientTest, RestoreAsksForANewGuestWithNewMacs) {
  t.ok(R"("UPID:pve1:00001234:00005678:6A4AB624:qmrestore:9999:pvectl@pve!tunnel:")");
  auto r = c.restore_guest("pve1", GuestKind::qemu, 9999, "pbs1:backup/vm/110/2026-11-22T01:00:03Z",
                           "local-lvm");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->type, "qmrestore");
  EXPECT_EQ(t.seen.back().method, "POST");
  EXPECT_EQ(t.seen.back().path, "/nodes/pve1/qemu");
  EXPECT_EQ(t.seen.back().params, (Params{{"vmid", "9999"},
                                          {"storage", "local-lvm"},
                                          {"archive", "pbs1:backup/vm/110/2026-11-22T01:00:03Z"},
                                          {"unique", "1"}}));
  // Containers take the archive as an OS template with restore=1; never `start` or `force`.
  t.ok(R"("UPID:pve2:00001234:00005678:6A4AB624:vzrestore:9999:pvectl@pve!tunnel:")");
  ASSERT_TRUE(c.restore_guest("pve2", GuestKind::lxc, 9999, "pbs1:backup/ct/210/x", "local-lvm"));
  EXPECT_EQ(t.seen.back().path, "/nodes/pve2/lxc");
  EXPECT_EQ(t.seen.back().params, (Params{{"vmid", "9999"},
                                          {"storage", "local-lvm"},
                                          {"ostemplate", "pbs1:backup/ct/210/x"},
                                          {"restore", "1"},
                                          {"unique", "1"}}));
  t.status(500, "unable to restore VM 9999 - VM 9999 already exists on node 'pve2'");
  auto taken = c.restore_guest("pve1", GuestKind::qemu, 9999, "v", "s");
  ASSERT_FALSE(taken);
  EXPECT_EQ(t.seen.size(), 3u);  // a POST is never retried
}

TEST_F(ClientTest, DestroyTakesEveryDiskWithIt) {
  t.ok(R"("UPID:pve1:0005872F:0078E39C:6A4BB5CE:qmdestroy:9999:root@pam!sdk:")");
  auto r = c.destroy_guest("pve1", GuestKind::qemu, 9999);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, "qmdestroy");
  EXPECT_EQ(t.seen.back().method, "DELETE");
  EXPECT_EQ(t.seen.back().path, "/nodes/pve1/qemu/9999");
  EXPECT_EQ(t.seen.back().params, (Params{{"purge", "1"}, {"destroy-unreferenced-disks", "1"}}));
}

TEST_F(ClientTest, VmidFreeAsksTheClusterWideList) {
  t.ok(R"("9999")");
  auto r = c.vmid_free(9999);
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_EQ(t.seen.back().path, "/cluster/nextid");
  EXPECT_EQ(t.seen.back().params, (Params{{"vmid", "9999"}}));
  t.ok("9999");  // older releases answer a number
  EXPECT_EQ(c.vmid_free(9999), true);
  t.status(400, "Parameter verification failed.",
           R"({"data":null,"errors":{"vmid":"VM 9999 already exists\n"}})");
  EXPECT_EQ(c.vmid_free(9999), false);
  for (int i = 0; i < 3; ++i) t.status(500, "VM 9999 already exists");  // a GET is retried
  EXPECT_EQ(c.vmid_free(9999), false);
  t.ok(R"("100")");
  auto odd = c.vmid_free(9999);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().kind, ErrorKind::malformed);
  t.status(403, "Permission check failed (/, Sys.Audit)");
  ASSERT_FALSE(c.vmid_free(9999));
}

TEST_F(ClientTest, StopTaskDeletesIt) {
  t.ok("null");
  ASSERT_TRUE(c.stop_task("pve1", "UPID:pve1:0:0:0:qmrestore:9999:root@pam:"));
  EXPECT_EQ(t.seen.back().method, "DELETE");
  EXPECT_EQ(t.seen.back().path,
            "/nodes/pve1/tasks/UPID%3Apve1%3A0%3A0%3A0%3Aqmrestore%3A9999%3Aroot%40pam%3A");
}

}  // namespace
}  // namespace pvt::pve
