// Every recorded real Proxmox VE answer in tests/fixtures/pve/responses (where they come from:
// SOURCES.md there) that belongs to an endpoint we model must parse; error answers must map to
// the right ApiError.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "pve/client.h"
#include "pve/models.h"
#include "tests/support/fake_clock.h"

namespace pvt::pve {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  std::string file;
  Json j;
};

std::vector<Fixture> fixtures() {
  std::vector<Fixture> out;
  for (const auto& e : fs::directory_iterator(PVT_FIXTURES_DIR)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    out.push_back({e.path().filename().string(), Json::parse(in)});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.file < b.file; });
  return out;
}

// A transport that answers one recorded interaction.
class Replay : public Transport {
 public:
  explicit Replay(const Json& fixture) : f_(fixture) {}
  Result<Response, ApiError> perform(const Request&) override {
    std::string line = f_["status_line"].get<std::string>();
    auto sp = line.find(' ');
    return Response{f_["status"].get<int>(), sp == std::string::npos ? "" : line.substr(sp + 1),
                    f_["body"].get<std::string>(), "https://pve.example:8006"};
  }

 private:
  Json f_;
};

TEST(Fixtures, FolderIsThere) { EXPECT_GT(fixtures().size(), 100u); }

TEST(Fixtures, EveryModelledSuccessfulAnswerParses) {
  int parsed = 0;
  for (const auto& f : fixtures()) {
    if (f.j["status"] != 200) continue;
    const std::string path = f.j["path"];
    const std::string method = f.j["method"];
    Json body = Json::parse(f.j["body"].get<std::string>());
    const Json& data = body["data"];
    SCOPED_TRACE(f.file);
    static const std::regex task_status(R"(^/api2/json/nodes/[^/]+/tasks/[^/]+/status$)");
    static const std::regex start(R"(^/api2/json/nodes/[^/]+/(qemu|lxc)/\d+/status/(start|stop)$)");
    static const std::regex create(R"(^/api2/json/nodes/[^/]+/(qemu|lxc)$)");
    if (method == "GET" && path == "/api2/json/version") {
      auto v = parse_version(data);
      ASSERT_TRUE(v) << v.error().message;
      EXPECT_FALSE(v->version.empty());
      ++parsed;
    } else if (method == "GET" && path == "/api2/json/cluster/resources") {
      auto vms = parse_vm_resources(data);
      ASSERT_TRUE(vms) << vms.error().message;
      auto st = parse_storage_resources(data);
      ASSERT_TRUE(st) << st.error().message;
      for (const auto& vm : *vms) {
        EXPECT_GE(vm.vmid, 100);
        EXPECT_FALSE(vm.node.empty());
      }
      ++parsed;
    } else if (method == "GET" && std::regex_match(path, task_status)) {
      auto t = parse_task_status(data);
      ASSERT_TRUE(t) << t.error().message;
      EXPECT_TRUE(Upid::parse(t->upid)) << t->upid;
      if (t->exitstatus) {
        // Every recorded task ended in a success form ("OK" or "WARNINGS: N").
        EXPECT_TRUE(exitstatus_ok(*t->exitstatus)) << *t->exitstatus;
      }
      ++parsed;
    } else if (method == "POST" && std::regex_match(path, start)) {
      ASSERT_TRUE(data.is_string());
      auto u = Upid::parse(data.get<std::string>());
      ASSERT_TRUE(u) << data;
      EXPECT_TRUE(u->type == "qmstart" || u->type == "vzstart" || u->type == "qmstop" ||
                  u->type == "vzstop")
          << u->type;
      ++parsed;
    } else if (method == "POST" && std::regex_match(path, create)) {
      ASSERT_TRUE(data.is_string());
      auto u = Upid::parse(data.get<std::string>());
      ASSERT_TRUE(u) << data;
      EXPECT_TRUE(u->type == "qmcreate" || u->type == "vzcreate") << u->type;
      ++parsed;
    } else if (method == "GET" && path == "/api2/json/storage") {
      auto st = parse_storage_configs(data);
      ASSERT_TRUE(st) << st.error().message;
      EXPECT_FALSE(st->empty());
      ++parsed;
    }
  }
  EXPECT_GE(parsed, 60);
}

Json fixture(const std::string& file) {
  std::ifstream in(fs::path(PVT_FIXTURES_DIR) / file);
  EXPECT_TRUE(in) << file;
  return Json::parse(in);
}

Json data_of(const Json& f) { return Json::parse(f["body"].get<std::string>())["data"]; }

