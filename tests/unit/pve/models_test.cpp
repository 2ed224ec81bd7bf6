// Parsers on hand-written answers for endpoints the recorded fixtures lack, in the shapes the
// Proxmox VE API documents and sends (numbers as strings, 0/1 booleans, absent defaults).
#include <gtest/gtest.h>

#include "pve/error.h"
#include "pve/models.h"

namespace pvt::pve {
namespace {

Json j(const char* text) { return Json::parse(text); }

TEST(ClusterStatusModel, ThreeNodeClusterWithOneNodeDown) {
  auto s = parse_cluster_status(j(R"([
    {"type":"cluster","id":"cluster","name":"prod","nodes":3,"quorate":1,"version":7},
    {"type":"node","id":"node/pve-1","name":"pve-1","nodeid":1,"ip":"10.0.0.1","online":1,"local":1,"level":""},
    {"type":"node","id":"node/pve-2","name":"pve-2","nodeid":"2","ip":"10.0.0.2","online":1,"local":0,"level":""},
    {"type":"node","id":"node/pve-3","name":"pve-3","nodeid":3,"ip":"10.0.0.3","online":0,"local":0,"level":""}])"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->is_cluster);
  EXPECT_EQ(s->cluster_name, "prod");
  EXPECT_EQ(s->quorate, true);
  EXPECT_EQ(s->expected_nodes, 3);
  ASSERT_EQ(s->nodes.size(), 3u);
  EXPECT_TRUE(s->nodes[0].local);
  EXPECT_EQ(s->nodes[1].nodeid, 2);
  EXPECT_FALSE(s->nodes[2].online);
  EXPECT_EQ(s->nodes[2].ip, "10.0.0.3");
}

TEST(ClusterStatusModel, StandaloneNodeHasNoQuorumEntry) {
  auto s = parse_cluster_status(j(
      R"([{"type":"node","id":"node/pve","name":"pve","online":1,"local":1,"ip":"192.0.2.5","level":""}])"));
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->is_cluster);
  EXPECT_FALSE(s->quorate.has_value());
  EXPECT_FALSE(s->expected_nodes.has_value());
  ASSERT_EQ(s->nodes.size(), 1u);
  EXPECT_TRUE(s->nodes[0].online);
}

TEST(ClusterStatusModel, NodeWithoutNameIsMalformed) {
  auto s = parse_cluster_status(j(R"([{"type":"node","online":1}])"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::malformed);
  EXPECT_NE(s.error().message.find("\"name\""), std::string::npos);
}

TEST(QDeviceModel, EmptyObjectMeansNone) {
  auto none = parse_qdevice(j("{}"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->configured);
  auto some = parse_qdevice(j(
      R"({"Connected Clients":"2","QNetd version":"3.0.2","Tie-breaker":"Node with lowest node ID"})"));
  ASSERT_TRUE(some);
  EXPECT_TRUE(some->configured);
  EXPECT_EQ(some->raw["QNetd version"], "3.0.2");
  EXPECT_FALSE(parse_qdevice(j("[1]")));
}

TEST(VmResourceModel, NumbersAsStringsAndDefaults) {
  auto vms = parse_vm_resources(j(R"([
    {"id":"qemu/110","type":"qemu","vmid":"110","name":"tunnel-a","node":"pve-1","status":"running","template":"0","pool":"tunnels"},
    {"id":"lxc/210","type":"lxc","vmid":210,"node":"pve-2","status":"stopped","lock":"backup","hastate":"started"},
    {"id":"qemu/9000","type":"qemu","vmid":9000,"node":"pve-1","status":"stopped","template":1},
    {"id":"node/pve-1","type":"node","node":"pve-1","status":"online"},
    {"id":"storage/pve-1/local","type":"storage","node":"pve-1","storage":"local"}])"));
  ASSERT_TRUE(vms) << vms.error().message;
  ASSERT_EQ(vms->size(), 3u);
  EXPECT_EQ((*vms)[0].vmid, 110);
  EXPECT_EQ((*vms)[0].pool, "tunnels");
  EXPECT_FALSE((*vms)[0].is_template);
  EXPECT_EQ((*vms)[1].type, "lxc");
  EXPECT_EQ((*vms)[1].lock, "backup");
  EXPECT_EQ((*vms)[1].hastate, "started");
  EXPECT_TRUE((*vms)[2].is_template);
}

TEST(VmResourceModel, VmidThatIsNotANumberNamesTheField) {
  auto vms = parse_vm_resources(j(R"([{"type":"qemu","vmid":"11x","node":"pve"}])"));
  ASSERT_FALSE(vms);
  EXPECT_EQ(vms.error().kind, ErrorKind::malformed);
  EXPECT_EQ(vms.error().message,
            "cluster resources[0]: field \"vmid\": expected an integer, got \"11x\"");
}

TEST(StorageResourceModel, ContentIsSplit) {
  auto st = parse_storage_resources(j(R"([
    {"id":"storage/pve-1/pbs1","type":"storage","storage":"pbs1","node":"pve-1","content":"backup","plugintype":"pbs","status":"available","shared":1},
    {"id":"storage/pve-1/local","type":"storage","storage":"local","node":"pve-1","content":"iso,vztmpl,backup","plugintype":"dir","status":"available","shared":0},
    {"id":"qemu/110","type":"qemu","vmid":110,"node":"pve-1"}])"));
  ASSERT_TRUE(st);
  ASSERT_EQ(st->size(), 2u);
  EXPECT_TRUE((*st)[0].shared);
  EXPECT_TRUE((*st)[0].has_content("backup"));
  EXPECT_TRUE((*st)[1].has_content("vztmpl"));
  EXPECT_FALSE((*st)[1].has_content("images"));
}

TEST(GuestStatusModel, HaManagedAndQmpStatus) {
  auto g = parse_guest_status(j(
      R"({"status":"running","qmpstatus":"paused","name":"tunnel-a","uptime":"42","ha":{"managed":1,"state":"started"},"lock":"suspending"})"));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, "running");
  EXPECT_EQ(g->qmpstatus, "paused");
  EXPECT_TRUE(g->ha_managed);
  EXPECT_EQ(g->uptime, 42);
  EXPECT_EQ(g->lock, "suspending");
  auto plain = parse_guest_status(j(R"({"status":"stopped","ha":{"managed":0}})"));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->ha_managed);
  EXPECT_FALSE(plain->is_template);
  EXPECT_FALSE(parse_guest_status(j(R"({"qmpstatus":"running"})")));
}

TEST(GuestConfigModel, BooleansInEveryForm) {
  for (const char* body : {R"({"onboot":1})", R"({"onboot":"1"})", R"({"onboot":true})"}) {
    auto c = parse_guest_config(j(body));
    ASSERT_TRUE(c) << body;
    EXPECT_TRUE(c->onboot) << body;
  }
  auto bad = parse_guest_config(j(R"({"onboot":"yes"})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::malformed);
  EXPECT_EQ(bad.error().message, "field \"onboot\": expected 0 or 1, got \"yes\"");
  auto tmpl = parse_guest_config(j(R"({"template":1,"name":"base","lock":"create"})"));
  ASSERT_TRUE(tmpl);
  EXPECT_TRUE(tmpl->is_template);
  EXPECT_EQ(tmpl->lock, "create");
}

TEST(StartupSpec, OrderUpDownAndBareOrder) {
  auto s = parse_startup("order=1,up=30,down=60");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->order, 1);
  EXPECT_EQ(s->up, 30);
  EXPECT_EQ(s->down, 60);
  auto bare = parse_startup("3");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->order, 3);
  EXPECT_FALSE(bare->up);
  auto up_only = parse_startup("up=10");
  ASSERT_TRUE(up_only);
  EXPECT_FALSE(up_only->order);
  EXPECT_FALSE(parse_startup("order=first"));
  EXPECT_FALSE(parse_startup("delay=3"));
}

TEST(UpidModel, NodeWithDashesAndEmptyId) {
  auto u = Upid::parse("UPID:pve-node-01:000A1B2C:0015034F:6A4AB61F:vzdump::pvectl@pve!tunnel:");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->node, "pve-node-01");
  EXPECT_EQ(u->pid, 0x000A1B2Cu);
  EXPECT_EQ(u->pstart, 0x0015034Fu);
  EXPECT_EQ(u->id, "");
  EXPECT_EQ(u->user, "pvectl@pve!tunnel");
  auto start = Upid::parse("UPID:pve:00002AC8:00052B96:6A54D5A3:qmstart:110:root@pam:");
  ASSERT_TRUE(start);
  EXPECT_EQ(start->id, "110");
  EXPECT_EQ(start->starttime, 0x6A54D5A3);
  EXPECT_FALSE(Upid::parse("UPID::00002AC8:00052B96:6A54D5A3:qmstart:110:root@pam:"));
  EXPECT_FALSE(Upid::parse("UPID:pve:00002AC8:00052B96:6A54D5A3::110:root@pam:"));
  EXPECT_FALSE(Upid::parse("UPID:pve:00002AC8:00052B96:6A54D5A3:qmstart:110::"));
  EXPECT_FALSE(Upid::parse("UPID:pve:00002AC8:00052B96:6A54D5A3:qmstart:110:root@pam:extra:"));
}

