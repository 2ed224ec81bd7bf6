#include "controller/loop/cluster_reader.h"

#include "controller/check/collect.h"
#include "controller/check/lookups.h"

namespace pvt::controller {
namespace {

// Enough recent vzdump tasks to see a running one: PVE lists running tasks first.
constexpr int kRunningTaskListLimit = 10;

}  // namespace

check::Observation ClusterReader::read(const config::Config& cfg, pve::Client& client,
                                       std::chrono::system_clock::time_point now) {
  check::Observation o;
  o.now = now;
  o.guests.resize(cfg.guests.size());
  o.cluster = client.cluster_status();
  o.resources = client.vm_resources();
  auto offline = check::offline_nodes(o);
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    auto& go = o.guests[i];
    if (!o.resources) continue;
    for (const auto& r : *o.resources) {
      if (r.vmid == cfg.guests[i].vmid) go.resource = r;
    }
    if (go.resource) check::read_guest_config(client, go, cfg.guests[i].vmid, offline);
  }

  const auto interval = std::chrono::seconds(cfg.controller.backup_check_interval_s);
  if (o.resources && (!backups_read_at_ || now - *backups_read_at_ >= interval)) {
    read_backups(cfg, client, o, offline);
  }
  // Between refreshes: the backup state as last read.
  o.storages = backups_.storages;
  o.jobs = backups_.jobs;
  o.pools = backups_.pools;
  o.node_times = backups_.node_times;
  for (size_t i = 0; i < cfg.guests.size() && i < backups_.guests.size(); ++i) {
    o.guests[i].backups = backups_.guests[i].backups;
  }
  return o;
}

void ClusterReader::read_backups(const config::Config& cfg, pve::Client& client,
                                 const check::Observation& o,
                                 const std::set<std::string>& offline) {
  check::Observation b;
  b.guests.resize(cfg.guests.size());
  b.storages = client.storage_resources();
  b.jobs = client.backup_jobs();
  if (b.jobs) b.pools = check::read_job_pools(client, *b.jobs);
  bool complete = b.storages && b.jobs;
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const auto& r = o.guests[i].resource;
    if (!r || offline.count(r->node) || !b.storages) continue;
    b.guests[i].backups =
        check::read_guest_backups(client, *b.storages, r->node, cfg.guests[i].vmid);
    for (const auto& sb : b.guests[i].backups) complete = complete && sb.volumes.has_value();
    if (!b.node_times.count(r->node)) b.node_times.emplace(r->node, client.node_time(r->node));
  }
  backups_ = std::move(b);
  // A read that failed somewhere is tried again next cycle rather than kept for the interval.
  if (complete) {
    backups_read_at_ = o.now;
  } else {
    backups_read_at_.reset();
  }
}

std::set<std::string> ClusterReader::nodes_backing_up(pve::Client& client,
                                                      const std::set<std::string>& nodes) {
  std::set<std::string> busy;
  for (const auto& node : nodes) {
    auto tasks = client.node_tasks(node, "vzdump", kRunningTaskListLimit);
    if (!tasks) {
      busy.insert(node);
      continue;
    }
    for (const auto& t : *tasks) {
      if (!t.status) busy.insert(node);  // no status yet: it runs
    }
  }
  return busy;
}

}  // namespace pvt::controller