TEST(Fixtures, ClusterResourcesOfTwoHaGuests) {
  auto vms = parse_vm_resources(
      data_of(fixture("TestResourceAffinityPlacement-014-GET-cluster_resources.json")));
  ASSERT_TRUE(vms) << vms.error().message;
  ASSERT_EQ(vms->size(), 2u);
  EXPECT_EQ((*vms)[0].vmid, 9301);
  EXPECT_EQ((*vms)[1].vmid, 9302);
  for (const auto& vm : *vms) {
    EXPECT_EQ(vm.type, "qemu");
    EXPECT_EQ(vm.node, "pve");
    EXPECT_EQ(vm.status, "running");
    EXPECT_EQ(vm.hastate, "started");
    EXPECT_FALSE(vm.is_template);
  }
  // Right after creation the answer is minimal: no name, status "unknown".
  auto fresh =
      parse_vm_resources(data_of(fixture("TestHAResourceMigrate-011-GET-cluster_resources.json")));
  ASSERT_TRUE(fresh);
  ASSERT_EQ(fresh->size(), 2u);
  EXPECT_EQ((*fresh)[0].status, "unknown");
  EXPECT_EQ((*fresh)[0].name, "");
  EXPECT_EQ((*fresh)[0].id, "qemu/9301");
  // After one guest was destroyed only the other is listed.
  auto one = parse_vm_resources(
      data_of(fixture("TestResourceAffinityPlacement-028-GET-cluster_resources.json")));
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].vmid, 9302);
  // The unfiltered and the node-filtered lists hold no guests.
  auto nodes_only =
      parse_vm_resources(data_of(fixture("TestHAResourceMigrate-015-GET-cluster_resources.json")));
  ASSERT_TRUE(nodes_only);
  EXPECT_TRUE(nodes_only->empty());
}

TEST(Fixtures, StorageConfiguration) {
  auto st = parse_storage_configs(data_of(fixture("TestStorageReads-002-GET-storage.json")));
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(st->size(), 2u);
  EXPECT_EQ((*st)[0].storage, "local-lvm");
  EXPECT_EQ((*st)[0].type, "lvmthin");
  EXPECT_EQ((*st)[1].storage, "local");
  EXPECT_EQ((*st)[1].content, (std::vector<std::string>{"backup", "vztmpl", "iso", "import"}));
  EXPECT_TRUE((*st)[1].nodes.empty());
}

TEST(Fixtures, ServerErrorWithProxmoxsMessage) {
  Replay replay(fixture("TestResourceAffinityPlacement-010-POST-cluster_ha_rules.json"));
  FakeClock clock;
  Client client(replay, clock);
  auto r = client.call(Request{"POST", "/cluster/ha/rules", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::server);
  EXPECT_EQ(r.error().http_status, 500);
  EXPECT_EQ(r.error().message.rfind("create ha rule failed: 400 Rule 'sdk-itest-placement' is "
                                    "invalid.",
                                    0),
            0u)
      << r.error().message;
  EXPECT_EQ(client.requests_made(), 1);  // a POST is never retried
}

TEST(Fixtures, ParameterVerificationFailed) {
  Replay replay(fixture("TestACMEDNSCloudflare-003-GET-cluster_acme_account_sdk_staging.json"));
  FakeClock clock;
  Client client(replay, clock);
  auto r = client.call(Request{"GET", "/cluster/acme/account/sdk-staging", {}});
  ASSERT_FALSE(r);
  // "does not exist" inside a 400 is still a parameter error, not a missing object.
  EXPECT_EQ(r.error().kind, ErrorKind::bad_request);
  EXPECT_EQ(r.error().message, "Parameter verification failed.");
  ASSERT_EQ(r.error().param_errors.count("name"), 1u);
  EXPECT_EQ(r.error().param_errors.at("name"),
            "ACME account config file 'sdk-staging' does not exist.");
  EXPECT_EQ(client.requests_made(), 1);
}

TEST(Fixtures, RecordedWarningsExitStatus) {
  for (const auto& f : fixtures()) {
    if (f.file !=
        "TestLXCLifecycle-005-GET-nodes_pve_tasks_UPID_pve_0000FAF5_0015034F_6A4AB61F_vzcreate_"
        "9102_root_pam_sdk.json")
      continue;
    auto t = parse_task_status(Json::parse(f.j["body"].get<std::string>())["data"]);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->exitstatus, "WARNINGS: 1");
    EXPECT_TRUE(exitstatus_ok(*t->exitstatus));
    EXPECT_EQ(exitstatus_warnings(*t->exitstatus), 1);
    return;
  }
  FAIL() << "fixture not found";
}

TEST(Fixtures, RecordedErrorsMapToApiErrors) {
  int seen = 0;
  for (const auto& f : fixtures()) {
    const int status = f.j["status"];
    if (status == 200) continue;
    SCOPED_TRACE(f.file);
    Replay replay(f.j);
    FakeClock clock;
    Client client(replay, clock);
    auto r = client.call(Request{f.j["method"], "/x", {}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().http_status, status);
    EXPECT_FALSE(r.error().message.empty());
    if (status == 400) {
      EXPECT_EQ(r.error().kind, ErrorKind::bad_request);
      EXPECT_FALSE(r.error().param_errors.empty());
    }
    if (status == 500) {
      EXPECT_EQ(r.error().kind, ErrorKind::server);
    }
    ++seen;
  }
  EXPECT_GE(seen, 2);
}

}  // namespace
}  // namespace pvt::pve
