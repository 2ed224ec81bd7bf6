// Every recorded real Proxmox VE answer in shared/pve-fixtures/responses that belongs to an
// endpoint we model must parse; error answers must map to the right ApiError.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "pve/client.h"
#include "pve/models.h"

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
    }
  }
  EXPECT_GE(parsed, 60);
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
