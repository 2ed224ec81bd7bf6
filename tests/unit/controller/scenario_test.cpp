// The controller's scenario suite, in the style of pve-ha-manager's src/test/: each folder under
// tests/scenarios holds a README (what it shows), topology.toml (the simulated cluster, pvesim's
// format), config.toml (the controller's config), events (a timeline) and log.expect. One runner
// drives the controllers through the simulated Env on virtual time and compares the log with
// log.expect. A missing log.expect fails; PVT_UPDATE_GOLDEN=1 writes it, for a person to review.
//
// events: one event per line, "<seconds> <what>", in time order; '#' starts a comment.
//   controller NAME start      a controller starts (default: c1 at 0 if none is named)
//   controller NAME stop       it shuts down cleanly (gives the lease up)
//   controller NAME crash      it vanishes (the lease expires)
//   guest VMID status S        the guest is now running / stopped
//   guest VMID node N          it was migrated to node N
//   guest VMID lock L | unlock
//   guest VMID config KEY VALUE | config KEY -   set or delete a config key
//   guest VMID ha on|off       HA-managed or not
//   guest VMID start-fails N MESSAGE
//   guest VMID vzdump-fails MESSAGE
//   node NAME offline|online
//   quorum lost|regained       also makes the cluster filesystem read-only / writable
//   worker TUNNEL lose-forward | heal | unreachable | reachable | broken | fixed
//   maintenance start|stop TUNNEL [via NAME]
//   api error-rate R | api garbage PATH | api garbage none
//   public-url TUNNEL | public-url down
//   end                        the last second simulated (default: last event + 120)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/loop/controller.h"
#include "tests/support/scenario_files.h"
#include "tests/support/sim_env.h"

namespace pvt::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const fs::path kScenarios = fs::path(PVT_SOURCE_DIR) / "tests/scenarios";

std::vector<std::string> scenario_names() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kScenarios)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Event {
  int at = 0;
  std::vector<std::string> words;
  std::string text;  // as written, for the log
};

std::vector<Event> parse_events(const std::string& text) {
  std::vector<Event> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream words(line);
    Event e;
    if (!(words >> e.at)) {
      throw std::runtime_error(fmt::format("events:{}: a line starts with its time in seconds", n));
    }
    for (std::string w; words >> w;) e.words.push_back(w);
    if (e.words.empty()) throw std::runtime_error(fmt::format("events:{}: nothing happens", n));
    if (!out.empty() && e.at < out.back().at) {
      throw std::runtime_error(fmt::format("events:{}: not in time order", n));
    }
    for (const auto& w : e.words) e.text += (e.text.empty() ? "" : " ") + w;
    out.push_back(std::move(e));
  }
  return out;
}

class Scenario {
 public:
  Scenario(const fs::path& dir)
      : cfg_(scenario_config(dir)), world_(scenario_topology(dir), kScenarioStart) {
    for (const auto& t : cfg_.tunnels) {
      if (t.control_url) world_.workers.emplace(t.name, std::make_unique<FakeWorker>(t.name));
    }
  }

  std::vector<std::string> run(const std::vector<Event>& events) {
    int end = events.empty() ? 120 : events.back().at + 120;
    bool named_controller = false;
    for (const auto& e : events) {
      if (e.words[0] == "end") end = e.at;
      if (e.words[0] == "controller") named_controller = true;
    }
    if (!named_controller) start_controller("c1", 0);
    size_t next = 0;
    for (int t = 0; t <= end; ++t) {
      const auto target = kScenarioStart + std::chrono::seconds(t);
      if (world_.clock.now() < target)
        world_.clock.advance(
            std::chrono::duration_cast<Clock::duration>(target - world_.clock.now()));
      while (next < events.size() && events[next].at == t) apply(events[next++], t);
      for (auto& [name, c] : controllers_) {
        if (!c.alive || (t - c.started) % cfg_.controller.interval_s != 0) continue;
        const size_t seen = c.env->transport().log().size();
        for (const auto& l : c.controller->run_cycle()) note(t, name, l);
        const auto& api = c.env->transport().log();
        for (size_t i = seen; i < api.size(); ++i) {
          if (api[i].rfind("GET ", 0) != 0) note(t, name, "api: " + api[i]);
        }
      }
    }
    return log_;
  }

 private:
  struct Running {
    std::unique_ptr<SimEnv> env;
    std::unique_ptr<controller::Controller> controller;
    int started = 0;
    bool alive = true;
  };

  void note(int t, const std::string& who, const std::string& line) {
    log_.push_back(fmt::format("{:>5} {:<3} {}", t, who, line));
  }

  void start_controller(const std::string& name, int t) {
    Running r;
    r.env = std::make_unique<SimEnv>(world_, name, std::chrono::seconds(cfg_.controller.lease_s));
    r.controller = std::make_unique<controller::Controller>(
        cfg_, *r.env, controller::ControllerOptions{false, name, 50});
    r.started = t;
    controllers_[name] = std::move(r);
  }

  void admin(const std::string& path, const Json& body) {
    auto res = world_.simulator.admin("POST", path, body.dump());
    if (res.status != 200) throw std::runtime_error(path + ": " + res.body);
  }

