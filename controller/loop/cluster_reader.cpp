#include "controller/loop/cluster_reader.h"

#include <fmt/format.h>

namespace pvt::controller {
namespace {

pve::GuestKind kind_of(const std::string& type) {
  return type == "lxc" ? pve::GuestKind::lxc : pve::GuestKind::qemu;
}

std::set<std::string> offline_nodes(const check::Observation& o) {
  std::set<std::string> out;
  if (!o.cluster) return out;
  for (const auto& n : o.cluster->nodes) {
    if (!n.online) out.insert(n.name);
  }
  return out;
}

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
  auto offline = offline_nodes(o);
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    auto& go = o.guests[i];
    if (!o.resources) continue;
    for (const auto& r : *o.resources) {
      if (r.vmid == cfg.guests[i].vmid) go.resource = r;
    }
    if (!go.resource) continue;
    const std::string& node = go.resource->node;
    if (offline.count(node)) {
      pve::ApiError e = check::not_read(fmt::format("node {} is offline", node));
      e.kind = pve::ErrorKind::node_unreachable;
      go.config = tl::unexpected(e);
      continue;
    }
    go.config = client.guest_config(node, kind_of(go.resource->type), cfg.guests[i].vmid);
    if (!*go.config && go.config->error().kind == pve::ErrorKind::node_unreachable) {
      offline.insert(node);
    }
  }

  const auto interval = std::chrono::seconds(cfg.controller.backup_check_interval_s);
  if (o.resources && (!backups_read_at_ || now - *backups_read_at_ >= interval)) {
    read_backups(cfg, client, o);
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
                                 check::Observation& o) {
  check::Observation b;
  b.guests.resize(cfg.guests.size());
  b.storages = client.storage_resources();
  b.jobs = client.backup_jobs();
  if (b.jobs) {
    for (const auto& job : *b.jobs) {
      if (job.enabled && job.pool && !b.pools.count(*job.pool)) {
        b.pools.emplace(*job.pool, client.pool(*job.pool));
      }
    }
  }
  const auto offline = offline_nodes(o);
  bool complete = b.storages && b.jobs;
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const auto& r = o.guests[i].resource;
    if (!r || offline.count(r->node) || !b.storages) continue;
    for (const auto& s : *b.storages) {
      if (s.node != r->node || !s.has_content("backup") || s.status != "available") continue;
      b.guests[i].backups.push_back(check::StorageBackups{
          s.storage, s.plugintype, client.backup_volumes(r->node, s.storage, cfg.guests[i].vmid)});
      complete = complete && b.guests[i].backups.back().volumes.has_value();
    }
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
