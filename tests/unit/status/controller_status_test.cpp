// The controller's status in its three forms: JSON for tools, Prometheus for scrapers, one HTML
// page for people; names from the config and text from the cluster escaped in each.
#include "controller/status/controller_status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/prometheus_text.h"

namespace pvt::status {
namespace {

ControllerStatus sample() {
  ControllerStatus s;
  s.node = "pve1";
  s.leader = true;
  s.cycle_at = "2026-12-07T16:00:00Z";
  s.traffic_via = "tunnel1";
  s.guests = {{"tunnel1", 110, "qemu", "pve1", "running", true, "ok", 115200, 651600},
              {"tunnel2", 210, "lxc", "pve2", "stopped", false,
               "giving up until 2026-12-07T16:15:00Z", std::nullopt, std::nullopt}};
  s.tunnels = {{"tunnel1", "primary", "serving", true, false, 0.012},
               {"tunnel2", "backup", "drained", false, true, std::nullopt}};
  s.recent_actions = {{"2026-12-07T15:59:50Z", "start", "tunnel2", true, "failed: no quorum"},
                      {"2026-12-07T16:00:00Z", "onboot", "tunnel2", false, "would"}};
  s.actions_total = {{{"start", "failed"}, 1}, {{"onboot", "would"}, 3}};
  s.api_errors = 2;
  return s;
}

TEST(StatusJson, EveryGuestTunnelAndActionWithItsFields) {
  const auto j = nlohmann::json::parse(to_json(sample()));
  EXPECT_EQ(j["leader"], true);
  EXPECT_EQ(j["traffic_via"], "tunnel1");
  ASSERT_EQ(j["guests"].size(), 2u);
  EXPECT_EQ(j["guests"][1]["state"], "giving up until 2026-12-07T16:15:00Z");
  EXPECT_TRUE(j["guests"][1]["backup_age_s"].is_null());
  EXPECT_EQ(j["tunnels"][1]["maintenance"], true);
  EXPECT_EQ(j["recent_actions"][0]["result"], "failed: no quorum");
  EXPECT_EQ(j["api_errors"], 2);
  EXPECT_EQ(j["actions_total"]["start"]["failed"], 1);
  EXPECT_EQ(j["actions_total"]["onboot"]["would"], 3);
}

TEST(StatusJson, BytesFromOutsideAreRepairedNotThrown) {
  auto s = sample();
  s.recent_actions[0].result = "failed: \xFF\xFE";
  nlohmann::json parsed;  // parse's result must be used (warn_unused_result in json 3.11.3)
  EXPECT_NO_THROW(parsed = nlohmann::json::parse(to_json(s)));
}

TEST(StatusMetrics, TheExpositionParsesWithTheNamesCheckUses) {
  const auto e = testing::prometheus::parse_prometheus(to_metrics(sample()));
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors);
  ASSERT_NE(e.find("pvectl_tunnel_controller_leader"), nullptr);
  EXPECT_EQ(e.find("pvectl_tunnel_guest_up", {{"guest", "tunnel2"}})->value, 0);
  EXPECT_EQ(e.find("pvectl_tunnel_backup_age_seconds", {{"guest", "tunnel1"}})->value, 115200);
  EXPECT_EQ(e.find("pvectl_tunnel_backup_allowed_age_seconds", {{"guest", "tunnel1"}})->value,
            651600);
  EXPECT_DOUBLE_EQ(e.find("pvectl_tunnel_probe_latency_seconds", {{"tunnel", "tunnel1"}})->value,
                   0.012);
  EXPECT_EQ(
      e.find("pvectl_tunnel_controller_actions_total", {{"kind", "onboot"}, {"result", "would"}})
          ->value,
      3);
  EXPECT_EQ(e.find("pvectl_tunnel_controller_api_errors_total")->value, 2);
}

TEST(StatusHtml, ShowsEveryGuestAndTunnelAndStandsAlone) {
  const std::string page = to_html(sample(), 10);
  for (const char* id : {"guest-tunnel1", "guest-tunnel2", "tunnel-tunnel1", "tunnel-tunnel2"}) {
    EXPECT_NE(page.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(page.find("<meta http-equiv=\"refresh\" content=\"10\">"), std::string::npos);
  EXPECT_NE(page.find("giving up until 2026-12-07T16:15:00Z"), std::string::npos);
  EXPECT_NE(page.find("would onboot"), std::string::npos);
  // Self-contained: no scripts, nothing fetched from elsewhere.
  for (const char* outside : {"<script", "src=", "href=", "http://", "https://"}) {
    EXPECT_EQ(page.find(outside), std::string::npos) << outside;
  }
}

TEST(StatusHtml, SaysFirstWhatNeedsAttentionWhoLeadsAndWhereTrafficGoes) {
  const std::string page = to_html(sample(), 10);
  const size_t tables = page.find("<h2>Guests</h2>");
  ASSERT_NE(tables, std::string::npos);
  for (const char* line : {"<p>3 things need attention:</p>", "<li>Guest tunnel2 is stopped.</li>",
                           "<li>Guest tunnel2 does not start at boot.</li>",
                           "<li>Guest tunnel2: giving up until 2026-12-07T16:15:00Z.</li>",
                           "<span id=\"role\" class=\"badge ok\">Leader</span>",
                           "through <span class=\"via\">tunnel1</span> (primary)"}) {
    const size_t at = page.find(line);
    EXPECT_NE(at, std::string::npos) << line;
    EXPECT_LT(at, tables) << line << " is not above the tables";
  }
  // A tunnel in maintenance is drained on purpose: nothing to look at.
  EXPECT_EQ(page.find("<li>Tunnel tunnel2"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"ok via\">carries it</td>"), std::string::npos);
  EXPECT_NE(page.find("<title>(3) pvectl-tunnel on pve1</title>"), std::string::npos);
}

TEST(StatusHtml, AWellFollowerSaysWhoHoldsTheLockAndThatAllIsWell) {
  auto s = sample();
  s.leader = false;
  s.leader_why = "held by pve2:1234";
  s.traffic_via.reset();
  s.guests.pop_back();
  s.tunnels.pop_back();
  const std::string page = to_html(s, 10);
  EXPECT_NE(page.find(">Follower</span>"), std::string::npos);
  EXPECT_NE(page.find("(held by pve2:1234)"), std::string::npos);
  EXPECT_NE(page.find("Nothing needs attention."), std::string::npos);
  EXPECT_NE(page.find("<td id=\"traffic\">not known"), std::string::npos);
  EXPECT_NE(page.find("<title>pvectl-tunnel on pve1</title>"), std::string::npos);
}

TEST(StatusHtml, TextFromOutsideCannotBecomeMarkup) {
  auto s = sample();
  s.guests[0].state = "blocked: <script>alert(1)</script> & \"x\"";
  s.recent_actions[0].result = "failed: <img onerror=x>\x1b[2J";
  s.traffic_via = "<iframe>";
  const std::string page = to_html(s, 10);
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<iframe"), std::string::npos);
  EXPECT_EQ(page.find('\x1b'), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"),
            std::string::npos);
}

}  // namespace
}  // namespace pvt::status
