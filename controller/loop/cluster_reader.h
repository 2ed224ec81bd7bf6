// What the controller reads from the cluster each cycle, as the Observation the check rules and
// planner::observe() understand. Cheap and constant in the size of the cluster: every cycle
// /cluster/status, /cluster/resources once for all guests, and the configs of the configured
// guests on online nodes; the backup state (jobs, storages, backup lists, node time zones) only
// every backup_check_interval_s, or at once after a backup the controller asked for has ended,
// and kept in between.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "common/config.h"
#include "controller/check/observation.h"
#include "pve/client.h"

namespace pvt::controller {

class ClusterReader {
 public:
  // One cycle's reads; `now` is the cycle's time (it decides whether the backup state is due).
  check::Observation read(const config::Config& cfg, pve::Client& client,
                          std::chrono::system_clock::time_point now);
  // The next read() reads the backup state again (a backup ended, the config changed).
  void refresh_backups() { backups_read_at_.reset(); }
  // Nodes where a vzdump runs now, from the newest tasks of each of `nodes`; a node whose list
  // cannot be read counts as busy (better late than two vzdumps at once).
  std::set<std::string> nodes_backing_up(pve::Client& client, const std::set<std::string>& nodes);

 private:
  // `offline`: the nodes this cycle found offline (cluster status, or a 595), not asked again.
  void read_backups(const config::Config& cfg, pve::Client& client, const check::Observation& o,
                    const std::set<std::string>& offline);

  std::optional<std::chrono::system_clock::time_point> backups_read_at_;
  // The backup part of the last observation that read it.
  check::Observation backups_;
};

}  // namespace pvt::controller