TEST(TaskModel, StatusAndListShapes) {
  auto running = parse_task_status(j(
      R"({"upid":"UPID:pve:0:0:6A4AB61F:vzdump::root@pam:","status":"running","type":"vzdump","id":"","user":"root@pam","starttime":1783281183,"pid":1234,"node":"pve"})"));
  ASSERT_TRUE(running);
  EXPECT_TRUE(running->running());
  EXPECT_FALSE(running->exitstatus);
  auto list = parse_task_list(j(R"([
    {"upid":"UPID:pve:0:0:6A4AB61F:vzdump::root@pam:","node":"pve","type":"vzdump","id":"","user":"root@pam","starttime":"1783281183"},
    {"upid":"UPID:pve:0:0:6A4AB600:vzdump:110:root@pam:","node":"pve","type":"vzdump","id":"110","user":"root@pam","starttime":1783281152,"endtime":1783281170,"status":"job errors"}])"));
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "");
  EXPECT_EQ((*list)[0].starttime, 1783281183);
  EXPECT_FALSE((*list)[0].status);
  EXPECT_FALSE((*list)[0].endtime);
  EXPECT_EQ((*list)[1].endtime, 1783281170);
  EXPECT_FALSE(exitstatus_ok(*(*list)[1].status));
  auto log = parse_task_log(j(
      R"([{"n":1,"t":"INFO: starting new backup job"},{"n":"2","t":"INFO: Finished Backup of VM 110"}])"));
  ASSERT_TRUE(log);
  EXPECT_EQ((*log)[1].n, 2);
  EXPECT_FALSE(parse_task_list(j(R"([{"type":"vzdump"}])")));
}

