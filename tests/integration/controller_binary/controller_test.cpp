// `pvectl-tunnel controller` end to end: the real binary against pvesim over HTTPS (certificate
// pinned by fingerprint), with its leader lock on a plain directory, its audit log, its status
// server and its signals. The token may start guests and change their config.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/integration/check/sim_fixture.h"
#include "tests/support/lines.h"
#include "tests/support/raw_http.h"
#include "tests/support/subprocess.h"

namespace pvt {
namespace {

using sim_fixture::read_file;
using sim_fixture::write_file;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kTunnel2 = 210;  // the LXC tunnel2 on pve2

// Polls `done` every 100 ms until it holds or `limit` has passed.
bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = 20s) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// One controller of a test: its config file, status port and audit log.
struct Instance {
  fs::path config;
  int port = 0;
  fs::path audit;
};

class ControllerBinary : public sim_fixture::CheckAgainstSim {
 protected:
  void SetUp() override {
    CheckAgainstSim::SetUp();
    // Enforcement needs starts and config changes; a short start task keeps the tests quick.
    topology_ = std::regex_replace(
        topology_, std::regex("\n\"/\" = \\[([^\n]*)\\]"),
        "\n\"/\" = [$1, \"VM.PowerMgmt\", \"VM.Config.Options\", \"Sys.Modify\"]");
    topology_ =
        std::regex_replace(topology_, std::regex("start_delay_ms = 1500"), "start_delay_ms = 500");
    EXPECT_NE(topology_.find("\"Sys.Modify\"]"), std::string::npos) << "ACL line not found";
    lock_dir_ = dir_ / "lock";
    state_dir_ = dir_ / "state";
    fs::create_directories(lock_dir_);
    write_file(dir_ / "controller-token", kToken + "\n");
  }
  void TearDown() override {
    controllers_.clear();  // SIGTERM and wait, each one this test started
    if (HasFailure()) {
      for (const auto& e : fs::directory_iterator(dir_)) {
        const auto name = e.path().filename().string();
        if (name.ends_with(".log") || name.ends_with(".jsonl")) {
          std::cerr << "---- " << name << "\n" << read_file(e.path());
        }
      }
    }
    CheckAgainstSim::TearDown();
  }

  // Starts pvesim and keeps the config it wrote up to its [controller] section (the [vps]
  // section after it would probe a public URL every cycle).
  void start_sim() {
    start();
    const std::string cfg = read_file(dir_ / "config.toml");
    base_config_ = cfg.substr(0, cfg.find("\n[controller]") + 1);
    ASSERT_NE(base_config_.find("[[guest]]"), std::string::npos);
  }

  // Writes a config for a controller named `name` (its own listen port and audit log; the lock
  // and state directories are shared by all).
  Instance write_config(const std::string& name, const std::string& enforce) {
    Instance c;
    c.config = dir_ / (name + ".toml");
    c.port = testing::free_port();
    c.audit = dir_ / (name + "-audit.jsonl");
    rewrite_config(c, enforce);
    return c;
  }
  void rewrite_config(const Instance& c, const std::string& enforce) {
    const std::string section = fmt::format(
        R"([controller]
interval_s = 1
enforce = {}
listen = "127.0.0.1:{}"
lock_dir = "{}"
state_dir = "{}"
lease_s = 6
start_min_interval_s = 1
start_backoff_max_s = 2
audit_log = "{}"
token_file = "{}"
)",
        enforce, c.port, lock_dir_.string(), state_dir_.string(), c.audit.string(),
        (dir_ / "controller-token").string());
    const fs::path tmp = c.config.string() + ".new";
    write_file(tmp, base_config_ + section, fs::perms(0644));
    fs::rename(tmp, c.config);
  }

  testing::Completed run(std::vector<std::string> args) {
    args.insert(args.begin(), PVT_BINARY_DIR "/pvectl-tunnel");
    return testing::run(std::move(args));
  }

  // A controller in the background (stderr to a log file beside the config); stopped by
  // TearDown unless the test stops it first.
  testing::Background& launch(const Instance& c) {
    controllers_.push_back(std::make_unique<testing::Background>(
        std::vector<std::string>{PVT_BINARY_DIR "/pvectl-tunnel", "controller", "--config",
                                 c.config.string()},
        c.config.string() + ".log"));
    return *controllers_.back();
  }

