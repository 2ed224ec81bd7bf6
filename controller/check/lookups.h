// Look-ups that `check`, `backup verify` and `backup run` share, so that each question about an
// observation ("which job covers this guest?", "which is its newest backup?") has one answer.
#pragma once

#include <date/tz.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "controller/check/observation.h"
#include "pve/client.h"
#include "pve/models.h"

namespace pvt::check {

// The first job (in the API's order) with this enabled flag that selects the guest on `node`.
const pve::BackupJob* covering_job(const std::vector<pve::BackupJob>& jobs, int64_t vmid,
                                   const std::string& node,
                                   const std::map<std::string, Read<pve::Pool>>& pools,
                                   bool enabled);

// Every listed backup of the guest, storage by storage in the order they were listed.
std::vector<pve::BackupVolume> backups_of(const GuestObservation& go, int64_t vmid);

// The guest's newest backup (the first listed of equal times), only on storages of
// `plugintype` when one is given; nullptr when none was listed.
const pve::BackupVolume* newest_backup(const GuestObservation& go, int64_t vmid,
                                       std::string_view plugintype = {});

// "storage: why" for the last storage whose backups could not be listed; empty when all were.
std::string unlisted_storage(const GuestObservation& go);

// The newest backup whose verification is "ok" (the first listed of equal times), or nullptr.
const pve::BackupVolume* newest_verified(const std::vector<pve::BackupVolume>& volumes);

// The node's time as read, nullptr when it was not asked for.
const Read<pve::NodeTime>* node_time(const std::map<std::string, Read<pve::NodeTime>>& node_times,
                                     const std::string& node);

// A schedule runs in the node's local time; without it, UTC (and the label says why).
struct NodeZone {
  const date::time_zone* tz = nullptr;
  std::string label = "UTC";
};
// The zone the node's schedules run in.
NodeZone node_zone(const Read<pve::NodeTime>* node_time);
NodeZone node_zone(const std::map<std::string, Read<pve::NodeTime>>& node_times,
                   const std::string& node);

// The nodes /cluster/status lists as offline (none when it was not read).
std::set<std::string> offline_nodes(const Observation& o);

// The API's path segment for a guest: from the config's type, or from /cluster/resources' type
// ("qemu" | "lxc").
pve::GuestKind guest_kind(config::GuestType type);
pve::GuestKind guest_kind(std::string_view resource_type);

// The node's command-line tool for the guest type: "qm" or "pct".
const char* guest_cli(config::GuestType type);

// The guest's observation, or an empty one past the end (a partial observation).
const GuestObservation& observed_guest(const Observation& o, size_t i);

}  // namespace pvt::check
