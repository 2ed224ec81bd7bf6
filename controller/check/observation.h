// Everything `check` read, as values: each piece is the API's answer or the error that kept us
// from reading it, so the rules can tell "observed false" from "could not see" (UNKNOWN, never
// OK).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "pve/models.h"
#include "worker_client/worker_status.h"

namespace pvt::check {

template <class T>
using Read = pve::ApiResult<T>;

// An error for something that was not read because an earlier read failed or made it moot.
pve::ApiError not_read(std::string why);

struct StorageBackups {
  std::string storage;
  std::string plugintype;  // "pbs" storages report verification
  Read<std::vector<pve::BackupVolume>> volumes = tl::unexpected(not_read("not read"));
};

struct GuestObservation {
  // The guest's entry in /cluster/resources; nullopt when the list has no such vmid.
  std::optional<pve::VmResource> resource;
  // Config read on the node where the guest actually is.
  std::optional<Read<pve::GuestConfig>> config;
  // Backups of the guest on every storage with backup content seen from its node.
  std::vector<StorageBackups> backups;
  // The token's privileges on /vms/<vmid>, asked only when the resource list has no such guest.
  std::optional<Read<pve::Permissions>> permissions;
  // Nodes whose vzdump tasks tell how the guest's last backup went, in order: its node, then
  // (when that node has no task for it, e.g. after a migration) the other nodes asked around
  // the newest backup's time. Their lists are in Observation::node_tasks.
  std::vector<std::string> task_nodes;
};

struct NodeTasks {
  Read<std::vector<pve::TaskListEntry>> tasks = tl::unexpected(not_read("not read"));
  // Logs of the vzdump tasks that were read, by UPID.
  std::map<std::string, Read<std::vector<pve::TaskLogLine>>> logs;
  int logs_read = 0;  // bounded per node (CollectOptions::task_logs_per_node)
};

struct Observation {
  std::chrono::system_clock::time_point now{};
  Read<pve::Version> version = tl::unexpected(not_read("not read"));
  Read<pve::ClusterStatus> cluster = tl::unexpected(not_read("not read"));
  Read<pve::QDevice> qdevice = tl::unexpected(not_read("not read"));
  Read<pve::Permissions> permissions = tl::unexpected(not_read("not read"));
  Read<std::vector<pve::VmResource>> resources = tl::unexpected(not_read("not read"));
  Read<std::vector<pve::StorageResource>> storages = tl::unexpected(not_read("not read"));
  Read<std::vector<pve::BackupJob>> jobs = tl::unexpected(not_read("not read"));
  std::map<std::string, Read<pve::Pool>> pools;  // pools named by backup jobs
  std::vector<GuestObservation> guests;          // parallel to config.guests
  std::map<std::string, NodeTasks> node_tasks;   // by node name
  // The node's time zone decides when a job's schedule fires (GET /nodes/{node}/time).
  std::map<std::string, Read<pve::NodeTime>> node_times;        // by node name
  std::map<std::string, Result<tunnel::WorkerStatus>> workers;  // by tunnel name (control_url set)
};

}  // namespace pvt::check
