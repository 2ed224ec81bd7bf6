// Test support for the report commands against pvesim: a running simulator with a topology
// derived from examples/topology.toml, a config pointing at it, and helpers to run `check` or
// `backup verify` and look into their JSON reports.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/subprocess.h"

namespace pvt::sim_fixture {

namespace fs = std::filesystem;
using Json = nlohmann::json;

inline const std::string kSecret = "8d4b3c1e-2f6a-4b7d-9e0c-5a1f2b3c4d5e";

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_file(const fs::path& p, const std::string& text,
                       fs::perms mode = fs::perms(0600)) {
  std::ofstream(p) << text;
  fs::permissions(p, mode);
}

// A running pvesim with a topology derived from examples/topology.toml, and a config pointing at
// it. Tests edit the topology text before start, or the live state through the admin API.
class CheckAgainstSim : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fs::path("pvt-check-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    topology_ = read_file(PVT_SOURCE_DIR "/examples/topology.toml");
    // Short waits: the test does not need to see the real 3 s delay on a rejected token.
    topology_ = std::regex_replace(topology_, std::regex("auth_failure_delay_ms = 3000"),
                                   "auth_failure_delay_ms = 50");
  }
  void TearDown() override {
    sim_.reset();
    fs::remove_all(dir_);
  }

  void start(const std::string& secret = kSecret) {
    write_file(dir_ / "topology.toml", topology_, fs::perms(0644));
    sim_ = std::make_unique<testing::Background>(
        std::vector<std::string>{PVT_BINARY_DIR "/pvesim", "--topology",
                                 (dir_ / "topology.toml").string(), "--listen", "127.0.0.1:0"});
    const std::string l1 = sim_->read_line();
    const std::string l2 = sim_->read_line();
    ASSERT_EQ(l1.rfind("listening: https://127.0.0.1:", 0), 0u) << l1;
    ASSERT_EQ(l2.rfind("fingerprint: ", 0), 0u) << l2;
    url_ = l1.substr(std::string("listening: ").size());
    fingerprint_ = l2.substr(std::string("fingerprint: ").size());
    write_file(dir_ / "pve-token", secret + "\n");
    std::string cfg = read_file(PVT_SOURCE_DIR "/examples/config.toml");
    cfg = std::regex_replace(cfg, std::regex("endpoints = \\[.*\\]"),
                             "endpoints = [\"" + url_ + "\"]");
    cfg = std::regex_replace(cfg, std::regex("token_secret_file = \".*\""),
                             "token_secret_file = \"" + (dir_ / "pve-token").string() + "\"");
    cfg = std::regex_replace(cfg, std::regex("\nca_file = [^\n]*"),
                             "\nfingerprint = \"" + fingerprint_ + "\"");
    write_file(dir_ / "config.toml", cfg, fs::perms(0644));
  }

  // POST to the simulator's admin API.
  void admin(const std::string& path, const Json& body) {
    httplib::Client c(url_);
    c.enable_server_certificate_verification(false);
    auto res = c.Post(path.c_str(), body.dump(), "application/json");
    ASSERT_TRUE(res) << "admin API unreachable";
    ASSERT_EQ(res->status, 200) << res->body;
  }

  // GET the simulator's admin state ({"guests": [...], "tasks": N, "backups": N}).
  Json state() {
    httplib::Client c(url_);
    c.enable_server_certificate_verification(false);
    auto res = c.Get("/_sim/state");
    EXPECT_TRUE(res && res->status == 200) << "admin API unreachable";
    return res ? Json::parse(res->body, nullptr, false) : Json();
  }
  const Json* sim_guest(int64_t vmid) {
    state_ = state();
    for (const auto& g : state_["guests"]) {
      if (g["vmid"] == vmid) return &g;
    }
    return nullptr;
  }

  struct Outcome {
    int exit_code;
    Json report;
    std::string err;
  };
  Outcome check(std::vector<std::string> extra = {}) { return report_of({"check"}, extra); }
  Outcome verify(std::vector<std::string> extra = {}) {
    return report_of({"backup", "verify"}, extra);
  }
  // Runs a report command of the real binary with --format json.
  Outcome report_of(std::vector<std::string> command, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {PVT_BINARY_DIR "/pvectl-tunnel"};
    args.insert(args.end(), command.begin(), command.end());
    for (const char* a : {"--config"}) args.emplace_back(a);
    args.push_back((dir_ / "config.toml").string());
    args.emplace_back("--format");
    args.emplace_back("json");
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = testing::run(args);
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out << "\nstderr: " << r.err;
    return {r.exit_code, j, r.err};
  }

  static const Json* result(const Json& report, const std::string& rule,
                            const std::string& target) {
    for (const auto& r : report["results"]) {
      if (r["rule"] == rule && r["target"] == target) return &r;
    }
    return nullptr;
  }
  static std::string status_of(const Json& report, const std::string& rule,
                               const std::string& target) {
    const Json* r = result(report, rule, target);
    return r ? (*r)["status"].get<std::string>() : "<missing>";
  }

  static inline int counter_ = 0;
  fs::path dir_;
  std::string topology_;
  std::string url_, fingerprint_;
  std::unique_ptr<testing::Background> sim_;
  Json state_;
};

}  // namespace pvt::sim_fixture
