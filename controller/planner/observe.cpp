#include "controller/planner/observe.h"

#include <set>

#include "controller/check/lookups.h"
#include "controller/check/rules.h"

namespace pvt::planner {
namespace {

// Overdue by the same measure as the backup.age rule: older than the covering job's schedule
// allows (plus grace), or no backup at all. Unknown (nullopt) when the jobs or the backups
// could not be read: the planner then does nothing about it.
std::optional<bool> backup_overdue(const config::Config& cfg, const check::Observation& o,
                                   const check::GuestObservation& go, const config::Guest& g,
                                   const std::string& node) {
  if (!o.jobs) return std::nullopt;
  if (!check::unlisted_storage(go).empty() && !check::newest_backup(go, g.vmid)) {
    return std::nullopt;
  }
  const auto* job = check::covering_job(*o.jobs, g.vmid, node, o.pools, true);
  const auto allowance =
      check::allowed_backup_age(cfg.backup, job, check::node_time(o.node_times, node), o.now);
  const auto* newest = check::newest_backup(go, g.vmid);
  if (newest == nullptr) return !go.backups.empty();
  const auto age =
      o.now - std::chrono::system_clock::time_point(std::chrono::seconds(newest->ctime));
  return age > allowance.allowed;
}

}  // namespace

PowerState power_state(std::string_view pve_status) {
  if (pve_status == "running") return PowerState::running;
  if (pve_status == "stopped") return PowerState::stopped;
  return PowerState::other;
}

Observed observe(const config::Config& cfg, const check::Observation& o,
                 const std::map<std::string, ObservedTask>& tasks,
                 const std::map<std::string, maintenance::Flag>& maintenance) {
  Observed out;
  if (o.cluster) {
    // A standalone node has no quorum to lose.
    out.quorate = o.cluster->is_cluster ? o.cluster->quorate : std::optional<bool>(true);
  }
  out.guests_read = o.resources.has_value();
  const auto offline = check::offline_nodes(o);
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const auto& g = cfg.guests[i];
    const auto& go = check::observed_guest(o, i);
    ObservedGuest og;
    if (go.resource) {
      const auto& r = *go.resource;
      og.found = true;
      og.power = power_state(r.status);
      og.power_raw = r.status;
      og.node = r.node;
      og.node_online = !offline.count(r.node);
      og.is_template = r.is_template;
      og.lock = r.lock;
      og.hastate = r.hastate;
      if (go.config && *go.config) {
        const auto& c = **go.config;
        og.config_read = true;
        og.onboot = c.onboot;
        og.startup = c.startup;
        og.digest = c.digest;
        og.is_template = og.is_template || c.is_template;
        if (c.lock) og.lock = c.lock;
      } else if (go.config && go.config->error().kind == pve::ErrorKind::node_unreachable) {
        og.node_online = false;
      }
      og.backup_overdue = backup_overdue(cfg, o, go, g, r.node);
      if (o.jobs) {
        if (const auto* job = check::covering_job(*o.jobs, g.vmid, r.node, o.pools, true)) {
          og.backup_storage = job->storage;
        }
      }
    }
    out.guests.emplace(g.name, std::move(og));
  }
  for (const auto& [node, nt] : o.node_tasks) {
    if (!nt.tasks) continue;
    for (const auto& t : *nt.tasks) {
      if (t.type == "vzdump" && !t.status) out.nodes_backing_up.insert(node);
    }
  }
  for (const auto& t : cfg.tunnels) {
    auto w = o.workers.find(t.name);
    if (w == o.workers.end()) continue;
    ObservedTunnel ot;
    if (w->second) {
      ot.reachable = true;
      ot.serving = tunnel::carries_traffic(*w->second);
      ot.drained = tunnel::drained_or_draining(*w->second);
    }
    out.tunnels.emplace(t.name, ot);
  }
  out.tasks = tasks;
  for (const auto& [tunnel, flag] : maintenance) out.maintenance.insert(tunnel);
  return out;
}

}  // namespace pvt::planner
