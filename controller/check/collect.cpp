#include "controller/check/collect.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "controller/check/lookups.h"
#include "controller/check/vzdump_log.h"

namespace pvt::check {

pve::ApiError not_read(std::string why) {
  pve::ApiError e;
  e.kind = pve::ErrorKind::server;
  e.message = std::move(why);
  return e;
}

namespace {

// Errors after which nothing else can be read: the API itself is unusable.
bool api_unusable(const pve::ApiError& e) {
  switch (e.kind) {
    case pve::ErrorKind::unreachable:
    case pve::ErrorKind::timeout:
    case pve::ErrorKind::tls:
    case pve::ErrorKind::unauthorized:
    case pve::ErrorKind::malformed:
      return true;
    default:
      return false;
  }
}

// Reads the logs of the node's tasks, newest first and bounded per node, until the newest task
// that covers the guest is found; whether one was.
bool find_guest_task(pve::Client& client, const CollectOptions& options, const std::string& node,
                     NodeTasks& nt, int64_t vmid) {
  if (!nt.tasks) return false;
  for (const auto& task : *nt.tasks) {
    const bool single = task.id == std::to_string(vmid);
    if (!single && !task.id.empty()) continue;
    auto log = nt.logs.find(task.upid);
    if (log == nt.logs.end()) {
      // A single-guest task that ended OK needs no log; every other one is read, up to a
      // bound per node.
      const bool need_log = !single || !task.status || *task.status != "OK";
      if (need_log) {
        if (nt.logs_read >= options.task_logs_per_node) return false;
        ++nt.logs_read;
        log = nt.logs.emplace(task.upid, client.task_log(node, task.upid)).first;
      }
    }
    const std::vector<pve::TaskLogLine>* lines =
        log != nt.logs.end() && log->second ? &*log->second : nullptr;
    if (task_covers(task, lines, vmid)) return true;
  }
  return false;
}

// How far before the newest backup's time its vzdump task may have started: a job that backs
// up many guests one after the other runs for hours.
constexpr std::chrono::hours kTaskLookback{24};

// The last vzdump task of each guest: on its node first; when that node has none for it (the
// guest moved since its last backup), on the other online nodes around the newest backup's
// time. /cluster/tasks keeps only a few recent tasks per node, so each node is asked itself.
void collect_tasks(const config::Config& cfg, pve::Client& client, const CollectOptions& options,
                   const std::set<std::string>& offline, Observation& o) {
  // First every guest's own node, with its whole recent list: a list asked for another guest
  // "since" some time would hide this guest's older tasks.
  std::vector<size_t> not_found;
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    auto& go = o.guests[i];
    if (!go.resource || offline.count(go.resource->node)) continue;
    const std::string& node = go.resource->node;
    auto [here, first] = o.node_tasks.try_emplace(node);
    if (first) here->second.tasks = client.node_tasks(node, "vzdump", options.task_list_limit);
    go.task_nodes.push_back(node);
    if (here->second.tasks &&
        !find_guest_task(client, options, node, here->second, cfg.guests[i].vmid)) {
      not_found.push_back(i);
    }
  }
  // Then, for a guest its node knows no task of, the other online nodes.
  for (size_t i : not_found) {
    auto& go = o.guests[i];
    const pve::BackupVolume* newest = newest_backup(go, cfg.guests[i].vmid);
    if (newest == nullptr || !o.cluster) continue;
    for (const auto& n : o.cluster->nodes) {
      if (n.name == go.resource->node || !n.online || offline.count(n.name)) continue;
      auto [there, asked] = o.node_tasks.try_emplace(n.name);
      if (asked) {
        there->second.tasks =
            client.node_tasks(n.name, "vzdump", options.task_list_limit,
                              newest->ctime - std::chrono::seconds(kTaskLookback).count());
      }
      go.task_nodes.push_back(n.name);
      if (find_guest_task(client, options, n.name, there->second, cfg.guests[i].vmid)) break;
    }
  }
}

}  // namespace