TEST(BackupJobModel, EveryShapeOfVmidsAndPrune) {
  auto jobs = parse_backup_jobs(j(R"([
    {"id":"backup-1","type":"vzdump","schedule":"21:00","vmid":"110,210, 310","enabled":true,"prune-backups":{"keep-last":"3","keep-weekly":2},"storage":"pbs1","mode":"snapshot","comment":"tunnels"},
    {"id":"backup-2","schedule":"sat 02:00","vmid":110,"enabled":"0"},
    {"id":"backup-3","schedule":"mon..fri 01:00","all":"1","exclude":"9000,9001","prune-backups":"keep-daily=7,keep-monthly=1"},
    {"id":"backup-4","schedule":"daily","pool":"tunnels","enabled":false}])"));
  ASSERT_TRUE(jobs) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 4u);
  EXPECT_EQ((*jobs)[0].vmids, (std::vector<int64_t>{110, 210, 310}));
  EXPECT_TRUE((*jobs)[0].enabled);
  EXPECT_EQ((*jobs)[0].prune_backups.at("keep-last"), "3");
  EXPECT_EQ((*jobs)[0].prune_backups.at("keep-weekly"), "2");
  EXPECT_EQ((*jobs)[0].mode, "snapshot");
  EXPECT_EQ((*jobs)[1].vmids, (std::vector<int64_t>{110}));
  EXPECT_FALSE((*jobs)[1].enabled);
  EXPECT_TRUE((*jobs)[2].all);
  EXPECT_TRUE((*jobs)[2].enabled);
  EXPECT_EQ((*jobs)[2].exclude, (std::vector<int64_t>{9000, 9001}));
  EXPECT_EQ((*jobs)[2].prune_backups.at("keep-daily"), "7");
  EXPECT_EQ((*jobs)[3].pool, "tunnels");
  EXPECT_TRUE((*jobs)[3].vmids.empty());
  EXPECT_FALSE((*jobs)[3].enabled);
  auto bad = parse_backup_jobs(j(R"([{"id":"x","prune-backups":{"keep-last":[1]}}])"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("prune-backups.keep-last"), std::string::npos);
}

