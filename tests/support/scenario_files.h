// The files of a controller scenario (tests/scenarios/<name>/: config.toml, topology.toml) read
// into the config and the simulated cluster, for the scenario runner, the controller's unit tests
// and the controller benchmark. Bad files throw with every problem: they are the test's own.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "common/config.h"
#include "tools/pvesim/topology.h"

namespace pvt::testing {

// A fixed start, so that task IDs and timestamps in logs are the same on every run
// (2026-12-07T12:00:00Z).
inline const auto kScenarioStart =
    std::chrono::system_clock::time_point(std::chrono::seconds(1796644800));

// The reference scenario: two running tunnel guests with fresh backups and a token that may do
// everything.
inline const std::filesystem::path kReferenceScenario =
    std::filesystem::path(PVT_SOURCE_DIR) / "tests/scenarios/guest-stopped-is-started";

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A controller config from TOML text; the files it names are not checked.
inline config::Config controller_config_from(const std::string& text, const std::string& path) {
  auto cfg = config::parse(text, path, config::Command::controller, config::ParseOptions{false});
  if (!cfg) {
    std::string all;
    for (const auto& p : cfg.error()) all += p.format() + "\n";
    throw std::runtime_error(all);
  }
  return *cfg;
}

// A pvesim topology from TOML text, its ages counted back from `start`.
inline sim::Topology topology_from(const std::string& text, const std::string& path,
                                   std::chrono::system_clock::time_point start = kScenarioStart) {
  auto t = sim::parse_topology(
      text, path,
      std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch()).count());
  if (!t) throw std::runtime_error(path + ": " + t.error().message);
  return *t;
}

inline config::Config scenario_config(const std::filesystem::path& dir) {
  const auto path = (dir / "config.toml").string();
  return controller_config_from(read_text(path), path);
}

inline sim::Topology scenario_topology(const std::filesystem::path& dir) {
  const auto path = (dir / "topology.toml").string();
  return topology_from(read_text(path), path);
}

}  // namespace pvt::testing