void read_guest_config(pve::Client& client, GuestObservation& go, int64_t vmid,
                       std::set<std::string>& offline) {
  const std::string& node = go.resource->node;
  if (offline.count(node)) {
    pve::ApiError e = not_read(fmt::format("node {} is offline", node));
    e.kind = pve::ErrorKind::node_unreachable;
    go.config = tl::unexpected(e);
    return;
  }
  go.config = client.guest_config(node, guest_kind(go.resource->type), vmid);
  if (!*go.config && go.config->error().kind == pve::ErrorKind::node_unreachable) {
    offline.insert(node);
  }
}

std::vector<StorageBackups> read_guest_backups(pve::Client& client,
                                               const std::vector<pve::StorageResource>& storages,
                                               const std::string& node, int64_t vmid) {
  std::vector<StorageBackups> out;
  for (const auto& s : storages) {
    if (s.node != node || !s.has_content("backup") || s.status != "available") continue;
    out.push_back(
        StorageBackups{s.storage, s.plugintype, client.backup_volumes(node, s.storage, vmid)});
  }
  return out;
}

std::map<std::string, Read<pve::Pool>> read_job_pools(pve::Client& client,
                                                      const std::vector<pve::BackupJob>& jobs) {
  std::map<std::string, Read<pve::Pool>> pools;
  for (const auto& job : jobs) {
    if (job.enabled && job.pool && !pools.count(*job.pool)) {
      pools.emplace(*job.pool, client.pool(*job.pool));
    }
  }
  return pools;
}

Observation collect(const config::Config& cfg, pve::Client& client, Clock& clock,
                    const CollectOptions& options) {
  Observation o;
  o.now = clock.now();
  o.guests.resize(cfg.guests.size());

  o.version = client.version();
  if (!o.version && api_unusable(o.version.error())) {
    const auto e = o.version.error();
    o.cluster = tl::unexpected(e);
    o.qdevice = tl::unexpected(e);
    o.permissions = tl::unexpected(e);
    o.resources = tl::unexpected(e);
    o.storages = tl::unexpected(e);
    o.jobs = tl::unexpected(e);
  } else {
    o.cluster = client.cluster_status();
    if (o.cluster && o.cluster->is_cluster && o.cluster->nodes.size() == 2) {
      o.qdevice = client.qdevice();
    }
    o.permissions = client.permissions();
    o.resources = client.vm_resources();
    o.storages = client.storage_resources();
    o.jobs = client.backup_jobs();
    if (o.jobs) o.pools = read_job_pools(client, *o.jobs);

    std::set<std::string> offline = offline_nodes(o);
    for (size_t i = 0; i < cfg.guests.size(); ++i) {
      const auto& g = cfg.guests[i];
      auto& go = o.guests[i];
      if (!o.resources) continue;
      for (const auto& r : *o.resources) {
        if (r.vmid == g.vmid) go.resource = r;
      }
      if (!go.resource) {
        // The list leaves out guests the token may not see, and /access/permissions leaves out
        // paths where it has nothing (a NoAccess ACL): ask for this path before calling the
        // guest missing.
        go.permissions = client.permissions(fmt::format("/vms/{}", g.vmid));
        continue;
      }
      read_guest_config(client, go, g.vmid, offline);
      if (offline.count(go.resource->node)) continue;
      if (o.storages)
        go.backups = read_guest_backups(client, *o.storages, go.resource->node, g.vmid);
    }
    std::set<std::string> nodes;
    for (const auto& go : o.guests) {
      if (go.resource && !offline.count(go.resource->node)) nodes.insert(go.resource->node);
    }
    collect_tasks(cfg, client, options, offline, o);
    for (const auto& node : nodes) o.node_times.emplace(node, client.node_time(node));
  }

  for (const auto& t : cfg.tunnels) {
    if (!t.control_url) continue;
    auto timeout = std::chrono::milliseconds(5000);
    if (options.deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*options.deadline -
                                                                        clock.steady_now());
      timeout = std::clamp(left, std::chrono::milliseconds(1), timeout);
    }
    o.workers.emplace(t.name, options.fetch_worker(*t.control_url, t.control_token, timeout));
  }
  spdlog::debug("check: {} API requests", client.requests_made());
  return o;
}

}  // namespace pvt::check