TEST(NotBackedUpModel, Parses) {
  auto n = parse_not_backed_up(j(R"([{"vmid":"310","name":"tunnel-c","type":"lxc"}])"));
  ASSERT_TRUE(n);
  EXPECT_EQ((*n)[0].vmid, 310);
  EXPECT_EQ((*n)[0].type, "lxc");
}

TEST(BackupVolumeModel, PbsAndFileBackups) {
  auto v = parse_backup_volumes(j(R"([
    {"volid":"pbs1:backup/vm/110/2026-11-22T01:00:03Z","content":"backup","format":"pbs-vm","subtype":"qemu","vmid":110,"ctime":1795395603,"size":4294967296,"protected":1,"encrypted":"2a:...","verification":{"state":"failed","upid":"UPID:pbs:0000:0000:0000:verify:pbs1:root@pam:"}},
    {"volid":"local:backup/vzdump-lxc-210-2026_11_22-01_00_03.tar.zst","content":"backup","format":"tar.zst","subtype":"lxc","vmid":"210","ctime":"1795395603","size":123456,"notes":"tunnel-b"}])"),
                                "mixed");
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].storage, "mixed");
  EXPECT_TRUE((*v)[0].is_protected);
  EXPECT_TRUE((*v)[0].encrypted);
  ASSERT_TRUE((*v)[0].verification);
  EXPECT_EQ((*v)[0].verification->state, "failed");
  EXPECT_EQ((*v)[1].vmid, 210);
  EXPECT_EQ((*v)[1].ctime, 1795395603);
  EXPECT_FALSE((*v)[1].verification);
  EXPECT_FALSE((*v)[1].encrypted);
  EXPECT_EQ((*v)[1].notes, "tunnel-b");
}

TEST(PermissionsModel, NearestListedAncestorDecides) {
  auto p = parse_permissions(j(R"({
    "/":{"Sys.Audit":1},
    "/vms":{"VM.Audit":1,"VM.PowerMgmt":1},
    "/vms/110":{"VM.Audit":1},
    "/storage/pbs1":{"Datastore.Audit":"1","Datastore.AllocateSpace":0}})"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->has("/vms/210", "VM.PowerMgmt"));
  // /vms/110 is listed, so /vms does not add VM.PowerMgmt there.
  EXPECT_FALSE(p->has("/vms/110", "VM.PowerMgmt"));
  EXPECT_TRUE(p->has("/vms/110", "VM.Audit"));
  EXPECT_TRUE(p->has("/storage/pbs1", "Datastore.Audit"));
  // The value is the propagate flag: 0 still holds at the path itself, only not below it.
  EXPECT_TRUE(p->has("/storage/pbs1", "Datastore.AllocateSpace"));
  EXPECT_FALSE(p->has("/storage/pbs1/sub", "Datastore.AllocateSpace"));
  EXPECT_TRUE(p->has("/storage/pbs1/sub", "Datastore.Audit"));
  EXPECT_FALSE(p->has("/storage/local", "Datastore.Audit"));
  EXPECT_TRUE(p->has("/nodes/pve-1", "Sys.Audit"));
  EXPECT_TRUE(p->has("/", "Sys.Audit"));
  Permissions none;
  EXPECT_FALSE(none.has("/vms/110", "VM.Audit"));
  EXPECT_FALSE(parse_permissions(j(R"({"/":["Sys.Audit"]})")));
}