  FakeWorker& worker(const std::string& name) {
    auto it = world_.workers.find(name);
    if (it == world_.workers.end()) throw std::runtime_error("no worker for tunnel " + name);
    return *it->second;
  }

  void apply(const Event& e, int t) {
    const auto& w = e.words;
    auto arg = [&](size_t i) -> const std::string& {
      if (i >= w.size()) throw std::runtime_error("event \"" + e.text + "\": too few words");
      return w[i];
    };
    const std::string& what = w[0];
    if (what == "end") return;
    note(t, "--", e.text);
    if (what == "controller") {
      if (arg(2) == "start") {
        start_controller(arg(1), t);
      } else if (arg(2) == "stop") {
        controllers_.at(arg(1)).controller->shutdown("SIGTERM");
        controllers_.at(arg(1)).alive = false;
      } else if (arg(2) == "crash") {
        controllers_.at(arg(1)).alive = false;
      }
    } else if (what == "guest") {
      const std::string path = "/_sim/guest/" + arg(1);
      const std::string& verb = arg(2);
      if (verb == "status") admin(path, {{"status", arg(3)}});
      if (verb == "node") admin(path, {{"node", arg(3)}});
      if (verb == "lock") admin(path, {{"lock", arg(3)}});
      if (verb == "unlock") admin(path, {{"lock", nullptr}});
      if (verb == "ha") admin(path, {{"ha_managed", arg(3) == "on"}});
      if (verb == "config") {
        admin(path, {{"config", {{arg(3), arg(4) == "-" ? Json(nullptr) : Json(arg(4))}}}});
      }
      if (verb == "start-fails") {
        std::string message;
        for (size_t i = 4; i < w.size(); ++i) message += (message.empty() ? "" : " ") + w[i];
        admin("/_sim/faults",
              {{"fail_starts", {{arg(1), {{"message", message}, {"count", std::stoi(arg(3))}}}}}});
      }
      if (verb == "vzdump-fails") {
        std::string message;
        for (size_t i = 3; i < w.size(); ++i) message += (message.empty() ? "" : " ") + w[i];
        admin("/_sim/faults", {{"fail_next_vzdump", {{arg(1), message}}}});
      }
    } else if (what == "node") {
      if (arg(2) == "offline") offline_.insert(arg(1));
      if (arg(2) == "online") offline_.erase(arg(1));
      admin("/_sim/faults", {{"offline_nodes", offline_}});
    } else if (what == "quorum") {
      const bool lost = arg(1) == "lost";
      admin("/_sim/faults", {{"quorum_lost", lost}});
      world_.filesystem_writable = !lost;
    } else if (what == "worker") {
      auto& fw = worker(arg(1));
      const std::string& verb = arg(2);
      if (verb == "lose-forward") fw.lose_forward();
      if (verb == "heal") fw.heal();
      if (verb == "unreachable") fw.reachable = false;
      if (verb == "reachable") fw.reachable = true;
      if (verb == "broken") fw.broken = true;
      if (verb == "fixed") fw.broken = false;
    } else if (what == "maintenance") {
      const std::string via = w.size() > 4 && w[3] == "via" ? w[4] : controllers_.begin()->first;
      auto r =
          controllers_.at(via).controller->set_maintenance(arg(2), arg(1) == "start", "scenario");
      if (!r) note(t, via, "maintenance refused: " + r.error().message);
    } else if (what == "api") {
      if (arg(1) == "error-rate") admin("/_sim/faults", {{"error_rate", std::stod(arg(2))}});
      if (arg(1) == "garbage") {
        admin("/_sim/faults",
              {{"garbage_paths", arg(2) == "none" ? Json::array() : Json::array({arg(2)})}});
      }
    } else if (what == "public-url") {
      world_.traffic_via = arg(1) == "down" ? std::nullopt : std::optional<std::string>(arg(1));
    } else {
      throw std::runtime_error("unknown event \"" + e.text + "\"");
    }
  }

  config::Config cfg_;
  SimWorld world_;
  std::map<std::string, Running> controllers_;
  std::set<std::string> offline_;
  std::vector<std::string> log_;
};

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, LogMatchesExpectation) {
  const fs::path dir = kScenarios / GetParam();
  ASSERT_TRUE(fs::exists(dir / "README")) << dir << ": every scenario says what it shows";
  std::vector<std::string> log;
  try {
    Scenario s(dir);
    log = s.run(parse_events(read_text(dir / "events")));
  } catch (const std::exception& e) {
    FAIL() << GetParam() << ": " << e.what();
  }
  std::string got;
  for (const auto& l : log) got += l + "\n";
  const fs::path expect = dir / "log.expect";
  const char* update = std::getenv("PVT_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(expect) << got;
    return;
  }
  ASSERT_TRUE(fs::exists(expect)) << expect
                                  << " is missing: run with PVT_UPDATE_GOLDEN=1 to write it, "
                                     "then review it. The log was:\n"
                                  << got;
  EXPECT_EQ(read_text(expect), got)
      << "scenario " << GetParam() << " (PVT_UPDATE_GOLDEN=1 rewrites log.expect)";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioTest, ::testing::ValuesIn(scenario_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace pvt::testing
