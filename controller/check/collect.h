// The I/O half of `check`: reads what the rules need through the PVE client and the workers'
// status APIs. Only GETs. The number of API calls grows with the configured guests, never with
// the size of the cluster.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "controller/check/observation.h"
#include "pve/client.h"
#include "worker_client/worker_client.h"

namespace pvt::check {

using WorkerStatusFetcher = std::function<Result<tunnel::WorkerStatus>(
    const std::string& url, const std::string& token, std::chrono::milliseconds timeout)>;

struct CollectOptions {
  // Time left for the workers' status calls is bounded by this too (on the clock's steady_now).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  WorkerStatusFetcher fetch_worker = tunnel::fetch_worker_status;
  int task_list_limit = 50;     // newest vzdump tasks listed per node
  int task_logs_per_node = 10;  // at most this many logs read per node
};

// The reads `check` and the controller's cycle share.
// The guest's config on the node /cluster/resources puts it on (go.resource must be set): not
// asked of a node in `offline`; a node answering 595 joins `offline`.
void read_guest_config(pve::Client& client, GuestObservation& go, int64_t vmid,
                       std::set<std::string>& offline);
// The guest's backups on every available storage of `node` that holds backups.
std::vector<StorageBackups> read_guest_backups(pve::Client& client,
                                               const std::vector<pve::StorageResource>& storages,
                                               const std::string& node, int64_t vmid);
// The pools that enabled backup jobs select guests by.
std::map<std::string, Read<pve::Pool>> read_job_pools(pve::Client& client,
                                                      const std::vector<pve::BackupJob>& jobs);

// The report's time and the deadline arithmetic both come from `clock`.
Observation collect(const config::Config& cfg, pve::Client& client, Clock& clock,
                    const CollectOptions& options);

}  // namespace pvt::check