TEST(NodeModels, NodesTimeAndPool) {
  auto nodes = parse_nodes(j(R"([
    {"node":"pve-1","status":"online","ssl_fingerprint":"AB:CD","type":"node","id":"node/pve-1"},
    {"node":"pve-2","status":"offline","type":"node","id":"node/pve-2"}])"));
  ASSERT_TRUE(nodes);
  EXPECT_TRUE((*nodes)[0].online());
  EXPECT_EQ((*nodes)[0].ssl_fingerprint, "AB:CD");
  EXPECT_FALSE((*nodes)[1].online());

  auto t = parse_node_time(
      j(R"({"timezone":"Europe/Vienna","time":1795395603,"localtime":"1795399203"})"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->timezone, "Europe/Vienna");
  EXPECT_EQ(t->localtime - t->time, 3600);
  EXPECT_FALSE(parse_node_time(j(R"({"time":1})")));

  auto pool = parse_pool(j(R"({"comment":"tunnel guests","members":[
    {"id":"qemu/110","type":"qemu","vmid":110,"node":"pve-1","status":"running"},
    {"id":"lxc/210","type":"lxc","vmid":"210","node":"pve-2"},
    {"id":"storage/pve-1/pbs1","type":"storage","node":"pve-1","storage":"pbs1"}]})"),
                         "tunnels");
  ASSERT_TRUE(pool) << pool.error().message;
  EXPECT_EQ(pool->poolid, "tunnels");
  ASSERT_EQ(pool->members.size(), 3u);
  EXPECT_EQ(pool->members[1].vmid, 210);
  EXPECT_FALSE(pool->members[2].vmid);
  // PVE 8.1+ also answers GET /pools?poolid=x with a list holding the pool.
  auto listed = parse_pool(
      j(R"([{"poolid":"tunnels","members":[{"id":"qemu/110","type":"qemu","vmid":110,"node":"pve-1"}]}])"),
      "tunnels");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->members.size(), 1u);
  auto empty = parse_pool(j(R"({"members":[]})"), "empty");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->members.empty());
}

TEST(StorageConfigModel, NodesAndDisabled) {
  auto s = parse_storage_configs(j(R"([
    {"storage":"pbs1","type":"pbs","content":"backup","prune-backups":"keep-all=1","shared":1,"nodes":"pve-1,pve-2"},
    {"storage":"old","type":"dir","content":"backup","disable":1}])"));
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)[0].nodes, (std::vector<std::string>{"pve-1", "pve-2"}));
  EXPECT_EQ((*s)[0].prune_backups.at("keep-all"), "1");
  EXPECT_TRUE((*s)[1].disabled);
  EXPECT_TRUE((*s)[1].nodes.empty());
}

TEST(ApiErrorModel, MissingPrivilegeForms) {
  ApiError e;
  e.kind = ErrorKind::forbidden;
  e.message = "Permission check failed (/vms/110, VM.PowerMgmt)";
  ASSERT_TRUE(e.missing_privilege());
  EXPECT_EQ(e.missing_privilege()->path, "/vms/110");
  EXPECT_EQ(e.missing_privilege()->privilege, "VM.PowerMgmt");
  e.message = "Permission check failed (/vms/110, VM.Config.Options|VM.Config.Disk)";
  ASSERT_TRUE(e.missing_privilege());
  EXPECT_EQ(e.missing_privilege()->privilege, "VM.Config.Options|VM.Config.Disk");
  e.message = "Permission check failed (/storage/pbs1, Datastore.AllocateSpace)";
  EXPECT_EQ(e.missing_privilege()->path, "/storage/pbs1");
  e.message = "Permission check failed (user != root@pam)";
  EXPECT_FALSE(e.missing_privilege());
  e.message = "permission denied - invalid PVE ticket";
  EXPECT_FALSE(e.missing_privilege());
}

TEST(ApiErrorModel, DescribeNamesEverythingActionable) {
  ApiError e;
  e.kind = ErrorKind::bad_request;
  e.http_status = 400;
  e.method = "POST";
  e.path = "/nodes/pve-1/vzdump";
  e.message = "Parameter verification failed.";
  e.param_errors = {{"storage", "storage 'pbs9' does not exist"}};
  EXPECT_EQ(e.describe(),
            "POST /nodes/pve-1/vzdump: 400 Parameter verification failed.; storage: storage "
            "'pbs9' does not exist");
  ApiError tls;
  tls.kind = ErrorKind::tls;
  tls.message = "https://pve-1:8006: certificate fingerprint does not match";
  tls.fingerprint_seen = "AB:CD";
  EXPECT_EQ(tls.describe(),
            "https://pve-1:8006: certificate fingerprint does not match (certificate fingerprint "
            "seen: AB:CD)");
  EXPECT_STREQ(to_string(ErrorKind::node_unreachable), "node-unreachable");
  EXPECT_STREQ(to_string(ErrorKind::not_found), "not-found");
  EXPECT_STREQ(to_string(ErrorKind::unauthorized), "unauthorized");
}

}  // namespace
}  // namespace pvt::pve
