// The controller's status server on a loopback port, over a controller on the simulated Env:
// what each endpoint answers, and that changing anything needs the bearer token.
#include "controller/loop/status_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/support/scenario_files.h"
#include "tests/support/sim_env.h"

namespace pvt::controller {
namespace {

using Json = nlohmann::json;

const std::string kToken = "0123456789abcdef0123456789abcdef";

class StatusServerTest : public ::testing::Test {
 protected:
  StatusServerTest()
      : world_(testing::scenario_topology(testing::kReferenceScenario), testing::kScenarioStart),
        env_(world_, "c1", std::chrono::seconds(30)),
        controller_(testing::scenario_config(testing::kReferenceScenario), env_,
                    ControllerOptions{false, "pve1", 50}) {
    world_.workers.emplace("tunnel1", std::make_unique<testing::FakeWorker>("tunnel1"));
    world_.workers.emplace("tunnel2", std::make_unique<testing::FakeWorker>("tunnel2"));
  }

  void start(std::string token = kToken) {
    server_ = std::make_unique<StatusServer>(controller_, std::move(token),
                                             std::chrono::seconds(60), 10, [this] { ++wakes_; });
    ASSERT_TRUE(server_->start(config::HostPort{"127.0.0.1", 0}));
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(std::chrono::seconds(5));
    return c;
  }

  testing::SimWorld world_;
  testing::SimEnv env_;
  Controller controller_;
  std::unique_ptr<StatusServer> server_;
  std::atomic<int> wakes_{0};
};

TEST_F(StatusServerTest, HealthzFailsUntilTheFirstCycleThenAnswersOk) {
  start();
  auto c = client();
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  controller_.run_cycle();
  server_->cycle_done();
  r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = Json::parse(r->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["leader"], true);
}

TEST_F(StatusServerTest, StatusMetricsAndPageShowTheLastCycle) {
  controller_.run_cycle();
  start();
  auto c = client();
  auto r = c.Get("/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = Json::parse(r->body);
  EXPECT_EQ(j["guests"].size(), 2u);
  EXPECT_EQ(j["tunnels"][0]["state"], "serving");
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("pvectl_tunnel_guest_up{guest=\"tunnel2\"} 1"), std::string::npos);
  EXPECT_NE(r->body.find("pvectl_tunnel_controller_leader 1"), std::string::npos);
  r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
  EXPECT_NE(r->body.find("tunnel2"), std::string::npos);
}

TEST_F(StatusServerTest, MaintenanceNeedsTheBearerToken) {
  start();
  auto c = client();
  auto r = c.Post("/v1/maintenance/tunnel1/start", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(world_.flags.empty());
  httplib::Headers wrong{{"Authorization", "Bearer " + std::string(kToken.size(), 'x')}};
  r = c.Post("/v1/maintenance/tunnel1/start", wrong, "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  c.set_bearer_token_auth(kToken);
  r = c.Post("/v1/maintenance/tunnel1/start", R"({"by":"alice"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(world_.flags.count("tunnel1"), 1u);
  EXPECT_EQ(world_.flags.at("tunnel1").by, "alice");
  EXPECT_EQ(wakes_.load(), 1) << "the loop is woken to act on it";
  r = c.Post("/v1/maintenance/tunnel1/stop", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(world_.flags.empty());
  for (const char* path :
       {"/v1/maintenance/tunnel9/start", "/v1/maintenance/tunnel1/pause", "/v1/maintenance/tunnel1",
        "/v1/maintenance//start", "/v1/maintenance/tunnel1/start/now"}) {
    r = c.Post(path, "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path;
  }
  EXPECT_TRUE(world_.flags.empty());
  r = c.Post("/v1/maintenance/tunnel1/start", "[1,2]", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c.Post("/v1/maintenance/tunnel1/start", R"({"by":7})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(StatusServerTest, ATunnelAddedByAReloadCanBePutIntoMaintenance) {
  start();
  auto cfg = testing::scenario_config(testing::kReferenceScenario);
  auto extra = cfg.tunnels.back();
  extra.name = "tunnel3";
  cfg.tunnels.push_back(extra);
  controller_.reload(cfg);
  auto c = client();
  c.set_bearer_token_auth(kToken);
  auto r = c.Post("/v1/maintenance/tunnel3/start", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(world_.flags.count("tunnel3"), 1u);
}

TEST_F(StatusServerTest, WithoutATokenFileNothingCanBeChanged) {
  start("");
  auto c = client();
  c.set_bearer_token_auth("");
  auto r = c.Post("/v1/maintenance/tunnel1/start", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("token_file"), std::string::npos);
  EXPECT_TRUE(world_.flags.empty());
  EXPECT_EQ(c.Get("/v1/status")->status, 200) << "reading stays open";
}

}  // namespace
}  // namespace pvt::controller