  static httplib::Client client(int port) {
    httplib::Client cl("127.0.0.1", port);
    cl.set_connection_timeout(2s);
    cl.set_read_timeout(5s);
    return cl;
  }
  // GET /v1/status; an empty object when it did not answer.
  static Json status(int port) {
    auto res = client(port).Get("/v1/status");
    Json j = res && res->status == 200 ? Json::parse(res->body, nullptr, false) : Json();
    return j.is_object() ? j : Json::object();
  }
  static int healthz(int port) {
    auto res = client(port).Get("/healthz");
    return res ? res->status : 0;
  }
  static const Json* status_guest(const Json& s, const std::string& name) {
    if (!s.is_object() || !s.contains("guests")) return nullptr;
    for (const auto& g : s["guests"]) {
      if (g["name"] == name) return &g;
    }
    return nullptr;
  }
  static std::string guest_state(int port, const std::string& name) {
    const Json s = status(port);
    const Json* g = status_guest(s, name);
    return g ? (*g)["state"].get<std::string>() : "<no status>";
  }
  // Waits until `n` more cycles have ended (each ends at its own second: interval_s = 1).
  static bool cycles(int port, int n, std::chrono::seconds limit = 30s) {
    std::string last = status(port).value("cycle_at", "");
    int seen = 0;
    return eventually(
        [&] {
          const std::string now = status(port).value("cycle_at", "");
          if (!now.empty() && now != last) {
            ++seen;
            last = now;
          }
          return seen >= n;
        },
        limit);
  }

  // pvesim ends a task when the next PVE API request comes, not when its admin state is read:
  // a request first, so that a start whose delay has passed shows.
  std::string sim_status(int64_t vmid) {
    httplib::Client api(url_);
    api.enable_server_certificate_verification(false);
    api.set_default_headers(
        {{"Authorization", "PVEAPIToken=pvectl@pve!tunnel=" + sim_fixture::kSecret}});
    api.Get("/api2/json/version");  // may fail under a fault: then no task is due anyway
    const Json* g = sim_guest(vmid);
    return g ? (*g)["status"].get<std::string>() : "<missing>";
  }
  int64_t sim_tasks() { return state()["tasks"].get<int64_t>(); }
  void stop_guest(int64_t vmid) {
    admin("/_sim/guest/" + std::to_string(vmid), {{"status", "stopped"}});
  }
  bool runs_within(int64_t vmid, std::chrono::seconds limit = 20s) {
    return eventually([&] { return sim_status(vmid) == "running"; }, limit);
  }

  // `c` becomes the leader and acts: it starts tunnel2, stopped from now on, once.
  void expect_takes_over_and_starts(const Instance& c) {
    EXPECT_TRUE(eventually([&] { return status(c.port).value("leader", false); }, 30s))
        << status(c.port).dump();
    stop_guest(kTunnel2);
    EXPECT_TRUE(runs_within(kTunnel2)) << guest_state(c.port, "tunnel2");
    EXPECT_EQ(count_records(c.audit, "start", "ok"), 1) << read_file(c.audit);
  }

  static std::vector<Json> audit_records(const fs::path& log) {
    std::vector<Json> out;
    for (const auto& line : testing::lines_of(read_file(log))) {
      auto j = Json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }
  static int count_records(const fs::path& log, const std::string& action,
                           const std::string& result) {
    int n = 0;
    for (const auto& r : audit_records(log)) {
      if (r.value("action", "") == action && r.value("result", "") == result) ++n;
    }
    return n;
  }

  inline static const std::string kToken = "controller-test-token-0123456789";
  fs::path lock_dir_, state_dir_;
  std::string base_config_;
  std::vector<std::unique_ptr<testing::Background>> controllers_;
};

TEST_F(ControllerBinary, OnceWithStartEnforcedStartsAStoppedGuest) {
  start_sim();
  stop_guest(kTunnel2);
  const auto c = write_config("ctl", R"(["start"])");
  auto r = run({"controller", "--config", c.config.string(), "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("start tunnel2 (lxc 210 on pve2): it is stopped"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("start tunnel2: ok"), std::string::npos) << r.out;
  EXPECT_TRUE(runs_within(kTunnel2)) << "still " << sim_status(kTunnel2);

  bool started = false;
  for (const auto& rec : audit_records(c.audit)) {
    if (rec.value("action", "") != "start") continue;
    EXPECT_EQ(rec["result"], "ok") << rec.dump();
    EXPECT_EQ(rec["target"], "tunnel2");
    EXPECT_EQ(rec["vmid"], kTunnel2);
    EXPECT_EQ(rec["enforced"], true);
    EXPECT_NE(rec.value("upid", "").find(":vzstart:210:"), std::string::npos) << rec.dump();
    started = true;
  }
  EXPECT_TRUE(started) << read_file(c.audit);
  // --once ends like a stop: a shutdown record, and the lock given up.
  EXPECT_EQ(audit_records(c.audit).back().value("action", ""), "shutdown");
  EXPECT_FALSE(fs::exists(lock_dir_ / "pvectl-tunnel"));
}

TEST_F(ControllerBinary, OnceAuditOnlyStartsNothing) {
  start_sim();
  stop_guest(kTunnel2);
  const int64_t tasks = sim_tasks();
  const auto c = write_config("ctl", "[]");
  auto r = run({"controller", "--config", c.config.string(), "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("would start tunnel2"), std::string::npos) << r.out;
  EXPECT_EQ(count_records(c.audit, "start", "would"), 1) << read_file(c.audit);
  EXPECT_EQ(count_records(c.audit, "start", "ok"), 0) << read_file(c.audit);
  for (const auto& rec : audit_records(c.audit)) {
    if (rec.value("action", "") == "start") {
      EXPECT_EQ(rec["enforced"], false);
    }
  }
  EXPECT_EQ(sim_tasks(), tasks);
  std::this_thread::sleep_for(1500ms);  // three times the start delay
  EXPECT_EQ(sim_status(kTunnel2), "stopped");
}

TEST_F(ControllerBinary, DryRunOnceNeverStartsNorTakesTheLock) {
  start_sim();
  stop_guest(kTunnel2);
  const int64_t tasks = sim_tasks();
  const auto c = write_config("ctl", R"(["start"])");
  auto r = run({"controller", "--config", c.config.string(), "--dry-run", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("dry run: start tunnel2"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("leader"), std::string::npos) << r.out;
  EXPECT_EQ(count_records(c.audit, "start", "dry-run"), 1) << read_file(c.audit);
  EXPECT_EQ(count_records(c.audit, "start", "ok"), 0) << read_file(c.audit);
  EXPECT_FALSE(fs::exists(lock_dir_ / "pvectl-tunnel"));
  EXPECT_EQ(sim_tasks(), tasks);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(sim_status(kTunnel2), "stopped");
  EXPECT_FALSE(fs::exists(lock_dir_ / "pvectl-tunnel"));
}

TEST_F(ControllerBinary, RunningControllerRidesOutApiFaults) {
  start_sim();
  const auto c = write_config("ctl", R"(["start"])");
  auto& ctl = launch(c);
  ASSERT_TRUE(eventually([&] { return healthz(c.port) == 200; }))
      << read_file(c.config.string() + ".log");
  ASSERT_EQ(sim_status(kTunnel2), "running");

  struct Fault {
    const char* name;
    Json set;
    bool api_errors;
    const char* blocked;  // tunnel2's state while it lasts
  };
  const Json clear = {{"error_rate", 0.0},
                      {"garbage_paths", Json::array()},
                      {"quorum_lost", false},
                      {"offline_nodes", Json::array()}};
  const std::vector<Fault> faults = {
      {"error_rate", {{"error_rate", 1.0}}, true, "blocked: cluster status not read"},
      {"garbage",
       {{"garbage_paths", {"/cluster/resources"}}},
       true,
       "blocked: the guest list was not read"},
      {"quorum_lost", {{"quorum_lost", true}}, false, "blocked: cluster not quorate"},
      {"offline pve2", {{"offline_nodes", {"pve2"}}}, false, "blocked: node pve2 is offline"},
  };
  for (const auto& f : faults) {
    SCOPED_TRACE(f.name);
    const uint64_t errors_before = status(c.port).value("api_errors", uint64_t{0});
    const int starts_before = count_records(c.audit, "start", "ok");
    admin("/_sim/faults", f.set);
    stop_guest(kTunnel2);
    const int64_t tasks = sim_tasks();
    EXPECT_TRUE(
        eventually([&] { return guest_state(c.port, "tunnel2").rfind(f.blocked, 0) == 0; }, 30s))
        << guest_state(c.port, "tunnel2");
    EXPECT_TRUE(cycles(c.port, 2)) << "the loop stopped cycling";
    EXPECT_FALSE(ctl.wait_for(0ms).has_value()) << "the controller exited";
    EXPECT_EQ(healthz(c.port), 200);
    EXPECT_EQ(sim_status(kTunnel2), "stopped");
    EXPECT_EQ(sim_tasks(), tasks) << "a task was started during the fault";
    EXPECT_EQ(count_records(c.audit, "start", "ok"), starts_before);
    if (f.api_errors) {
      const Json s = status(c.port);
      EXPECT_GT(s.value("api_errors", uint64_t{0}), errors_before) << s.dump();
      auto m = client(c.port).Get("/metrics");
      ASSERT_TRUE(m);
      std::smatch sm;
      ASSERT_TRUE(std::regex_search(
          m->body, sm, std::regex("\npvectl_tunnel_controller_api_errors_total (\\d+)\n")))
          << m->body;
      EXPECT_GT(std::stoull(sm[1]), 0u);
    }

    admin("/_sim/faults", clear);
    EXPECT_TRUE(runs_within(kTunnel2))
        << "not started after the fault ended: " << guest_state(c.port, "tunnel2");
    EXPECT_EQ(count_records(c.audit, "start", "ok"), starts_before + 1) << read_file(c.audit);
  }
  EXPECT_EQ(ctl.stop(), 0);
}

TEST_F(ControllerBinary, TwoControllersOneLeaderAndTakeOver) {
  start_sim();
  const auto a = write_config("a", R"(["start"])");
  const auto b = write_config("b", R"(["start"])");
  std::map<int, testing::Background*> by_port;
  by_port[a.port] = &launch(a);
  by_port[b.port] = &launch(b);
  auto leaders = [&] {
    int n = 0;
    for (const auto* c : {&a, &b}) n += status(c->port).value("leader", false) ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(eventually([&] {
    return !status(a.port).value("cycle_at", "").empty() &&
           !status(b.port).value("cycle_at", "").empty();
  }));
  ASSERT_TRUE(eventually([&] { return leaders() == 1; })) << leaders() << " leaders";

  const int64_t tasks = sim_tasks();
  stop_guest(kTunnel2);
  ASSERT_TRUE(runs_within(kTunnel2));
  // Both have looked again after the start: still exactly one start, by the one leader.
  EXPECT_TRUE(cycles(a.port, 2));
  EXPECT_TRUE(cycles(b.port, 2));
  EXPECT_EQ(count_records(a.audit, "start", "ok") + count_records(b.audit, "start", "ok"), 1)
      << read_file(a.audit) << read_file(b.audit);
  EXPECT_EQ(sim_tasks(), tasks + 1);
  EXPECT_EQ(leaders(), 1);

  const bool a_leads = status(a.port).value("leader", false);
  const Instance& leader = a_leads ? a : b;
  const Instance& other = a_leads ? b : a;
  EXPECT_EQ(count_records(leader.audit, "start", "ok"), 1);
  const Json follower = status(other.port);
  EXPECT_FALSE(follower.value("leader_why", "").empty()) << follower.dump();

  // The leader stops and gives the lock up: the other takes over and acts.
  EXPECT_EQ(by_port[leader.port]->stop(), 0);
  expect_takes_over_and_starts(other);
}

TEST_F(ControllerBinary, StatusServerAndMaintenance) {
  start_sim();
  const auto c = write_config("ctl", "[]");
  launch(c);
  ASSERT_TRUE(eventually([&] { return healthz(c.port) == 200; }));
  auto page = client(c.port).Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("tunnel2"), std::string::npos);

  const fs::path flag = state_dir_ / "maintenance" / "tunnel1";
  {
    auto cl = client(c.port);
    auto res = cl.Post("/v1/maintenance/tunnel1/start", "{}", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
    cl.set_bearer_token_auth("not-the-token");
    res = cl.Post("/v1/maintenance/tunnel1/start", "{}", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
    EXPECT_FALSE(fs::exists(flag));
    cl.set_bearer_token_auth(kToken);
    res =
        cl.Post("/v1/maintenance/tunnel1/start", R"({"by":"controller_test"})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    res = cl.Post("/v1/maintenance/nosuch/start", "{}", "application/json");
    ASSERT_TRUE(res);
    EXPECT_GE(res->status, 400);
    EXPECT_LT(res->status, 500);
  }
  EXPECT_TRUE(fs::exists(flag));
  EXPECT_TRUE(eventually([&] {
    const Json s = status(c.port);
    for (const auto& t : s.value("tunnels", Json::array())) {
      if (t["name"] == "tunnel1") return t["maintenance"] == true;
    }
    return false;
  })) << status(c.port).dump();

  auto r = run({"maintenance", "stop", "tunnel1", "--config", c.config.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(fs::exists(flag));
  r = run({"maintenance", "start", "nosuch", "--config", c.config.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;

  // 100 KB of header: refused or cut off, and the server goes on answering.
  const std::string big =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(100 * 1024, 'a') +
      "\r\n\r\n";
  const auto answer = testing::exchange_http(c.port, big, 10s);
  EXPECT_TRUE(answer.status == 0 || (answer.status >= 400 && answer.status < 500)) << answer.status;
  EXPECT_EQ(healthz(c.port), 200);
}

TEST_F(ControllerBinary, SigtermExitsCleanlyAndReleasesTheLock) {
  start_sim();
  const auto c = write_config("ctl", R"(["start"])");
  auto& ctl = launch(c);
  ASSERT_TRUE(eventually([&] { return healthz(c.port) == 200; }));
  ASSERT_TRUE(fs::exists(lock_dir_ / "pvectl-tunnel"));
  ASSERT_EQ(kill(ctl.pid(), SIGTERM), 0);
  const auto code = ctl.wait_for(10s);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  const auto records = audit_records(c.audit);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().value("action", ""), "shutdown") << records.back().dump();
  EXPECT_EQ(records.back().value("result", ""), "signal 15") << records.back().dump();
  EXPECT_FALSE(fs::exists(lock_dir_ / "pvectl-tunnel"));
}

TEST_F(ControllerBinary, SigtermCutsAHangingPveRequest) {
  start_sim();
  const auto c = write_config("ctl", R"(["start"])");
  auto& ctl = launch(c);
  ASSERT_TRUE(eventually([&] { return healthz(c.port) == 200; }));
  // Every PVE request now takes longer than the whole allowance for stopping.
  admin("/_sim/faults", {{"latency_ms", 30000}});
  std::this_thread::sleep_for(2500ms);  // the next cycle is waiting for an answer
  ASSERT_EQ(kill(ctl.pid(), SIGTERM), 0);
  const auto code = ctl.wait_for(10s);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  const auto records = audit_records(c.audit);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().value("action", ""), "shutdown") << records.back().dump();
  EXPECT_FALSE(fs::exists(lock_dir_ / "pvectl-tunnel"));
  sim_->stop(SIGKILL);  // it would finish the delayed answer before exiting
}

TEST_F(ControllerBinary, AKilledLeadersLockExpiresAndTheOtherTakesOver) {
  start_sim();
  const auto a = write_config("a", R"(["start"])");
  const auto b = write_config("b", R"(["start"])");
  auto& first = launch(a);
  ASSERT_TRUE(eventually([&] { return status(a.port).value("leader", false); }));
  launch(b);
  ASSERT_TRUE(eventually([&] { return !status(b.port).value("cycle_at", "").empty(); }));
  EXPECT_FALSE(status(b.port).value("leader", false));
  // No release: the lock stays until its lease (6 s) has passed without a renewal.
  first.stop(SIGKILL);
  EXPECT_TRUE(fs::exists(lock_dir_ / "pvectl-tunnel"));
  expect_takes_over_and_starts(b);
}

TEST_F(ControllerBinary, SighupReloadsTheConfig) {
  start_sim();
  const auto c = write_config("ctl", "[]");
  auto& ctl = launch(c);
  ASSERT_TRUE(eventually([&] { return healthz(c.port) == 200; }));
  const int64_t tasks = sim_tasks();
  stop_guest(kTunnel2);
  // Audit only: it says it would start it, and does not.
  EXPECT_TRUE(eventually([&] { return count_records(c.audit, "start", "would") == 1; }))
      << read_file(c.audit);
  EXPECT_TRUE(cycles(c.port, 2));
  EXPECT_EQ(sim_status(kTunnel2), "stopped");
  EXPECT_EQ(sim_tasks(), tasks);
  EXPECT_EQ(count_records(c.audit, "start", "ok"), 0);

  // A config that does not load is not taken: the controller goes on as it was.
  rewrite_config(c, R"(["start", "no-such-action"])");
  ASSERT_EQ(kill(ctl.pid(), SIGHUP), 0);
  EXPECT_TRUE(cycles(c.port, 2));
  EXPECT_FALSE(ctl.wait_for(0ms).has_value()) << "a bad config on SIGHUP ended the controller";
  EXPECT_EQ(sim_status(kTunnel2), "stopped");
  EXPECT_EQ(sim_tasks(), tasks);

  rewrite_config(c, R"(["start"])");
  ASSERT_EQ(kill(ctl.pid(), SIGHUP), 0);
  EXPECT_TRUE(runs_within(kTunnel2)) << guest_state(c.port, "tunnel2");
  EXPECT_EQ(count_records(c.audit, "start", "ok"), 1) << read_file(c.audit);
  EXPECT_FALSE(ctl.wait_for(0ms).has_value()) << "SIGHUP ended the controller";
  EXPECT_EQ(ctl.stop(), 0);
}

}  // namespace
}  // namespace pvt
